"""Make tfnotes/touching.npz: the small network that counts the digits in a group of ink (tfnotes/touching.py).

    python benchmarks/make_touching_weights.py          # 36,000 + 24,000 pictures, seed 0: 22-27 min on 2 cores
    python benchmarks/make_touching_weights.py --out /tmp/t.npz --pictures 1000 --single-pictures 500

It draws pictures of numbers made of MNIST *training* digits (benchmarks/realistic_numbers.py, half of them
with touching digits) and pictures of one training digit (benchmarks/realistic_digits.py; the app's benchmarks
use test digits only), on all cores; finds their groups of ink as the app does (tfnotes.segment), labels each
group by the true digit boxes (how many digit centres lie inside: one or none, two, three or more), trains the
network with Keras (seeded, with TensorFlow's op determinism, so the same arguments give the same file) and
writes its weights (float16) atomically. --held-out more pictures of each kind are drawn (training digits
too, in new pictures), kept out of training, and the network's accuracy on their groups printed, beside the
shipped network's.

How much it learns from matters. Of the 6,316 groups in 1,000 more pictures of each kind, a network trained on
the groups of 18,000 + 6,000 pictures (12 epochs at a constant learning rate) counted 98.6 % right (99.4 % of
those alone in their line); one trained on those of 36,000 + 24,000 (12 epochs, the learning rate decaying to
zero along a cosine) 99.0 % (99.8 %).
"""
import argparse
import contextlib
import multiprocessing
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make `tfnotes` and `benchmarks` importable
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from tfnotes import data, pictures, segment, touching  # noqa: E402
from tfnotes.atomic import atomic_path  # noqa: E402
from tfnotes.errors import ModelError  # noqa: E402
from tfnotes.tfenv import tf2  # noqa: E402

from benchmarks.realistic_conditions import CONDITIONS, NUMBERS_ONLY  # noqa: E402
from benchmarks.realistic_digits import make_realistic_set  # noqa: E402
from benchmarks.realistic_numbers import make_number_set  # noqa: E402

# The shipped files were made from clean pictures (the default). --conditions draws each chunk in a condition in
# turn, e.g. MAKER_CONDITIONS: half clean, half the groups of ink that overlapping digits, tight crops, very bold
# or thin strokes, other pens, tilted and lined paper make (not yet trained and measured end to end).
CLEAN = ("clean",)
MAKER_CONDITIONS = ("clean", "overlap", "clean", "tight", "clean", "stroke", "clean", "tilt", "clean", "pen",
                    "clean", "paper")


def conditions_arg(text):
    """--conditions: comma-separated conditions of benchmarks/realistic_conditions.py, drawn chunk after chunk."""
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown condition(s) {', '.join(unknown) or '(none)'}; choose from "
                                         f"{', '.join(CONDITIONS)}")
    return names


def chunk_condition(conditions, start, single=False):
    """The condition of the chunk of pictures starting at picture `start`: the conditions in turn, chunk by
    chunk (for pictures of one digit, a condition of numbers only is drawn clean)."""
    condition = conditions[(start // CHUNK) % len(conditions)]
    return "clean" if single and condition in NUMBERS_ONLY else condition


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=touching.WEIGHTS, help="weights file to write")
    p.add_argument("--pictures", type=int, default=36000, help="pictures of numbers to learn from")
    p.add_argument("--single-pictures", type=int, default=24000,
                   help="pictures of one digit to learn from too (every group in them is one digit)")
    p.add_argument("--held-out", type=int, default=1000,
                   help="pictures of each kind drawn more, kept out of training to measure it")
    p.add_argument("--epochs", type=int, default=12, help="passes over the groups")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning rate: decaying to zero along a cosine, or constant")
    p.add_argument("--seed", type=int, default=0, help="seed of the pictures and of the training")
    p.add_argument("--conditions", type=conditions_arg, default="clean",
                   help="conditions of benchmarks/realistic_conditions.py the pictures are drawn in, "
                        "chunk by chunk in turn (the shipped files: clean; e.g. clean,overlap,clean,tight)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes that draw the pictures")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: the repository's data/)")
    return p


def groups_in(picture, boxes):
    """[(group, line, line height, digits)] for every group the app finds in a picture (segment.find_digits);
    digits: the indices of the true digit boxes ([x, y, w, h] in the picture's pixels) whose centres lie in
    the group's columns (no boxes: a picture of one digit, and [])."""
    grey = pictures.grey_image(pictures.oriented(picture))
    try:
        found = pictures.analyse(grey, segment.SEGMENT_SIDE)
    except ValueError:            # no ink the app can find (a very faint pencil, say): no groups, as in the app
        return []
    sx = grey.size[0] / found.small.shape[1] * pictures.original_scale(picture)
    out = []
    for line in segment.find_digits(found):
        height = segment.line_height(line)
        for group in line:
            inside = [i for i, b in enumerate(boxes or []) if group.left * sx <= b[0] + b[2] / 2 < group.right * sx]
            out.append((group, line, height, inside))
    return out


CHUNK = 500                       # pictures drawn (and deleted) at a time by one worker
SINGLES = 50_000                  # seed offset of the one-digit chunks (apart from up to 50,000 pictures of numbers)


def labelled_groups(records):
    """(images, features, labels) of every group found in the pictures (groups_in); labels: 0 for one digit (or
    none: a speck, a piece), 1 for two, 2 for three or more. A record without "boxes" is a picture of one digit."""
    images, features, labels = [], [], []
    for record in records:
        for group, line, height, inside in groups_in(pictures.load_image(record["path"]), record.get("boxes")):
            image, feature = touching.group_input(group, line, height)
            images.append(image.astype(np.float16))
            features.append(feature)
            labels.append(min(max(len(inside), 1), 3) - 1)
    return (np.array(images, np.float16).reshape(-1, touching.HEIGHT, touching.WIDTH),
            np.array(features, np.float32).reshape(-1, 4), np.array(labels, np.int64))


def chunk_groups(task):
    """labelled_groups of one seeded chunk of pictures: of numbers (half with touching digits) or of one digit."""
    with drawn_chunk(*task) as records:
        return labelled_groups(records)


@contextlib.contextmanager
def drawn_chunk(seed, start, count, data_dir, single, conditions):
    """The records of one seeded chunk of pictures of MNIST training digits, drawn in its condition into a folder
    that lives while the block runs: of numbers (half with touching digits; realistic_numbers' records) or of one
    digit ({"path", "number"}: no "boxes")."""
    train_images, train_labels = data.load_mnist(data_dir)[:2]
    condition = chunk_condition(conditions, start, single)
    with tempfile.TemporaryDirectory() as work:
        if single:
            drawn = make_realistic_set(work, train_images, train_labels, count, seed=seed * 100_000 + SINGLES + start,
                                       condition=condition)
            yield [{"path": path, "number": str(int(label))} for path, label in drawn]
        else:
            yield make_number_set(work, train_images, train_labels, count, seed=seed * 100_000 + start,
                                  touching_share=0.5, condition=condition)


def pooled(function, tasks, workers):
    """[function(task) for task in tasks], in order, computed by `workers` processes."""
    # spawn, not fork: the parent has TensorFlow loaded, which must not be copied into a child mid-flight
    with multiprocessing.get_context("spawn").Pool(max(1, workers)) as pool:
        return pool.map(function, tasks)


def draw_groups(numbers, singles, seed, workers, data_dir, start=0, conditions=CLEAN):
    """The labelled groups of `numbers` pictures of numbers and `singles` of one digit, drawn in seeded chunks
    from picture `start` on (so the result depends neither on the number of workers nor on the chunk sizes of
    other draws: a held-out draw starts where the training draw ends), each chunk in its condition."""
    tasks = [(seed, first, min(CHUNK, start + count - first), data_dir, single, conditions)
             for count, single in ((numbers, False), (singles, True))
             for first in range(start, start + count, CHUNK)]
    parts = pooled(chunk_groups, tasks, workers)
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


def seeded_trunk(seed, filters, hidden):
    """(image input, features input, hidden layer) of the layers both networks of tfnotes.touching share in
    shape (touching._hidden), built after seeding Keras and turning on op determinism, so that the same seed
    gives the same weights."""
    keras = tf2.keras
    keras.utils.set_random_seed(seed)
    tf2.config.experimental.enable_op_determinism()
    image_in, feature_in = keras.Input((touching.HEIGHT, touching.WIDTH, 1)), keras.Input((4,))
    x = image_in
    for name, count in zip(("conv1", "conv2", "conv3"), filters):
        x = keras.layers.Conv2D(count, 3, padding="same", activation="relu", name=name)(x)
        x = keras.layers.MaxPool2D()(x)
    x = keras.layers.Concatenate()([keras.layers.Flatten()(x), feature_in])
    return image_in, feature_in, keras.layers.Dense(hidden, activation="relu", name="dense1")(x)


def train_network(images, features, labels, seed, epochs, schedule="constant"):
    """Fit the network and return its weights under tfnotes.touching's names. schedule: "constant" (Adam at 1e-3)
    or "cosine" (from 1e-3 down to zero over all the steps)."""
    keras = tf2.keras
    image_in, feature_in, x = seeded_trunk(seed, (16, 32, 32), 64)
    out = keras.layers.Dense(3, activation="softmax", name="dense2")(x)
    model = keras.Model([image_in, feature_in], out)
    batch = 64
    rate = keras.optimizers.schedules.CosineDecay(1e-3, epochs * -(-len(labels) // batch)) \
        if schedule == "cosine" else 1e-3
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([images[..., None].astype(np.float32), features], labels, batch_size=batch, epochs=epochs, verbose=2,
              shuffle=True)
    return named_weights(model, touching.LAYERS)


def count_accuracy(weights, images, features, labels):
    """(share of all groups counted right, share of the groups alone in their line counted right) by the
    (float16-rounded) weights."""
    right = touching.counts(as_shipped(weights), images.astype(np.float32), features).argmax(1) == labels
    lone = features[:, 1] == 1
    return float(right.mean()), float(right[lone].mean()) if lone.any() else float("nan")


def as_shipped(weights):
    """The weights rounded to float16 as write_weights stores them, back in float32 for the forward passes."""
    return {name: value.astype(np.float16).astype(np.float32) for name, value in weights.items()}


def named_weights(model, layers):
    """{"<layer>_w": kernel, "<layer>_b": bias} of a Keras model's layers: the names tfnotes.touching reads."""
    return {f"{layer}_{part}": value for layer in layers
            for part, value in zip(("w", "b"), model.get_layer(layer).get_weights())}


def write_weights(path, weights):
    """Save the weights as float16 plain arrays (no pickle), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{name: value.astype(np.float16) for name, value in weights.items()})
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if max(args.pictures, args.single_pictures) + args.held_out > SINGLES:
        # each kind's chunks are seeded seed * 100,000 + picture number (+ SINGLES for one digit): more would
        # reuse seeds of the other kind or of the next --seed
        raise SystemExit(f"error: --pictures, --single-pictures (each plus --held-out) can be at most {SINGLES:,}")
    images, features, labels = draw_groups(args.pictures, args.single_pictures, args.seed, args.workers,
                                           args.data_dir, conditions=args.conditions)
    counted = zip(np.bincount(labels, minlength=3), ("one digit", "two touching digits", "three or more"))
    print(f"{len(labels)} groups: " + ", ".join(f"{n} of {what}" for n, what in counted), flush=True)
    weights = train_network(images, features, labels, args.seed, args.epochs, args.schedule)
    if args.held_out:
        start = max(args.pictures, args.single_pictures)
        held = draw_groups(args.held_out, args.held_out, args.seed, args.workers, args.data_dir, start,
                           args.conditions)
        for name, tried in (("this network", weights), ("the shipped network", _shipped())):
            if tried is not None:
                every, lone = count_accuracy(tried, *held)
                print(f"held-out groups counted right by {name}: {every:.2%} of {len(held[2])}; "
                      f"alone in their line: {lone:.2%} of {int((held[1][:, 1] == 1).sum())}")
    write_weights(args.out, weights)
    return 0


def _shipped():
    """The shipped network's weights (tfnotes/touching.npz), or None where it is missing or unreadable."""
    try:
        return touching.load()
    except ModelError:
        return None


if __name__ == "__main__":
    sys.exit(main())
