"""Evaluate LeNet-5's checkpoints on the 10,000 MNIST test images (the course's mnist_lenet5_test.py).

The evaluation is the fully connected lesson's (mnist_test.py): moving-average weights, each new
checkpoint once, accuracy history in lenet5/model/test_accuracy.csv and .png, and it stops by
itself when the training finishes.

    python lenet5/mnist_lenet5_test.py          # beside the training: follows it, stops when it ends
    python lenet5/mnist_lenet5_test.py --once   # evaluate the newest checkpoint and exit
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import mnist_test  # noqa: E402
from lenet5.mnist_lenet5_backward import SPEC  # noqa: E402


def main(argv=None):
    return mnist_test.main(argv, spec=SPEC)


if __name__ == "__main__":
    sys.exit(main())
