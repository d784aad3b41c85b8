"""What the course's test lacked, for every lesson's test(): flags, the polling policy, history and report.

The course's evaluation itself (the graph with forward(x, None), the moving-average Saver, the accuracy
op, and the loop that restores each new checkpoint and prints its accuracy) is written out in each test
script's test(). Watch adds the policy around that loop (each checkpoint once, damaged ones skipped, an
end when the training has finished), the history test_accuracy.csv and .png, and the report.
"""
import argparse
import csv
import datetime
import io
import os
import sys
import time

import numpy as np

from tfnotes import data, inference, records
from tfnotes.atomic import atomic_path, atomic_write_text
from tfnotes.checkpoints import (
    checkpoint_paths,
    checkpoint_step,
    list_checkpoints,
    newest_first,
    no_checkpoint_message,
    read_status,
    training_alive,
)
from tfnotes.cli import HelpFormatter
from tfnotes.errors import ConfigError, NoCheckpointError
from tfnotes.inference import EVAL_BATCH
from tfnotes.precision import DEFAULT, PRECISION_HELP, PRECISIONS
from tfnotes.report import write_report

TEST_INTERVAL_SECS = 5
TIMEOUT_SECS = 600        # give up after this long without a new checkpoint
HISTORY_CSV = "test_accuracy.csv"
HISTORY_PNG = "test_accuracy.png"


def run_in_batches(sess, fetches, feed, batch=EVAL_BATCH):
    """sess.run(fetches, feed) over the fed arrays in slices of `batch` rows, which bounds the memory of bigger
    networks. A scalar fetch (an accuracy) comes back as the mean over all rows, weighted by slice; a batched one
    (probabilities) concatenated."""
    n = len(next(iter(feed.values())))
    parts = [sess.run(fetches, {k: v[i:i + batch] for k, v in feed.items()}) for i in range(0, n, batch)]
    sizes = [min(batch, n - i) for i in range(0, n, batch)]
    return [float(np.dot([p[k] for p in parts], sizes) / n) if np.ndim(parts[0][k]) == 0
            else np.concatenate([p[k] for p in parts]) for k in range(len(fetches))]


def read_history(model_dir):
    """{step: row dict} from MODEL_DIR/test_accuracy.csv ({} if there is none).

    A file that cannot be parsed is renamed to test_accuracy.csv.unreadable-<time> (kept, not overwritten).
    """
    path = os.path.join(model_dir, HISTORY_CSV)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return {int(r["step"]): r for r in csv.DictReader(f)}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        keep = f"{path}.unreadable-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        os.replace(path, keep)
        print(f"warning: {path} could not be read ({e}); moved it to {keep} and started a new history", file=sys.stderr)
        return {}


def record(model_dir, step, accuracy, checkpoint_path):
    """Add (or replace) one row of the history CSV and redraw the plot; both written atomically."""
    rows = read_history(model_dir)
    rows[step] = dict(step=step, accuracy=f"{accuracy:.4f}", checkpoint=os.path.basename(checkpoint_path),
                      evaluated=datetime.datetime.now().isoformat(timespec="seconds"))
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=["step", "accuracy", "checkpoint", "evaluated"], lineterminator="\n")
    w.writeheader()
    for s in sorted(rows):
        w.writerow(rows[s])
    atomic_write_text(os.path.join(model_dir, HISTORY_CSV), out.getvalue())
    plot_history(model_dir, rows)


def plot_history(model_dir, rows):
    steps = sorted(rows)
    acc = [float(rows[s]["accuracy"]) for s in steps]
    from matplotlib.figure import Figure  # here: matplotlib takes half a second to load (--help answers at once)

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    ax.plot(steps, acc, marker="o", markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy (moving-average weights)")
    ax.set_title(f"MNIST test accuracy: {acc[-1]:.4f} at step {steps[-1]}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = os.path.join(model_dir, HISTORY_PNG)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# ---------------------------------------------------------------------------------------------------------
# Following a training run
# ---------------------------------------------------------------------------------------------------------

def build_parser(spec):
    p = argparse.ArgumentParser(description=f"Evaluate the {spec.name} model's checkpoints on the MNIST test set.",
                                formatter_class=HelpFormatter)
    p.add_argument("--model-dir", default=spec.model_dir, help="folder the training writes its checkpoints to")
    p.add_argument("--once", action="store_true", help="evaluate the newest checkpoint and exit")
    p.add_argument("--interval", type=float, default=TEST_INTERVAL_SECS,
                   help="seconds between looks for a new checkpoint (TEST_INTERVAL_SECS)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_SECS,
                   help="exit after this many seconds without a new checkpoint")
    p.add_argument("--data-dir", default=None, help=data.DATA_DIR_HELP)
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write confusion_matrix.png, mistakes.png and per_class.csv with each evaluation "
                        "(default: written)")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT, help=PRECISION_HELP)
    p.add_argument("--data", metavar="PATH", default=None,
                   help="test on your own digits instead of MNIST's: a TFRecord file, or an image folder with its "
                        "label file PATH.txt (the Collect tab's my_digits/test); history and report then go to "
                        "MODEL_DIR/on_<name>/ (default: the 10,000 MNIST test images)")
    p.add_argument("--compare", metavar="BEFORE_DIR", default=None,
                   help="print a before/after table instead: the newest checkpoints of BEFORE_DIR and of --model-dir "
                        "on the MNIST test set and on --data (default: no table)")
    return p


class TestSet:
    """What test() feeds: `images` float32 [N,784] in [0,1], `labels` int64 [N], and a `name` for messages."""

    def __init__(self, images, labels, name):
        self.images, self.labels, self.name = images, labels, name


def test_set(args):
    """The set test() scores: MNIST's 10,000 test images, or your own digits (--data)."""
    if args.data is None:
        test = data.read_data_sets(args.data_dir, one_hot=False).test
        return TestSet(test.images, test.labels, "the MNIST test set")
    images, labels = records.load_labelled(args.data)
    return TestSet(images, labels, args.data)


def compare(spec, args, stream=None):
    """--compare BEFORE_DIR: the accuracy of BEFORE_DIR's and of --model-dir's newest checkpoints on the MNIST test set
    and on --data, as a table; returns the exit code (0)."""
    stream = stream or sys.stdout
    mnist = data.read_data_sets(args.data_dir, one_hot=False).test
    sets = [TestSet(mnist.images, mnist.labels, "MNIST test")]
    if args.data is not None:
        sets.append(test_set(args))
    rows = []
    for when, folder in (("before", args.compare), ("after", args.model_dir)):
        with inference.load_model(spec, folder, args.precision) as model:
            wrong = [int(np.sum(model.classify(s.images) != s.labels)) for s in sets]
            rows.append([f"{when}: {folder}", str(model.step)] +
                        [f"{1 - w / len(s.labels):.4f} ({w} wrong)" for w, s in zip(wrong, sets)])
    header = ["model", "step"] + [f"{s.name} ({len(s.labels)})" for s in sets]
    for row in [header, ["---"] * len(header)] + rows:
        print("| " + " | ".join(row) + " |", file=stream)
    return 0


def results_dir(args):
    """Where the history and the report go: the model folder, or MODEL_DIR/on_<name>/ for --data."""
    if args.data is None:
        return args.model_dir
    last_two = "_".join(os.path.abspath(args.data).split(os.sep)[-2:])  # my_digits/test: my_digits_test
    name = "".join(c if c.isalnum() or c in "-." else "_" for c in last_two)
    return os.path.join(args.model_dir, "on_" + name.strip("_.")[-80:])


def finished_and_seen(model_dir, done):
    """The final step if the run in model_dir has finished and its last checkpoint has been evaluated."""
    status = read_status(model_dir)
    step = status.get("step")
    return step if status.get("status") == "finished" and step in done else None


class Watch:
    """What the course's test loop lacked, around it: the newest checkpoint is tested once, a damaged one is
    skipped for an older one, the loop ends when the training has finished (or --once, or --timeout), and each
    result goes to the history (test_accuracy.csv and .png) and the report (confusion matrix, mistakes).

        watch = Watch(spec, args, test_set(args))        NoCheckpointError if there is none and no training runs
        while watch.go_on():                             sleeps --interval s between looks
            ckpt = checkpoints.get_checkpoint_state(model_dir)
            for path, attempt in watch.untested(ckpt):   the newest checkpoint not tested yet (then older ones)
                with attempt:                            a damaged or deleted one: reported, the next is tried
                    saver.restore(sess, path) ...
                    watch.record(path, accuracy, probabilities)
                    break
    """

    def __init__(self, spec, args, test_set, stream=None):
        self.spec, self.args, self.test_set, self.stream = spec, args, test_set, stream or sys.stdout
        self.done, self.skipped = {}, set()   # {step: file time} tested; (path, file time) found damaged
        self.looks, self.last_new, self.told, self.exit_code = 0, time.monotonic(), None, 0
        status = read_status(args.model_dir)
        if not list_checkpoints(args.model_dir):
            if args.once or not training_alive(status):
                raise NoCheckpointError(no_checkpoint_message(spec, args.model_dir))
            print(f"waiting for the first checkpoint of the training running as pid {status['pid']}", file=self.stream)

    def go_on(self):
        """Whether to look (again): the first time; then, without --once, until the training has finished and
        its last checkpoint is tested, or --timeout passes without a new one. Sleeps --interval s in between."""
        self.looks += 1
        if self.looks == 1:
            return True
        if self.args.once:
            return False
        status = read_status(self.args.model_dir)
        if status.get("status") in ("interrupted", "failed") and self.told != status.get("updated"):
            self.told = status.get("updated")  # said once per stop: the user may resume it
            print(f"the training is {status['status']} at step {status.get('step')}; waiting up to "
                  f"{self.args.timeout:g} s for it to resume (--timeout)", file=self.stream)
        final = finished_and_seen(self.args.model_dir, self.done)
        if final is not None:
            history = os.path.join(self.args.model_dir, HISTORY_CSV)
            print(f"training finished at step {final}; test accuracy history in {history}", file=self.stream)
            return False
        if time.monotonic() - self.last_new > self.args.timeout:
            print(f"no new checkpoint for {self.args.timeout:g} s; stopping (--timeout)", file=self.stream)
            self.exit_code = 0 if self.done else 1
            return False
        time.sleep(self.args.interval)
        return True

    def untested(self, ckpt):
        """(path, attempt) pairs: the newest checkpoint that `ckpt` (a CheckpointState, or None) lists, unless it
        was tested already, then the older untested ones, for the caller to stop at the first it can read.
        With --once, NoCheckpointError when none could be read."""
        paths = []
        for path in checkpoint_paths(ckpt, self.args.model_dir):
            stamp = _file_time(path)  # tells a checkpoint from one of the same step written by a later (--fresh) run
            if self.done.get(checkpoint_step(path), -1) == stamp:
                break
            if (path, stamp) not in self.skipped:
                paths.append(path)
        for path, attempt in newest_first(paths, self.spec, self.args.model_dir, self.stream, self.args.once):
            yield path, attempt
            if checkpoint_step(path) not in self.done:  # the caller went on: this one could not be read
                self.skipped.add((path, _file_time(path)))

    def record(self, path, accuracy, probabilities):
        """The tested checkpoint's result into the history CSV and plot, and (unless --no-report) the report."""
        step = checkpoint_step(path)
        self.done[step], self.last_new = _file_time(path), time.monotonic()
        out = results_dir(self.args)
        os.makedirs(out, exist_ok=True)
        record(out, step, accuracy, path)
        if self.args.report:
            write_report(out, step, self.test_set.images, self.test_set.labels, probabilities)
        if out != self.args.model_dir:
            print(f"  ({len(self.test_set.labels)} digits of {self.test_set.name}; history and report in {out})",
                  file=self.stream)


def _file_time(path):
    try:
        return os.path.getmtime(path + ".index")
    except OSError:
        return None


def parse_args(spec, argv=None):
    """The evaluation script's flags (build_parser) parsed and checked, the model folder made absolute."""
    args = build_parser(spec).parse_args(argv)
    args.model_dir = os.path.abspath(args.model_dir)
    if args.interval <= 0 or args.timeout < 0:
        raise ConfigError("--interval must be positive and --timeout >= 0")
    return args
