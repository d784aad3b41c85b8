"""Forward propagation (前向传播): a 2-3-1 network without activations, run three ways.

1. the input is a constant [[0.7, 0.5]];
2. the input is a placeholder fed that one row;
3. the input is a placeholder fed several rows at once.

Both weight matrices are drawn with random_normal(stddev=1, seed=1), as in the lesson,
which gives y = [[3.0904665]] for [[0.7, 0.5]].

Why these exact numbers come back: in graph mode an op-level seed is combined with the
graph-level seed. The lesson never set a graph seed, so TensorFlow uses its default one
(87654321). Setting any other graph seed (tf.set_random_seed) changes the weights.

    python basics/forward_propagation.py
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

ONE_ROW = [[0.7, 0.5]]
SEVERAL_ROWS = [[0.7, 0.5], [0.2, 0.3], [0.3, 0.4], [0.4, 0.5]]
WEIGHT_SEED = 1  # the lesson's op-level seed


def check_rows(rows):
    """Return rows as a float32 [n, 2] array, or raise a ValueError that says what is wrong."""
    arr = np.asarray(rows, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"input must be a list of rows with 2 features each, like {ONE_ROW}; "
                         f"got an array of shape {arr.shape}")
    return arr


def make_weights(seed=WEIGHT_SEED):
    """The lesson's weights: w1 [2, 3] and w2 [3, 1], both random_normal(stddev=1, seed)."""
    w1 = tf.Variable(tf.random_normal([2, 3], stddev=1, seed=seed), name="w1")
    w2 = tf.Variable(tf.random_normal([3, 1], stddev=1, seed=seed), name="w2")
    return w1, w2


def forward(x, w1, w2):
    """y = (x · w1) · w2: the hidden layer a and the output y, no activation."""
    a = tf.matmul(x, w1)
    return tf.matmul(a, w2)


def run(rows=ONE_ROW, use_placeholder=False, seed=WEIGHT_SEED):
    """Build and run the net on rows; return (y, w1, w2) as numpy arrays."""
    values = check_rows(rows)
    with tf.Graph().as_default():
        if use_placeholder:
            x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
            feed = {x: values}
        else:
            x = tf.constant(values, name="x")
            feed = None
        w1, w2 = make_weights(seed)
        y = forward(x, w1, w2)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run([y, w1, w2], feed_dict=feed)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seed", type=int, default=WEIGHT_SEED,
                   help="op-level seed of both random_normal weight initialisers")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ways = [("1. constant input", ONE_ROW, False),
            ("2. placeholder fed one row", ONE_ROW, True),
            ("3. placeholder fed several rows", SEVERAL_ROWS, True)]
    np.set_printoptions(precision=8, suppress=True)
    results = []
    for title, rows, use_placeholder in ways:
        y, w1, w2 = run(rows, use_placeholder, args.seed)
        print(f"{title}: x =\n{np.asarray(rows)}")
        print(f"y =\n{y}\nw1 =\n{w1}\nw2 =\n{w2}\n")
        results.append(y)
    return results


if __name__ == "__main__":
    main()
