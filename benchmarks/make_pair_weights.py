"""Make tfnotes/pairs.npz (or triples.npz): the small network that reads a group of two (three) touching digits.

    python benchmarks/make_pair_weights.py                        # 120,000 pictures, seed 0: ~32 min on 2 cores
    python benchmarks/make_pair_weights.py --digits 3             # tfnotes/triples.npz, chains of three: ~18 min
    python benchmarks/make_pair_weights.py --out /tmp/p.npz --pictures 2000 --epochs 2

It draws pictures of short numbers (2 to 5 digits) made of MNIST *training* digits, each with at least one
touching pair (benchmarks/realistic_numbers.py; the app's benchmarks use test digits only), on all cores;
finds their groups of ink as the app does (tfnotes.segment); keeps each group that holds exactly two true
digit boxes, labelled with those two digits (with --digits 3: numbers of three digits in which every pair of
neighbours that can touch does, and the groups of exactly three); trains the network with Keras (seeded, with
TensorFlow's op determinism, so the same arguments give the same file) and writes its weights (float16)
atomically. The last --held-out groups are kept out of training and their accuracy printed.

How much it learns from matters. Of the last 2,000 pair groups of 120,000 pictures (held out), a network trained
on the groups of 40,000 pictures (10 epochs at a constant learning rate) read 91.3 % right; one trained on the
other groups of the 120,000 pictures (8 epochs, the learning rate decaying to zero along a cosine) 93.9 %
(3 such epochs: 91.6 %).
"""
import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make `tfnotes` and `benchmarks` importable
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from tfnotes import data, pictures, touching  # noqa: E402
from tfnotes.tfenv import tf2  # noqa: E402

from benchmarks.make_touching_weights import (  # noqa: E402
    CHUNK,
    CLEAN,
    as_shipped,
    chunk_condition,
    conditions_arg,
    groups_in,
    named_weights,
    pooled,
    seeded_trunk,
    write_weights,
)
from benchmarks.realistic_numbers import make_number_set  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--digits", type=int, choices=(2, 3), default=2, help="digits in the groups read: pairs or triples")
    p.add_argument("--out", default=None, help="weights file to write (default: tfnotes/pairs.npz or triples.npz)")
    p.add_argument("--pictures", type=int, default=None,
                   help="pictures of numbers to draw (default: 120,000 for pairs, 40,000 for triples)")
    p.add_argument("--epochs", type=int, default=None,
                   help="passes over the groups (default: 8 for pairs, 20 for triples: fewer to learn from)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default=None,
                   help="learning rate: decaying to zero along a cosine, or constant "
                        "(default: cosine for pairs, constant for triples, as their shipped files were made)")
    p.add_argument("--held-out", type=int, default=2000, help="groups kept out of training to measure it")
    p.add_argument("--seed", type=int, default=0, help="seed of the pictures and of the training")
    p.add_argument("--conditions", type=conditions_arg, default="clean",
                   help="conditions of benchmarks/realistic_conditions.py the pictures are drawn in, "
                        "chunk by chunk in turn (the shipped files: clean; e.g. clean,overlap,clean,tight)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes that draw the pictures")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: the repository's data/)")
    return p


DEFAULTS = {2: (120000, 8, "cosine"), 3: (40000, 20, "constant")}   # pictures, epochs, schedule
SEEDS_PER_RUN = 1_000_000   # chunk seeds: seed * SEEDS_PER_RUN + picture number, so no two --seed share pictures
HEADS = {2: ("left", "right"), 3: ("first", "middle", "last")}   # tfnotes.touching's output layers
LAYERS = {2: touching.PAIR_LAYERS, 3: touching.TRIPLE_LAYERS}
WEIGHTS = {2: touching.PAIR_WEIGHTS, 3: touching.TRIPLE_WEIGHTS}


def chunk_pairs(task):
    """(images, features, digits [n, size]) of the groups of `size` digits in one seeded chunk of pictures."""
    seed, start, count, data_dir, size, conditions = task
    train_images, train_labels, _, _ = data.load_mnist(data_dir)
    images, features, digits = [], [], []
    drawn = dict(lengths=(2, 5)) if size == 2 else dict(lengths=(size, size), chained=True)
    with tempfile.TemporaryDirectory() as work:
        records = make_number_set(work, train_images, train_labels, count, seed=seed * SEEDS_PER_RUN + start,
                                  touching_share=1.0, ruled_share=0.2, condition=chunk_condition(conditions, start),
                                  **drawn)
        for record in records:
            for group, line, height, inside in groups_in(pictures.load_image(record["path"]), record["boxes"]):
                if len(inside) == size:
                    image, feature = touching.group_input(group, line, height)
                    images.append(image.astype(np.float16))
                    features.append(feature)
                    digits.append([int(record["number"][i]) for i in inside])
    return (np.array(images, np.float16).reshape(-1, touching.HEIGHT, touching.WIDTH),
            np.array(features, np.float32).reshape(-1, 4), np.array(digits, np.int64).reshape(-1, size))


def draw_pairs(pictures_wanted, seed, workers, data_dir, size=2, conditions=CLEAN):
    """All chunks' groups, in chunk order (so the result does not depend on the number of workers), each chunk
    in its condition."""
    tasks = [(seed, start, min(CHUNK, pictures_wanted - start), data_dir, size, conditions)
             for start in range(0, pictures_wanted, CHUNK)]
    parts = pooled(chunk_pairs, tasks, workers)
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


def train_network(images, features, digits, seed, epochs, schedule="constant"):
    """Fit the network (one output per digit of the groups) and return its weights under tfnotes.touching's names.
    schedule: "constant" (Adam at 1e-3) or "cosine" (from 1e-3 down to zero over all the steps)."""
    keras = tf2.keras
    size = digits.shape[1]
    image_in, feature_in, x = seeded_trunk(seed, (32, 64, 64), 128)
    x = keras.layers.Dropout(0.3)(x)
    outputs = [keras.layers.Dense(10, activation="softmax", name=head)(x) for head in HEADS[size]]
    model = keras.Model([image_in, feature_in], outputs)
    batch = 128
    steps = epochs * -(-len(digits) // batch)
    rate = keras.optimizers.schedules.CosineDecay(1e-3, steps) if schedule == "cosine" else 1e-3
    model.compile(keras.optimizers.Adam(rate), ["sparse_categorical_crossentropy"] * size)
    model.fit([images[..., None].astype(np.float32), features], [digits[:, k] for k in range(size)],
              batch_size=batch, epochs=epochs, verbose=2, shuffle=True)
    return named_weights(model, LAYERS[size])


def pair_accuracy(weights, images, features, digits):
    """Share of groups whose digits the (float16-rounded) weights all read right."""
    read = touching.read_pairs if digits.shape[1] == 2 else touching.read_triples
    probs = read(as_shipped(weights), images.astype(np.float32), features)
    right = [p.argmax(1) == digits[:, k] for k, p in enumerate(probs)]
    return float(np.mean(np.logical_and.reduce(right)))


def main(argv=None):
    args = build_parser().parse_args(argv)
    what = {2: "pairs", 3: "triples"}[args.digits]
    pictures_wanted, epochs, schedule = DEFAULTS[args.digits]
    pictures_wanted, epochs = args.pictures or pictures_wanted, args.epochs or epochs
    if not 0 < pictures_wanted <= SEEDS_PER_RUN:
        raise SystemExit(f"error: --pictures must be between 1 and {SEEDS_PER_RUN:,} (more would reuse the "
                         f"pictures of --seed {args.seed + 1}), got {pictures_wanted:,}")
    images, features, digits = draw_pairs(pictures_wanted, args.seed, args.workers, args.data_dir, args.digits,
                                          args.conditions)
    if len(digits) <= args.held_out:
        raise SystemExit(f"error: only {len(digits)} {what} found; draw more --pictures or hold out fewer")
    cut = len(digits) - args.held_out
    print(f"{len(digits)} groups of {args.digits} touching digits; training on {cut}", flush=True)
    weights = train_network(images[:cut], features[:cut], digits[:cut], args.seed, epochs, args.schedule or schedule)
    if args.held_out:
        accuracy = pair_accuracy(weights, images[cut:], features[cut:], digits[cut:])
        print(f"held-out {what} read right (all {args.digits} digits): {accuracy:.1%} of {args.held_out}")
    write_weights(args.out or WEIGHTS[args.digits], weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
