"""Classify photos with a pre-trained VGG16 and chart the top-5 classes.

    python vgg16/app.py IMAGE [IMAGE ...] --weights vgg16/vgg16.npz
    python -m vgg16.app IMAGE [IMAGE ...] --weights vgg16/vgg16.npz   # the same, as a module
    python vgg16/app.py IMAGE ... --precision bf16    # bfloat16 arithmetic, on a CPU with AVX512_BF16 or AMX

For each image it prints the top-5 classes as ``index: name ---- 12.34%`` and saves
two PNGs in --out-dir: ``<name>_top5.png`` (bar chart) and ``<name>_steps.png``
(original, centre crop, resized).
"""
import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python vgg16/app.py), Python puts vgg16/ itself on sys.path, not the
    # repository root that the package imports below need.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from tfnotes.precision import DEFAULT, PRECISION_HELP, PRECISIONS, session_config  # noqa: E402
from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

from vgg16 import Nclasses, network, utils  # noqa: E402

DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "results"
TOP_K = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="photos to classify (JPEG, PNG, ...)")
    parser.add_argument("--weights", default=None,
                        help="VGG16 weights: an .npz, or the course's vgg16.npy (an .npz of the same "
                             f"name beside it is used instead) (default: {network.DEFAULT_WEIGHTS[0]}, "
                             f"else {network.DEFAULT_WEIGHTS[1]})")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="unpickle an .npy whose SHA-1 is not the course file's; unpickling can "
                             "run code, so only for files you trust (default: %(default)s)")
    parser.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR), help="where the PNGs go (default: %(default)s)")
    parser.add_argument("--no-plots", action="store_true", help="print only, save no PNGs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="images per forward pass (default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT,
                        help=f"{PRECISION_HELP} (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def top_k(prob, k=TOP_K):
    """Indices of the k largest probabilities, largest first."""
    return np.argsort(prob)[::-1][:k]


def format_top(prob, k=TOP_K):
    """The course's lines ``index: name ---- 12.34%`` for one image."""
    return [f"{i}: {Nclasses.labels[i]} ---- {utils.percent(prob[i])}" for i in top_k(prob, k)]


def classify(vgg, batch, batch_size=8, config=None):
    """Probabilities [N, 1000] of images [N, 224, 224, 3] in [0, 1] from a new Vgg16 ``vgg``.

    Once its weights are in the session, ``vgg`` lets go of them (the course npy's dict).
    ``config``: the session's tf.ConfigProto (tfnotes.precision.session_config; None: float32).
    """
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, network.IMAGE_SIZE, network.IMAGE_SIZE, 3], name="images")
        vgg.forward(images)
        with tf.Session(config=config) as sess:
            vgg.load(sess)
            return np.concatenate([sess.run(vgg.prob, feed_dict={images: batch[i:i + batch_size]})
                                   for i in range(0, len(batch), batch_size)])


def output_stems(paths):
    """A distinct file stem per image, even when two photos share a name."""
    stems, seen = [], {}
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def report(paths, probs, out_dir=None):
    """Print each image's top-5 and, when out_dir is given, save its two figures."""
    for path, stem, prob in zip(paths, output_stems(paths), probs):
        print(f"{path}:")
        for line in format_top(prob):
            print(f"  {line}")
        if out_dir is not None:
            idx = top_k(prob)
            chart = utils.save_top5_chart(prob[idx], [Nclasses.labels[i] for i in idx],
                                          Path(out_dir) / f"{stem}_top5.png")
            steps = utils.save_steps_figure(path, Path(out_dir) / f"{stem}_steps.png")
            print(f"  saved {chart} and {steps}")


def main(argv=None):
    args = parse_args(argv)
    try:
        # Cheap checks first: the precision can run here, the weights file is there, every image opens.
        config = session_config(args.precision)  # ConfigError (a ValueError) where bf16 cannot run
        weights_path = network.resolve_weights_path(args.weights)
        batch = utils.load_images(args.images)
        vgg = network.Vgg16(network.load_weights(weights_path, allow_pickle=args.allow_pickle))
    except (OSError, ValueError) as e:  # WeightsError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.weights and weights_path != Path(args.weights):
        print(f"using {weights_path}, the pickle-free copy of {args.weights}")
    print(f"VGG16 weights: {weights_path}")
    probs = classify(vgg, batch, args.batch_size, config)
    report(args.images, probs, None if args.no_plots else args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
