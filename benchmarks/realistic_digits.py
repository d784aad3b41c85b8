"""A realistic test set for mnist_app: MNIST test digits as photos of handwriting on paper.

Each MNIST digit is rendered as dark ink on light paper that is noisy, textured and unevenly lit,
at a random size and offset, with thinner or thicker strokes, a few specks, sometimes a little
blur, and saved as JPEG (various qualities) or PNG (grey or colour).  The same seed gives the same
pictures.  Used by tests/test_app.py and benchmarks/eval_app_realistic.py.
"""
import os

import numpy as np
from PIL import Image, ImageFilter

# Ranges of the rendering (one place).
DIGIT_HEIGHT = (36, 150)      # px: height of the 20-px MNIST box in the picture
CANVAS_MARGIN = (1.4, 2.6)    # canvas side / digit field side
STROKE_CHANGE = (-0.45, 0.6)  # MNIST px added on each side of every stroke (negative: thinner)
PAPER = (0.62, 0.97)          # paper brightness before lighting
INK = (0.04, 0.35)            # ink brightness
SHADE = (0.0, 0.35)           # strength of the lighting gradient
NOISE = (0.005, 0.045)        # pixel noise (standard deviation)


def _lighting(rng, height, width):
    """Smooth multiplicative lighting: a linear gradient plus a soft vignette."""
    yy = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
    xx = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    gradient = np.cos(angle) * xx + np.sin(angle) * yy           # in [-0.7, 0.7]
    light = 1.0 - rng.uniform(*SHADE) * (gradient + 0.7) / 1.4
    light -= rng.uniform(0, 0.15) * (xx ** 2 + yy ** 2) * 2
    return light


def _texture(rng, height, width, amount):
    """Paper texture: low-frequency blotches (upsampled coarse noise)."""
    coarse = rng.normal(0, amount, (6, 6)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))


def _ink_alpha(digit, scale, rng):
    """The digit (28x28, light on black) as ink coverage at `scale` px per MNIST px."""
    side = max(8, int(round(28 * scale)))
    alpha = Image.fromarray(np.asarray(digit, np.float32) / 255.0).resize((side, side), Image.Resampling.BICUBIC)
    change = rng.uniform(*STROKE_CHANGE) * scale                  # px per side
    radius = int(round(abs(change)))
    if radius > 0:
        size = 2 * radius + 1
        alpha = alpha.filter(ImageFilter.MaxFilter(size) if change > 0 else ImageFilter.MinFilter(size))
    # Crisp ink edges with a little anti-aliasing.
    return np.clip((np.asarray(alpha) - 0.35) * 3.0, 0.0, 1.0)


def render(digit, rng):
    """One MNIST digit (uint8 28x28) -> (PIL image, suggested format "JPEG" or "PNG")."""
    scale = rng.uniform(*DIGIT_HEIGHT) / 20.0
    alpha = _ink_alpha(digit, scale, rng)
    side = alpha.shape[0]
    height = int(side * rng.uniform(*CANVAS_MARGIN))
    width = int(side * rng.uniform(*CANVAS_MARGIN))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    cover = np.zeros((height, width), np.float32)
    cover[top:top + side, left:left + side] = alpha
    yy, xx = np.ogrid[-2:3, -2:3]
    for _ in range(rng.integers(0, 6)):                           # specks of dirt
        y, x = rng.integers(2, height - 2), rng.integers(2, width - 2)
        dot = (yy ** 2 + xx ** 2 <= rng.uniform(0.5, 1.8) ** 2) * rng.uniform(0.3, 0.9)
        cover[y - 2:y + 3, x - 2:x + 3] = np.maximum(cover[y - 2:y + 3, x - 2:x + 3], dot)
    paper = rng.uniform(*PAPER) + _texture(rng, height, width, 0.02)
    ink = rng.uniform(*INK)
    grey = (paper * (1 - cover) + ink * cover) * _lighting(rng, height, width)
    grey += rng.standard_normal((height, width), dtype=np.float32) * rng.uniform(*NOISE)
    # Colour: tinted paper, sometimes a blue-ish pen.
    tint = 1.0 + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    pen = rng.uniform(-0.05, 0.12, 3).astype(np.float32) * (rng.random() < 0.5)
    rgb = grey[..., None] * tint + cover[..., None] * pen
    rgb = np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.3:
        img = img.convert("L")
    return img, ("JPEG" if rng.random() < 0.6 else "PNG")


def make_realistic_set(out_dir, images, labels, count, seed=0):
    """Write `count` pictures of images[i] (MNIST uint8 [N,28,28]) into out_dir.

    Digits are taken in a seeded random order.  Returns a list of (path, label).
    """
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    order = rng.permutation(len(images))[:count]
    written = []
    for n, i in enumerate(order):
        img, fmt = render(images[i], rng)
        ext = ".jpg" if fmt == "JPEG" else ".png"
        path = os.path.join(out_dir, f"{n:05d}_{int(labels[i])}{ext}")
        if fmt == "JPEG":
            img.save(path, quality=int(rng.integers(55, 96)))
        else:
            img.save(path, compress_level=1)
        written.append((path, int(labels[i])))
    return written
