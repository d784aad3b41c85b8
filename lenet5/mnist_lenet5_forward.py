"""LeNet-5 forward pass: two conv/pool stages, then two fully connected layers.

Built once as a pure function: it creates variables and ops in the current
graph and nothing else (no placeholders, sessions or flags), so training,
evaluation, the app and the tests all build the same network.
"""
import tensorflow.compat.v1 as tf

# Weights and biases are made exactly as in the fully connected lesson
# (truncated normal / zeros, L2 term into the 'losses' collection).
from mnist_forward import get_bias, get_weight

IMAGE_SIZE = 28
NUM_CHANNELS = 1
CONV1_SIZE = 5
CONV1_KERNEL_NUM = 32
CONV2_SIZE = 5
CONV2_KERNEL_NUM = 64
FC_SIZE = 512
OUTPUT_NODE = 10
DROPOUT_RATE = 0.5  # fraction of fc1 activations zeroed while training


def conv2d(x, w):
    # stride 1 and SAME padding keep the spatial size; pooling halves it.
    return tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME")


def max_pool_2x2(x):
    return tf.nn.max_pool2d(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")


def conv_layer(x, size, kernel_num, regularizer):
    """conv size x size -> relu(bias_add) -> 2x2 max-pool, in the caller's scope."""
    in_channels = int(x.shape[-1])
    w = get_weight([size, size, in_channels, kernel_num], regularizer)
    b = get_bias([kernel_num])
    relu = tf.nn.relu(tf.nn.bias_add(conv2d(x, w), b))
    return max_pool_2x2(relu)


def flatten(x):
    """[N, H, W, C] -> [N, H*W*C] for any N, also unknown at graph build time.

    The course read the batch size from the static shape, so its graph only
    worked for exactly BATCH_SIZE images; -1 lets TensorFlow infer N.
    """
    nodes = 1
    for dim in x.shape[1:]:
        nodes *= int(dim)
    return tf.reshape(x, [-1, nodes])


def forward(x, train, regularizer):
    """Logits [N, OUTPUT_NODE] for images x [N, IMAGE_SIZE, IMAGE_SIZE, NUM_CHANNELS].

    train: Python bool; dropout is applied only when True.
    regularizer: L2 scale added to the 'losses' collection, or None for none.
    Variables live in scopes conv1, conv2, fc1, fc2 so checkpoints restore by name.
    """
    with tf.variable_scope("conv1"):
        pool1 = conv_layer(x, CONV1_SIZE, CONV1_KERNEL_NUM, regularizer)
    with tf.variable_scope("conv2"):
        pool2 = conv_layer(pool1, CONV2_SIZE, CONV2_KERNEL_NUM, regularizer)
    reshaped = flatten(pool2)
    with tf.variable_scope("fc1"):
        fc1_w = get_weight([int(reshaped.shape[1]), FC_SIZE], regularizer)
        fc1_b = get_bias([FC_SIZE])
        fc1 = tf.nn.relu(tf.matmul(reshaped, fc1_w) + fc1_b)
        if train:
            fc1 = tf.nn.dropout(fc1, rate=DROPOUT_RATE)
    with tf.variable_scope("fc2"):
        fc2_w = get_weight([FC_SIZE, OUTPUT_NODE], regularizer)
        fc2_b = get_bias([OUTPUT_NODE])
        return tf.matmul(fc1, fc2_w) + fc2_b
