"""Test: evaluate the training's checkpoints on the 10,000 MNIST test images (the course's mnist_test.py).

    python mnist_test.py           # beside `python mnist_backward.py`: follows it, stops when it finishes
    python mnist_test.py --once    # evaluate the newest checkpoint and exit

As in the course, test() rebuilds the network with mnist_forward.forward(x, None), restores the
moving-average (shadow) weights of each new checkpoint (ExponentialMovingAverage.variables_to_restore),
and prints the accuracy on the test set every TEST_INTERVAL_SECS seconds while the training runs.
It also keeps the history in MODEL_DIR/test_accuracy.csv, draws test_accuracy.png, and stops by itself
once the training has finished. The code is shared with LeNet-5: tfnotes/evaluation.py.
"""
import sys

from tfnotes import evaluation
from tfnotes.errors import CourseError
from tfnotes.models import MODELS

MODEL = MODELS["fc"]
TEST_INTERVAL_SECS = evaluation.TEST_INTERVAL_SECS  # the course's 5 s between looks (--interval)


def test(args, stream=None):
    """Evaluate as the flags in `args` say; returns the exit code."""
    return evaluation.evaluate(MODEL, args, stream)


def main(argv=None, stream=None):
    try:
        return test(evaluation.parse_args(MODEL, argv), stream)
    except KeyboardInterrupt:
        return 130
    except CourseError as e:   # no checkpoint, damaged data, a checkpoint of another network
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
