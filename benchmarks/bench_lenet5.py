"""LeNet-5 training speed: the lesson's loop (mnist_lenet5_backward.backward) against PyTorch eager.

    python benchmarks/bench_lenet5.py                          # batch 100, gd, 60 timed steps, 2 rounds
    python benchmarks/bench_lenet5.py --optimizer adam --batch-size 50
    python benchmarks/bench_lenet5.py --optimizer adam --precision bf16     # one precision only
    python benchmarks/bench_lenet5.py --optimizer adam --profile 10        # and where each step's time goes

Both sides do the same work per step: a batch of the 55,000 training images picked in memory,
forward, softmax cross-entropy plus the L2 terms of the four weight tensors, backward, the
optimizer update, and the moving-average update of every parameter. The TensorFlow side is the
real loop of lenet5/mnist_lenet5_backward.py (in-graph batches, its summaries and progress), run
for 20 warm-up steps plus --steps, of which only --steps are timed. The two sides alternate for
--rounds rounds, so a busy machine slows both alike; the best round of each is compared.
Each precision of --precision (default fp32 and bf16) is measured in turn: bf16 is the loop's
--precision bf16 (oneDNN's bfloat16 rewrite) against PyTorch under torch.autocast("cpu", dtype=torch.bfloat16);
it is left out, with a note, on a processor without bfloat16 instructions. The processor's flags and the load
average at the start and the end are printed, with a warning where the machine is busy (benchmarks/machine.py).
PyTorch is needed for this script only (it is not a requirement of the project).
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import precision, training  # noqa: E402
from tfnotes.errors import ConfigError  # noqa: E402

from benchmarks import machine, op_profile  # noqa: E402
from lenet5 import mnist_lenet5_backward as backward  # noqa: E402  (the course's LeNet-5 constants)
from lenet5 import mnist_lenet5_forward as lenet  # noqa: E402

TARGET_RATIO = {"fp32": 1.0, "bf16": 1.8}  # our loop's steps/s over PyTorch eager's, in the same precision


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-size", type=int, default=backward.BATCH_SIZE, help="examples per step")
    p.add_argument("--steps", type=int, default=60, help="timed steps per round and side")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (TensorFlow, then PyTorch)")
    p.add_argument("--optimizer", choices=("gd", "momentum", "adam"), default="gd", help="same on both sides")
    p.add_argument("--seed", type=int, default=0, help="weights and batch order on both sides")
    p.add_argument("--precision", nargs="+", choices=precision.PRECISIONS, default=list(precision.PRECISIONS),
                   help="precisions to measure, each on both sides (bf16: PyTorch under torch.autocast)")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also trace N steps of our loop in each precision and print each op type's time per step "
                        "(0: no trace)")
    return p


def loop_flags(args, model_dir, prec):
    """mnist_lenet5_backward's flags for this benchmark's settings."""
    return ["--steps", str(training.WARMUP_STEPS + args.steps), "--batch-size", str(args.batch_size),
            "--optimizer", args.optimizer, "--seed", str(args.seed), "--model-dir", model_dir, "--fresh",
            "--save-every", "1000000", "--precision", prec]


def time_our_loop(args, model_dir, prec="fp32"):
    """Steps/s of the lesson's loop (backward()) on LeNet-5, warm-up steps left out (it measures them)."""
    targs = training.parse_args(backward.MODEL, vars(backward), loop_flags(args, model_dir, prec))
    return backward.backward(targs, stream=io.StringIO()).steps_per_sec


def torch_lenet5(torch):
    """The same network in PyTorch: conv5x5/32, pool, conv5x5/64, pool, fc 512, dropout 0.5, fc 10."""
    nn, F = torch.nn, torch.nn.functional

    class LeNet5(nn.Module):
        def __init__(self):
            super().__init__()
            pad = lenet.CONV1_SIZE // 2  # 'SAME' for stride 1
            self.conv1 = nn.Conv2d(lenet.NUM_CHANNELS, lenet.CONV1_KERNEL_NUM, lenet.CONV1_SIZE, padding=pad)
            self.conv2 = nn.Conv2d(lenet.CONV1_KERNEL_NUM, lenet.CONV2_KERNEL_NUM, lenet.CONV2_SIZE, padding=pad)
            self.fc1 = nn.Linear(7 * 7 * lenet.CONV2_KERNEL_NUM, lenet.FC_SIZE)
            self.fc2 = nn.Linear(lenet.FC_SIZE, lenet.OUTPUT_NODE)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.fc1(torch.flatten(x, 1)))
            return self.fc2(F.dropout(x, lenet.DROPOUT_RATE, self.training))

    return LeNet5()


def time_torch(args, images, labels, prec="fp32"):
    """Steps/s of an eager PyTorch loop doing the same work as ours (EMA included); bf16: under autocast."""
    import torch
    torch.manual_seed(args.seed)
    model = torch_lenet5(torch)
    x_all = torch.from_numpy(images.reshape(-1, 1, lenet.IMAGE_SIZE, lenet.IMAGE_SIZE))
    y_all = torch.from_numpy(labels.astype(np.int64))
    params = list(model.parameters())
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    lr, reg = backward.LEARNING_RATE_BASE, backward.REGULARIZER
    opt = {"gd": lambda: torch.optim.SGD(params, lr), "momentum": lambda: torch.optim.SGD(params, lr, momentum=0.9),
           "adam": lambda: torch.optim.Adam(params, 0.001)}[args.optimizer]()
    shadows = [p.detach().clone() for p in params]
    order = torch.randperm(len(x_all))
    per_epoch = len(x_all) // args.batch_size
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if prec == "bf16" else contextlib.nullcontext

    def step(i):
        idx = order[(i % per_epoch) * args.batch_size:(i % per_epoch + 1) * args.batch_size]
        with autocast():  # autocast runs the cross-entropy in float32 itself
            ce = torch.nn.functional.cross_entropy(model(x_all[idx]), y_all[idx])
        loss = ce + reg * sum(0.5 * (w * w).sum() for w in weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            decay = min(backward.MOVING_AVERAGE_DECAY, (1 + i) / (10 + i))
            torch._foreach_lerp_(shadows, [p.detach() for p in params], 1 - decay)

    model.train()
    for i in range(training.WARMUP_STEPS):
        step(i)
    start = time.perf_counter()
    for i in range(training.WARMUP_STEPS, training.WARMUP_STEPS + args.steps):
        step(i)
    return args.steps / (time.perf_counter() - start)


def compare(args, prec, images, labels, tmp):
    """Alternating rounds of our loop and PyTorch in `prec`; prints each round, the best and the ratio."""
    ours, theirs = [], []
    for r in range(1, args.rounds + 1):
        ours.append(time_our_loop(args, tmp, prec))
        theirs.append(time_torch(args, images, labels, prec))
        print(f"round {r} {prec}: our loop {ours[-1]:.2f} steps/s, PyTorch eager {theirs[-1]:.2f} steps/s",
              flush=True)
    best_ours, best_theirs = max(ours), max(theirs)
    ratio = best_ours / best_theirs
    print(f"best {prec}: our loop {best_ours:.2f} steps/s ({best_ours * args.batch_size:.0f} examples/s), "
          f"PyTorch eager {best_theirs:.2f} steps/s ({best_theirs * args.batch_size:.0f} examples/s)")
    verdict = "OK" if ratio >= TARGET_RATIO[prec] else "BELOW TARGET"
    print(f"ratio {prec} (our loop / PyTorch eager): {ratio:.2f}x (target >= {TARGET_RATIO[prec]:.1f}x) {verdict}")
    print("  (both at one step per session call: LeNet-5's dropout keeps our loop at one step per call)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.batch_size < 1:
        raise SystemExit("error: --steps, --rounds and --batch-size must be positive")
    try:
        import torch
    except ImportError:
        raise SystemExit("error: PyTorch is needed for this benchmark only: pip install torch") from None
    import tensorflow as tf
    train = mnist_data.read_data_sets(one_hot=False, seed=args.seed).train
    print(f"LeNet-5 training, batch {args.batch_size}, optimizer {args.optimizer}, {args.steps} timed steps per "
          f"round; TensorFlow {tf.__version__}, PyTorch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{os.cpu_count()} CPU cores")
    machine.describe("start")
    profiles = {}
    with tempfile.TemporaryDirectory(prefix="bench_lenet5_") as tmp:
        for prec in args.precision:
            try:
                precision.session_config(prec)
            except ConfigError as e:
                print(f"note: {prec} left out: {e}")
                continue
            compare(args, prec, train.images, train.labels, tmp)
            if args.profile > 0:
                profiles[prec] = op_profile.profile_steps(backward, loop_flags(args, tmp, prec), args.profile)
    if profiles:
        op_profile.print_profile(profiles)
    machine.describe("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
