"""Forward pass of the fully connected MNIST network: 784 -> 500 (relu) -> 10.

The graph builder is a pure function: it creates variables and ops in the current
graph and returns the logits. No placeholders, sessions or flags live here, so the
training script, the test script and the digit app all build the same network.
"""
import tensorflow.compat.v1 as tf

INPUT_NODE = 784    # 28 x 28 pixels, flattened
OUTPUT_NODE = 10    # one logit per digit
LAYER1_NODE = 500   # hidden units


def get_weight(shape, regularizer):
    """A weight variable named "weights" in the current variable scope.

    When `regularizer` is a number, `regularizer * l2_loss(w)` (that is
    regularizer * sum(w**2) / 2, what tf.contrib.layers.l2_regularizer gave) goes
    into the 'losses' collection; the training loss adds that collection up.
    """
    w = tf.get_variable("weights", shape, dtype=tf.float32,
                        initializer=tf.truncated_normal_initializer(stddev=0.1))
    if regularizer is not None:
        tf.add_to_collection("losses", tf.multiply(float(regularizer), tf.nn.l2_loss(w), name="l2_term"))
    return w


def get_bias(shape):
    """A bias variable named "biases", starting at zero."""
    return tf.get_variable("biases", shape, dtype=tf.float32, initializer=tf.zeros_initializer())


def forward(x, regularizer):
    """Logits [N, 10] for a float32 batch x [N, 784]. Variables: layer1/{weights,biases}, layer2/{weights,biases}."""
    with tf.variable_scope("layer1"):
        w1 = get_weight([INPUT_NODE, LAYER1_NODE], regularizer)
        b1 = get_bias([LAYER1_NODE])
        y1 = tf.nn.relu(tf.matmul(x, w1) + b1)
    with tf.variable_scope("layer2"):
        w2 = get_weight([LAYER1_NODE, OUTPUT_NODE], regularizer)
        b2 = get_bias([OUTPUT_NODE])
        # No softmax here: the loss takes logits, and argmax does not need it.
        y = tf.matmul(y1, w2) + b2
    return y
