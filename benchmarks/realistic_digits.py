"""A realistic test set for mnist_app: MNIST test digits as photos of handwriting on paper.

Each MNIST digit is rendered as dark ink on light paper that is noisy, textured and unevenly lit,
at a random size and offset, with thinner or thicker strokes, a few specks, sometimes a little
blur, and saved as JPEG (various qualities) or PNG (grey or colour).  The same seed gives the same
pictures.  A condition (benchmarks/realistic_conditions.py: shadows, strong light, lined or form paper,
other pens, tilt, blur, tight crops, very thin or bold strokes) adds one kind of trouble of real photos to
the same pictures.  Used by tests/test_app.py and benchmarks/eval_app_realistic.py.
"""
import os

import numpy as np
from PIL import Image, ImageFilter

from benchmarks.realistic_conditions import CONDITIONS, NUMBERS_ONLY, Look, look_of

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


def _cover(digit, rng, look):
    """(ink coverage of the canvas, the digit's ink box [x, y, w, h], the digit's height in px): the digit at a
    random size and place on a canvas with specks of dirt; the look may change the pen and the margins."""
    scale = rng.uniform(*DIGIT_HEIGHT) / 20.0
    alpha = _ink_alpha(digit, scale, rng)
    styled = look.digit_ink(_ink_alpha, digit, scale, alpha)
    alpha = alpha if styled is None else styled
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
    rows, cols = np.nonzero(alpha >= 0.5)
    box = [int(left + cols.min()), int(top + rows.min()), int(np.ptp(cols) + 1), int(np.ptp(rows) + 1)]
    return _reframe(look, cover, box, 20 * scale)


def _reframe(look, cover, box, digit_h):
    """The canvas cropped or widened to the look's margins around the digit's box (tight crops, room beside)."""
    if look.condition == "clean":
        return cover, box, digit_h
    x, y, w, h = box
    height, width = cover.shape
    ml, mr, mt, mb = look.margins((x, width - x - w, y, height - y - h), digit_h)
    narrow = int(max(12, 0.4 * h) - (ml + w + mr))
    if narrow > 0:                       # a tight crop of a 1: still a picture the app accepts (8 px at least)
        ml, mr = ml + narrow // 2, mr + narrow - narrow // 2
    out = np.zeros((mt + h + mb, ml + w + mr), np.float32)
    src = cover[max(0, y - mt):y + h + mb, max(0, x - ml):x + w + mr]
    oy, ox = max(0, mt - y), max(0, ml - x)
    out[oy:oy + src.shape[0], ox:ox + src.shape[1]] = src
    return out, [ml, mt, w, h], digit_h


def render(digit, rng, look=None):
    """One MNIST digit (uint8 28x28) -> (PIL image, suggested format "JPEG" or "PNG"); look: a
    realistic_conditions.Look (None: clean)."""
    look = look or Look()
    cover, box, digit_h = _cover(digit, rng, look)
    layers = look.printed(cover.shape, [box], digit_h)
    cover, layers, [box] = look.geometry(look.ink_texture(cover), layers, [box])
    height, width = cover.shape
    paper = rng.uniform(*PAPER) + _texture(rng, height, width, 0.02)
    ink = rng.uniform(*INK)
    light = _lighting(rng, height, width)
    noise = rng.standard_normal((height, width), dtype=np.float32) * rng.uniform(*NOISE)
    # Colour: tinted paper, sometimes a blue-ish pen.
    tint = 1.0 + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    pen = rng.uniform(-0.05, 0.12, 3).astype(np.float32) * (rng.random() < 0.5)
    if look.condition == "clean":
        grey = (paper * (1 - cover) + ink * cover) * light + noise
        rgb = grey[..., None] * tint + cover[..., None] * pen
    else:
        sheet = paper[..., None] * tint
        for printed, colour in layers:
            sheet = sheet * (1 - printed[..., None]) + (paper[..., None] * colour) * printed[..., None]
        rgb = sheet * (1 - cover[..., None]) + look.ink_colour(ink + pen) * cover[..., None]
        rgb = look.scene(rgb * light[..., None], [box], digit_h) + noise[..., None]
    img = Image.fromarray(np.clip(rgb * 255.0, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.3:
        img = img.convert("L")
    share, _ = look.jpeg_quality((0.6, None))
    return look.camera(img, digit_h), ("JPEG" if rng.random() < share else "PNG")


def make_realistic_set(out_dir, images, labels, count, seed=0, condition="clean"):
    """Write `count` pictures of images[i] (MNIST uint8 [N,28,28]) into out_dir.

    Digits are taken in a seeded random order.  condition (realistic_conditions.CONDITIONS, not those of
    numbers only): the same pictures with one kind of trouble added.  Returns a list of (path, label).
    """
    if condition not in CONDITIONS or condition in NUMBERS_ONLY:
        raise ValueError(f"no one-digit pictures for the condition {condition!r}; one of "
                         f"{', '.join(c for c in CONDITIONS if c not in NUMBERS_ONLY)}")
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    order = rng.permutation(len(images))[:count]
    written = []
    for n, i in enumerate(order):
        look = look_of(condition, seed, n)
        img, fmt = render(images[i], rng, look)
        ext = ".jpg" if fmt == "JPEG" else ".png"
        path = os.path.join(out_dir, f"{n:05d}_{int(labels[i])}{ext}")
        if fmt == "JPEG":
            _, quality = look.jpeg_quality((None, (55, 96)))
            img.save(path, quality=int(rng.integers(*quality)))
        else:
            img.save(path, compress_level=1)
        written.append((path, int(labels[i])))
    return written
