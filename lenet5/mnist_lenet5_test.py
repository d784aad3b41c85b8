"""Test LeNet-5's checkpoints on the 10,000 MNIST test images (the course's mnist_lenet5_test.py).

    python lenet5/mnist_lenet5_test.py          # beside the training: follows it, stops when it ends
    python lenet5/mnist_lenet5_test.py --once   # evaluate the newest checkpoint and exit

The evaluation is the fully connected lesson's (mnist_test.py, tfnotes/evaluation.py): moving-average
weights, each new checkpoint once, history in lenet5/model/test_accuracy.csv and .png.
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: the library lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfnotes import evaluation  # noqa: E402
from tfnotes.errors import CourseError  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402

MODEL = MODELS["lenet5"]


def test(args):
    """Evaluate as the flags in `args` say; returns the exit code."""
    return evaluation.evaluate(MODEL, args)


def main(argv=None):
    try:
        return test(evaluation.parse_args(MODEL, argv))
    except KeyboardInterrupt:
        return 130
    except CourseError as e:
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
