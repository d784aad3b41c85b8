"""Learning rate (学习率): minimise loss = (w + 1)^2 from w = 5; the optimum is w = -1.

1. learning rate 0.2: w reaches -1 within a few dozen steps;
2. learning rate 1: every step jumps w to the mirror point, so w swings 5, -7, 5, ... forever;
3. learning rate 0.0001: w hardly moves;
4. exponential decay: rate = 0.1 * 0.99^(global_step / 1), staircase; every step prints
   global_step, w, the learning rate and the loss.

    python basics/learning_rate.py [--steps 40]
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

STEPS = 40
W_START = 5.0
FIXED_RATES = (0.2, 1.0, 0.0001)  # right, too big (oscillates), too small (slow)
DECAY_BASE = 0.1
DECAY_RATE = 0.99
DECAY_STEPS = 1  # how many steps share one learning rate


def quadratic_loss(w):
    """The lesson's loss, minimal at w = -1."""
    return tf.square(w + 1)


def descend(learning_rate_fn, steps=STEPS, w_start=W_START):
    """Gradient descent on (w + 1)^2; learning_rate_fn(global_step) gives the rate tensor.

    Returns one dict per step: global_step, w, learning_rate, loss (after that step's update;
    learning_rate is the rate that step used)."""
    with tf.Graph().as_default():
        w = tf.get_variable("w", initializer=tf.constant(w_start, dtype=tf.float32))
        global_step = tf.train.get_or_create_global_step()
        learning_rate = learning_rate_fn(global_step)
        loss = quadratic_loss(w)
        train_step = tf.train.GradientDescentOptimizer(learning_rate).minimize(loss, global_step=global_step)
        history = []
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                rate, _ = sess.run([learning_rate, train_step])
                step, w_val, loss_val = sess.run([global_step, w, loss])
                history.append({"global_step": int(step), "w": float(w_val),
                                "learning_rate": float(rate), "loss": float(loss_val)})
    return history


def fixed_rate(rate):
    return lambda global_step: tf.constant(rate, dtype=tf.float32)


def exponential_decay(base=DECAY_BASE, decay=DECAY_RATE, decay_steps=DECAY_STEPS, staircase=True):
    return lambda global_step: tf.train.exponential_decay(base, global_step, decay_steps, decay,
                                                          staircase=staircase)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="steps of each run")
    args = p.parse_args(argv)
    if args.steps < 0:
        p.error(f"--steps must be >= 0, got {args.steps}")
    return args


def main(argv=None):
    args = parse_args(argv)
    runs = {}
    for rate in FIXED_RATES:
        print(f"learning rate {rate:g}")
        runs[rate] = descend(fixed_rate(rate), args.steps)
        for i, h in enumerate(runs[rate]):
            print(f"  After {i + 1} steps: w is {h['w']:f}, loss is {h['loss']:f}")
    print(f"exponential decay: {DECAY_BASE} * {DECAY_RATE}^(global_step / {DECAY_STEPS}), staircase")
    runs["decay"] = descend(exponential_decay(), args.steps)
    for h in runs["decay"]:
        print(f"  global_step {h['global_step']}: w is {h['w']:f}, "
              f"learning rate is {h['learning_rate']:f}, loss is {h['loss']:f}")
    return runs


if __name__ == "__main__":
    main()
