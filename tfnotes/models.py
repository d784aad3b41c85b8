"""The model registry: each network the scripts can train, evaluate and use, by name.

MODELS maps a name to a ModelSpec: the graph builder and the model's default folder. A model differs
from another only here, in its scripts' forward() call and in their constants; what the library adds to
the lessons (tfnotes.training.Run, tfnotes.evaluation.Watch) and the app are the same for all.
"""
import collections
import os

from tfnotes.tfenv import tf

import mnist_forward
from lenet5 import mnist_lenet5_forward as lenet

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ModelSpec = collections.namedtuple("ModelSpec", "name forward model_dir train_command test_command")
ModelSpec.__doc__ = """How a network plugs into the app, the web page, the export and the library's messages.

forward(x, train, regularizer) -> logits [N, 10], for x float32 [N, 784] in [0, 1] (the lesson's
  forward(), with the images reshaped where the network needs it);
model_dir: the absolute default folder of its checkpoints;
train_command / test_command: the scripts' commands, shown to the user in messages."""


def fc_logits(x, train, regularizer):
    del train  # the fully connected network has no dropout
    return mnist_forward.forward(x, regularizer)


def lenet5_logits(x, train, regularizer):
    """The app hands over flat images [N, 784]; the convolutions need them as [N, 28, 28, 1]."""
    images = tf.reshape(x, [-1, lenet.IMAGE_SIZE, lenet.IMAGE_SIZE, lenet.NUM_CHANNELS])
    return lenet.forward(images, train, regularizer)


# A network fine-tuned on your own digits (mnist_backward.py --init-from) goes to its model's folder + this,
# model_mine/ beside model/; the web page offers it as "<name>-mine".
MINE_SUFFIX = "_mine"

MODELS = {
    "fc": ModelSpec("fc", fc_logits, os.path.join(REPO_DIR, "model"),
                    "python mnist_backward.py", "python mnist_test.py"),
    "lenet5": ModelSpec("lenet5", lenet5_logits, os.path.join(REPO_DIR, "lenet5", "model"),
                        "python lenet5/mnist_lenet5_backward.py", "python lenet5/mnist_lenet5_test.py"),
}


def get_spec(name):
    """The ModelSpec called `name`; ValueError naming the choices for any other name."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: choose {' or '.join(MODELS)}") from None
