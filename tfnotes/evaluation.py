"""Evaluation: the test-set accuracy of each new checkpoint, its history as CSV and PNG.

One graph and session restore each checkpoint's moving-average weights in turn; follow() polls a
model folder beside a running training and stops by itself when the training has finished.
"""
import argparse
import csv
import datetime
import io
import os
import sys
import time

import numpy as np
from matplotlib.figure import Figure  # a bare Figure draws with Agg: no window, no pyplot state

from tfnotes import data
from tfnotes.atomic import atomic_path, atomic_write_text
from tfnotes.checkpoints import (
    CheckpointVanished,
    checkpoint_step,
    list_checkpoints,
    no_checkpoint_message,
    read_status,
    restore,
    training_alive,
)
from tfnotes.errors import ConfigError, NoCheckpointError
from tfnotes.inference import build_inference, predict_batches
from tfnotes.precision import DEFAULT, PRECISION_HELP, PRECISIONS, session_config
from tfnotes.report import write_report
from tfnotes.tfenv import tf

TEST_INTERVAL_SECS = 5
TIMEOUT_SECS = 600        # give up after this long without a new checkpoint
HISTORY_CSV = "test_accuracy.csv"
HISTORY_PNG = "test_accuracy.png"


class Evaluator:
    """One graph and session, restored from each checkpoint in turn, scoring the test set."""

    def __init__(self, spec, images, labels, precision=DEFAULT):
        self.spec = spec
        self.images, self.labels = images, np.asarray(labels).reshape(-1)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x, logits, self.saver = build_inference(spec)
            self.probs = tf.nn.softmax(logits)
        self.graph.finalize()
        self.sess = tf.Session(graph=self.graph, config=session_config(precision))

    def probabilities(self, checkpoint_path):
        """Probabilities [N, 10] of the test images under the checkpoint's moving-average weights."""
        restore(self.saver, self.sess, checkpoint_path, self.spec)
        return predict_batches(self.sess, self.x, self.probs, self.images)

    def accuracy(self, checkpoint_path):
        return float(np.mean(self.probabilities(checkpoint_path).argmax(1) == self.labels))

    def close(self):
        self.sess.close()


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


def evaluate_new(evaluator, model_dir, done, stream, report=True):
    """Evaluate the newest checkpoint not yet in `done` ({step: file time}); returns its step, or None.

    Only the newest checkpoint is ever evaluated, so the report files (report=True: confusion matrix,
    mistakes, per-class CSV) always belong to the newest evaluated one. A checkpoint that the Saver
    deletes between listing and restoring is skipped (the next poll finds a newer one).
    """
    for path in list_checkpoints(model_dir):
        step = checkpoint_step(path)
        try:  # the file time tells a checkpoint from one of the same step written by a later (--fresh) run
            stamp = os.path.getmtime(path + ".index")
        except OSError:
            stamp = None
        if step in done and done[step] == stamp:
            return None
        try:
            probs = evaluator.probabilities(path)
        except CheckpointVanished:
            print(f"note: checkpoint {path} was deleted before it could be read; skipping it", file=stream)
            continue
        done[step] = stamp
        acc = float(np.mean(probs.argmax(1) == evaluator.labels))
        print(f"After {step} training step(s), test accuracy = {acc:g}", file=stream)
        stream.flush()
        record(model_dir, step, acc, path)
        if report:
            write_report(model_dir, step, evaluator.images, evaluator.labels, probs)
        return step
    return None


# ---------------------------------------------------------------------------------------------------------
# Following a training run
# ---------------------------------------------------------------------------------------------------------

def build_parser(spec):
    p = argparse.ArgumentParser(description=f"Evaluate the {spec.name} model's checkpoints on the MNIST test set.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model-dir", default=spec.model_dir, help="folder the training writes its checkpoints to")
    p.add_argument("--once", action="store_true", help="evaluate the newest checkpoint and exit")
    p.add_argument("--interval", type=float, default=TEST_INTERVAL_SECS,
                   help="seconds between looks for a new checkpoint (TEST_INTERVAL_SECS)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_SECS,
                   help="exit after this many seconds without a new checkpoint")
    p.add_argument("--data-dir", default=None, help="MNIST folder; None means $MNIST_DATA_DIR, else <repo>/data")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write confusion_matrix.png, mistakes.png and per_class.csv with each evaluation")
    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT, help=PRECISION_HELP)
    return p


def load_test_set(data_dir):
    test = data.read_data_sets(data_dir, one_hot=False).test
    return test.images, test.labels


def finished_and_seen(model_dir, done):
    """The final step if the run in model_dir has finished and its last checkpoint has been evaluated."""
    status = read_status(model_dir)
    step = status.get("step")
    return step if status.get("status") == "finished" and step in done else None


def follow(evaluator, args, stream):
    """Poll model_dir, evaluating each new checkpoint once, until the run finishes or --timeout passes."""
    done, last_new, told = {}, time.monotonic(), None
    while True:
        if evaluate_new(evaluator, args.model_dir, done, stream, args.report) is not None:
            last_new = time.monotonic()
        status = read_status(args.model_dir)
        if status.get("status") in ("interrupted", "failed") and told != status.get("updated"):
            told = status.get("updated")  # said once per stop: the user may resume it
            print(f"the training is {status['status']} at step {status.get('step')}; waiting up to "
                  f"{args.timeout:g} s for it to resume (--timeout)", file=stream)
        final = finished_and_seen(args.model_dir, done)
        if final is not None:
            history = os.path.join(args.model_dir, HISTORY_CSV)
            print(f"training finished at step {final}; test accuracy history in {history}", file=stream)
            return 0
        if time.monotonic() - last_new > args.timeout:
            print(f"no new checkpoint for {args.timeout:g} s; stopping (--timeout)", file=stream)
            return 0 if done else 1
        time.sleep(args.interval)




def parse_args(spec, argv=None):
    """The evaluation script's flags (build_parser) parsed and checked, the model folder made absolute."""
    args = build_parser(spec).parse_args(argv)
    args.model_dir = os.path.abspath(args.model_dir)
    if args.interval <= 0 or args.timeout < 0:
        raise ConfigError("--interval must be positive and --timeout >= 0")
    return args


def evaluate(spec, args, stream=None):
    """Evaluate the newest checkpoint (--once) or follow the training; returns the exit code (0 or 1).

    Raises NoCheckpointError, DataError or CheckpointMismatchError with a message for the user.
    """
    stream = stream or sys.stdout
    session_config(args.precision)  # refuses bf16 where it cannot run, before anything else
    status = read_status(args.model_dir)
    if not list_checkpoints(args.model_dir):
        if args.once or not training_alive(status):
            raise NoCheckpointError(no_checkpoint_message(spec, args.model_dir))
        print(f"waiting for the first checkpoint of the training running as pid {status['pid']}", file=stream)
    images, labels = load_test_set(args.data_dir)
    evaluator = Evaluator(spec, images, labels, args.precision)
    try:
        if not args.once:
            return follow(evaluator, args, stream)
        if evaluate_new(evaluator, args.model_dir, {}, stream, args.report) is None:
            raise NoCheckpointError(no_checkpoint_message(spec, args.model_dir))
        return 0
    finally:
        evaluator.close()
