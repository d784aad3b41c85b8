"""Back propagation (反向传播): train the 2-3-1 net on the "volume and weight" parts.

32 parts, each with a volume x0 and a weight x1 drawn by numpy RandomState(23455); a part
is good (label 1) when x0 + x1 < 1. Batches of 8 in order, 3000 steps of gradient descent
at learning rate 0.001 (Momentum or Adam selectable). Every 500 steps it prints the mean
squared error on all 32 parts, and w1, w2 before and after training.

With the lesson's settings the first loss on all data (after the first update) is 5.13118.

    python basics/back_propagation.py [--optimizer gd|momentum|adam] [--steps 3000]
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

DATA_SEED = 23455  # the data set's own seed: part of the lesson, like its size
N_SAMPLES = 32
BATCH_SIZE = 8
STEPS = 3000
LEARNING_RATE = 0.001
LOG_EVERY = 500
OPTIMIZERS = ("gd", "momentum", "adam")
MOMENTUM = 0.9


def make_dataset(n=N_SAMPLES, seed=DATA_SEED):
    """X: float32 [n, 2] uniform in [0, 1); Y: float32 [n, 1], 1 where x0 + x1 < 1."""
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 2)
    Y = (X[:, 0] + X[:, 1] < 1).astype(np.float32).reshape(-1, 1)
    return X.astype(np.float32), Y


def build_net(x, seed=1):
    """The 2-3-1 net of the forward lesson; returns (y, w1, w2)."""
    with tf.variable_scope("layer1"):
        w1 = tf.get_variable("w", [2, 3], initializer=tf.random_normal_initializer(stddev=1, seed=seed))
        a = tf.matmul(x, w1)
    with tf.variable_scope("layer2"):
        w2 = tf.get_variable("w", [3, 1], initializer=tf.random_normal_initializer(stddev=1, seed=seed))
        y = tf.matmul(a, w2)
    return y, w1, w2


def make_optimizer(name, learning_rate):
    """The three optimizers the lesson compares."""
    if name == "gd":
        return tf.train.GradientDescentOptimizer(learning_rate)
    if name == "momentum":
        return tf.train.MomentumOptimizer(learning_rate, MOMENTUM)
    if name == "adam":
        return tf.train.AdamOptimizer(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def batch_bounds(step, batch_size, n):
    """The lesson walks through the data in order, wrapping around: [start, end)."""
    start = (step * batch_size) % n
    return start, start + batch_size


def train(steps=STEPS, optimizer="gd", learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE,
          seed=1, log_every=LOG_EVERY, log=print):
    """Train; return a dict with w1/w2 before and after and the logged (step, loss) pairs."""
    X, Y = make_dataset()
    if not 0 < batch_size <= len(X) or len(X) % batch_size:
        raise ValueError(f"batch size must divide the {len(X)} samples; got {batch_size}")
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
        y_ = tf.placeholder(tf.float32, shape=(None, 1), name="y_")
        y, w1, w2 = build_net(x, seed)
        loss_mse = tf.reduce_mean(tf.square(y - y_))
        train_step = make_optimizer(optimizer, learning_rate).minimize(loss_mse)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = {"w1_before": sess.run(w1), "w2_before": sess.run(w2), "losses": []}
            for i in range(steps):
                start, end = batch_bounds(i, batch_size, len(X))
                sess.run(train_step, feed_dict={x: X[start:end], y_: Y[start:end]})
                if i % log_every == 0:
                    total = float(sess.run(loss_mse, feed_dict={x: X, y_: Y}))
                    out["losses"].append((i, total))
                    log(f"After training step {i}, loss on all data is {total:g}")
            out["w1"], out["w2"] = sess.run([w1, w2])
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="training steps")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="gd", help="gd = plain gradient descent")
    p.add_argument("--lr", type=float, default=LEARNING_RATE, help="learning rate")
    p.add_argument("--seed", type=int, default=1, help="op-level seed of the weight initialisers")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="print the loss every N steps")
    args = p.parse_args(argv)
    if args.steps < 0 or args.log_every < 1:
        p.error("--steps must be >= 0 and --log-every >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    np.set_printoptions(precision=8, suppress=True)
    out = train(args.steps, args.optimizer, args.lr, seed=args.seed, log_every=args.log_every)
    print(f"\nw1 before training:\n{out['w1_before']}\nw2 before training:\n{out['w2_before']}")
    print(f"\nw1 after {args.steps} steps:\n{out['w1']}\nw2 after {args.steps} steps:\n{out['w2']}")
    return out


if __name__ == "__main__":
    main()
