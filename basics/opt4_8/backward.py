"""backward.py — the training (八股, part 3): the red/blue points with exponential decay and L2.

Adam on loss_total = MSE + the L2 penalties forward.py collected, batches of 30 taken in
order, learning rate 0.001 * 0.999^(global_step // 10) (10 = one pass over the 300 points).
global_step is passed to minimize(), so it counts the steps and the learning rate really
decays; every log line prints it. Finally a PNG shows the points with the learned decision
line beside the learning-rate and loss curves.

    python basics/opt4_8/backward.py [--steps 40000] [--seed 1] [--out PATH]
"""
import argparse
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import numpy as np  # noqa: E402

from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

try:
    from . import forward, generateds, plotting
except ImportError:  # run from this folder: python backward.py
    import forward
    import generateds
    import plotting

STEPS = 40000
BATCH_SIZE = 30
LEARNING_RATE_BASE = 0.001
LEARNING_RATE_DECAY = 0.999
REGULARIZER = 0.01
LOG_EVERY = 2000
DEFAULT_OUT = plotting.DEFAULT_FIGURE_DIR / "opt4_8.png"


def learning_rate_for(global_step, base, decay, decay_steps):
    """Staircase exponential decay; decay=None keeps the rate constant."""
    if decay is None:
        return tf.constant(base, dtype=tf.float32, name="learning_rate")
    return tf.train.exponential_decay(base, global_step, decay_steps, decay, staircase=True)


def losses(y, y_, regularizer):
    """(loss_mse, loss_total); loss_total adds the L2 terms forward() collected when regularizing."""
    loss_mse = tf.reduce_mean(tf.square(y - y_))
    if not regularizer:
        return loss_mse, loss_mse
    return loss_mse, loss_mse + tf.add_n(tf.get_collection(forward.REG_COLLECTION))


def backward(steps=STEPS, seed=1, regularizer=REGULARIZER, learning_rate_base=LEARNING_RATE_BASE,
             learning_rate_decay=LEARNING_RATE_DECAY, batch_size=BATCH_SIZE, log_every=LOG_EVERY,
             log=print):
    """Train; return a dict with the data, the logged history, every step's learning rate and
    the model's output on plotting.grid_points() (key probs, shape of xx)."""
    X, Y_, Y_c = generateds.generateds()
    if not 0 < batch_size <= len(X):
        raise ValueError(f"batch size must be between 1 and {len(X)}, got {batch_size}")
    xx, yy, grid = plotting.grid_points()
    with tf.Graph().as_default():
        tf.set_random_seed(seed)
        x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
        y_ = tf.placeholder(tf.float32, shape=(None, 1), name="y_")
        y = forward.forward(x, regularizer)
        global_step = tf.Variable(0, trainable=False, name="global_step")
        learning_rate = learning_rate_for(global_step, learning_rate_base, learning_rate_decay,
                                          len(X) // batch_size)
        loss_mse, loss_total = losses(y, y_, regularizer)
        train_step = tf.train.AdamOptimizer(learning_rate).minimize(loss_total, global_step=global_step)
        out = {"X": X, "Y_": Y_, "Y_c": Y_c, "xx": xx, "yy": yy, "history": [], "rates": []}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            started = time.time()
            for i in range(steps):
                start = (i * batch_size) % len(X)
                _, rate = sess.run([train_step, learning_rate],
                                   feed_dict={x: X[start:start + batch_size], y_: Y_[start:start + batch_size]})
                out["rates"].append(float(rate))
                if i % log_every == 0 or i == steps - 1:
                    mse, total, gstep = sess.run([loss_mse, loss_total, global_step], feed_dict={x: X, y_: Y_})
                    out["history"].append({"step": i, "global_step": int(gstep), "learning_rate": float(rate),
                                           "loss_mse": float(mse), "loss_total": float(total)})
                    log(f"After {i + 1:5d} steps ({time.time() - started:4.0f} s): global_step {gstep}, "
                        f"learning rate {rate:.6g}, loss_mse {mse:.6f}, loss_total {total:.6f}")
            out["probs"] = sess.run(y, feed_dict={x: grid}).reshape(xx.shape)
    return out


def save_plot(result, path, title="decision line"):
    """Points and decision line on the left; learning rate and loss over the steps on the right."""
    fig, (ax_points, ax_rate) = plotting.new_figure(2)
    plotting.draw_points(ax_points, result["X"], result["Y_c"], result["xx"], result["yy"],
                         result["probs"], title)
    ax_rate.plot(np.arange(1, len(result["rates"]) + 1), result["rates"], color="tab:blue")
    ax_rate.set_xlabel("step")
    ax_rate.set_ylabel("learning rate", color="tab:blue")
    ax_rate.set_title("learning rate (exponential decay) and loss_total")
    ax_loss = ax_rate.twinx()
    hist = result["history"]
    ax_loss.plot([h["step"] + 1 for h in hist], [h["loss_total"] for h in hist], "o-", color="tab:red")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss_total on all points (log scale)", color="tab:red")
    return plotting.save_figure(fig, path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="training steps")
    p.add_argument("--seed", type=int, default=1, help="graph-level seed of the weight initialisers")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="print the losses every N steps")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the PNG")
    args = p.parse_args(argv)
    if args.steps < 1 or args.log_every < 1:
        p.error("--steps and --log-every must be >= 1")
    try:
        plotting.check_out_path(args.out)
    except ValueError as err:
        p.error(str(err))
    return args


def main(argv=None):
    args = parse_args(argv)
    result = backward(args.steps, args.seed, log_every=args.log_every)
    first, last = result["rates"][0], result["rates"][-1]
    print(f"learning rate went from {first:.6g} to {last:.6g} over {args.steps} steps")
    result["png"] = save_plot(result, args.out, f"with L2 {REGULARIZER}, exponential decay")
    print(f"saved {result['png']}")
    return result


if __name__ == "__main__":
    main()
