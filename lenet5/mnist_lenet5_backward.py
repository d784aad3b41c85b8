"""Back propagation for LeNet-5 (the course's mnist_lenet5_backward.py).

    python lenet5/mnist_lenet5_backward.py            # the course's run: gradient descent, 50,000 steps
    python lenet5/mnist_lenet5_backward.py --optimizer adam --learning-rate-base 0.002 --steps 2500
                                                      # the CPU recipe (lenet5/README.md): >= 99% in minutes
    python lenet5/mnist_lenet5_backward.py --help     # every flag, with its default

The recipe is the fully connected lesson's (mnist_backward.py), on the same shared loop
(tfnotes/training.py): only the network (lenet5/mnist_lenet5_forward.py, with dropout while
training) and the constants below differ. Checkpoints go to lenet5/model/ from any working directory.
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: the library lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfnotes import training  # noqa: E402
from tfnotes.errors import CourseError  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402

MODEL = MODELS["lenet5"]  # forward(): lenet5/mnist_lenet5_forward.py

# The course's LeNet-5 constants; each one is the default of a flag.
BATCH_SIZE = 100
LEARNING_RATE_BASE = 0.005
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = MODEL.model_dir  # LeNet's own folder, lenet5/model/
MODEL_NAME = "mnist_model"


def backward(args):
    """Train (or resume) LeNet-5 as the flags in `args` say; returns the run's summary dict."""
    return training.train(MODEL, args)


def main(argv=None):
    args = training.parse_args(MODEL, globals(), argv)
    try:
        return backward(args)["exit_code"]
    except CourseError as e:
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
