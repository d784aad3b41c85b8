"""Make tfnotes/touching.npz: the small network that counts the digits in a group of ink (tfnotes/touching.py).

    python benchmarks/make_touching_weights.py                      # 18,000 + 6,000 pictures, seed 0: ~17 min
    python benchmarks/make_touching_weights.py --out /tmp/t.npz --pictures 1000

It draws pictures of numbers made of MNIST *training* digits (benchmarks/realistic_numbers.py, half of them
with touching digits) and pictures of one training digit (benchmarks/realistic_digits.py; the app's benchmarks
use test digits only), finds their groups of ink as the app does (tfnotes.segment), labels each group by the
true digit boxes (how many digit centres lie inside: one or none, two, three or more), trains the network with
Keras and writes its weights (float16) atomically.
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

from benchmarks.realistic_digits import make_realistic_set  # noqa: E402
from benchmarks.realistic_numbers import make_number_set  # noqa: E402
from tfnotes import data, pictures, segment, touching  # noqa: E402
from tfnotes.atomic import atomic_path  # noqa: E402
from tfnotes.tfenv import tf2  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=touching.WEIGHTS, help="weights file to write")
    p.add_argument("--pictures", type=int, default=18000, help="pictures of numbers to learn from")
    p.add_argument("--single-pictures", type=int, default=6000,
                   help="pictures of one digit to learn from too (every group in them is one digit)")
    p.add_argument("--epochs", type=int, default=12, help="passes over the groups")
    p.add_argument("--seed", type=int, default=0, help="seed of the pictures and of the training")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: the repository's data/)")
    return p


def groups_in(picture, boxes):
    """[(group, line, line height, digits)] for every group the app finds in a picture (segment.find_digits);
    digits: the indices of the true digit boxes ([x, y, w, h] in the picture's pixels) whose centres lie in
    the group's columns (no boxes: a picture of one digit, and [])."""
    grey = pictures.grey_image(pictures.oriented(picture))
    found = pictures.analyse(grey, segment.SEGMENT_SIDE)
    sx = grey.size[0] / found.small.shape[1] * pictures.original_scale(picture)
    out = []
    for line in segment.find_digits(found):
        height = segment.line_height(line)
        for group in line:
            inside = [i for i, b in enumerate(boxes or []) if group.left * sx <= b[0] + b[2] / 2 < group.right * sx]
            out.append((group, line, height, inside))
    return out


def labelled_groups(records):
    """(images, features, labels) of every group found in the pictures (groups_in); labels: 0 for one digit (or
    none: a speck, a piece), 1 for two, 2 for three or more. A record without "boxes" is a picture of one digit."""
    images, features, labels = [], [], []
    for record in records:
        for group, line, height, inside in groups_in(pictures.load_image(record["path"]), record.get("boxes")):
            image, feature = touching.group_input(group, line, height)
            images.append(image)
            features.append(feature)
            labels.append(min(max(len(inside), 1), 3) - 1)
    return np.array(images), np.array(features), np.array(labels, np.int64)


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


def train_network(images, features, labels, seed, epochs):
    """Fit the network and return its weights under tfnotes.touching's names."""
    keras = tf2.keras
    image_in, feature_in, x = seeded_trunk(seed, (16, 32, 32), 64)
    out = keras.layers.Dense(3, activation="softmax", name="dense2")(x)
    model = keras.Model([image_in, feature_in], out)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit([images[..., None], features], labels, batch_size=64, epochs=epochs, verbose=2, shuffle=True)
    return named_weights(model, touching.LAYERS)


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
    train_images, train_labels, _, _ = data.load_mnist(args.data_dir)
    with tempfile.TemporaryDirectory() as work:
        records = make_number_set(os.path.join(work, "numbers"), train_images, train_labels, args.pictures,
                                  seed=args.seed, touching_share=0.5)
        singles = make_realistic_set(os.path.join(work, "digits"), train_images, train_labels,
                                     args.single_pictures, seed=args.seed)
        images, features, labels = labelled_groups(records + [{"path": path} for path, _ in singles])
    counted = zip(np.bincount(labels, minlength=3), ("one digit", "two touching digits", "three or more"))
    print(f"{len(labels)} groups: " + ", ".join(f"{n} of {what}" for n, what in counted), flush=True)
    weights = train_network(images, features, labels, args.seed, args.epochs)
    write_weights(args.out, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
