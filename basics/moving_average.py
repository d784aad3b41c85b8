"""Moving average (滑动平均): how ExponentialMovingAverage's shadow value follows w1.

shadow = decay * shadow + (1 - decay) * w1, where, because num_updates (global_step) is
given, decay = min(MOVING_AVERAGE_DECAY, (1 + global_step) / (10 + global_step)).

The walk-through, printing [w1, shadow of w1] each time:
  start                                       -> [0, 0]
  w1 = 1, one update (global_step 0)          -> [1, 0.9]
  global_step = 100, w1 = 10, then each update -> [10, 1.644...], [10, 2.328...], [10, 2.956...], ...

    python basics/moving_average.py [--steps 7] [--decay 0.99]
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from tfnotes.tfenv import tf  # noqa: E402  (TensorFlow's TF1 API, loaded on first use, quietly)

MOVING_AVERAGE_DECAY = 0.99
STEPS = 7  # updates while w1 = 10 and global_step = 100, as the lesson shows


def walkthrough(steps=STEPS, decay=MOVING_AVERAGE_DECAY):
    """Run the lesson's sequence; return the [w1, shadow] pairs it prints, as floats."""
    with tf.Graph().as_default():
        w1 = tf.get_variable("w1", initializer=tf.constant(0.0))
        global_step = tf.train.get_or_create_global_step()
        ema = tf.train.ExponentialMovingAverage(decay, global_step)
        # apply() makes the shadow variables and returns the op that updates them all
        ema_op = ema.apply(tf.trainable_variables())
        pair = [w1, ema.average(w1)]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            seen = [sess.run(pair)]
            sess.run(tf.assign(w1, 1.0))
            sess.run(ema_op)
            seen.append(sess.run(pair))
            # pretend 100 steps have passed and w1 has moved to 10
            sess.run(tf.assign(global_step, 100))
            sess.run(tf.assign(w1, 10.0))
            for _ in range(steps):
                sess.run(ema_op)
                seen.append(sess.run(pair))
    return [[float(a), float(b)] for a, b in seen]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS,
                   help="updates run once global_step = 100 and w1 = 10")
    p.add_argument("--decay", type=float, default=MOVING_AVERAGE_DECAY, help="MOVING_AVERAGE_DECAY")
    args = p.parse_args(argv)
    if args.steps < 0:
        p.error(f"--steps must be >= 0, got {args.steps}")
    if not 0 <= args.decay <= 1:
        p.error(f"--decay must be in [0, 1], got {args.decay}")
    return args


def main(argv=None):
    args = parse_args(argv)
    pairs = walkthrough(args.steps, args.decay)
    for w, shadow in pairs:
        print(f"[{w:g}, {shadow:.7g}]")
    return pairs


if __name__ == "__main__":
    main()
