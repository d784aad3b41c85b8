"""Training speed of the fully connected MNIST model: mnist_backward's loop vs Keras model.fit vs PyTorch eager.

    python benchmarks/bench_fc.py [--steps 500] [--rounds 3] [--precision fp32 bf16] [--steps-per-call N]
                                  [--feed] [--torch-threads N] [--profile N]

All three train the same network (784-500-10, relu, truncated-normal init, L2 0.0001 on the weights,
softmax cross-entropy, plain gradient descent with the course's staircase exponential decay, and a
moving average of the weights with decay 0.99) on the 55,000 MNIST training images, batch 200.
Keras is timed over whole epochs (275 steps each, --steps rounded to them) after one untimed epoch.
Each round times every framework in turn (so a change in machine load hits all of them); the first
--warmup steps of each run are not timed, on both sides alike: PyTorch times from its step --warmup + 1, and
mnist_backward's loop ends its first session call after exactly --warmup steps and times from there (Keras:
whole epochs, after one untimed epoch). Prints steps/s per round, the median and best of the rounds, and the
ratios (under a varying load the best round is closest to a quiet machine). What is compared is what a user
runs: our loop with up to 100 steps per session call, inside the graph, against PyTorch eager at one step per
call. The processor and the load average are printed at the start and the end, with a warning where the machine
is busy (benchmarks/machine.py). --profile N then traces N single
steps of mnist_backward in each precision and prints where a step's time goes, by op type (op_profile.py).
Precision bf16: mnist_backward --precision bf16 (oneDNN's bfloat16 rewrite) against PyTorch under
torch.autocast("cpu", dtype=torch.bfloat16); Keras runs in fp32 only. bf16 is left out, with a note, on a
processor without bfloat16 instructions. The processor and its flags are printed first.
PyTorch is needed only here (pip install torch); the other two are the project's requirements.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import precision, training  # noqa: E402
from tfnotes.errors import ConfigError  # noqa: E402

import mnist_backward as mb  # noqa: E402  (the course's constants)
from benchmarks import machine, op_profile  # noqa: E402

HIDDEN = 500
OURS, KERAS, TORCH = "tf (mnist_backward)", "keras model.fit", "pytorch eager"
TARGETS = {"fp32": ((TORCH, 1.1), (KERAS, 1.5)), "bf16": ((TORCH, 1.3),)}


def tf_flags(model_dir, steps, seed, prec, feed=False, steps_per_call=None):
    """mnist_backward's flags for a benchmark run (no progress lines or checkpoints on the way)."""
    argv = ["--steps", str(steps), "--model-dir", model_dir, "--seed", str(seed),
            "--log-every", str(10 ** 9), "--save-every", str(10 ** 9), "--precision", prec]
    return argv + (["--feed"] if feed else []) + (["--steps-per-call", str(steps_per_call)] if steps_per_call else [])


def bench_tf(data, steps, warmup, feed, seed, prec="fp32", steps_per_call=None):
    """Steps/s of mnist_backward's own loop (backward()), in a throw-away model folder, the first `warmup` steps
    left out as on the other sides (the loop's first session call ends after exactly those steps)."""
    training.WARMUP_STEPS = warmup
    with tempfile.TemporaryDirectory() as model_dir:
        args = training.parse_args(mb.MODEL, vars(mb), tf_flags(model_dir, steps + warmup, seed, prec, feed,
                                                               steps_per_call))
        with open(os.devnull, "w") as quiet:
            run = mb.backward(args, stream=quiet)
    return run.steps_per_sec


def bench_keras(data, steps, warmup, seed):
    import keras
    keras.utils.set_random_seed(seed)
    x, y = data.train.images, np.argmax(data.train.labels, 1)
    init = keras.initializers.TruncatedNormal(stddev=0.1, seed=seed)
    reg = keras.regularizers.L2(mb.REGULARIZER / 2)  # Keras' L2 is l*sum(w^2); the course's is l*sum(w^2)/2
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(HIDDEN, activation="relu", kernel_initializer=init, kernel_regularizer=reg),
        keras.layers.Dense(10, kernel_initializer=init, kernel_regularizer=reg)])
    lr = keras.optimizers.schedules.ExponentialDecay(mb.LEARNING_RATE_BASE, len(x) / mb.BATCH_SIZE,
                                                     mb.LEARNING_RATE_DECAY, staircase=True)
    model.compile(optimizer=keras.optimizers.SGD(lr, use_ema=True, ema_momentum=mb.MOVING_AVERAGE_DECAY),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # One fit() over 1 + E epochs of the numpy arrays (Keras shuffles them each epoch); the first epoch
    # (tracing, warm-up) is not timed. Only epoch-level callbacks: a per-batch one would make Keras copy
    # its logs to Python every step.
    per_epoch = len(x) // mb.BATCH_SIZE
    epochs = max(1, round(steps / per_epoch))
    marks = []
    clock = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: marks.append(time.perf_counter()),
                                           on_epoch_end=lambda e, logs: marks.append(time.perf_counter()))
    model.fit(x, y, batch_size=mb.BATCH_SIZE, epochs=1 + epochs, verbose=0, callbacks=[clock])
    rate = epochs * per_epoch / (marks[-1] - marks[2])  # from the start of epoch 2 to the end of the last
    bench_keras.jit_compile = model.jit_compile  # reported: Keras picks XLA by itself ("auto")
    return rate


def bench_torch(data, steps, warmup, seed, threads, prec="fp32"):
    import contextlib

    import torch
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    bench_torch.threads = torch.get_num_threads()
    x, y = torch.from_numpy(data.train.images), torch.from_numpy(np.argmax(data.train.labels, 1))
    n, batch = len(x), mb.BATCH_SIZE
    model = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            torch.nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
            layer.bias.zero_()
    params = list(model.parameters())
    weights = [model[0].weight, model[2].weight]
    shadow = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=mb.LEARNING_RATE_BASE)
    decay_steps = n / batch
    order = torch.randperm(n)
    # bf16: the forward pass and loss under autocast (bfloat16 matmuls), weights and updates in float32
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if prec == "bf16" else contextlib.nullcontext

    def step(i):
        nonlocal order
        pos = (i % (n // batch)) * batch
        if pos == 0 and i:
            order = torch.randperm(n)
        idx = order[pos:pos + batch]
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss = loss + mb.REGULARIZER * 0.5 * sum(w.pow(2).sum() for w in weights)
        for g in opt.param_groups:
            g["lr"] = mb.LEARNING_RATE_BASE * mb.LEARNING_RATE_DECAY ** (i // decay_steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # the same moving average as tf.train.ExponentialMovingAverage(0.99, step)
            decay = min(mb.MOVING_AVERAGE_DECAY, (1.0 + i + 1) / (10.0 + i + 1))
            torch._foreach_lerp_(shadow, params, 1.0 - decay)

    for i in range(warmup):
        step(i)
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    return steps / (time.perf_counter() - start)


def precisions_to_run(wanted):
    """The wanted precisions that can run here; prints why bf16 is left out where it is."""
    runnable = []
    for prec in wanted:
        try:
            precision.session_config(prec)
            runnable.append(prec)
        except ConfigError as e:
            print(f"note: {prec} left out: {e}")
    return runnable


def time_rounds(runs, rounds, prec):
    """{name: [steps/s per round]}, every framework in turn in each round."""
    rates = {name: [] for name in runs}
    for r in range(rounds):
        for name, run in runs.items():
            rates[name].append(run())
            print(f"round {r + 1} {prec}: {name:20s} {rates[name][-1]:7.1f} steps/s", flush=True)
    return rates


def report(rates, prec):
    med = {name: statistics.median(v) for name, v in rates.items()}
    best = {name: max(v) for name, v in rates.items()}
    print(f"\n{prec}, steps/s (batch {mb.BATCH_SIZE}):    median     best")
    for name in rates:
        print(f"  {name:20s}     {med[name]:7.1f}  {best[name]:7.1f}")
    for other, target in TARGETS[prec]:
        if other in rates:
            label = other + ":"
            print(f"{prec} ratio vs {label:16s} median {med[OURS] / med[other]:.2f}x, "
                  f"best {best[OURS] / best[other]:.2f}x  (target >= {target})")
    for other in (name for name in rates if name.startswith("tf, ")):
        print(f"{prec} {OURS} vs {other}: median {med[OURS] / med[other]:.2f}x, best {best[OURS] / best[other]:.2f}x")
    print(f"  (ours: the in-graph loop, up to {training.STEPS_PER_CALL} steps per session call unless "
          "--steps-per-call says otherwise; PyTorch eager and Keras: one step per call, as each is used)")
    return med


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=500, help="timed steps per framework and round")
    p.add_argument("--warmup", type=int, default=training.WARMUP_STEPS, help="untimed steps before each timing")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    p.add_argument("--precision", nargs="+", choices=precision.PRECISIONS, default=list(precision.PRECISIONS),
                   help="precisions to compare in (bf16: PyTorch under torch.autocast)")
    p.add_argument("--steps-per-call", type=int, nargs="+", default=None,
                   help="mnist_backward's --steps-per-call; with several values our loop is timed once per value in "
                        "each round, and the first is compared with the others (default: its own, up to "
                        f"{training.STEPS_PER_CALL})")
    p.add_argument("--no-keras", action="store_true", help="leave Keras out (it runs in fp32 only)")
    p.add_argument("--feed", action="store_true", help="time mnist_backward's feed_dict path instead")
    p.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--seed", type=int, default=1, help="seed for all three")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also trace N single steps of mnist_backward in each precision and print each op type's time "
                        "per step (0: no trace)")
    args = p.parse_args(argv)
    data = mnist_data.read_data_sets(one_hot=True, seed=args.seed)
    machine.describe("start")
    profiles = {}
    for prec in precisions_to_run(args.precision):
        per_call = args.steps_per_call or [None]
        runs = {OURS: lambda p=prec, k=per_call[0]: bench_tf(data, args.steps, args.warmup, args.feed, args.seed, p,
                                                             k)}
        for k in per_call[1:]:
            runs[f"tf, {k} step(s)/call"] = lambda p=prec, k=k: bench_tf(data, args.steps, args.warmup, args.feed,
                                                                         args.seed, p, k)
        runs.update({
                KERAS: lambda: bench_keras(data, args.steps, args.warmup, args.seed),
                TORCH: lambda p=prec: bench_torch(data, args.steps, args.warmup, args.seed, args.torch_threads, p)})
        if prec != "fp32" or args.no_keras:
            del runs[KERAS]
        report(time_rounds(runs, args.rounds, prec), prec)
        if args.profile > 0:
            with tempfile.TemporaryDirectory() as model_dir:
                profiles[prec] = op_profile.profile_steps(mb, tf_flags(model_dir, 1, args.seed, prec, args.feed),
                                                          args.profile)
    if profiles:
        op_profile.print_profile(profiles)
    print(f"keras jit_compile (XLA): {getattr(bench_keras, 'jit_compile', '?')}; "
          f"torch threads: {getattr(bench_torch, 'threads', '?')}")
    machine.describe("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
