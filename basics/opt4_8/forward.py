"""forward.py — the network (八股, part 2): 2 inputs, 11 ReLU units, 1 output.

Each weight may add its L2 penalty, regularizer * sum(w²) / 2, to the 'losses' collection;
backward.py adds that collection to the loss. Graph construction only: no sessions here.
"""
from tfnotes.tfenv import tf  # TensorFlow's TF1 API, loaded on first use, quietly

HIDDEN = 11
REG_COLLECTION = "losses"


def get_weight(shape, regularizer):
    """A weight drawn from a standard normal; registers its L2 penalty when regularizer is set."""
    w = tf.get_variable("w", shape, initializer=tf.random_normal_initializer(stddev=1.0))
    if regularizer:
        tf.add_to_collection(REG_COLLECTION, regularizer * tf.nn.l2_loss(w))
    return w


def get_bias(shape):
    return tf.get_variable("b", shape, initializer=tf.constant_initializer(0.01))


def forward(x, regularizer=None):
    """x [None, 2] -> y [None, 1]; y > 0.5 means red. The output layer has no activation."""
    with tf.variable_scope("layer1"):
        w1 = get_weight([2, HIDDEN], regularizer)
        b1 = get_bias([HIDDEN])
        y1 = tf.nn.relu(tf.matmul(x, w1) + b1)
    with tf.variable_scope("layer2"):
        w2 = get_weight([HIDDEN, 1], regularizer)
        b2 = get_bias([1])
        y = tf.matmul(y1, w2) + b2
    return y
