"""Train LeNet-5 on MNIST (the course's mnist_lenet5_backward.py).

The training loop is the fully connected lesson's (mnist_backward.py): the same resume,
Ctrl-C/SIGTERM handling, progress lines, TensorBoard summaries and checkpoints. Only the
network and the course's LeNet constants differ, and they are given here as a ModelSpec.

    python lenet5/mnist_lenet5_backward.py            # the course's run: gradient descent, 50,000 steps
    python lenet5/mnist_lenet5_backward.py --optimizer adam --learning-rate-base 0.001 --steps 1500
                                                      # the quick CPU recipe (see README)
    python lenet5/mnist_lenet5_backward.py --help     # every flag, with its default

Checkpoints go to lenet5/model/ (wherever you start it from).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The shared loop lives at the repository root; this makes it importable from any working directory.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import tensorflow.compat.v1 as tf  # noqa: E402

import mnist_backward  # noqa: E402
from lenet5 import mnist_lenet5_forward as lenet  # noqa: E402

# The course's LeNet-5 constants; each one is the default of a flag.
BATCH_SIZE = 100
LEARNING_RATE_BASE = 0.005
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = os.path.join(HERE, "model")  # LeNet's own folder, the same from any working directory
MODEL_NAME = "mnist_model"


def build_logits(x, train, regularizer):
    """The shared loop hands over flat images [N, 784]; the convolutions need them as [N, 28, 28, 1]."""
    images = tf.reshape(x, [-1, lenet.IMAGE_SIZE, lenet.IMAGE_SIZE, lenet.NUM_CHANNELS])
    return lenet.forward(images, train, regularizer)


SPEC = mnist_backward.ModelSpec(
    name="lenet5", build_logits=build_logits,
    defaults=dict(BATCH_SIZE=BATCH_SIZE, LEARNING_RATE_BASE=LEARNING_RATE_BASE,
                  LEARNING_RATE_DECAY=LEARNING_RATE_DECAY, REGULARIZER=REGULARIZER, STEPS=STEPS,
                  MOVING_AVERAGE_DECAY=MOVING_AVERAGE_DECAY, MODEL_NAME=MODEL_NAME),
    model_dir=MODEL_SAVE_PATH,
    train_command="python lenet5/mnist_lenet5_backward.py",
    test_command="python lenet5/mnist_lenet5_test.py")


def main(argv=None):
    return mnist_backward.main(argv, spec=SPEC)


if __name__ == "__main__":
    sys.exit(main())
