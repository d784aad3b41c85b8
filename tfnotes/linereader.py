"""A small network that reads a whole line of digits at once (a CNN and a GRU each way along the line, trained
with CTC), a second opinion beside the digit model.

The digit model reads one 28x28 digit at a time, so a number is read only as well as it is cut into digits:
overlapping digits, a 1 lost between neighbours or a digit broken in two change how many digits are read. This
network looks at the line's ink as a whole (the groups of tfnotes.segment, turned level, scaled to HEIGHT rows)
and gives, for every column band of FRAME px, the probabilities of the ten digits and of "no new digit here"
(the blank of connectionist temporal classification, CTC); two GRU layers, one reading the bands left to right and
one right to left, let each band's output depend on the whole line. The best path through the bands, with repeats and
blanks removed, is the line's digits; the band where each digit is surest gives its ten probabilities.

It learned from the lines found in pictures of numbers and of single digits made of MNIST *training* digits
(benchmarks/realistic_numbers.py, benchmarks/realistic_digits.py; the app's benchmarks use test digits only), in
all the conditions of benchmarks/realistic_conditions.py, of two seeds. The weights ship as plain arrays (no pickle),
760 KB, made by three runs of the maker (about an hour on 2 cores; benchmarks/make_line_weights.py says how):

    python benchmarks/make_line_weights.py --lines /tmp/lines0.npz --draw-only
    python benchmarks/make_line_weights.py --seed 1 --pictures 24000 --single-pictures 4000 \
        --lines /tmp/lines1.npz --draw-only
    python benchmarks/make_line_weights.py --lines /tmp/lines0.npz --more-lines /tmp/lines1.npz --epochs 12

The forward pass is NumPy, like tfnotes.touching's: about 2 ms for a line of ten digits on a 2-core CPU
(the GRU layers' steps are a Python loop over the bands, at most 48).
"""
import os

import numpy as np
from PIL import Image

from tfnotes import segment
from tfnotes.touching import conv_relu_pool, load_weights

HEIGHT, WIDTH = 24, 384        # the line's ink scaled to 24 rows, at most 384 columns wide
FRAME = 8                      # columns per band after three 2x2 poolings
BLANK = 10                     # the CTC blank's index among the network's 11 outputs
HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = os.path.join(HERE, "lines.npz")
LAYERS = ("conv1", "conv2", "conv3", "band1", "ahead", "back", "out")
RECURRENT = ("ahead", "back")  # the GRU layers' names; each has a third array, "<name>_u" (the recurrent weights)
MAKER = "benchmarks/make_line_weights.py"


def groups_input(line):
    """line_input of a line of digit candidates (segment.Groups, left to right), turned level as the digit model's
    inputs are: the one way the maker and the reader make the network's input."""
    return line_input(np.logical_or.reduce([g.mask for g in line]), segment.line_angle(line))


def line_input(mask, angle=0.0):
    """[HEIGHT, W] in [0, 1]: the ink of `mask` (a boolean mask, the line's groups) cut to its box, turned by
    -angle degrees (segment.line_angle) and scaled to HEIGHT rows, then a band of paper on the right; W is a
    multiple of FRAME, at most WIDTH (a longer line is squeezed to fit)."""
    picture, box = _levelled(mask, mask, angle)
    width = _scaled_width(picture.size)
    image = np.zeros((HEIGHT, min(WIDTH, (width // FRAME + 2) * FRAME)), np.float32)
    image[:, :width] = np.asarray(picture.resize((width, HEIGHT), Image.Resampling.BILINEAR), np.float32) / 255.0
    return image


def _levelled(mask, part, angle, box=None):
    """(the ink of `part` in the box of `mask`, turned by -angle degrees and cut to the turned ink's box, as a
    PIL picture; that last box): the same turn and cut for the whole line and for each of its groups."""
    rows, cols = np.nonzero(mask)
    ink = part[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.uint8) * 255
    picture = Image.fromarray(ink)
    if angle:
        picture = picture.rotate(-angle, Image.Resampling.BILINEAR, expand=True)
        box = box or picture.getbbox() or (0, 0, *picture.size)
        picture = picture.crop(box)
    return picture, box


def _scaled_width(size):
    width, height = size
    return max(1, min(WIDTH - FRAME, int(round(width * HEIGHT / height))))


def group_bands(line):
    """[(first, last)] per group of the line: the bands of groups_input(line) that hold the group's ink."""
    mask = np.logical_or.reduce([g.mask for g in line])
    angle = segment.line_angle(line)
    whole, box = _levelled(mask, mask, angle)
    scale = _scaled_width(whole.size) / whole.size[0]
    spans = []
    for g in line:
        cols = np.nonzero(np.asarray(_levelled(mask, g.mask, angle, box)[0]).max(axis=0) >= 128)[0]
        if not len(cols):            # a sliver lost in the turn: where its box is
            cols = np.array([g.left, g.right - 1]) - np.nonzero(mask.any(axis=0))[0][0]
        spans.append((int(cols.min() * scale) // FRAME, int(cols.max() * scale) // FRAME))
    return spans


def load(path=None):
    """The weights (from the shipped file unless `path` is given) as a dict of float32 arrays; ModelError naming
    the file when it is missing, damaged or another network's."""
    return load_weights(path or WEIGHTS, LAYERS, "line-reading network", MAKER, BLANK + 1,
                        more=[f"{layer}_u" for layer in RECURRENT],
                        trial=lambda weights: bands(weights, np.zeros((1, HEIGHT, 2 * FRAME))))


def _band_conv(x, w, b, relu=True):
    """'same' convolution along the bands: x [N, T, C], w [K, C, D] -> [N, T, D]."""
    k = w.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (0, 0)))
    columns = np.concatenate([padded[:, i:i + x.shape[1]] for i in range(k)], axis=2)
    y = columns @ w.reshape(-1, w.shape[2]) + b
    return np.maximum(y, 0.0) if relu else y


def _gru(x, w, u, b, backwards=False):
    """A GRU layer along the bands as Keras computes it (gates z, r, h in that order; the reset gate applied after
    the recurrent product): x [N, T, C], w [C, 3U], u [U, 3U], b [2, 3U] (input and recurrent biases) -> [N, T, U],
    each band's state after the bands before it (or, `backwards`, after the bands that follow it)."""
    units = u.shape[0]
    given = x @ w + b[0]
    state = np.zeros((len(x), units), np.float32)
    out = np.zeros((*x.shape[:2], units), np.float32)
    for t in (reversed if backwards else iter)(range(x.shape[1])):
        kept = state @ u + b[1]
        gates = 0.5 + 0.5 * np.tanh(0.5 * (given[:, t, :2 * units] + kept[:, :2 * units]))   # the sigmoid
        z, r = gates[:, :units], gates[:, units:]
        proposed = np.tanh(given[:, t, 2 * units:] + r * kept[:, 2 * units:])
        state = z * state + (1.0 - z) * proposed
        out[:, t] = state
    return out


def bands(weights, images):
    """images [N, HEIGHT, W] (W a multiple of FRAME) -> [N, W // FRAME, 11]: each band's probabilities of the
    digits and the blank."""
    x = np.asarray(images, np.float32)[..., None]
    for layer in ("conv1", "conv2", "conv3"):
        x = conv_relu_pool(x, weights[f"{layer}_w"], weights[f"{layer}_b"])
    n, h, t, c = x.shape
    x = x.transpose(0, 2, 1, 3).reshape(n, t, h * c)      # a band's features: its rows' channels, top to bottom
    x = _band_conv(x, weights["band1_w"], weights["band1_b"])
    x = np.concatenate([_gru(x, *(weights[f"{layer}_{part}"] for part in "wub"), backwards=layer == "back")
                        for layer in RECURRENT], axis=2)
    logits = _band_conv(x, weights["out_w"], weights["out_b"], relu=False)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def decode(probs):
    """One line's band probabilities [T, 11] -> (digits [k] ints, their probabilities [k, 10]).

    The best path: the likeliest output of each band, repeats joined and blanks left out. A digit's ten
    probabilities are those of the band of its run where it is likeliest, without the blank's share."""
    digits, rows = best_path(probs)
    digit_probs = probs[rows, :BLANK] if rows else np.zeros((0, BLANK), np.float32)
    return digits, digit_probs / np.maximum(digit_probs.sum(axis=1, keepdims=True), 1e-12)


def count_probabilities(probs):
    """[T + 1]: the probability that a line holds 0, 1, ..., T digits, by the bands [T, 11], over every path
    through them (a run of one digit is one digit; a blank between two runs of it makes two). How many digits a
    line holds can be sure where which digits they are is not: a 3 that may be a 5 changes no count."""
    held = np.zeros((len(probs) + 1, BLANK + 1))   # [digits so far, the last band's output]: path probability
    held[0, BLANK] = 1.0
    for p in probs:
        any_last = held.sum(axis=1, keepdims=True)
        new = np.zeros_like(held)
        new[:, BLANK] = any_last[:, 0] * p[BLANK]
        new[:, :BLANK] = held[:, :BLANK] * p[:BLANK]                      # the same digit's run goes on
        new[1:, :BLANK] += (any_last[:-1] - held[:-1, :BLANK]) * p[:BLANK]   # a new digit begins
        held = new
    return held.sum(axis=1)


def best_path(probs):
    """(the digits of the best path through the bands [T, 11], the band where each is likeliest)."""
    best = probs.argmax(axis=1)
    digits, rows = [], []
    for t, label in enumerate(best):
        if label == BLANK:
            continue
        if t > 0 and best[t - 1] == label:          # the same digit's run goes on
            if probs[t, label] > probs[rows[-1], label]:
                rows[-1] = t
            continue
        digits.append(int(label))
        rows.append(t)
    return digits, rows
