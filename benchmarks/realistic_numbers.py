"""A realistic test set for reading numbers: several MNIST test digits written in a row, photographed on paper.

Each picture shows one handwritten number of 2 to 10 digits, every digit an MNIST *test* digit, as dark
ink on noisy, textured, unevenly lit paper (the look of benchmarks/realistic_digits.py, whose helpers
are reused).  Within a number the digits vary a little in size and sit on a drifting baseline; across
numbers the size (digit height about 30-120 px), the slant (a shear of the whole number), the pen
(thin or thick strokes) and the gaps vary more.  A chosen share of the numbers has neighbours whose
ink touches or overlaps, and a chosen share is written above a ruled line.  Saved as JPEG (various
qualities) or PNG.  The same seed gives the same files.  A condition (benchmarks/realistic_conditions.py:
shadows, strong light, lined or form paper, other pens, tilt, blur, overlapping digits, tight crops, very thin
or bold strokes) adds one kind of trouble of real photos to the same numbers.

For every picture the truth is recorded: the number as a string and each digit's box [x, y, w, h],
the bounding box of that digit's ink (pixels at least half covered) in the picture, taken from the
rendering after all transforms, in reading order.

    python benchmarks/realistic_numbers.py --count 20 --out /tmp/numbers --seed 0
    python benchmarks/realistic_numbers.py --count 20 --out /tmp/shadow --condition shadow
"""
import argparse
import collections
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make `benchmarks` and `tfnotes` importable
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from benchmarks.realistic_conditions import CONDITIONS, Look, look_of  # noqa: E402
from benchmarks.realistic_digits import INK, NOISE, PAPER, STROKE_CHANGE, _ink_alpha, _lighting, _texture  # noqa: E402

# Ranges of the rendering (one place).  Lengths in MNIST px are multiplied by the number's scale.
DIGIT_HEIGHT = (30, 120)       # px: height of a digit's 20-px MNIST box in the picture (log-uniform)
SIZE_WITHIN = (0.88, 1.12)     # per-digit size factor within one number
SLANT = (-0.3, 0.3)            # horizontal shear of the whole number (positive: leaning right)
DRIFT = 0.1                    # baseline wave amplitude, as a share of the digit height
DRIFT_PERIOD = (4.0, 12.0)     # baseline wave length, in digits
DRIFT_TILT = 0.02              # baseline rise or fall per digit, share of the height
JITTER = 0.04                  # per-digit vertical jitter, share of the height
GAP = (1.0, 14.0)              # MNIST px of paper between neighbouring inks, row by row (not touching)
OVERLAP = (1.0, 4.0)           # MNIST px by which the ink boxes of a touching pair overlap
INK_CROSS = (0.3, 1.5)         # MNIST px by which touching ink crosses in the row where it meets
MIN_GAP_PX = 3                 # px: never closer than this without touching, so blur cannot join them
MARGIN_X = (0.3, 1.5)          # left and right margins, share of the digit height
MARGIN_Y = (0.3, 1.0)          # top and bottom margins, share of the digit height
ASPECT = (1.15, 1.6)           # least width / height of a picture
RULE_WIDTH = (1 / 60, 1 / 25)  # ruled line thickness, share of the digit height
JPEG_QUALITY = (50, 96)
JPEG_SHARE = 0.6
INK_LEVEL = 0.5                # coverage from which a pixel counts as ink (boxes, contact)
NEUTRAL_PEN = -STROKE_CHANGE[0] / (STROKE_CHANGE[1] - STROKE_CHANGE[0])  # pen point that leaves strokes as they are
THIN_KEEP = 0.6                # a thinner pen must keep this share of the ink, else the digit falls apart


# ---------------------------------------------------------------------------------------------------------
# One digit
# ---------------------------------------------------------------------------------------------------------

class _Pen:
    """Stands in for the generator in realistic_digits._ink_alpha so that all digits of a number share one pen.

    _ink_alpha draws its stroke change as rng.uniform(*STROKE_CHANGE); this answers with the same point
    of that range every time (0: thinnest, 1: thickest), so the range itself stays defined in one place.
    """

    def __init__(self, point):
        self.point = float(np.clip(point, 0.0, 1.0))

    def uniform(self, low, high):
        return low + self.point * (high - low)


def _digit_ink(digit, scale, pen, look):
    """Ink coverage of one digit at `scale` px per MNIST px with the pen's stroke (or the look's pen), cropped to
    its ink."""
    alpha = _ink_alpha(digit, scale, _Pen(pen))
    if pen < NEUTRAL_PEN:
        # A thin pen on a small, thin digit can erode whole strokes away; then write it with a plain pen.
        plain = _ink_alpha(digit, scale, _Pen(NEUTRAL_PEN))
        if (alpha >= INK_LEVEL).sum() < THIN_KEEP * (plain >= INK_LEVEL).sum():
            alpha = plain
    styled = look.digit_ink(_ink_alpha, digit, scale, alpha)
    alpha = alpha if styled is None else styled
    rows, cols = np.nonzero(alpha > 0)
    return alpha[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _ink_box(alpha):
    """(top, bottom, left, right) of the pixels that count as ink, inclusive; None for no ink."""
    rows, cols = np.nonzero(alpha >= INK_LEVEL)
    if rows.size == 0:
        return None
    return rows.min(), rows.max(), cols.min(), cols.max()


# ---------------------------------------------------------------------------------------------------------
# Slant and layout.  The slant is one shear x' = x + slant * (centre - y) of the whole number.  A shear keeps
# rows, and shearing a digit on its own differs from shearing the whole number only by a shift of that digit;
# so every digit is sheared first and the layout then places the sheared digits at whole-pixel columns:
# gaps and contacts are measured on the final pixels, not guessed before resampling.
# ---------------------------------------------------------------------------------------------------------

def _baseline(rng, n, height):
    """Row offsets of each digit's bottom: a smooth wave plus a tilt along the number, plus per-digit jitter.

    Wave and tilt are per digit written (not per number), so a short number drifts less than a long one.
    """
    i = np.arange(n)
    wave = rng.uniform(0, DRIFT) * np.sin(2 * np.pi * i / rng.uniform(*DRIFT_PERIOD) + rng.uniform(0, 2 * np.pi))
    tilt = rng.uniform(-DRIFT_TILT, DRIFT_TILT) * i
    jitter = rng.uniform(-JITTER, JITTER, n)
    return np.round((wave + tilt + jitter) * height).astype(int)


def _shear(alpha, top, slant, centre):
    """A digit's crop (rows from `top`) sheared as part of the whole number, cropped to its ink's columns.

    Only the fractional part of the digit's offset needs resampling; the whole pixels are the layout's.
    """
    h, w = alpha.shape
    pad = max(0.0, slant * (h - 1))                   # keeps the sheared columns non-negative
    start = slant * (centre - top) - pad
    frac = start - np.floor(start)
    width = w + int(np.ceil(abs(slant) * (h - 1))) + 2
    img = Image.fromarray(alpha.astype(np.float32)).transform(
        (width, h), Image.Transform.AFFINE, (1.0, slant, -frac - pad, 0.0, 1.0, 0.0), Image.Resampling.BILINEAR)
    out = np.asarray(img)
    cols = np.nonzero(out.max(axis=0) > 0)[0]
    return out[:, cols[0]:cols[-1] + 1]


def _profile(alpha, top):
    """{picture row: (leftmost, rightmost) ink column in the crop} for a crop whose row 0 is `top`."""
    ink = alpha >= INK_LEVEL
    extents = {}
    for r in np.nonzero(ink.any(axis=1))[0]:
        cols = np.nonzero(ink[r])[0]
        extents[top + int(r)] = (int(cols[0]), int(cols[-1]))
    return extents


def _inks_touch(first, second):
    """Whether two placed digits (alpha, top, left) have ink pixels that overlap or are 8-neighbours."""
    (a, ta, la), (b, tb, lb) = first, second
    top, left = min(ta, tb) - 1, min(la, lb) - 1
    height = max(ta + a.shape[0], tb + b.shape[0]) - top + 1
    width = max(la + a.shape[1], lb + b.shape[1]) - left + 1
    masks = np.zeros((2, height, width), np.uint8)
    masks[0, ta - top:ta - top + a.shape[0], la - left:la - left + a.shape[1]] = (a >= INK_LEVEL) * 255
    masks[1, tb - top:tb - top + b.shape[0], lb - left:lb - left + b.shape[1]] = (b >= INK_LEVEL) * 255
    grown = np.asarray(Image.fromarray(masks[0]).filter(ImageFilter.MaxFilter(3)))
    return bool((grown & masks[1]).any())


def _touch_at(first, second, scale, rng, look):
    """Column of `second` (relative to `first` at column 0) where their ink touches; box overlap / allowed one.

    first, second: (alpha, top).  In the row where the left digit reaches furthest over the right one's
    leftmost ink, putting the two on the same pixel makes them touch for sure.  From there the right digit
    moves in further, by up to INK_CROSS, and until the ink boxes overlap by OVERLAP[0], as far as the ink
    still touches (strokes may cross without sharing a pixel) and the boxes overlap by at most OVERLAP[1]
    and by less than half the narrower digit (no digit is swallowed by its neighbour). The look may ask for
    deeper overlaps (realistic_conditions: overlap).
    """
    (a, ta), (b, tb) = first, second
    overlap_px, cross_px = look.touch(OVERLAP, INK_CROSS)
    pa, pb = _profile(a, ta), _profile(b, tb)
    a_left, a_right = min(lo for lo, _ in pa.values()), max(hi for _, hi in pa.values())
    b_left, b_right = min(lo for lo, _ in pb.values()), max(hi for _, hi in pb.values())
    allowed = max(1.0, min(overlap_px[1] * scale, 0.5 * min(a_right - a_left + 1, b_right - b_left + 1)))
    rows = pa.keys() & pb.keys()
    if not rows:                   # side by side without a shared row: cannot touch (never with real drift)
        return a_right - b_left, np.inf
    contact = max(pa[r][1] - pb[r][0] for r in rows)
    deepest = min(contact - int(round(rng.uniform(*cross_px) * scale)),
                  a_right + 1 - int(round(overlap_px[0] * scale)) - b_left)
    for column in range(deepest, contact):
        overlap = a_right + 1 - (column + b_left)
        if overlap <= allowed and _inks_touch((a, ta, 0), (b, tb, column)):
            return column, overlap / allowed
    return contact, (a_right + 1 - (contact + b_left)) / allowed


def _touch_plan(alphas, tops, scale, rng, look):
    """For each neighbour pair: (relative column to touch, box overlap as a share of the allowed one)."""
    return [_touch_at((alphas[i], tops[i]), (alphas[i + 1], tops[i + 1]), scale, rng, look)
            for i in range(len(alphas) - 1)]


def _choose_touching(plan, rng, chained=False):
    """Indices i of the pairs (i, i+1) that will touch: one or a few of the good candidates (at least one);
    chained: all of the good candidates (neighbours in a row touch: chains of three or more)."""
    good = [i for i, (_, need) in enumerate(plan) if need <= 1.0]
    if chained and good:
        return set(good)
    if not good:                   # awkward shapes only: the pair that needs the least overlap
        return {int(np.argmin([need for _, need in plan]))}
    k = min(len(good), 1 + rng.binomial(len(plan) - 1, 0.15))
    return {int(i) for i in rng.choice(good, size=k, replace=False)}


def _clear_of(placed, profile, gap):
    """Least column for a digit with `profile` to keep `gap` px of paper from all ink placed so far.

    placed: {row: rightmost ink column}.  Rows within MIN_GAP_PX count too, so that ink cannot meet
    diagonally.
    """
    least = None
    for row, (lo, _) in profile.items():
        near = [placed[r] for r in range(row - MIN_GAP_PX, row + MIN_GAP_PX + 1) if r in placed]
        if near:
            need = max(near) + 1 + gap - lo
            least = need if least is None else max(least, need)
    if least is None:              # no shared rows (cannot happen with real drift): beside everything
        least = max(placed.values()) + 1 + gap - min(lo for lo, _ in profile.values())
    return least


def _layout(alphas, tops, scale, rng, touching, chained, look):
    """Left column of each sheared digit and the set of pairs placed to touch.

    Gaps are the paper between the inks (row by row), varied around this writer's usual spacing.
    """
    plan = _touch_plan(alphas, tops, scale, rng, look) if touching else []
    touch = _choose_touching(plan, rng, chained) if touching else set()
    spacing = rng.uniform(1.5, 7.0)            # this writer's usual gap, MNIST px
    lefts, placed = [], {}
    for i, (alpha, top) in enumerate(zip(alphas, tops)):
        profile = _profile(alpha, top)
        if i == 0:
            left = 0
        elif i - 1 in touch:
            left = lefts[-1] + plan[i - 1][0]
        else:                                  # clear of every digit so far, not only the previous one
            gap = np.clip(spacing * rng.lognormal(0.0, 0.35), *GAP) * scale
            left = _clear_of(placed, profile, max(MIN_GAP_PX, int(round(gap))))
        lefts.append(left)
        for row, (_, hi) in profile.items():
            placed[row] = max(placed.get(row, hi + left), hi + left)
    return lefts, touch


def _compose(pieces, margins):
    """Ink coverage of the picture and each digit's ink box [x, y, w, h] from sheared pieces (alpha, top, left)."""
    boxes = []
    for alpha, top, left in pieces:
        t, b, lft, r = _ink_box(alpha)
        boxes.append([left + lft, top + t, r - lft + 1, b - t + 1])
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    ml, mr, mt, mb = margins
    height = (y1 - y0) + mt + mb
    width = (x1 - x0) + ml + mr
    cover = np.zeros((height, width), np.float32)
    dx, dy = ml - x0, mt - y0
    for alpha, top, left in pieces:
        # Fringes outside the ink box may poke past a thin margin: clip them to the canvas.
        y, x = top + dy, left + dx
        ys, xs = max(0, -y), max(0, -x)
        ye, xe = min(alpha.shape[0], height - y), min(alpha.shape[1], width - x)
        region = cover[y + ys:y + ye, x + xs:x + xe]
        np.maximum(region, alpha[ys:ye, xs:xe], out=region)
    return cover, [[b[0] + dx, b[1] + dy, b[2], b[3]] for b in boxes]


def _margins(rng, height, ink_w, ink_h):
    """(left, right, top, bottom) margins in px; the sides grow until the picture is wider than tall."""
    ml, mr = (int(rng.uniform(*MARGIN_X) * height) + 2 for _ in range(2))
    mt, mb = (int(rng.uniform(*MARGIN_Y) * height) + 2 for _ in range(2))
    least = int(np.ceil(rng.uniform(*ASPECT) * (ink_h + mt + mb)))
    short = least - (ink_w + ml + mr)
    if short > 0:
        extra_left = int(rng.uniform(0.2, 0.8) * short)
        ml, mr = ml + extra_left, mr + short - extra_left
    return ml, mr, mt, mb


# ---------------------------------------------------------------------------------------------------------
# Paper, ruled line, light, camera
# ---------------------------------------------------------------------------------------------------------

def _paper_texture(rng, height, width, amount):
    """realistic_digits' blotches with round cells on a wide picture: a square texture, cropped."""
    side = max(height, width)
    return _texture(rng, side, side, amount)[:height, :width]


def _rule(rng, cover, boxes, height):
    """Coverage of a thin printed line under the number: straight or slightly tilted, across most of the picture.

    Sometimes it runs just under the digits' bottoms and touches some of them (people write on the line).
    """
    rows, cols = cover.shape
    bottoms = np.array([b[1] + b[3] for b in boxes], np.float32)
    below = rng.uniform(-0.05, 0.02) if rng.random() < 0.4 else rng.uniform(0.06, 0.3)
    y0 = float(np.median(bottoms)) + below * height
    slope = rng.uniform(-0.015, 0.015)
    thick = max(1.0, rng.uniform(*RULE_WIDTH) * height)
    x = np.arange(cols, dtype=np.float32)[None, :]
    y = np.arange(rows, dtype=np.float32)[:, None]
    dist = np.abs(y - (y0 + slope * (x - cols / 2)))
    line = np.clip(thick / 2 + 0.5 - dist, 0.0, 1.0)
    if rng.random() < 0.5:                      # printed lines often stop short of the paper's edge
        start, end = rng.uniform(0, 0.08) * cols, rng.uniform(0.9, 1.0) * cols
        line *= ((x >= start) & (x <= end))
    return line * rng.uniform(0.6, 0.95)      # printed lines are fainter than ink


def _rule_colour(rng):
    """Grey-blue or grey, lighter than ink (RGB factor of the paper's brightness)."""
    if rng.random() < 0.6:
        return np.array([0.55, 0.66, 0.85], np.float32) * rng.uniform(0.75, 1.0)
    return np.full(3, rng.uniform(0.5, 0.75), np.float32)


def _photograph(rng, cover, layers, look, boxes, digit_h):
    """Ink coverage and what is printed on the paper (layers: [(coverage, RGB factor)], e.g. a ruled line) -> RGB
    uint8 picture of ink on lit, textured, noisy paper; the look adds its light, shadows or objects."""
    height, width = cover.shape
    paper = rng.uniform(*PAPER) + _paper_texture(rng, height, width, 0.02)
    tint = 1.0 + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    sheet = paper[..., None] * tint
    for printed, rgb in layers:
        sheet = sheet * (1 - printed[..., None]) + (paper[..., None] * rgb) * printed[..., None]
    # Dark ink, sometimes a blue-ish pen.
    ink = rng.uniform(*INK) + rng.uniform(-0.03, 0.12, 3).astype(np.float32) * (rng.random() < 0.5)
    ink = look.ink_colour(ink)
    rgb = sheet * (1 - cover[..., None]) + ink * cover[..., None]
    rgb *= _lighting(rng, height, width)[..., None]
    rgb = look.scene(rgb, boxes, digit_h)
    rgb += rng.standard_normal((height, width, 1), dtype=np.float32) * rng.uniform(*NOISE)
    return Image.fromarray(np.clip(rgb * 255.0, 0, 255).astype(np.uint8))


def _camera(rng, img):
    """A little focus blur sometimes, sometimes a grey picture; and the file format."""
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.3:
        img = img.convert("L")
    return img


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------

def _render(digits, rng, touching=False, ruled=False, chained=False, look=None):
    """render_number plus the pairs (i, i+1) whose ink touches; chained: every pair that can touch does."""
    if len(digits) < 2 and touching:
        raise ValueError("a touching number needs at least two digits")
    look = look or Look()
    height = float(np.exp(rng.uniform(*np.log(DIGIT_HEIGHT))))
    scale = height / 20.0
    pen = rng.uniform(0, 1)                                   # one pen for the whole number
    crops = [_digit_ink(d, scale * rng.uniform(*SIZE_WITHIN), pen + rng.normal(0, 0.08), look) for d in digits]
    # Bottom of every digit's ink on the drifting baseline.
    bottoms = _baseline(rng, len(crops), height)
    tops = [int(b) - _ink_box(c)[1] for b, c in zip(bottoms, crops)]
    slant = float(np.clip(rng.normal(0.08, 0.13), *SLANT))    # most people lean to the right
    centre = float(np.mean(bottoms)) - height / 2
    alphas = [_shear(crop, top, slant, centre) for crop, top in zip(crops, tops)]
    lefts, touch = _layout(alphas, tops, scale, rng, touching, chained, look)
    pieces = list(zip(alphas, tops, lefts))
    # The truth comes from the rendering: which neighbours' ink really touches.
    contacts = [i for i in range(len(pieces) - 1) if _inks_touch(pieces[i], pieces[i + 1])]
    if bool(contacts) != touching:
        raise RuntimeError(f"rendering bug: asked touching={touching}, ink touches at pairs {contacts} "
                           f"(planned {sorted(touch)})")
    ink_w = max(p[2] + p[0].shape[1] for p in pieces) - min(p[2] for p in pieces)
    ink_h = max(p[1] + p[0].shape[0] for p in pieces) - min(p[1] for p in pieces)
    cover, boxes = _compose(pieces, look.margins(_margins(rng, height, ink_w, ink_h), height))
    layers = [(_rule(rng, cover, boxes, height), _rule_colour(rng))] if ruled else []
    layers += look.printed(cover.shape, boxes, height)
    cover, layers, boxes = look.geometry(look.ink_texture(cover), layers, boxes)
    img = _photograph(rng, cover, layers, look, boxes, height)
    return look.camera(_camera(rng, img), height), boxes, contacts


def render_number(digits, rng, touching=False, ruled=False, chained=False, look=None):
    """A picture of the digits (uint8 28x28 MNIST images, light on black) written as one number, left to right.

    touching: at least one pair of neighbours has ink that touches or overlaps (chained: every pair that can);
    otherwise no two digits touch.  ruled: a thin printed line runs under the number.  look: a
    realistic_conditions.Look (None: clean).  Returns (PIL image, boxes), boxes[i] = [x, y, w, h] of digit i's
    ink in the picture (after a tilt: the box of its moved corners).
    """
    img, boxes, _ = _render(digits, rng, touching, ruled, chained, look)
    return img, boxes


def _flags(rng, count, share):
    """Exactly round(count * share) of `count` items flagged, at seeded random places."""
    flags = np.zeros(count, bool)
    flags[rng.permutation(count)[:int(round(count * share))]] = True
    return flags


CONDITION_SHARES = {"overlap": (1.0, None), "tight": (0.5, None), "paper": (None, 0.0)}   # (touching, ruled) set


def condition_shares(condition, touching_share, ruled_share):
    """(touching share, ruled share) of a set in `condition`: those asked, unless CONDITION_SHARES sets them."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; one of {', '.join(CONDITIONS)}")
    touching, ruled = CONDITION_SHARES.get(condition, (None, None))
    return (touching_share if touching is None else touching), (ruled_share if ruled is None else ruled)


def make_number_set(out_dir, images, labels, count, seed=0, touching_share=0.3, ruled_share=0.2, lengths=(2, 10),
                    chained=False, condition="clean"):
    """Write `count` pictures of numbers made of images[i] (MNIST test uint8 [N,28,28]) into out_dir.

    Lengths are uniform in lengths (inclusive); digits are drawn without repeats until the images run
    out.  Exactly round(count * touching_share) numbers have touching neighbours and round(count *
    ruled_share) a ruled line.  Returns a list of dicts: path, number (string), boxes ([x, y, w, h] per
    digit, left to right), touching, ruled, format ("JPEG" or "PNG"), touching_pairs (i: digits i and
    i+1 touch), condition, mnist_index (each digit's index in images).  chained: in a touching number every
    pair of neighbours that can touch does (the weight makers use it to draw chains of touching digits).
    condition (realistic_conditions.CONDITIONS): the same numbers with one kind of trouble added; overlap makes
    every number's digits overlap, tight half of them touch, paper brings its own lines (CONDITION_SHARES).
    The same arguments give the same files.
    """
    low, high = lengths
    if not 2 <= low <= high:
        raise ValueError(f"lengths must be (low, high) with 2 <= low <= high, not {lengths}")
    if not (0 <= touching_share <= 1 and 0 <= ruled_share <= 1):
        raise ValueError(f"shares must be between 0 and 1, not {touching_share} and {ruled_share}")
    touching_share, ruled_share = condition_shares(condition, touching_share, ruled_share)
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    touching, ruled = _flags(rng, count, touching_share), _flags(rng, count, ruled_share)
    sizes = rng.integers(low, high + 1, count)
    order = np.concatenate([rng.permutation(len(images)) for _ in range(-(-int(sizes.sum()) // len(images)))])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    written = []
    for n in range(count):
        chosen = order[starts[n]:starts[n + 1]]
        item_rng = np.random.default_rng([seed, n])
        look = look_of(condition, seed, n)
        img, boxes, pairs = _render([images[i] for i in chosen], item_rng, bool(touching[n]), bool(ruled[n]), chained,
                                    look)
        number = "".join(str(int(labels[i])) for i in chosen)
        written.append(_save(img, item_rng, os.path.join(out_dir, f"n{n:04d}_{number}"), {
            "number": number, "boxes": [[int(v) for v in b] for b in boxes], "touching": bool(touching[n]),
            "ruled": bool(ruled[n]), "touching_pairs": pairs, "condition": condition,
            "mnist_index": [int(i) for i in chosen]}, look))
    return written


def _save(img, rng, stem, record, look):
    """Save as JPEG (random quality) or PNG; the record with path and format added."""
    share, quality = look.jpeg_quality((JPEG_SHARE, JPEG_QUALITY))
    if rng.random() < share:
        path, fmt = stem + ".jpg", "JPEG"
        img.save(path, quality=int(rng.integers(*quality)))
    else:
        path, fmt = stem + ".png", "PNG"
        img.save(path, compress_level=1)
    return {"path": path, **record, "format": fmt}


def summary(records):
    """Lines describing a set: count, touching and ruled shares, formats, digit count histogram."""
    n = len(records)
    lengths = collections.Counter(len(r["number"]) for r in records)
    formats = collections.Counter(r["format"] for r in records)
    return [
        f"count: {n}",
        f"touching: {sum(r['touching'] for r in records) / max(n, 1):.0%}",
        f"ruled: {sum(r['ruled'] for r in records) / max(n, 1):.0%}",
        "formats: " + ", ".join(f"{k} {v}" for k, v in sorted(formats.items())),
        "digits per number: " + ", ".join(f"{k}: {lengths[k]}" for k in sorted(lengths)),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="number of pictures")
    parser.add_argument("--out", default="/tmp/numbers", help="folder for the pictures and numbers.json")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--touching-share", type=float, default=0.3, help="share of numbers with touching digits")
    parser.add_argument("--ruled-share", type=float, default=0.2, help="share of numbers with a ruled line")
    parser.add_argument("--min-digits", type=int, default=2, help="fewest digits in a number")
    parser.add_argument("--max-digits", type=int, default=10, help="most digits in a number")
    parser.add_argument("--condition", choices=CONDITIONS, default="clean",
                        help="the trouble added to every picture (benchmarks/realistic_conditions.py)")
    parser.add_argument("--data-dir", help="MNIST folder; none given: <repo>/data or $MNIST_DATA_DIR")
    args = parser.parse_args(argv)
    if not 2 <= args.min_digits <= args.max_digits:
        parser.error("need 2 <= --min-digits <= --max-digits")

    from tfnotes import data
    _, _, images, labels = data.load_mnist(args.data_dir)
    start = time.perf_counter()
    records = make_number_set(args.out, images, labels, args.count, args.seed, args.touching_share,
                              args.ruled_share, (args.min_digits, args.max_digits), condition=args.condition)
    seconds = time.perf_counter() - start
    # The truth next to the pictures, with paths relative to the folder so it can be moved.
    with open(os.path.join(args.out, "numbers.json"), "w") as f:
        json.dump([{**r, "path": os.path.basename(r["path"])} for r in records], f, indent=1)
    for line in summary(records):
        print(line)
    print(f"written to {args.out} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
