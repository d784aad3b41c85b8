"""Which oneDNN kernels a training step runs, and how long each takes: our loop against PyTorch eager.

    python benchmarks/onednn_kernels.py --model lenet5 --precision bf16            # both sides
    python benchmarks/onednn_kernels.py --model fc --precision fp32 --side tf --steps 100

TensorFlow's fast CPU kernels and PyTorch's are both oneDNN's, so two loops that run the same network can
be compared kernel by kernel: which implementation oneDNN picked (jit_bf16, brg_conv_fwd, gemm, ...), for
which pass (forward, backward_data, backward_weights), in which memory layout, and its time per call.
Each side runs in a child process with ONEDNN_VERBOSE=1 (oneDNN reads it once, when it starts), doing the
same steps as bench_fc.py / bench_lenet5.py: the warm-up steps plus --steps. Their oneDNN log lines are summed
by kernel: calls per step, the median time of a call, and ms per step (calls x median). Work outside oneDNN
(TensorFlow's Eigen ops, PyTorch's own kernels, the frameworks' overhead) is not in these tables; the
steps/s printed with them were measured with the log on, so they are lower than the benchmarks'.
PyTorch is needed for --side torch only (pip install torch).
"""
import argparse
import collections
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import precision, training  # noqa: E402
from tfnotes.errors import ConfigError  # noqa: E402

from benchmarks import bench_fc, bench_lenet5, machine  # noqa: E402

SIDES = ("tf", "torch")
SIDE_NAMES = {"tf": "our loop (TensorFlow)", "torch": "PyTorch eager"}
Kernel = collections.namedtuple("Kernel", "kind impl pass_ source shape")  # source: "bf16 acdb", type and layout


def parse_exec_line(line):
    """(Kernel, ms) from one 'onednn_verbose,...,exec,cpu,<kind>,<impl>,<pass>,<memory>,...,<shape>,<ms>' line,
    or None for any other line."""
    fields = line.strip().split(",")
    if not fields[0].endswith("onednn_verbose") or "exec" not in fields:
        return None
    at = fields.index("exec")
    if len(fields) < at + 6:
        return None
    try:
        ms = float(fields[-1])
    except ValueError:
        return None
    kind, impl, pass_, memory = fields[at + 2:at + 6]
    return Kernel(kind, impl or kind, "-" if pass_ == "undef" else pass_, source_memory(memory), fields[-2]), ms


def source_memory(memory):
    """'bf16 acdb' (type, layout) of the source in a memory field: 'src:bf16::blocked:acdb::f0 wei:...' for
    primitives, 'src_f32::blocked:ba:f0 wei_f32...' for the gemm API; '?' where there is none."""
    src = next((m for m in memory.split() if m.startswith("src")), "")
    parts = src.split(":")
    if src.startswith("src_") and len(parts) > 3:
        return f"{parts[0][4:]} {parts[3]}"
    if len(parts) > 4:
        return f"{parts[1]} {parts[4]}"
    return "?"


def summarise(lines, steps):
    """[(Kernel, calls per step, median ms per call, ms per step)], slowest per step first."""
    times = collections.defaultdict(list)
    for line in lines:
        parsed = parse_exec_line(line)
        if parsed:
            times[parsed[0]].append(parsed[1])
    rows = [(k, len(t) / steps, statistics.median(t), len(t) / steps * statistics.median(t))
            for k, t in times.items()]
    return sorted(rows, key=lambda row: -row[3])


def print_table(title, rows, top, out=print):
    out(f"\n{title}")
    if not rows:  # e.g. PyTorch's float32 products (its own BLAS), or TensorFlow with TF_ENABLE_ONEDNN_OPTS=0
        out("  no oneDNN kernel ran: all of this side's work is done outside oneDNN")
        return
    out(f"  {'ms/step':>8s} {'calls':>5s} {'ms/call':>8s}  {'kernel':13s} {'pass':17s} {'src type, layout':18s} "
        f"{'implementation':34s} shape")
    for k, per_step, median, ms in rows[:top]:
        out(f"  {ms:8.3f} {per_step:5.1f} {median:8.3f}  {k.kind[:13]:13s} {k.pass_[:17]:17s} {k.source[:18]:18s} "
            f"{k.impl[:34]:34s} {k.shape}")
    if len(rows) > top:
        out(f"  {sum(r[3] for r in rows[top:]):8.3f}  ({len(rows) - top} more kernels)")
    out(f"  {sum(r[3] for r in rows):8.3f}  all oneDNN kernels, ms per step")


def run_side(model, side, prec, steps, seed, optimizer):
    """Steps/s of one side's steps, in this process (the child): the same work as the benchmarks'."""
    if model == "lenet5":
        args = bench_lenet5.build_parser().parse_args(["--steps", str(steps), "--seed", str(seed),
                                                       "--optimizer", optimizer])
        if side == "tf":
            with tempfile.TemporaryDirectory(prefix="onednn_kernels_") as tmp:
                return bench_lenet5.time_our_loop(args, tmp, prec)
        train = mnist_data.read_data_sets(one_hot=False, seed=seed).train
        return bench_lenet5.time_torch(args, train.images, train.labels, prec)
    data = mnist_data.read_data_sets(one_hot=True, seed=seed)
    if side == "tf":
        return bench_fc.bench_tf(data, steps, training.WARMUP_STEPS, False, seed, prec)
    return bench_fc.bench_torch(data, steps, training.WARMUP_STEPS, seed, 0, prec)


def child_argv(args, side):
    return [sys.executable, os.path.abspath(__file__), "--child", side, "--model", args.model, "--precision",
            args.precision, "--steps", str(args.steps), "--seed", str(args.seed), "--optimizer", args.optimizer]


def measure(args, side):
    """(steps/s, summary rows) of one side, run in a child process with oneDNN's log on."""
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    done = subprocess.run(child_argv(args, side), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the {side} side failed (exit status {done.returncode}):\n"
                         + "\n".join(done.stderr.strip().splitlines()[-15:]))
    rate = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("steps/s ")]
    rows = summarise(done.stdout.splitlines(), training.WARMUP_STEPS + args.steps)
    return float(rate[-1]) if rate else float("nan"), rows


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=("fc", "lenet5"), default="lenet5", help="which lesson's network")
    p.add_argument("--precision", choices=precision.PRECISIONS, default="bf16",
                   help="bf16: our loop's --precision bf16 against PyTorch under torch.autocast")
    p.add_argument("--side", choices=SIDES + ("both",), default="both", help="which loop(s) to run")
    p.add_argument("--steps", type=int, default=40, help="steps after the warm-up steps")
    p.add_argument("--seed", type=int, default=1, help="weights and batch order")
    p.add_argument("--optimizer", choices=("gd", "momentum", "adam"), default="adam", help="LeNet-5's optimizer")
    p.add_argument("--top", type=int, default=12, help="kernels listed per side (the rest are summed)")
    p.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)  # internal: run one side, log on
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.steps < 1:
        raise SystemExit("error: --steps must be positive")
    if args.child:
        print(f"steps/s {run_side(args.model, args.child, args.precision, args.steps, args.seed, args.optimizer)}")
        return 0
    try:
        precision.session_config(args.precision)
    except ConfigError as e:  # bf16 where it cannot run
        raise SystemExit(f"error: {e}") from None
    sides = SIDES if args.side == "both" else (args.side,)
    if "torch" in sides and importlib.util.find_spec("torch") is None:
        raise SystemExit("error: PyTorch is needed for its side of the comparison: pip install torch (CPU build), "
                         "or --side tf for our loop alone")
    print(f"{args.model}, {args.precision}, {training.WARMUP_STEPS} + {args.steps} steps")
    machine.describe("start")
    for side in sides:
        rate, rows = measure(args, side)
        print_table(f"{SIDE_NAMES[side]}: {rate:.1f} steps/s with the log on", rows, args.top)
    machine.describe("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
