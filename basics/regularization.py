"""Regularization (正则化): the same 2-11-1 net on the red/blue points, without and with L2.

300 points from numpy RandomState(2), red inside x0² + x1² < 2. Adam at 0.0001, batches of
30, 40000 steps; once on the MSE alone, once on MSE + 0.01 * the weights' L2 penalty
(same seed, so both start from the same weights). The PNG puts the two decision lines side
by side: without L2 the line bends around single points, with L2 it stays smooth.

The data, the net and the training loop are the modular recipe's (basics/opt4_8), so the
lesson here is only the comparison.

    python basics/regularization.py [--steps 40000] [--seed 1] [--out PATH]
"""
import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: the library (tfnotes) lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    from .opt4_8 import backward, plotting
except ImportError:  # run as a script: python basics/regularization.py
    from opt4_8 import backward, plotting

STEPS = 40000
LEARNING_RATE = 0.0001
REGULARIZER = 0.01
LOG_EVERY = 2000
DEFAULT_OUT = plotting.DEFAULT_FIGURE_DIR / "regularization.png"


def compare(steps=STEPS, seed=1, regularizer=REGULARIZER, log_every=LOG_EVERY, log=print):
    """Train without and with L2 from the same start; return {'without': result, 'with': result}."""
    results = {}
    for name, reg in (("without", None), ("with", regularizer)):
        log(f"{name} L2 regularization")
        results[name] = backward.backward(steps, seed, regularizer=reg, learning_rate_base=LEARNING_RATE,
                                          learning_rate_decay=None, log_every=log_every, log=log)
    return results


def save_plot(results, path, regularizer=REGULARIZER):
    """The two decision lines side by side, as PNG."""
    fig, axes = plotting.new_figure(2)
    titles = {"without": "without regularization", "with": f"with L2 regularization ({regularizer})"}
    for ax, (name, r) in zip(axes, results.items()):
        plotting.draw_points(ax, r["X"], r["Y_c"], r["xx"], r["yy"], r["probs"], titles[name])
    return plotting.save_figure(fig, path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=STEPS, help="training steps of each model")
    p.add_argument("--seed", type=int, default=1, help="graph-level seed of the weight initialisers")
    p.add_argument("--regularizer", type=float, default=REGULARIZER, help="L2 weight of the second model")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="print the losses every N steps")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the PNG")
    args = p.parse_args(argv)
    if args.steps < 1 or args.log_every < 1:
        p.error("--steps and --log-every must be >= 1")
    try:
        plotting.check_out_path(args.out)
    except ValueError as err:
        p.error(str(err))
    if args.regularizer <= 0:
        p.error(f"--regularizer must be > 0, got {args.regularizer}")
    return args


def main(argv=None):
    args = parse_args(argv)
    results = compare(args.steps, args.seed, args.regularizer, args.log_every)
    png = save_plot(results, args.out, args.regularizer)
    print(f"saved {png}")
    return results, png


if __name__ == "__main__":
    main()
