"""What --augment costs: training steps per second with and without it, side by side in one run.

    python benchmarks/bench_augment.py                      # the fully connected network, 3 rounds
    python benchmarks/bench_augment.py --model lenet5 --steps 200

Each round trains the same network from scratch for --steps steps (plus the loop's own untimed warm-up),
first plain then with --augment (default knobs), in throw-away folders, and prints both speeds and their
ratio. At the end it prints both summaries of the cost, with the rounds' spread: the ratio of the median speeds,
and the median of the rounds' own ratios. The target (an augmented step costs at most 1.5x a plain one) is
judged on the ratio of the medians, the plainer of the two; the other is printed beside it because a plain run
and the augmented run after it share the machine's state of the moment. The processor and the load average are
printed at the start and the end (benchmarks/machine.py).
"""
import argparse
import io
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make the scripts and `tfnotes` importable
    sys.path.insert(0, ROOT)

from tfnotes import training  # noqa: E402

import mnist_backward  # noqa: E402  (the course's constants)
from benchmarks import machine  # noqa: E402
from lenet5 import mnist_lenet5_backward  # noqa: E402

SCRIPTS = {"fc": mnist_backward, "lenet5": mnist_lenet5_backward}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=tuple(SCRIPTS), default="fc", help="network")
    p.add_argument("--steps", type=int, default=2000, help="timed training steps per run")
    p.add_argument("--rounds", type=int, default=3, help="plain and augmented runs, alternating")
    return p


def steps_per_sec(script, steps, augmented):
    with tempfile.TemporaryDirectory() as model_dir:
        argv = ["--steps", str(steps + training.WARMUP_STEPS), "--model-dir", model_dir, "--log-every", "1000000",
                "--save-every", "1000000", "--optimizer", "adam" if script is mnist_lenet5_backward else "gd"]
        args = training.parse_args(script.MODEL, vars(script), argv + (["--augment"] if augmented else []))
        return script.backward(args, stream=io.StringIO()).steps_per_sec


def main(argv=None):
    args = build_parser().parse_args(argv)
    script = SCRIPTS[args.model]
    print(f"{args.model}: {args.steps} timed steps per run, batch {script.BATCH_SIZE}")
    machine.describe("start")
    plain, augmented = [], []
    for r in range(args.rounds):
        plain.append(steps_per_sec(script, args.steps, False))
        augmented.append(steps_per_sec(script, args.steps, True))
        print(f"round {r + 1}: plain {plain[-1]:.1f} steps/s, --augment {augmented[-1]:.1f} steps/s, "
              f"an augmented step costs {plain[-1] / augmented[-1]:.2f}x", flush=True)
    ratios = [p / a for p, a in zip(plain, augmented)]
    of_medians = statistics.median(plain) / statistics.median(augmented)
    print(f"median: plain {statistics.median(plain):.1f}, --augment {statistics.median(augmented):.1f} steps/s "
          f"(plain {min(plain):.1f} to {max(plain):.1f}, --augment {min(augmented):.1f} to {max(augmented):.1f})")
    print(f"cost of an augmented step: ratio of the medians {of_medians:.2f}x (the target: <= 1.5x, "
          f"{'met' if of_medians <= 1.5 else 'not met'}); median of the rounds' ratios "
          f"{statistics.median(ratios):.2f}x, the rounds from {min(ratios):.2f}x to {max(ratios):.2f}x")
    machine.describe("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
