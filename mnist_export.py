"""Export a trained model for use elsewhere: TF Serving, phones and microcontrollers, your own programs.

    python mnist_export.py --out export/fc                          # the fully connected model in model/
    python mnist_export.py --model lenet5 --out export/lenet5       # LeNet-5 from lenet5/model/
    python mnist_export.py --out export/fc --force                  # replace an earlier export

It writes OUT/saved_model/ (a TensorFlow SavedModel of the moving-average weights, signature
`serving_default`: `images` float32 [None, 784] in [0, 1] -> `probabilities` [None, 10], `digits`
[None]), OUT/model.tflite (the same model for TFLite) and OUT/export.json (model, checkpoint step,
test accuracy of the exported model, TensorFlow version). Both exported models are checked against
the checkpoint on the 10,000 MNIST test images before the folder is put in place.
"""
import argparse
import sys

from tfnotes import data, export, inference
from tfnotes.cli import HelpFormatter
from tfnotes.errors import CourseError, NoCheckpointError
from tfnotes.models import MODELS


def build_parser():
    p = argparse.ArgumentParser(description="Export a trained MNIST model as a SavedModel and a TFLite model.",
                                formatter_class=HelpFormatter)
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="which trained lesson network")
    p.add_argument("--model-dir", default=None,
                   help="checkpoint folder (default: the model's own, <repo>/model or <repo>/lenet5/model)")
    p.add_argument("--out", required=True, help="output folder (saved_model/, model.tflite, export.json)")
    p.add_argument("--force", action="store_true", help="replace the content of an existing, non-empty --out")
    p.add_argument("--data-dir", default=None, help=data.DATA_DIR_HELP)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        export.check_out_dir(args.out, args.force)  # refuse at once, before the model and data are loaded
        test = data.read_data_sets(args.data_dir, one_hot=False).test
        with inference.load_model(args.model, args.model_dir) as model:
            info = export.export(model, args.out, test.images, test.labels, force=args.force)
    except NoCheckpointError as e:
        print(e.report(), file=sys.stderr)
        return 2
    except CourseError as e:
        print(e.report(), file=sys.stderr)
        return e.exit_code
    print(f"exported {info['model']} (step {info['checkpoint_step']}) to {args.out}: SavedModel test accuracy "
          f"{info['test_accuracy']:.4f} (checkpoint {info['checkpoint_test_accuracy']:.4f}, max |dp| "
          f"{info['saved_model_max_abs_diff']:.1e})")
    if info["tflite"]:
        print(f"TFLite: test accuracy {info['tflite_test_accuracy']:.4f}, max |dp| {info['tflite_max_abs_diff']:.1e}")
    else:
        print(f"TFLite: not written, this TensorFlow cannot convert the model ({info['tflite_error']}); the "
              "SavedModel is complete", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
