"""Evaluate the training's checkpoints on the 10,000 MNIST test images (the course's mnist_test.py).

    python mnist_test.py           # beside `python mnist_backward.py`: follows it, stops when it finishes
    python mnist_test.py --once    # evaluate the newest checkpoint and exit

It restores the moving-average (shadow) weights, as the course did, evaluates each new
checkpoint once, keeps the history in MODEL_DIR/test_accuracy.csv and draws test_accuracy.png.
load_model() gives the same restored network to other programs (the digit app).
"""
import argparse
import csv
import datetime
import io
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

import mnist_backward  # noqa: E402
import mnist_generateds  # noqa: E402
from mnist_backward import FC  # noqa: E402

TEST_INTERVAL_SECS = 5
TIMEOUT_SECS = 600        # give up after this long without a new checkpoint
EVAL_BATCH = 1000         # images per sess.run: bounds the memory of bigger networks
HISTORY_CSV = "test_accuracy.csv"
HISTORY_PNG = "test_accuracy.png"


class NoCheckpointError(FileNotFoundError):
    """No usable checkpoint in a model folder."""


class CheckpointMismatchError(ValueError):
    """A checkpoint that exists but does not restore into the network (another model, or damaged)."""


class _Vanished(Exception):
    """The checkpoint's files disappeared (the Saver deleted an old one) between listing and restoring."""


def restore(saver, sess, path, spec):
    """saver.restore with clear errors: _Vanished if the files are gone, CheckpointMismatchError otherwise."""
    try:
        with sess.graph.as_default():  # outside it, TF2's Saver.restore would run eagerly
            saver.restore(sess, path)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, tf.errors.InvalidArgumentError, ValueError) as e:
        if not os.path.exists(path + ".index"):  # (Saver.restore raises ValueError for a missing checkpoint)
            raise _Vanished(path)
        raise CheckpointMismatchError(
            "{} cannot be restored into the {} model ({}). It was written by another network or is damaged: "
            "train this model with {} (--fresh to start afresh).".format(
                path, spec.name, str(getattr(e, "message", e)).splitlines()[0], spec.train_command)) from None


def no_checkpoint_message(spec, model_dir):
    return ("no checkpoint in {}: run training first ({}{})".format(
        model_dir, spec.train_command,
        "" if os.path.abspath(model_dir) == os.path.abspath(spec.model_dir) else " --model-dir " + model_dir))


# ---------------------------------------------------------------------------------------------------------
# The inference graph and its moving-average weights
# ---------------------------------------------------------------------------------------------------------

def build_inference(spec):
    """In the current graph: (x placeholder [None,784], logits, saver of the moving-average weights)."""
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    logits = spec.build_logits(x, False, None)
    # variables_to_restore() maps each variable to its shadow copy "<name>/ExponentialMovingAverage" in the
    # checkpoint, so the network runs with the averaged weights (the decay value plays no part here).
    ema = tf.train.ExponentialMovingAverage(spec.defaults["MOVING_AVERAGE_DECAY"])
    saver = tf.train.Saver(ema.variables_to_restore())
    return x, logits, saver


def predict_batches(sess, x, outputs, images):
    """Run `outputs` on images [N,784] (or [N,28,28]) in chunks of EVAL_BATCH; returns the concatenation."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 784)
    parts = [sess.run(outputs, {x: images[i:i + EVAL_BATCH]}) for i in range(0, len(images), EVAL_BATCH)]
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(outputs.shape[1:]), np.float32)


class Model(object):
    """A restored network: predict(images) -> probabilities [N,10]. Use load_model() to make one."""

    def __init__(self, spec, checkpoint_path):
        self.spec, self.checkpoint_path = spec, checkpoint_path
        self.step = mnist_backward.checkpoint_step(checkpoint_path)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x, logits, saver = build_inference(spec)
            self.probs = tf.nn.softmax(logits)
        self.graph.finalize()
        self.sess = tf.Session(graph=self.graph)
        try:
            restore(saver, self.sess, checkpoint_path, spec)
        except BaseException:
            self.sess.close()
            raise

    def predict(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim not in (2, 3) or images.shape[1:] not in ((784,), (28, 28)):
            raise ValueError("predict() takes images of shape [N,784] or [N,28,28], got {}".format(images.shape))
        return predict_batches(self.sess, self.x, self.probs, images)

    def close(self):
        self.sess.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def load_model(spec=FC, model_dir=None):
    """The network of `spec` with the moving-average weights of the newest checkpoint in model_dir.

    Falls back to an older checkpoint if the newest vanishes while being read; raises
    NoCheckpointError (naming the folder and the training command) when there is none.
    """
    model_dir = os.path.abspath(model_dir or spec.model_dir)
    for path in mnist_backward.list_checkpoints(model_dir):
        try:
            return Model(spec, path)
        except _Vanished:
            continue
    raise NoCheckpointError(no_checkpoint_message(spec, model_dir))


# ---------------------------------------------------------------------------------------------------------
# Evaluation, history, plot
# ---------------------------------------------------------------------------------------------------------

class Evaluator(object):
    """One graph and session, restored from each checkpoint in turn, scoring the test set."""

    def __init__(self, spec, images, labels):
        self.spec = spec
        self.images, self.labels = images, np.asarray(labels).reshape(-1)
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x, logits, self.saver = build_inference(spec)
            self.pred = tf.argmax(logits, 1)
        self.graph.finalize()
        self.sess = tf.Session(graph=self.graph)

    def accuracy(self, checkpoint_path):
        restore(self.saver, self.sess, checkpoint_path, self.spec)
        pred = predict_batches(self.sess, self.x, self.pred, self.images)
        return float(np.mean(pred == self.labels))

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
        keep = "{}.unreadable-{}".format(path, datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        os.replace(path, keep)
        print("warning: {} could not be read ({}); moved it to {} and started a new history".format(
            path, e, keep), file=sys.stderr)
        return {}


def record(model_dir, step, accuracy, checkpoint_path):
    """Add (or replace) one row of the history CSV and redraw the plot; both written atomically."""
    rows = read_history(model_dir)
    rows[step] = dict(step=step, accuracy="{:.4f}".format(accuracy), checkpoint=os.path.basename(checkpoint_path),
                      evaluated=datetime.datetime.now().isoformat(timespec="seconds"))
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=["step", "accuracy", "checkpoint", "evaluated"], lineterminator="\n")
    w.writeheader()
    for s in sorted(rows):
        w.writerow(rows[s])
    mnist_backward.atomic_write_text(os.path.join(model_dir, HISTORY_CSV), out.getvalue())
    plot_history(model_dir, rows)


def plot_history(model_dir, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = sorted(rows)
    acc = [float(rows[s]["accuracy"]) for s in steps]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps, acc, marker="o", markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel("test accuracy (moving-average weights)")
    ax.set_title("MNIST test accuracy: {:.4f} at step {}".format(acc[-1], steps[-1]))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = os.path.join(model_dir, HISTORY_PNG)
    with mnist_generateds.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def evaluate_new(evaluator, model_dir, done, stream):
    """Evaluate the newest checkpoint not yet in `done` ({step: file time}); returns its step, or None.

    A checkpoint that the Saver deletes between listing and restoring is skipped (the next poll finds
    a newer one).
    """
    for path in mnist_backward.list_checkpoints(model_dir):
        step = mnist_backward.checkpoint_step(path)
        try:  # the file time tells a checkpoint from one of the same step written by a later (--fresh) run
            stamp = os.path.getmtime(path + ".index")
        except OSError:
            stamp = None
        if step in done and done[step] == stamp:
            return None
        try:
            acc = evaluator.accuracy(path)
        except _Vanished:
            print("note: checkpoint {} was deleted before it could be read; skipping it".format(path), file=stream)
            continue
        done[step] = stamp
        print("After {} training step(s), test accuracy = {:g}".format(step, acc), file=stream)
        stream.flush()
        record(model_dir, step, acc, path)
        return step
    return None


# ---------------------------------------------------------------------------------------------------------
# Following a training run
# ---------------------------------------------------------------------------------------------------------

def build_parser(spec):
    p = argparse.ArgumentParser(description="Evaluate the {} model's checkpoints on the MNIST test set.".format(
        spec.name), formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model-dir", default=spec.model_dir, help="folder the training writes its checkpoints to")
    p.add_argument("--once", action="store_true", help="evaluate the newest checkpoint and exit")
    p.add_argument("--interval", type=float, default=TEST_INTERVAL_SECS,
                   help="seconds between looks for a new checkpoint (TEST_INTERVAL_SECS)")
    p.add_argument("--timeout", type=float, default=TIMEOUT_SECS,
                   help="exit after this many seconds without a new checkpoint")
    p.add_argument("--data-dir", default=None, help="MNIST folder; None means $MNIST_DATA_DIR, else <repo>/data")
    return p


def load_test_set(data_dir):
    test = mnist_generateds.read_data_sets(data_dir, one_hot=False).test
    return test.images, test.labels


def finished_and_seen(model_dir, done):
    """The final step if the run in model_dir has finished and its last checkpoint has been evaluated."""
    status = mnist_backward.read_status(model_dir)
    step = status.get("step")
    return step if status.get("status") == "finished" and step in done else None


def follow(evaluator, args, stream):
    """Poll model_dir, evaluating each new checkpoint once, until the run finishes or --timeout passes."""
    done, last_new, told = {}, time.monotonic(), None
    while True:
        if evaluate_new(evaluator, args.model_dir, done, stream) is not None:
            last_new = time.monotonic()
        status = mnist_backward.read_status(args.model_dir)
        if status.get("status") in ("interrupted", "failed") and told != status.get("updated"):
            told = status.get("updated")  # said once per stop: the user may resume it
            print("the training is {} at step {}; waiting up to {:g} s for it to resume (--timeout)".format(
                status["status"], status.get("step"), args.timeout), file=stream)
        final = finished_and_seen(args.model_dir, done)
        if final is not None:
            print("training finished at step {}; test accuracy history in {}".format(
                final, os.path.join(args.model_dir, HISTORY_CSV)), file=stream)
            return 0
        if time.monotonic() - last_new > args.timeout:
            print("no new checkpoint for {:g} s; stopping (--timeout)".format(args.timeout), file=stream)
            return 0 if done else 1
        time.sleep(args.interval)


def main(argv=None, spec=FC, stream=None):
    stream = stream or sys.stdout
    args = build_parser(spec).parse_args(argv)
    args.model_dir = os.path.abspath(args.model_dir)
    tf.get_logger().setLevel("ERROR")  # TF's own deprecation notices are not for students
    if args.interval <= 0 or args.timeout < 0:
        raise SystemExit("error: --interval must be positive and --timeout >= 0")
    status = mnist_backward.read_status(args.model_dir)
    if not mnist_backward.list_checkpoints(args.model_dir):
        if args.once or not mnist_backward.training_alive(status):
            print("error: " + no_checkpoint_message(spec, args.model_dir), file=sys.stderr)
            return 1
        print("waiting for the first checkpoint of the training running as pid {}".format(status["pid"]), file=stream)
    try:
        images, labels = load_test_set(args.data_dir)
    except mnist_generateds.DataError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 1
    evaluator = Evaluator(spec, images, labels)
    try:
        if args.once:
            step = evaluate_new(evaluator, args.model_dir, {}, stream)
            if step is None:
                print("error: " + no_checkpoint_message(spec, args.model_dir), file=sys.stderr)
                return 1
            return 0
        return follow(evaluator, args, stream)
    except CheckpointMismatchError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        evaluator.close()


if __name__ == "__main__":
    sys.exit(main())
