"""A deterministic "writer": digits in one made-up hand that MNIST-trained networks read poorly.

Fine-tuning on your own handwriting cannot be measured with a person at every run, so this module writes like
one person would: every digit from the same stroke plan, with a distinct style (a strong backward slant; a 1
with a flag and a base; a 7 with a crossbar; a slashed 0; an open 4; a 9 with a straight tail; a flat-topped 3;
a 2 with a loop), and a little seeded jitter in every stroke, as no two samples of a hand are alike. It is drawn
from stroke plans written here, not from any data set (none of MNIST's test digits).

A sample is a list of strokes, each a list of (x, y) points on the web page's drawing pad (PAD_SIZE pixels), so a
browser test can draw it with the mouse; draw() renders the same strokes as the page's canvas holds them.

    python benchmarks/writer.py --count 20 --out /tmp/writer.png     # a sheet of samples, to look at
"""
import argparse
import io
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

PAD_SIZE = (640, 320)     # the page's drawing pad (tfnotes/web/index.html)
PEN_WIDTH = 20            # the page's pen, and how it sends a drawing (tfnotes/web/app.js, padPicture)
SEND_SIDE, MARGIN, MIN_MARGIN = 256, 0.25, 20
DIGIT_HEIGHT = 200        # pad pixels
SLANT = 0.45              # backward slant: the top leans left by this share of the height
JITTER = 0.022            # the wobble of each stroke point, as a share of the digit's height

# Stroke plans in a unit box (x right, y down, the digit's height 1). Each digit is one or more strokes.
PLANS = {
    0: [[(0.2, 0.05), (0.8, 0.05), (0.88, 0.5), (0.8, 0.95), (0.2, 0.95), (0.12, 0.5), (0.2, 0.05)],
        [(0.78, 0.12), (0.22, 0.88)]],                                       # a slashed zero
    1: [[(0.25, 0.3), (0.55, 0.04), (0.55, 0.96)], [(0.25, 0.96), (0.85, 0.96)]],   # flag and base
    2: [[(0.18, 0.22), (0.35, 0.04), (0.72, 0.04), (0.84, 0.24), (0.7, 0.5), (0.3, 0.78), (0.22, 0.9),
         (0.36, 0.98), (0.42, 0.84), (0.3, 0.8), (0.24, 0.95), (0.88, 0.95)]],   # a loop at the bottom
    3: [[(0.15, 0.04), (0.85, 0.04), (0.42, 0.44), (0.72, 0.52), (0.85, 0.74), (0.68, 0.96), (0.15, 0.9)]],
    4: [[(0.55, 0.04), (0.12, 0.66), (0.96, 0.66)], [(0.62, 0.04), (0.62, 0.96)]],  # closed, a long bar
    5: [[(0.82, 0.04), (0.28, 0.04), (0.22, 0.46), (0.62, 0.4), (0.84, 0.62), (0.76, 0.9), (0.48, 0.98),
         (0.16, 0.86)]],
    6: [[(0.3, 0.04), (0.22, 0.96), (0.7, 0.96), (0.84, 0.74), (0.66, 0.52), (0.24, 0.6)]],  # a stem, like a b
    7: [[(0.12, 0.18), (0.2, 0.04), (0.88, 0.04), (0.5, 0.96)], [(0.3, 0.5), (0.86, 0.5)]],  # a nose and a bar
    8: [[(0.8, 0.12), (0.6, 0.02), (0.3, 0.06), (0.26, 0.3), (0.74, 0.66), (0.7, 0.94), (0.3, 0.96),
         (0.24, 0.7), (0.74, 0.3), (0.8, 0.12)]],                             # one stroke, open at the top
    9: [[(0.82, 0.3), (0.6, 0.5), (0.28, 0.46), (0.18, 0.24), (0.34, 0.04), (0.7, 0.04), (0.82, 0.3),
         (0.82, 0.84), (0.62, 0.98), (0.3, 0.9)]],                           # a tail curled back, like a g
}


def strokes(digit, rng):
    """One sample of `digit` in this hand: a list of strokes, each [(x, y), ...] in pad pixels."""
    slant = SLANT + rng.normal(0, 0.05)
    scale = DIGIT_HEIGHT * (1 + rng.normal(0, 0.06))
    width = 0.95 * (1 + rng.normal(0, 0.06))        # the hand writes wide digits
    angle = math.radians(rng.normal(0, 3))
    cx = PAD_SIZE[0] / 2 + rng.uniform(-60, 60)
    cy = PAD_SIZE[1] / 2 + rng.uniform(-10, 10)
    out = []
    for plan in PLANS[digit]:
        points = np.asarray(plan, np.float64) + rng.normal(0, JITTER, (len(plan), 2))
        x = (points[:, 0] - 0.5) * width + slant * (points[:, 1] - 0.5)  # the top leans left
        y = points[:, 1] - 0.5
        xr, yr = x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle)
        out.append([(round(cx + scale * a, 1), round(cy + scale * b, 1)) for a, b in zip(xr, yr)])
    return out


def draw(sample, size=PAD_SIZE, pen=PEN_WIDTH):
    """The strokes as the page's canvas holds them: dark round-capped lines on white, an RGB picture."""
    picture = Image.new("RGB", size, "white")
    ink = ImageDraw.Draw(picture)
    for stroke in sample:
        ink.line(stroke, fill="#111111", width=pen, joint="curve")
        for x, y in stroke:  # round caps and joins, as the canvas's lineCap / lineJoin "round"
            ink.ellipse([x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2], fill="#111111")
    return picture


def page_png(sample):
    """The PNG bytes the page sends for the sample: the drawing's ink with some paper around it, at most SEND_SIDE
    pixels a side (as app.js's padPicture makes it)."""
    xs = [x for stroke in sample for x, _ in stroke]
    ys = [y for stroke in sample for _, y in stroke]
    half = PEN_WIDTH / 2
    margin = max(MIN_MARGIN, MARGIN * (max(max(xs) - min(xs), max(ys) - min(ys)) + PEN_WIDTH))
    left, top = max(0, math.floor(min(xs) - half - margin)), max(0, math.floor(min(ys) - half - margin))
    width = min(PAD_SIZE[0], math.ceil(max(xs) + half + margin)) - left
    height = min(PAD_SIZE[1], math.ceil(max(ys) + half + margin)) - top
    scale = min(1, SEND_SIDE / max(width, height))
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    picture = draw(sample).crop((left, top, left + width, top + height)).resize(size, Image.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def digit_order(count, seed):
    """The digits asked for, as the Collect tab asks: 0-9 in a shuffled order, again and again."""
    rng = np.random.default_rng([seed, 1])
    rounds = -(-count // 10)
    return [int(d) for _ in range(rounds) for d in rng.permutation(10)][:count]


def sample(digit, occurrence, seed):
    """The writer's `occurrence`-th sample of `digit` (from 0): the same strokes for the same three numbers, in
    whatever order the digits are asked for."""
    return strokes(digit, np.random.default_rng([seed, 2, digit, occurrence]))


def samples(count, seed):
    """[(digit, strokes)] of `count` samples, the same for the same seed."""
    order = digit_order(count, seed)
    return [(d, sample(d, order[:k].count(d), seed)) for k, d in enumerate(order)]


def sheet(pairs, columns=10):
    """A picture of the samples, `columns` to a row, each pad shrunk to a quarter."""
    cell = (PAD_SIZE[0] // 4, PAD_SIZE[1] // 4)
    rows = -(-len(pairs) // columns)
    out = Image.new("RGB", (cell[0] * columns, cell[1] * rows), "white")
    for k, (_, sample) in enumerate(pairs):
        out.paste(draw(sample).resize(cell, Image.LANCZOS), (cell[0] * (k % columns), cell[1] * (k // columns)))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a sheet of the writer's digits, to look at.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=20, help="samples")
    p.add_argument("--seed", type=int, default=0, help="which samples")
    p.add_argument("--out", default="writer.png", help="PNG to write")
    args = p.parse_args(argv)
    sheet(samples(args.count, args.seed)).save(args.out)
    print(f"wrote {args.out}: {args.count} samples, digits {''.join(map(str, digit_order(args.count, args.seed)))}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
