"""Loss functions (损失函数): mean squared error, a custom piecewise loss, cross-entropy.

The yogurt shop: x1, x2 are two factors of a day's sales, drawn by numpy
RandomState(23455); the true sales are y = x1 + x2 plus noise in [-0.05, 0.05).
A linear model y = x · w1 (w1 random_normal, seed 1) is fitted by gradient descent at
0.001, batches of 8, 20000 steps, with

1. MSE: w1 goes to about [1, 1];
2. the custom loss: each yogurt too many costs COST, each one too few loses PROFIT.
   COST 1, PROFIT 9: predicting high is cheaper, so w1 ends above 1;
   COST 9, PROFIT 1: predicting low is cheaper, so w1 ends below 1;
3. cross-entropy with softmax, on the back-propagation lesson's parts (good when
   x0 + x1 < 1) as two classes; the script also checks that TF's fused
   sparse_softmax_cross_entropy_with_logits equals the formula -sum(y_ * log(softmax(y))).

    python basics/loss_functions.py [--steps 20000] [--part all|mse|custom|ce]
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

try:
    from .back_propagation import BATCH_SIZE, DATA_SEED, N_SAMPLES, batch_bounds, make_dataset
except ImportError:  # run as a script: python basics/loss_functions.py
    from back_propagation import BATCH_SIZE, DATA_SEED, N_SAMPLES, batch_bounds, make_dataset

STEPS = 20000
LEARNING_RATE = 0.001
CE_LEARNING_RATE = 0.1  # the classifier's gradients are small; 0.001 would barely move it
LOG_EVERY = 5000
# (COST, PROFIT) pairs the lesson compares
COST_PROFIT = ((1, 9), (9, 1))
PARTS = ("all", "mse", "custom", "ce")


def make_sales_data(n=N_SAMPLES, seed=DATA_SEED):
    """X float32 [n, 2] in [0, 1); Y = x1 + x2 + noise in [-0.05, 0.05), float32 [n, 1].

    The noise is drawn after X from the same generator, row by row, as the lesson does."""
    rng = np.random.RandomState(seed)
    X = rng.rand(n, 2)
    noise = np.array([rng.rand() / 10.0 - 0.05 for _ in range(n)])
    Y = (X[:, 0] + X[:, 1] + noise).reshape(-1, 1)
    return X.astype(np.float32), Y.astype(np.float32)


def mse_loss(y, y_):
    return tf.reduce_mean(tf.square(y_ - y))


def piecewise_loss(y, y_, cost, profit):
    """Sum over samples: (y - y_) * cost where we predicted too many, (y_ - y) * profit otherwise."""
    return tf.reduce_sum(tf.where(tf.greater(y, y_), (y - y_) * cost, (y_ - y) * profit))


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy by TF's fused op; labels are class indices."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=labels))


def cross_entropy_by_formula(logits, one_hot):
    """The same quantity written out: -sum(y_ * log(softmax)), averaged over samples."""
    probs = tf.clip_by_value(tf.nn.softmax(logits), 1e-12, 1.0)
    return -tf.reduce_mean(tf.reduce_sum(one_hot * tf.log(probs), axis=1))


def fit(X, Y, make_loss, n_out=1, use_bias=False, metrics=None, steps=STEPS,
        learning_rate=LEARNING_RATE, seed=1, log_every=LOG_EVERY, log=print):
    """Fit y = x · w1 (+ b1) to (X, Y) by gradient descent on make_loss(y, y_).

    metrics(y, y_) may return a dict of tensors; they are evaluated on all data at the end.
    Returns a dict with w1 (b1 too with use_bias) and those metrics' values."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, shape=(None, X.shape[1]), name="x")
        y_ = tf.placeholder(tf.float32, shape=(None, Y.shape[1]), name="y_")
        with tf.variable_scope("linear"):
            params = {"w1": tf.get_variable("w1", [X.shape[1], n_out],
                                            initializer=tf.random_normal_initializer(stddev=1, seed=seed))}
            y = tf.matmul(x, params["w1"])
            if use_bias:
                params["b1"] = tf.get_variable("b1", [n_out], initializer=tf.zeros_initializer())
                y = y + params["b1"]
        train_step = tf.train.GradientDescentOptimizer(learning_rate).minimize(make_loss(y, y_))
        at_end = dict(params, **(metrics(y, y_) if metrics else {}))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for i in range(steps):
                start, end = batch_bounds(i, BATCH_SIZE, len(X))
                sess.run(train_step, feed_dict={x: X[start:end], y_: Y[start:end]})
                if i % log_every == 0:
                    log(f"  after step {i}: w1 = {sess.run(params['w1']).ravel()}")
            return sess.run(at_end, feed_dict={x: X, y_: Y})


def fit_regression(loss="mse", cost=1, profit=9, steps=STEPS, seed=1, log_every=LOG_EVERY, log=print):
    """The yogurt model under MSE or the piecewise loss; returns the final w1 [2, 1]."""
    X, Y = make_sales_data()
    if loss == "mse":
        make_loss = mse_loss
    elif loss == "custom":
        def make_loss(y, y_):
            return piecewise_loss(y, y_, cost, profit)
    else:
        raise ValueError(f"unknown loss {loss!r}: choose 'mse' or 'custom'")
    return fit(X, Y, make_loss, steps=steps, seed=seed, log_every=log_every, log=log)["w1"]


def fit_classifier(steps=STEPS, learning_rate=CE_LEARNING_RATE, seed=1, log_every=LOG_EVERY, log=print):
    """Softmax classifier (2 classes, with bias) on the parts data, trained on cross-entropy.

    Returns w1, b1, both cross-entropies on all data and the accuracy."""
    X, good = make_dataset()
    one_hot = np.hstack([1 - good, good])  # class 1 = good part

    def make_loss(y, y_):
        return softmax_cross_entropy(y, tf.argmax(y_, 1))

    def metrics(y, y_):
        hits = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        return {"ce_fused": make_loss(y, y_), "ce_formula": cross_entropy_by_formula(y, y_),
                "accuracy": tf.reduce_mean(tf.cast(hits, tf.float32))}

    return fit(X, one_hot, make_loss, n_out=2, use_bias=True, metrics=metrics, steps=steps,
               learning_rate=learning_rate, seed=seed, log_every=log_every, log=log)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="training steps of each model")
    p.add_argument("--part", choices=PARTS, default="all", help="which loss to demonstrate")
    p.add_argument("--seed", type=int, default=1, help="op-level seed of the w1 initialiser")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="print w1 every N steps")
    args = p.parse_args(argv)
    if args.steps < 0 or args.log_every < 1:
        p.error("--steps must be >= 0 and --log-every >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    np.set_printoptions(precision=8, suppress=True)
    common = dict(steps=args.steps, seed=args.seed, log_every=args.log_every)
    results = {}
    if args.part in ("all", "mse"):
        print("1. mean squared error")
        results["mse"] = fit_regression("mse", **common)
        print(f"Final w1 is:\n{results['mse']}\n")
    if args.part in ("all", "custom"):
        for cost, profit in COST_PROFIT:
            print(f"2. custom loss, COST = {cost}, PROFIT = {profit}")
            w1 = results[f"custom_{cost}_{profit}"] = fit_regression("custom", cost, profit, **common)
            print(f"Final w1 is:\n{w1}\n")
    if args.part in ("all", "ce"):
        print(f"3. cross-entropy with softmax (learning rate {CE_LEARNING_RATE})")
        out = results["ce"] = fit_classifier(**common)
        print(f"Final w1 is:\n{out['w1']}\nb1 = {out['b1']}")
        print(f"cross-entropy on all data: fused op {out['ce_fused']:.6f}, "
              f"by the formula {out['ce_formula']:.6f}; accuracy {out['accuracy']:.3f}")
    return results


if __name__ == "__main__":
    main()
