"""Make the pickle-free VGG16 weights file (.npz) that network.py and app.py load.

    python vgg16/convert_weights.py npy vgg16/vgg16.npy            # the course's file
    python vgg16/convert_weights.py keras                           # Keras's ImageNet weights (downloads)
    python vgg16/convert_weights.py keras --h5 PATH/TO/weights.h5   # an .h5 you already have

(or python -m vgg16.convert_weights ..., the same, as a module)

The .npz holds ``<layer>/W`` and ``<layer>/b`` float32 arrays for conv1_1 ... fc8; it is
written to a temporary file and renamed only when complete.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):
    # Run as a script (python vgg16/convert_weights.py), Python puts vgg16/ itself on sys.path,
    # not the repository root that the package import below needs.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from vgg16 import network  # noqa: E402


def keras_layer_names():
    """{Keras VGG16 layer name: our layer name}: block1_conv1 -> conv1_1, ..., predictions -> fc8."""
    names = {}
    for block, (n_conv, _) in enumerate(network.BLOCKS, start=1):
        for i in range(1, n_conv + 1):
            names[f"block{block}_conv{i}"] = f"conv{block}_{i}"
    names.update(fc1="fc6", fc2="fc7", predictions="fc8")
    return names


def keras_to_weights(model):
    """{layer: [W, b]} float32 from a Keras VGG16 model (include_top=True)."""
    weights = {}
    for keras_name, layer in keras_layer_names().items():
        try:
            kernel, bias = model.get_layer(keras_name).get_weights()
        except ValueError as e:
            raise network.WeightsError(f"the Keras model has no layer {keras_name} (for {layer}); "
                                     "it must be keras.applications.VGG16 with include_top=True") from e
        # Keras keeps conv kernels as [h, w, in, out] and dense ones as [in, out], like tf.nn.
        weights[layer] = [np.asarray(kernel, dtype=np.float32), np.asarray(bias, dtype=np.float32)]
    return weights


def load_keras_vgg16(h5=None):
    """keras.applications.VGG16 with ImageNet weights: downloaded, or from the ``h5`` file."""
    import keras  # heavy; only this route needs it

    if h5 is not None and not Path(h5).is_file():
        raise FileNotFoundError(f"Keras weights file {h5} does not exist")
    try:
        return keras.applications.VGG16(weights=str(h5) if h5 else "imagenet")
    except Exception as e:
        if h5:
            raise network.WeightsError(f"Keras could not load {h5} into VGG16 ({e}); it must be the "
                                     "full model's weights (vgg16_weights_tf_dim_ordering_tf_kernels.h5, "
                                     "not the _notop one)") from e
        raise network.WeightsError(f"Keras could not download the VGG16 ImageNet weights ({e}). On a machine "
                                 "with internet run this command there, or download "
                                 "vgg16_weights_tf_dim_ordering_tf_kernels.h5 and pass --h5 PATH") from e


def _items(weights):
    return ((layer, *weights[layer]) for layer in weights)


def convert_keras(out, h5=None, force=False):
    weights = keras_to_weights(load_keras_vgg16(h5))
    network.check_weights(weights, source=h5 or "Keras VGG16")
    return network.write_npz(out, _items(weights), force=force)


def convert_npy(npy, out=None, allow_pickle=False, expected_sha1=None, force=False, shapes=None):
    """The course's pickled .npy -> .npz (default: same name, .npz)."""
    npy = Path(npy)
    if not npy.is_file():
        raise FileNotFoundError(f"{npy} does not exist.\n{network.HOW_TO_GET_WEIGHTS}")
    out = npy.with_suffix(".npz") if out is None else Path(out)
    weights = network.load_course_npy(npy, allow_pickle, expected_sha1)
    network.check_weights(weights, npy, shapes)
    layers = network.LAYER_SHAPES if shapes is None else shapes
    return network.write_npz(out, ((layer, *weights[layer]) for layer in layers), force=force)


def parse_args(argv=None):
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="source", required=True)
    npy = sub.add_parser("npy", formatter_class=fmt, help="convert the course's pickled vgg16.npy")
    npy.add_argument("npy", help="path of vgg16.npy")
    npy.add_argument("--out", default=None, help="output .npz (default: next to the .npy, same name, .npz)")
    npy.add_argument("--allow-pickle", action="store_true",
                     help="unpickle the file even though its SHA-1 is not the course file's "
                          "(unpickling can run code: only for files you trust) (default: %(default)s)")
    keras = sub.add_parser("keras", formatter_class=fmt, help="convert Keras's VGG16 ImageNet weights")
    keras.add_argument("--h5", default=None,
                       help="an already downloaded vgg16_weights_tf_dim_ordering_tf_kernels.h5; "
                            "without it Keras downloads the file (needs internet) (default: %(default)s)")
    keras.add_argument("--out", default=str(network.DEFAULT_WEIGHTS[0]), help="output .npz (default: %(default)s)")
    for p in (npy, keras):
        p.add_argument("--force", action="store_true", help="replace an existing output file (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.source == "npy":
            out = convert_npy(args.npy, args.out, args.allow_pickle, force=args.force)
        else:
            out = convert_keras(args.out, args.h5, force=args.force)
    except (OSError, network.WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB); app.py will use it: "
          f"python vgg16/app.py IMAGE --weights {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
