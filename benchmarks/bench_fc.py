"""Training speed of the fully connected MNIST model: mnist_backward's loop vs Keras model.fit vs PyTorch eager.

    python benchmarks/bench_fc.py [--steps 500] [--rounds 3] [--feed] [--torch-threads N]

All three train the same network (784-500-10, relu, truncated-normal init, L2 0.0001 on the weights,
softmax cross-entropy, plain gradient descent with the course's staircase exponential decay, and a
moving average of the weights with decay 0.99) on the 55,000 MNIST training images, batch 200.
Keras is timed over whole epochs (275 steps each, --steps rounded to them) after one untimed epoch.
Each round times every framework in turn (so a change in machine load hits all of them); the first
--warmup steps of each run are not timed. Prints steps/s per round, the median and best of the rounds, and the ratios
(under a varying load the best round is closest to a quiet machine).
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

import mnist_backward as mb  # noqa: E402  (the course's constants)
from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import training  # noqa: E402

HIDDEN = 500


def load_average():
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def bench_tf(data, steps, warmup, feed, seed):
    """Steps/s of mnist_backward's own loop (train()), in a throw-away model folder."""
    with tempfile.TemporaryDirectory() as model_dir:
        argv = ["--steps", str(steps + warmup), "--model-dir", model_dir, "--seed", str(seed),
                "--log-every", str(10 ** 9), "--save-every", str(10 ** 9)] + (["--feed"] if feed else [])
        args = training.parse_args(mb.MODEL, vars(mb), argv)
        with open(os.devnull, "w") as quiet:
            result = training.train(mb.MODEL, args, stream=quiet)
    return result["steps_per_sec"]


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


def bench_torch(data, steps, warmup, seed, threads):
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

    def step(i):
        nonlocal order
        pos = (i % (n // batch)) * batch
        if pos == 0 and i:
            order = torch.randperm(n)
        idx = order[pos:pos + batch]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=500, help="timed steps per framework and round")
    p.add_argument("--warmup", type=int, default=training.WARMUP_STEPS, help="untimed steps before each timing")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    p.add_argument("--feed", action="store_true", help="time mnist_backward's feed_dict path instead")
    p.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--seed", type=int, default=1, help="seed for all three")
    args = p.parse_args(argv)
    data = mnist_data.read_data_sets(one_hot=True, seed=args.seed)
    runs = {"tf (mnist_backward)": lambda: bench_tf(data, args.steps, args.warmup, args.feed, args.seed),
            "keras model.fit": lambda: bench_keras(data, args.steps, args.warmup, args.seed),
            "pytorch eager": lambda: bench_torch(data, args.steps, args.warmup, args.seed, args.torch_threads)}
    rates = {name: [] for name in runs}
    print(f"cpus: {os.cpu_count()}, load average: {load_average()}")
    for r in range(args.rounds):
        for name, run in runs.items():
            rates[name].append(run())
            print(f"round {r + 1}: {name:20s} {rates[name][-1]:7.1f} steps/s", flush=True)
    med = {name: statistics.median(v) for name, v in rates.items()}
    best = {name: max(v) for name, v in rates.items()}
    print(f"\nsteps/s (batch {mb.BATCH_SIZE}):          median     best")
    for name in runs:
        print(f"  {name:20s}     {med[name]:7.1f}  {best[name]:7.1f}")
    ours = "tf (mnist_backward)"
    for other, target in (("pytorch eager", 1.1), ("keras model.fit", 1.5)):
        label = other + ":"
        print(f"ratio vs {label:16s} median {med[ours] / med[other]:.2f}x, best {best[ours] / best[other]:.2f}x  "
              f"(target >= {target})")
    print(f"keras jit_compile (XLA): {getattr(bench_keras, 'jit_compile', '?')}; torch threads: {bench_torch.threads}")
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
