"""Three small networks that look at a group of ink found in a picture of a number.

- How many digits does the group hold: one, two touching digits, or three or more? The digit model cannot
  tell: trained on lone, centred digits, it reads "34" squeezed into 28x28 as a 3 with 99.9 %, and width alone
  cannot tell a wide 0 from "10", nor two wide digits from three narrow ones.
- Which two digits does a group of two touching digits hold, and which three a chain of three? Cutting such a
  group leaves pieces of each digit in its neighbour's part, where the digit model often reads a wrong digit
  with confidence; a network that saw whole groups, overlaps and all, says which cut reads right and how sure
  each part's reading can be.

All learned from the groups found in pictures of numbers (benchmarks/realistic_numbers.py; for the first,
also pictures of single digits, benchmarks/realistic_digits.py) made of MNIST *training* digits, so none of
the test digits of the app's benchmarks were seen. Their input is the group's ink scaled to a fixed height
(the width follows, up to three heights) and four numbers: the group's width against the line's typical digit
width and against the line's height, its height against the line's, and whether the line has no other digit
to compare with.

The weights ship as plain arrays (no pickle), made by

    python benchmarks/make_touching_weights.py       # tfnotes/touching.npz, about 140 KB, 22-27 min
    python benchmarks/make_pair_weights.py           # tfnotes/pairs.npz, about 550 KB, ~32 min
    python benchmarks/make_pair_weights.py --digits 3  # tfnotes/triples.npz, about 550 KB, ~18 min

which draw the pictures, find their groups as the app does, label each by the true digit boxes, train and
write the file atomically. The forward passes below are NumPy: they need no session; on a 2-core CPU the first
costs about 1 ms per group, the others 1.5 ms per group in a batch of ten and 5 ms for a group alone.
"""
import os
import zipfile

import numpy as np
from PIL import Image

from tfnotes import segment
from tfnotes.errors import ModelError

HEIGHT, WIDTH = 24, 72                 # the group's ink scaled to 24 rows, centred in 72 columns
HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = os.path.join(HERE, "touching.npz")
LAYERS = ("conv1", "conv2", "conv3", "dense1", "dense2")
PAIR_WEIGHTS = os.path.join(HERE, "pairs.npz")
PAIR_LAYERS = ("conv1", "conv2", "conv3", "dense1", "left", "right")
# each network's shipped file, its layers, what it is called, and the command that makes the file again
TRIPLE_WEIGHTS = os.path.join(HERE, "triples.npz")
TRIPLE_LAYERS = ("conv1", "conv2", "conv3", "dense1", "first", "middle", "last")
OUTPUTS = {"touching": 3, "pairs": 10, "triples": 10}   # the size of each network's (last) output layer
NETWORKS = {"touching": (WEIGHTS, LAYERS, "touching-digits network", "benchmarks/make_touching_weights.py"),
            "pairs": (PAIR_WEIGHTS, PAIR_LAYERS, "pair-reading network", "benchmarks/make_pair_weights.py"),
            "triples": (TRIPLE_WEIGHTS, TRIPLE_LAYERS, "triple-reading network",
                        "benchmarks/make_pair_weights.py --digits 3")}


def group_input(group, line, height):
    """(image [HEIGHT, WIDTH] in [0, 1], features [4]) of one group of a line (segment.Group masks)."""
    ink = group.mask[group.top:group.bottom, group.left:group.right].astype(np.uint8) * 255
    rows, cols = ink.shape
    width = max(1, min(WIDTH, int(round(cols * HEIGHT / rows))))
    scaled = np.asarray(Image.fromarray(ink).resize((width, HEIGHT), Image.Resampling.BILINEAR), np.float32)
    image = np.zeros((HEIGHT, WIDTH), np.float32)
    start = (WIDTH - width) // 2
    image[:, start:start + width] = scaled / 255.0
    typical = segment.typical_width(line, group, height)
    features = np.array([np.log(cols / typical) if typical else 0.0, 1.0 if typical is None else 0.0,
                         np.log(cols / height), np.log(rows / height)], np.float32)
    return image, features


def load(path=None, kind="touching"):
    """The weights of a network of NETWORKS (from its shipped file unless `path` is given) as a dict of float32
    arrays; ModelError naming the file when it is missing, damaged or another network's."""
    shipped, layers, what, maker = NETWORKS[kind]
    forward = {"touching": counts, "pairs": read_pairs, "triples": read_triples}[kind]
    return load_weights(path or shipped, layers, what, maker, OUTPUTS[kind],
                        trial=lambda weights: forward(weights, np.zeros((1, HEIGHT, WIDTH)), np.zeros((1, 4))))


def load_weights(path, layers, what, maker, outputs, more=(), trial=None):
    """The float32 arrays of a weights file holding `layers` ("<layer>_w", "<layer>_b") and the arrays named in
    `more`, the last layer with `outputs` outputs, that `trial(weights)` (a forward pass of a blank input) can run
    on; ModelError naming the file, `what` it should be and the command that makes it (`maker`) else."""
    again = f"restore the file from the repository, or make it again with `python {maker}`"
    try:
        with np.load(path, allow_pickle=False) as stored:
            weights = {name: stored[name].astype(np.float32) for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: cannot read the {what} ({exc}); {again}") from None
    needed = [f"{layer}_{part}" for layer in layers for part in ("w", "b")] + list(more)
    missing = [name for name in needed if name not in weights]
    if missing:
        raise ModelError(f"{path}: not a {what} (no {', '.join(missing)}); {again}")
    found = weights[f"{layers[-1]}_w"].shape[-1]
    if found != outputs:    # e.g. the touching network of an older maker, which had one output
        raise ModelError(f"{path}: the {what} has {found} outputs, not {outputs} (made by an older version?); "
                         f"{again}")
    try:
        if trial is not None:
            trial(weights)
    except ValueError as exc:       # arrays of the right names whose shapes do not fit together
        raise ModelError(f"{path}: the arrays do not fit the {what} ({exc}); {again}") from None
    return weights


def conv_relu_pool(x, w, b):
    """3x3 'same' convolution [N,H,W,C] -> [N,H,W,K] (as one matrix product), ReLU, then 2x2 max pooling."""
    n, h, w_, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    columns = np.concatenate([padded[:, i:i + h, j:j + w_] for i in range(3) for j in range(3)], axis=3)
    y = np.maximum(columns.reshape(-1, 9 * c) @ w.reshape(9 * c, -1) + b, 0.0).reshape(n, h, w_, -1)
    return y[:, :h // 2 * 2, :w_ // 2 * 2].reshape(n, h // 2, 2, w_ // 2, 2, -1).max(axis=(2, 4))


def _hidden(weights, images, features):
    """The layers both networks share in shape: three conv blocks, the four numbers, one dense ReLU layer."""
    x = np.asarray(images, np.float32)[..., None]
    for layer in ("conv1", "conv2", "conv3"):
        x = conv_relu_pool(x, weights[f"{layer}_w"], weights[f"{layer}_b"])
    x = np.concatenate([x.reshape(len(x), -1), np.asarray(features, np.float32)], axis=1)
    return np.maximum(x @ weights["dense1_w"] + weights["dense1_b"], 0.0)


def counts(weights, images, features):
    """How many digits each group holds: images [N, HEIGHT, WIDTH], features [N, 4] -> [N, 3], the
    probabilities of one digit (or none: a speck, a piece), two, and three or more touching digits."""
    return _softmax(_hidden(weights, images, features) @ weights["dense2_w"] + weights["dense2_b"])


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def read_pairs(weights, images, features):
    """The pair-reading network's (left [N, 10], right [N, 10]) digit probabilities for groups of two digits."""
    return _read(weights, images, features, ("left", "right"))


def read_triples(weights, images, features):
    """The triple-reading network's (first, middle, last), each [N, 10], for groups of three digits."""
    return _read(weights, images, features, ("first", "middle", "last"))


def _read(weights, images, features, heads):
    x = _hidden(weights, images, features)
    return tuple(_softmax(x @ weights[f"{head}_w"] + weights[f"{head}_b"]) for head in heads)
