"""Make the sample pictures in pic/ from MNIST test digits: "photos" of dark ink on light paper.

    python pic/make_pictures.py              # rewrites pic/0.png ... pic/9.png and pic/number_*.png

The course's own demo pictures cannot be shipped, so these are drawn from the MNIST test set
(CC BY-SA 3.0), which the training never sees.  Each digit is upscaled smoothly and thresholded
softly so its edges look like pen strokes, then laid on off-white paper with uneven lighting, a
faint paper texture and mild camera noise.  Everything is seeded: the same command gives the same
pixels.  Only numpy and Pillow are used, and no project module, so the script works on its own.
"""
import argparse
import gzip
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE.parent / "data"
IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
LABELS_FILE = "t10k-labels-idx1-ubyte.gz"

# MNIST test indices, picked by eye among the first test examples of each class: the first one
# where it is clean, otherwise a typical one nearby (e.g. index 8, the first 5, looks like a 6).
DIGITS = {0: 13, 1: 2, 2: 1, 3: 30, 4: 19, 5: 23, 6: 21, 7: 0, 8: 110, 9: 12}

# Whole numbers for reading several digits at once: one test example per digit, none reused, so
# repeated digits (the two 2s of 2026) look different, as they would in real handwriting.
NUMBERS = {
    "2026": [35, 55, 72, 50],
    "13540": [5, 32, 45, 24, 28],
}

PAPER = np.array([238, 234, 224], np.float32) / 255   # off-white, slightly warm
INK = np.array([48, 58, 88], np.float32) / 255        # dark grey-blue pen ink
DEFAULT_SEED = 2026


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------
def read_idx(path, header, magic):
    """The bytes after an IDX header, after checking its magic number (a wrong file fails loudly).

    data/ may also hold the files decompressed (same name without .gz), so that is tried second.
    """
    path, plain = Path(path), Path(path).with_suffix("")
    if not path.exists() and plain.exists():
        raw = plain.read_bytes()
    else:
        with gzip.open(path, "rb") as f:        # a missing file is reported by its .gz name
            raw = f.read()
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: magic number {found}, expected {magic}; is it the right MNIST file?")
    return np.frombuffer(raw, np.uint8, offset=header)


def load_test_set(data_dir):
    """MNIST test images as float32 [N, 28, 28] in [0, 1] (1 = ink) and their labels."""
    images = read_idx(Path(data_dir) / IMAGES_FILE, 16, 2051).reshape(-1, 28, 28)
    labels = read_idx(Path(data_dir) / LABELS_FILE, 8, 2049)
    return images.astype(np.float32) / 255, labels


def check_labels(labels, wanted):
    """Stop if a chosen index does not hold the digit we name the picture after."""
    bad = [f"index {i} is a {labels[i]}, not a {d}" for d, i in wanted if labels[i] != d]
    if bad:
        raise ValueError("wrong MNIST test indices: " + "; ".join(bad))


# ---------------------------------------------------------------------------
# Small image helpers (float arrays; PIL's own blur does not take float images)
# ---------------------------------------------------------------------------
def blur(arr, sigma):
    """Separable Gaussian blur of a 2-D float array, edges reflected."""
    if sigma <= 0:
        return arr
    r = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        padded = np.pad(arr, pad, mode="reflect")
        n = arr.shape[axis]
        arr = sum(k * padded.take(range(i, i + n), axis=axis) for i, k in enumerate(kernel))
    return arr.astype(np.float32)


def resize(arr, width, height):
    """Bicubic resize of a float array (PIL mode F keeps the values unclipped and unquantised)."""
    return np.asarray(Image.fromarray(arr.astype(np.float32)).resize((width, height), Image.Resampling.BICUBIC))


def smooth_noise(rng, height, width, cell):
    """Noise with features about `cell` pixels across, roughly unit spread."""
    coarse = rng.standard_normal((height // cell + 3, width // cell + 3)).astype(np.float32)
    big = resize(coarse, (width // cell + 3) * cell, (height // cell + 3) * cell)
    return big[cell:cell + height, cell:cell + width]


# ---------------------------------------------------------------------------
# Ink
# ---------------------------------------------------------------------------
def crop_digit(digit, pad=2):
    """The digit's bounding box with a small margin, so the later blur is not cut off."""
    rows, cols = np.flatnonzero(digit.max(axis=1) > 0.1), np.flatnonzero(digit.max(axis=0) > 0.1)
    padded = np.pad(digit, pad)
    return padded[rows[0]:rows[-1] + 1 + 2 * pad, cols[0]:cols[-1] + 1 + 2 * pad]


def pen_strokes(digit, height, rng):
    """A 28x28 MNIST digit -> ink coverage in [0, 1], `height` px tall from its top to its bottom stroke.

    Bicubic upscaling alone gives blurry blobs with staircase hints; a blur of half an MNIST
    pixel rounds the corners, and a soft threshold then gives crisp strokes with a 1-2 px
    anti-aliased edge, as a pen on paper photographed in focus.
    """
    crop = crop_digit(digit)
    scale = height / (crop.shape[0] - 4)              # 4 = the two margins of crop_digit
    big = resize(crop, max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    big = blur(big, 0.5 * scale)
    # Threshold at half strength (MNIST's strokes keep their width), soft over +-0.06 around it.
    ink = np.clip((big - 0.5) / 0.12 + 0.5, 0, 1)
    ink = ink * ink * (3 - 2 * ink)                   # smoothstep: no hard corner at either end
    # A pen does not lay ink evenly: slightly lighter and darker stretches along the stroke.
    return ink * (0.94 + 0.04 * np.clip(smooth_noise(rng, *ink.shape, cell=max(4, int(scale * 2))), -1.4, 1.4))


def ink_box(ink):
    """top, bottom, left, right (exclusive) of the visible ink."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def trim(ink):
    """Cut the empty margin around the ink, so that placements and gaps refer to the strokes."""
    top, bottom, left, right = ink_box(ink)
    return ink[top:bottom, left:right]


# ---------------------------------------------------------------------------
# Paper and camera
# ---------------------------------------------------------------------------
def lighting(rng, height, width):
    """Illumination: a gentle slope from a random side plus a darker rim (~10 % from brightest to darkest)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height - 0.5, x / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    slope = 0.12 * (np.cos(angle) * x + np.sin(angle) * y)
    rim = 0.14 * (x * x + y * y)
    return 1.0 + slope - rim


def photograph(ink, rng):
    """Ink coverage on a sheet -> RGB uint8 photo: paper texture, lighting, ink colour, lens, noise."""
    height, width = ink.shape
    # Paper: faint blotches (fibres, uneven whiteness) at two scales; then the ink on top.
    texture = 1 + 0.012 * smooth_noise(rng, height, width, 24) + 0.007 * smooth_noise(rng, height, width, 4)
    tint = PAPER * rng.uniform(0.98, 1.01)
    reflect = tint * texture[..., None] * (1 - ink[..., None]) + INK * ink[..., None]
    photo = reflect * lighting(rng, height, width)[..., None]
    # Lens: a very slight softening, as no phone camera is perfectly sharp.
    photo = np.stack([blur(photo[..., c], 0.6) for c in range(3)], axis=-1)
    # Sensor: mild grain, the same in the three channels, at 2x2 px (as after demosaicing); keeps PNGs small.
    grain = resize(rng.standard_normal(((height + 1) // 2, (width + 1) // 2)).astype(np.float32), width, height)
    photo = photo + 0.006 * grain[..., None]
    return np.clip(np.round(photo * 255), 0, 255).astype(np.uint8)


def paste(sheet, ink, top, left):
    """Lay ink on a sheet: the darker wins where they overlap (it is the same pen)."""
    h, w = ink.shape
    sheet[top:top + h, left:left + w] = np.maximum(sheet[top:top + h, left:left + w], ink)


# ---------------------------------------------------------------------------
# The pictures
# ---------------------------------------------------------------------------
def single_digit(digit, rng):
    """One digit on a sheet about 400 px across, roughly but not exactly centred."""
    width, height = int(rng.integers(380, 441)), int(rng.integers(340, 401))
    ink = trim(pen_strokes(digit, int(height * rng.uniform(0.52, 0.62)), rng))
    h, w = ink.shape
    # Off-centre by up to ~6 % of the sheet, as a hand-held photo would be.
    top = (height - h) // 2 + int(rng.integers(-height // 16, height // 16 + 1))
    left = (width - w) // 2 + int(rng.integers(-width // 16, width // 16 + 1))
    sheet = np.zeros((height, width), np.float32)
    paste(sheet, ink, top, left)
    return photograph(sheet, rng)


def whole_number(digits, rng, height=120):
    """Several digits left to right on one sheet: varied gaps, sizes and baselines, never touching."""
    inks = [trim(pen_strokes(d, int(height * rng.uniform(0.9, 1.1)), rng)) for d in digits]
    shifts = [int(rng.integers(-height // 12, height // 12 + 1)) for _ in inks]
    gaps = [int(rng.integers(height // 8, height // 3)) for _ in inks[1:]]   # >= 15 px: never touching
    margin_x, margin_y = int(height * 0.6), int(height * 0.55)
    width = sum(ink.shape[1] for ink in inks) + sum(gaps) + 2 * margin_x
    tallest = max(ink.shape[0] for ink in inks)
    sheet = np.zeros((tallest + 2 * margin_y + height // 6, width), np.float32)
    left = margin_x
    for ink, shift, gap in zip(inks, shifts, gaps + [0]):
        # Bottoms roughly on one line, as when writing on a ruled sheet, each digit a bit off it.
        top = margin_y + height // 12 + tallest - ink.shape[0] + shift
        paste(sheet, ink, top, left)
        left += ink.shape[1] + gap
    return photograph(sheet, rng)


def save_png(pixels, path):
    """Write a PNG atomically: a temporary file in the same folder, then os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(pixels, "RGB").save(f, format="PNG", optimize=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def make_all(data_dir, out_dir, seed):
    """Write every picture; returns [(file name, MNIST test indices)] in the order written."""
    images, labels = load_test_set(data_dir)
    check_labels(labels, list(DIGITS.items()))
    check_labels(labels, [(int(c), i) for text, idx in NUMBERS.items() for c, i in zip(text, idx)])
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for n, (digit, index) in enumerate(sorted(DIGITS.items())):
        # One generator per picture, so changing one picture leaves the others as they were.
        rng = np.random.default_rng([seed, n])
        save_png(single_digit(images[index], rng), out_dir / f"{digit}.png")
        made.append((f"{digit}.png", [index]))
    for n, (text, indices) in enumerate(NUMBERS.items(), start=len(DIGITS)):
        rng = np.random.default_rng([seed, n])
        save_png(whole_number([images[i] for i in indices], rng), out_dir / f"number_{text}.png")
        made.append((f"number_{text}.png", indices))
    return made


def build_parser():
    p = argparse.ArgumentParser(description="Make the sample digit pictures in pic/ from MNIST test digits.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder with the MNIST test .gz files")
    p.add_argument("--out-dir", type=Path, default=HERE, help="where the PNGs are written")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same pixels)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        made = make_all(args.data_dir, args.out_dir, args.seed)
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: not found (data/README.md says how to get MNIST)", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, indices in made:
        size = (args.out_dir / name).stat().st_size
        print(f"{name:<18} MNIST test {'index' if len(indices) == 1 else 'indices'} "
              f"{', '.join(map(str, indices)):<20} {size / 1024:6.1f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
