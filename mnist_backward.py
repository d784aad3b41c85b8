"""Train the fully connected MNIST network (the course's mnist_backward.py), as a real training tool.

    python mnist_backward.py                  # the course's run: 50,000 steps, checkpoints in ./model/
    python mnist_backward.py --steps 2000     # a short run; run again with a larger --steps to go on
    python mnist_backward.py --fresh          # start afresh; the old run is moved to model/previous/<time>/

The loop in this file is shared: lenet5/ plugs its own network in through a ModelSpec and
gets the same resume, signal handling, progress, summaries and checkpoints.
"""
import argparse
import collections
import datetime
import importlib
import json
import math
import os
import signal
import socket
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402

import mnist_forward  # noqa: E402
import mnist_generateds  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# The course's constants; each one is the default of a flag.
BATCH_SIZE = 200
LEARNING_RATE_BASE = 0.1
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = os.path.join(HERE, "model")  # the course's "./model/", but the same from any working directory
MODEL_NAME = "mnist_model"

SAVE_EVERY = 1000        # steps between checkpoints
LOG_EVERY = 1000         # steps between progress lines (the course printed every 1000)
SUMMARY_EVERY = 100      # steps between TensorBoard points
MAX_TO_KEEP = 5          # checkpoints kept by the Saver (TF's default)
DEFAULT_SEED = 1         # a fixed default, so the plain command gives the same run (and figures) every time
STATUS_FILE = "train_status.json"
PREVIOUS_DIR = "previous"

ModelSpec = collections.namedtuple(
    "ModelSpec", "name build_logits defaults model_dir train_command test_command")
ModelSpec.__doc__ = """How a network plugs into the shared training and evaluation loop.

build_logits(x, train, regularizer) -> logits [N,10], x float32 [N,784] in [0,1];
defaults: the course constants (BATCH_SIZE, LEARNING_RATE_BASE, LEARNING_RATE_DECAY, REGULARIZER,
STEPS, MOVING_AVERAGE_DECAY, MODEL_NAME); model_dir: absolute default folder;
train_command / test_command: shown to the user in messages."""

REQUIRED_DEFAULTS = ("BATCH_SIZE", "LEARNING_RATE_BASE", "LEARNING_RATE_DECAY", "REGULARIZER", "STEPS",
                     "MOVING_AVERAGE_DECAY", "MODEL_NAME")


def _fc_logits(x, train, regularizer):
    del train  # the fully connected network has no dropout
    return mnist_forward.forward(x, regularizer)


FC = ModelSpec(
    name="fc", build_logits=_fc_logits,
    defaults=dict(BATCH_SIZE=BATCH_SIZE, LEARNING_RATE_BASE=LEARNING_RATE_BASE,
                  LEARNING_RATE_DECAY=LEARNING_RATE_DECAY, REGULARIZER=REGULARIZER, STEPS=STEPS,
                  MOVING_AVERAGE_DECAY=MOVING_AVERAGE_DECAY, MODEL_NAME=MODEL_NAME),
    model_dir=MODEL_SAVE_PATH, train_command="python mnist_backward.py", test_command="python mnist_test.py")


def get_spec(name):
    """The ModelSpec called `name`: "fc", or "lenet5" (lenet5/mnist_lenet5_backward.py's SPEC)."""
    if name == "fc":
        return FC
    if name == "lenet5":
        if HERE not in sys.path:
            sys.path.insert(0, HERE)
        return importlib.import_module("lenet5.mnist_lenet5_backward").SPEC
    raise ValueError("unknown model {!r}: choose fc or lenet5".format(name))


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------

def build_parser(spec):
    d = spec.defaults
    p = argparse.ArgumentParser(description="Train the {} MNIST model.".format(spec.name),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=d["STEPS"], help="train up to this global step in total (STEPS)")
    p.add_argument("--batch-size", type=int, default=d["BATCH_SIZE"], help="examples per step (BATCH_SIZE)")
    p.add_argument("--learning-rate-base", type=float, default=d["LEARNING_RATE_BASE"], help="LEARNING_RATE_BASE")
    p.add_argument("--learning-rate-decay", type=float, default=d["LEARNING_RATE_DECAY"],
                   help="LEARNING_RATE_DECAY, applied once per epoch (staircase)")
    p.add_argument("--regularizer", type=float, default=d["REGULARIZER"],
                   help="L2 weight (REGULARIZER); 0 turns it off")
    p.add_argument("--moving-average-decay", type=float, default=d["MOVING_AVERAGE_DECAY"], help="MOVING_AVERAGE_DECAY")
    p.add_argument("--optimizer", choices=("gd", "momentum", "adam"), default="gd",
                   help="gd is the course's plain gradient descent")
    p.add_argument("--momentum", type=float, default=0.9, help="momentum of --optimizer momentum")
    p.add_argument("--model-dir", default=spec.model_dir, help="checkpoints, summaries and status go here")
    p.add_argument("--model-name", default=d["MODEL_NAME"], help="checkpoint file prefix (MODEL_NAME)")
    p.add_argument("--fresh", action="store_true",
                   help="start from step 0; an existing run is moved to MODEL_DIR/previous/<time>/, never deleted")
    p.add_argument("--save-every", type=int, default=SAVE_EVERY, help="steps between checkpoints")
    p.add_argument("--max-to-keep", type=int, default=MAX_TO_KEEP, help="newest checkpoints kept")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="steps between progress lines")
    p.add_argument("--summary-every", type=int, default=SUMMARY_EVERY, help="steps between TensorBoard points")
    p.add_argument("--data", choices=("arrays", "tfrecords"), default="arrays",
                   help="arrays: MNIST in memory; tfrecords: data/mnist_train.tfrecords (python mnist_generateds.py)")
    p.add_argument("--data-dir", default=None, help="MNIST folder; None means $MNIST_DATA_DIR, else <repo>/data")
    p.add_argument("--feed", action="store_true",
                   help="the course's placeholder + feed_dict input (slower); default: batches made inside the graph")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for weights, batch order and dropout; the same seed gives the same losses on a CPU "
                        "(None: the resumed run's own seed, else DEFAULT_SEED = %d)" % DEFAULT_SEED)
    return p


def check_args(args):
    """Reject values that cannot train, naming the flag."""
    positive = {"--steps": args.steps, "--batch-size": args.batch_size, "--save-every": args.save_every,
                "--log-every": args.log_every, "--summary-every": args.summary_every,
                "--max-to-keep": args.max_to_keep, "--learning-rate-base": args.learning_rate_base}
    for flag, value in positive.items():
        if not value > 0:
            raise SystemExit("error: {} must be positive, got {}".format(flag, value))
    for flag, value in {"--learning-rate-decay": args.learning_rate_decay,
                        "--moving-average-decay": args.moving_average_decay}.items():
        if not 0 < value <= 1:
            raise SystemExit("error: {} must be in (0, 1], got {}".format(flag, value))
    if args.regularizer < 0:
        raise SystemExit("error: --regularizer must be >= 0, got {}".format(args.regularizer))


# ---------------------------------------------------------------------------------------------------------
# Graph: input, loss, training step
# ---------------------------------------------------------------------------------------------------------

def in_graph_batches(images, labels, batch_size, global_step, seed):
    """(x, labels) for the current global_step, sliced inside the graph from the whole training set.

    The set lives in two local variables (filled once from placeholders, so checkpoints and the
    meta graph stay small); each epoch is a permutation drawn from (seed, epoch). The batch depends
    only on the step, so a resumed run sees exactly the batches the uninterrupted run would have.
    Returns (x, labels, init_feed) where init_feed fills the variables at local-variable init.
    """
    n = len(images)
    per_epoch = n // batch_size
    local = [tf.GraphKeys.LOCAL_VARIABLES]
    with tf.name_scope("input"):
        images_in = tf.placeholder(tf.float32, images.shape, name="train_images")
        labels_in = tf.placeholder(tf.int32, [n], name="train_labels")
        images_var = tf.Variable(images_in, trainable=False, collections=local, name="images", use_resource=True)
        labels_var = tf.Variable(labels_in, trainable=False, collections=local, name="labels", use_resource=True)
        order_var = tf.Variable(tf.zeros([n], tf.int32), trainable=False, collections=local, name="order",
                                use_resource=True)
        order_epoch = tf.Variable(tf.constant(-1, tf.int64), trainable=False, collections=local,
                                  name="order_epoch", use_resource=True)
        step = tf.cast(global_step, tf.int64)
        epoch = step // per_epoch
        pos = tf.cast(step % per_epoch, tf.int32) * batch_size

        def reshuffle():  # once per epoch: a fresh permutation, remembered in order_var
            keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
            with tf.control_dependencies([order_epoch.assign(epoch)]):
                return tf.identity(order_var.assign(tf.argsort(keys)))

        order = tf.cond(tf.equal(order_epoch.read_value(), epoch), order_var.read_value, reshuffle)
        index = order[pos:pos + batch_size]
        x = tf.gather(images_var, index)
        y = tf.gather(labels_var, index)
    init_feed = {images_in: images, labels_in: labels.astype(np.int32)}
    return x, y, init_feed


def loss_fn(logits, labels):
    """Mean softmax cross-entropy plus every L2 term in the 'losses' collection."""
    with tf.name_scope("total_loss"):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=labels)
        cem = tf.reduce_mean(ce)
        terms = tf.get_collection("losses")
        return cem + tf.add_n(terms) if terms else cem


def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "gd":
        return tf.train.GradientDescentOptimizer(learning_rate)
    if name == "momentum":
        return tf.train.MomentumOptimizer(learning_rate, momentum)
    if name == "adam":
        return tf.train.AdamOptimizer(learning_rate)
    raise ValueError("unknown optimizer {!r}: choose gd, momentum or adam".format(name))


def build_train_ops(spec, args, x, labels, global_step, num_examples):
    """Logits, loss, learning rate and one training op that also updates the moving averages."""
    regularizer = args.regularizer if args.regularizer > 0 else None
    y = spec.build_logits(x, True, regularizer)
    loss = loss_fn(y, labels)
    # Decay once per epoch, as the course did (staircase, decay steps = examples / batch size).
    learning_rate = tf.train.exponential_decay(args.learning_rate_base, global_step,
                                               num_examples / args.batch_size,
                                               args.learning_rate_decay, staircase=True)
    train_step = make_optimizer(args.optimizer, learning_rate, args.momentum).minimize(loss, global_step=global_step)
    ema = tf.train.ExponentialMovingAverage(args.moving_average_decay, global_step)
    # The course put train_step and ema_op side by side in one control_dependencies; here the averages
    # are taken after the update, so every run does the same thing in the same order (--seed).
    with tf.control_dependencies([train_step]):
        train_op = ema.apply(tf.trainable_variables())
    with tf.name_scope("accuracy"):
        correct = tf.equal(tf.argmax(y, 1, output_type=tf.int32), tf.cast(labels, tf.int32))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    summary = tf.summary.merge([tf.summary.scalar("loss", loss), tf.summary.scalar("learning_rate", learning_rate),
                                tf.summary.scalar("train_accuracy", accuracy)])
    return dict(loss=loss, learning_rate=learning_rate, train_op=train_op, summary=summary)


def build_input(args, global_step, seed):
    """(x, labels, init_feed, feed_fn, num_examples) for the chosen --data and --feed.

    feed_fn(sess) gives each step's feed_dict (None for in-graph batches).
    """
    if args.data == "tfrecords":
        path = os.path.join(mnist_generateds.resolve_data_dir(args.data_dir), mnist_generateds.TRAIN_TFRECORD)
        img_batch, label_batch = mnist_generateds.get_tfrecord(args.batch_size, isTrain=True, data_dir=args.data_dir,
                                                               seed=seed)
        num_examples = mnist_generateds.count_records(path)
        if not args.feed:
            return img_batch, tf.argmax(label_batch, 1), {}, None, num_examples
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), sess.run([img_batch, label_batch])))), \
            num_examples
    mnist = mnist_generateds.read_data_sets(args.data_dir, one_hot=True, seed=seed)
    train = mnist.train
    if args.batch_size > train.num_examples:
        raise SystemExit("error: --batch-size {} is larger than the {} training examples".format(
            args.batch_size, train.num_examples))
    if args.feed:
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), train.next_batch(args.batch_size)))), \
            train.num_examples
    x, labels, init_feed = in_graph_batches(train.images, np.argmax(train.labels, 1), args.batch_size,
                                            global_step, seed)
    return x, labels, init_feed, None, train.num_examples


def _placeholders():
    x = tf.placeholder(tf.float32, [None, mnist_forward.INPUT_NODE], name="x")
    y_ = tf.placeholder(tf.float32, [None, mnist_forward.OUTPUT_NODE], name="y_")
    return x, y_


# ---------------------------------------------------------------------------------------------------------
# Checkpoints, the status file and the model folder (mnist_test.py uses these too)
# ---------------------------------------------------------------------------------------------------------

def checkpoint_step(path):
    """The global step in a checkpoint name like .../mnist_model-1000 (None if it has none)."""
    tail = os.path.basename(path).rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def _files_present(path):
    folder, base = os.path.split(path)
    if not os.path.isfile(path + ".index"):
        return False
    try:
        return any(name.startswith(base + ".data-") for name in os.listdir(folder))
    except OSError:
        return False


def list_checkpoints(model_dir):
    """Complete checkpoints in model_dir, newest first.

    Only what the Saver's `checkpoint` file lists counts: the Saver rewrites that file (atomically)
    after a checkpoint's data and index are fully written, so a save cut short by SIGKILL is never
    listed. Files that have meanwhile disappeared are left out.
    """
    try:
        state = tf.train.get_checkpoint_state(model_dir)
    except Exception as e:  # a damaged `checkpoint` file: say so rather than crash
        print("warning: cannot read {}: {}".format(os.path.join(model_dir, "checkpoint"), e), file=sys.stderr)
        return []
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    paths = [p if os.path.isabs(p) else os.path.join(model_dir, p) for p in paths]
    paths = [p for p in paths if checkpoint_step(p) is not None and _files_present(p)]
    return sorted(paths, key=checkpoint_step, reverse=True)


def atomic_write_text(path, text):
    """Write text to path atomically (see mnist_generateds.atomic_path)."""
    with mnist_generateds.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_status(model_dir):
    """The training status dict of model_dir, or {} when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(model_dir, STATUS_FILE), encoding="utf-8") as f:
            status = json.load(f)
        return status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}


def write_status(model_dir, **fields):
    fields.update(pid=os.getpid(), host=socket.gethostname(),
                  updated=datetime.datetime.now().isoformat(timespec="seconds"))
    atomic_write_text(os.path.join(model_dir, STATUS_FILE), json.dumps(fields, indent=1, sort_keys=True) + "\n")


def training_alive(status):
    """True while the status says "running" and its process still exists on this machine."""
    if status.get("status") != "running" or status.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(status.get("pid", -1)), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def move_aside(model_dir):
    """Move everything in model_dir (but earlier moved runs) into previous/<time>/; returns that folder or None."""
    entries = [e for e in sorted(os.listdir(model_dir)) if e != PREVIOUS_DIR]
    if not entries:
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = os.path.join(model_dir, PREVIOUS_DIR, stamp)
    n = 1
    while os.path.exists(dest):
        n += 1
        dest = os.path.join(model_dir, PREVIOUS_DIR, "{}-{}".format(stamp, n))
    os.makedirs(dest)
    for e in entries:
        os.replace(os.path.join(model_dir, e), os.path.join(dest, e))
    return dest


def prepare_model_dir(args, stream):
    """Create the folder; refuse a folder another live training writes to; with --fresh move the old run aside."""
    try:
        os.makedirs(args.model_dir, exist_ok=True)
    except OSError as e:
        raise SystemExit("error: cannot create the model folder {}: {}".format(args.model_dir, e))
    status = read_status(args.model_dir)
    if training_alive(status) and int(status["pid"]) != os.getpid():
        raise SystemExit("error: another training (pid {}) is writing to {}; stop it first or choose "
                         "another --model-dir".format(status["pid"], args.model_dir))
    if args.fresh:
        dest = move_aside(args.model_dir)
        if dest:
            print("--fresh: moved the previous run to {}".format(dest), file=stream)
    return status


# ---------------------------------------------------------------------------------------------------------
# Signals and progress
# ---------------------------------------------------------------------------------------------------------

class StopRequest(object):
    """Turns the first Ctrl-C / SIGTERM into a request to stop after the current step.

    A second signal aborts at once (the last complete checkpoint is still safe on disk).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        try:
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        return False


def format_seconds(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "{}h{:02d}m{:02d}s".format(h, m, s) if h else "{}m{:02d}s".format(m, s) if m else "{}s".format(s)


class Progress(object):
    """Progress lines: every `log_every` steps a full line; on a terminal also a live line, redrawn in place."""

    LIVE_INTERVAL = 0.5

    def __init__(self, start, total, batch_size, log_every, stream):
        self.start, self.total, self.batch_size, self.log_every = start, total, batch_size, log_every
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.mark_time, self.mark_step = time.monotonic(), start
        self.next_live = self.mark_time + self.LIVE_INTERVAL
        self.rate = None  # steps per second, smoothed

    def wants_values(self, step):
        """Whether the step about to run (numbered step + 1 when done) should fetch loss and learning rate."""
        return (step + 1) % self.log_every == 0 or step + 1 == self.total or (
            self.tty and time.monotonic() >= self.next_live)

    def _update_rate(self, step):
        now = time.monotonic()
        if step > self.mark_step and now > self.mark_time:
            rate = (step - self.mark_step) / (now - self.mark_time)
            self.rate = rate if self.rate is None else 0.7 * self.rate + 0.3 * rate
            self.mark_time, self.mark_step = now, step

    def text(self, step, loss, lr):
        eta = (self.total - step) / self.rate if self.rate else None
        speed = self.rate * self.batch_size if self.rate else 0
        return ("After {} training step(s), loss on training batch is {:g}. (lr {:.4g}, {:.0f} examples/s, "
                "ETA {})".format(step, loss, lr, speed, format_seconds(eta)))

    def report(self, step, loss, lr):
        self._update_rate(step)
        if step % self.log_every == 0 or step == self.total:
            self.stream.write(("\r\033[K" if self.tty else "") + self.text(step, loss, lr) + "\n")
        elif self.tty:
            pct = 100.0 * step / self.total
            self.stream.write("\r\033[K[{:5.1f}%] ".format(pct) + self.text(step, loss, lr))
        self.next_live = time.monotonic() + self.LIVE_INTERVAL
        self.stream.flush()

    def clear(self):
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------------------

WARMUP_STEPS = 20  # steps left out of the measured speed (graph optimisation, caches)
SCHEDULE_KEYS = ("model", "batch_size", "learning_rate_base", "learning_rate_decay", "optimizer", "data")


def run_config(spec, args, seed):
    return dict(model=spec.name, batch_size=args.batch_size, learning_rate_base=args.learning_rate_base,
                learning_rate_decay=args.learning_rate_decay, regularizer=args.regularizer,
                moving_average_decay=args.moving_average_decay, optimizer=args.optimizer, data=args.data,
                seed=seed)


def resolve_seed(args, old_status):
    """--seed; else the seed of the run being resumed (same batch order); else DEFAULT_SEED."""
    if args.seed is not None:
        return args.seed
    old = old_status.get("config", {}).get("seed")
    if not args.fresh and isinstance(old, int):
        return old
    return DEFAULT_SEED


def check_compatible(path, var_list, model_dir, spec):
    """Stop with a clear message when the checkpoint was written by another network."""
    shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    for v in var_list:
        name = v.op.name
        if name not in shapes or list(shapes[name]) != v.shape.as_list():
            raise SystemExit(
                "error: the checkpoint {} does not fit the {} model ({} {}). It was written by another network "
                "or other settings. Use another --model-dir, or --fresh to start afresh (the old run is moved to "
                "{}/).".format(path, spec.name, name, "is missing" if name not in shapes else
                               "has shape {} not {}".format(shapes[name], v.shape.as_list()),
                               os.path.join(model_dir, PREVIOUS_DIR)))


def restore_latest(sess, saver, var_list, args, spec, stream):
    """Restore the newest readable checkpoint; returns its step (0 when there is none)."""
    found = list_checkpoints(args.model_dir)
    # The Saver then keeps pruning the older checkpoints of this run (max_to_keep), not only its own.
    saver.set_last_checkpoints_with_time([(p, os.path.getmtime(p + ".index")) for p in found[::-1]])
    for path in found:
        try:
            check_compatible(path, var_list, args.model_dir, spec)
            saver.restore(sess, path)
        except (tf.errors.NotFoundError, tf.errors.DataLossError, tf.errors.OutOfRangeError, ValueError) as e:
            print("warning: skipping unreadable checkpoint {} ({})".format(
                path, str(getattr(e, "message", e)).splitlines()[0]), file=stream)
            continue
        step = int(sess.run(tf.train.get_global_step()))
        print("resumed from step {} ({})".format(step, path), file=stream)
        return step
    return 0


def warn_schedule_change(old_status, config, stream):
    old = old_status.get("config", {})
    changed = [k for k in SCHEDULE_KEYS if k in old and old[k] != config[k]]
    if changed:
        print("warning: resuming with other settings than the saved run ({}); the learning-rate schedule and "
              "results will differ from an uninterrupted run".format(
                  ", ".join("{} {} -> {}".format(k, old[k], config[k]) for k in changed)), file=stream)


def run_steps(sess, ops, args, start, feed_fn, saver, writer, stop, progress):
    """The hot loop: one sess.run per step; loss and summaries are fetched only on the steps that show them.

    Returns (last step, last saved step, measured steps per second or None).
    """
    save_path = os.path.join(args.model_dir, args.model_name)
    step, last_saved, t_warm, warm_step = start, start, None, None
    extra = [ops["train_op"], ops["loss"], ops["learning_rate"]]
    # A callable skips sess.run's per-call work of parsing fetches; the plain steps are nearly all steps.
    basic = None if feed_fn else sess.make_callable(ops["train_op"])
    while step < args.steps and stop.signum is None:
        show = progress.wants_values(step)
        summarize = (step + 1) % args.summary_every == 0
        if basic is not None and not (show or summarize):
            basic()
            out = ()
        else:
            fetches = extra + [ops["summary"]] if summarize else extra if show else [ops["train_op"]]
            out = sess.run(fetches, feed_fn(sess) if feed_fn else None)
        step += 1
        if len(out) > 1 and not math.isfinite(out[1]):
            progress.clear()
            raise SystemExit("error: the loss became {} at step {}; lower --learning-rate-base. The last good "
                             "checkpoint (step {}) is kept.".format(out[1], step, last_saved))
        if summarize:
            writer.add_summary(out[3], step)
        if show:
            progress.report(step, out[1], out[2])
        if step % args.save_every == 0 and step < args.steps:
            saver.save(sess, save_path, global_step=step)
            last_saved = step
        if step - start == WARMUP_STEPS:
            t_warm, warm_step = time.perf_counter(), step
    rate = (step - warm_step) / (time.perf_counter() - t_warm) if t_warm and step > warm_step else None
    return step, last_saved, rate


def build_graph(spec, args, seed):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        global_step = tf.train.get_or_create_global_step()
        x, labels, init_feed, feed_fn, num_examples = build_input(args, global_step, seed)
        ops = build_train_ops(spec, args, x, labels, global_step, num_examples)
        ops["var_list"] = tf.global_variables()
        ops["saver"] = tf.train.Saver(max_to_keep=args.max_to_keep, save_relative_paths=True)
        ops["init"] = [tf.global_variables_initializer(), tf.local_variables_initializer()]
    graph.finalize()  # nothing may add ops inside the loop (that would slow every step)
    return graph, ops, init_feed, feed_fn


def train(spec, args, stream=None):
    """Train (or resume) as args say. Returns a dict: step, status, signal, steps_per_sec."""
    stream = stream or sys.stdout
    old_status = prepare_model_dir(args, stream)
    seed = resolve_seed(args, old_status)
    config = run_config(spec, args, seed)
    # Claim the folder at once: a mnist_test started now waits for this run's first checkpoint.
    write_status(args.model_dir, status="running", step=old_status.get("step", 0) if not args.fresh else 0,
                 steps=args.steps, config=config)
    try:
        return _train(spec, args, stream, old_status, seed, config)
    except BaseException as e:  # say in the status file that no training runs here any more
        failed = not isinstance(e, KeyboardInterrupt)
        write_status(args.model_dir, status="failed" if failed else "interrupted",
                     step=read_status(args.model_dir).get("step"), steps=args.steps, config=config,
                     error=str(e)[:500] if failed else None)
        raise


def _train(spec, args, stream, old_status, seed, config):
    graph, ops, init_feed, feed_fn = build_graph(spec, args, seed)
    with tf.Session(graph=graph) as sess:
        sess.run(ops["init"], init_feed)
        start = restore_latest(sess, ops["saver"], ops["var_list"], args, spec, stream)
        if start:
            warn_schedule_change(old_status, config, stream)
        if start >= args.steps:
            print("{} is already trained to step {} (--steps {}): nothing to do. Raise --steps to train on, or use "
                  "--fresh to start afresh.".format(args.model_dir, start, args.steps), file=stream)
            write_status(args.model_dir, status="finished", step=start, steps=args.steps, config=config)
            return dict(step=start, status="finished", signal=None, steps_per_sec=None)
        write_status(args.model_dir, status="running", step=start, steps=args.steps, config=config)
        print("training {}: steps {} -> {}, batch {}, seed {}, {} input, model dir {}".format(
            spec.name, start, args.steps, args.batch_size, seed,
            ("feed_dict" if args.feed else "in-graph") + (" tfrecords" if args.data == "tfrecords" else ""),
            args.model_dir), file=stream)
        writer = tf.summary.FileWriter(args.model_dir, graph if start == 0 else None)
        # Tells TensorBoard to drop points logged after `start` by a run that died before its next checkpoint.
        writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), start)
        progress = Progress(start, args.steps, args.batch_size, args.log_every, stream)
        with StopRequest() as stop:
            step, last_saved, rate = run_steps(sess, ops, args, start, feed_fn, ops["saver"], writer, stop, progress)
            progress.clear()
            if step > last_saved:  # the final checkpoint, also when stopped by a signal
                ops["saver"].save(sess, os.path.join(args.model_dir, args.model_name), global_step=step)
            writer.close()
            done = step >= args.steps
            # Written last: mnist_test exits once "finished" names a checkpoint it has evaluated.
            write_status(args.model_dir, status="finished" if done else "interrupted", step=step, steps=args.steps,
                         config=config)
    if done:
        print("finished: step {}, checkpoint {}-{} in {}".format(step, args.model_name, step, args.model_dir),
              file=stream)
    else:
        print("stopped by signal {} at step {}; checkpoint saved. Run the same command again to resume.".format(
            stop.signum, step), file=stream)
    return dict(step=step, status="finished" if done else "interrupted", signal=stop.signum, steps_per_sec=rate)


def main(argv=None, spec=FC):
    missing = [k for k in REQUIRED_DEFAULTS if k not in spec.defaults]
    if missing:
        raise ValueError("ModelSpec {!r} lacks defaults {}".format(spec.name, missing))
    args = build_parser(spec).parse_args(argv)
    check_args(args)
    tf.get_logger().setLevel("ERROR")  # TF's own deprecation notices (e.g. from the Saver) are not for students
    args.model_dir = os.path.abspath(args.model_dir)
    try:
        result = train(spec, args)
    except KeyboardInterrupt:  # Ctrl-C before the loop started, or a second one while saving
        print("\ninterrupted; the last complete checkpoint (if any) is kept.", file=sys.stderr)
        return 130
    except mnist_generateds.DataError as e:  # missing or damaged data files: the message says what to do
        print("error: {}".format(e), file=sys.stderr)
        return 1
    return 128 + result["signal"] if result["signal"] else 0


if __name__ == "__main__":
    sys.exit(main())
