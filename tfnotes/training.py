"""What the course's back propagation lacked, for every lesson's backward(): the training flags, and Run.

The recipe itself (forward, loss, decaying learning rate, optimizer, moving average, Saver, session loop)
is written out in each training script's backward(); Run adds, one call each: batches made inside the
graph (or the course's feed_dict), --augment, --optimizer, TensorBoard summaries, several steps per
session call, --precision bf16, resume, and the loop's progress lines, Ctrl-C/SIGTERM and status file.

Speed: where the batches are made inside the graph and the step draws no random numbers, up to
STEPS_PER_CALL plain steps run in one session call (a tf.while_loop that builds the script's step
again); --precision bf16 runs the session with bfloat16 mixed precision (tfnotes.precision).
"""
import argparse
import contextlib
import math
import os
import sys
import time

import numpy as np

from tfnotes import augment, data, precision
from tfnotes.batches import MNIST_MIX, augment_knobs, build_input, knob_flags, with_augment
from tfnotes.checkpoints import (
    PREVIOUS_DIR,
    check_compatible,
    checkpoint_step,
    list_checkpoints,
    newest_first,
    prepare_model_dir,
    read_status,
    write_status,
)
from tfnotes.cli import HelpFormatter
from tfnotes.errors import ConfigError, TrainingError, TrainingInterrupted, UnreadableCheckpoints
from tfnotes.models import MINE_SUFFIX
from tfnotes.progress import Progress, StopRequest
from tfnotes.tfenv import tf

SAVE_EVERY = 1000        # steps between checkpoints
LOG_EVERY = 1000         # steps between progress lines (the course printed every 1000)
SUMMARY_EVERY = 100      # steps between TensorBoard points
MAX_TO_KEEP = 5          # checkpoints kept by the Saver (TF's default)
DEFAULT_SEED = 1         # a fixed default, so the plain command gives the same run (and figures) every time
WARMUP_STEPS = 20        # steps left out of the measured speed (graph optimisation, caches); the benchmarks set it
STEPS_PER_CALL = 100     # training steps per session call (a loop inside the graph), where the input allows
SCHEDULE_KEYS = ("model", "batch_size", "learning_rate_base", "learning_rate_decay", "optimizer", "data",
                 "precision", "augment", "own_data", "mnist_mix")
# Stateful random ops: a step holding one (dropout) draws other numbers inside a loop than in single steps.
STATEFUL_RANDOM_OPS = ("RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal",
                       "Multinomial", "RandomShuffle", "RandomGamma", "RandomPoissonV2")
# The constants each training script defines; they are its flags' defaults.
COURSE_CONSTANTS = ("BATCH_SIZE", "LEARNING_RATE_BASE", "LEARNING_RATE_DECAY", "REGULARIZER", "STEPS",
                    "MOVING_AVERAGE_DECAY", "MODEL_NAME")


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------

def build_parser(spec, constants):
    """The training flags of `spec`'s script; `constants` (the script's globals()) holds COURSE_CONSTANTS."""
    missing = [k for k in COURSE_CONSTANTS if k not in constants]
    if missing:
        raise ValueError(f"the {spec.name} training script lacks the constants {missing}")
    d = {k: constants[k] for k in COURSE_CONSTANTS}
    p = argparse.ArgumentParser(description=f"Train the {spec.name} MNIST model.",
                                formatter_class=HelpFormatter)
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
    p.add_argument("--model-dir", default=None,
                   help=f"checkpoints, summaries and status go here (default: {spec.model_dir}; with --init-from, "
                        f"{spec.model_dir}{MINE_SUFFIX})")
    p.add_argument("--model-name", default=d["MODEL_NAME"], help="checkpoint file prefix (MODEL_NAME)")
    p.add_argument("--fresh", action="store_true",
                   help="start from step 0; an existing run is moved to MODEL_DIR/previous/<time>/, never deleted")
    p.add_argument("--save-every", type=int, default=SAVE_EVERY, help="steps between checkpoints")
    p.add_argument("--max-to-keep", type=int, default=MAX_TO_KEEP, help="newest checkpoints kept")
    p.add_argument("--log-every", type=int, default=LOG_EVERY, help="steps between progress lines")
    p.add_argument("--summary-every", type=int, default=SUMMARY_EVERY, help="steps between TensorBoard points")
    p.add_argument("--data", choices=("arrays", "tfrecords"), default="arrays",
                   help="arrays: MNIST in memory; tfrecords: data/mnist_train.tfrecords (python mnist_generateds.py)")
    p.add_argument("--data-dir", default=None, help=data.DATA_DIR_HELP)
    p.add_argument("--feed", action="store_true",
                   help="the course's placeholder + feed_dict input (slower); default: batches made inside the graph")
    p.add_argument("--precision", choices=precision.PRECISIONS, default=precision.DEFAULT,
                   help=precision.PRECISION_HELP)
    p.add_argument("--steps-per-call", type=int, default=None,
                   help="training steps per session call, run by a loop inside the graph (progress lines, summaries "
                        f"and checkpoints stay on their steps) (default: {STEPS_PER_CALL} with in-graph batches when "
                        "the step draws no random numbers, as the fully connected network's; else 1: LeNet-5's "
                        "dropout, --feed, --data tfrecords)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for weights, batch order, dropout and augmentation; the same seed gives the same "
                        f"losses on a CPU (default: the resumed run's own seed, else DEFAULT_SEED = {DEFAULT_SEED})")
    add_augment_flags(p)
    add_finetune_flags(p)
    return p


def add_finetune_flags(p):
    """Fine-tuning on your own handwriting: start from a trained model, mix your digits into every batch."""
    p.add_argument("--init-from", metavar="DIR", default=None,
                   help="start from the weights (and their moving averages) of the newest checkpoint in DIR, a "
                        "trained model of this network; DIR is only read, and the run goes to its own --model-dir "
                        "(default: start from random weights)")
    p.add_argument("--own-data", metavar="PATH", default=None,
                   help="your own digits, mixed into every batch: a TFRecord file (python mnist_generateds.py "
                        "tfrecords ...) or an image folder with its label file PATH.txt (default: MNIST only)")
    p.add_argument("--mnist-mix", type=float, default=MNIST_MIX,
                   help="with --own-data: the share of each batch taken from MNIST, so the network does not forget "
                        "MNIST while it learns your digits")


def add_augment_flags(p):
    """--augment and its knobs (tfnotes/augment.py); off by default, so the course's runs stay as they are."""
    d = augment.DEFAULT
    p.add_argument("--augment", action="store_true",
                   help="vary each training image inside the graph (rotation, scale, shift, shear, pen width), "
                        "for a model that reads real handwriting better")
    p.add_argument("--augment-rotate", type=float, default=d.rotate, help="degrees of rotation, either way")
    p.add_argument("--augment-scale", type=float, default=d.scale, help="size change, as a share, either way")
    p.add_argument("--augment-shift", type=float, default=d.shift, help="pixels of shift, either way")
    p.add_argument("--augment-shear", type=float, default=d.shear, help="horizontal shear (slant), either way")
    p.add_argument("--augment-thicken", type=float, default=d.thicken,
                   help="share of the images drawn one pixel thicker")
    p.add_argument("--augment-thin", type=float, default=d.thin, help="share of the images drawn one pixel thinner")
    p.add_argument("--show-augment", metavar="PNG", default=None,
                   help="write a grid of augmented training images to PNG and exit, no training (default: train)")


def check_args(args):
    """Reject values that cannot train, naming the flag."""
    positive = {"--steps": args.steps, "--batch-size": args.batch_size, "--save-every": args.save_every,
                "--log-every": args.log_every, "--summary-every": args.summary_every,
                "--max-to-keep": args.max_to_keep, "--learning-rate-base": args.learning_rate_base}
    for flag, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{flag} must be positive, got {value}")
    for flag, value in {"--learning-rate-decay": args.learning_rate_decay,
                        "--moving-average-decay": args.moving_average_decay}.items():
        if not 0 < value <= 1:
            raise ConfigError(f"{flag} must be in (0, 1], got {value}")
    if args.regularizer < 0:
        raise ConfigError(f"--regularizer must be >= 0, got {args.regularizer}")
    if args.steps_per_call is not None and args.steps_per_call < 1:
        raise ConfigError(f"--steps-per-call must be positive, got {args.steps_per_call}")
    if (args.steps_per_call or 1) > 1 and (args.feed or args.data == "tfrecords"):
        raise ConfigError("--steps-per-call above 1 needs the in-graph batches: not with --feed or --data tfrecords")
    knobs = knob_flags(args)
    for flag, value in zip(("--augment-rotate", "--augment-scale", "--augment-shift", "--augment-shear",
                            "--augment-thicken", "--augment-thin"), knobs):
        if value < 0:
            raise ConfigError(f"{flag} must be >= 0, got {value}")
    if knobs.thicken + knobs.thin > 1 or knobs.scale >= 1:
        raise ConfigError("--augment-thicken + --augment-thin must be at most 1, and --augment-scale below 1")
    check_finetune_args(args)


def check_finetune_args(args):
    """--init-from, --own-data and --mnist-mix: refused where they cannot work, naming the flag."""
    if args.init_from is not None:
        if not os.path.isdir(args.init_from):
            raise ConfigError(f"--init-from {args.init_from}: no such folder; give the folder of a trained model")
        if os.path.abspath(args.init_from) == os.path.abspath(args.model_dir):
            raise ConfigError(f"--init-from {args.init_from} is the --model-dir too: the model you start from is never "
                              f"written to; give another --model-dir (default: DIR{MINE_SUFFIX})")
    if args.own_data is not None:
        if args.feed or args.data == "tfrecords":
            raise ConfigError("--own-data is mixed into the batches made inside the graph: not with --feed or "
                              "--data tfrecords")
        if not 0 <= args.mnist_mix < 1:
            raise ConfigError(f"--mnist-mix must be at least 0 and below 1, got {args.mnist_mix}")


# ---------------------------------------------------------------------------------------------------------
# Graph: input, loss, training step
# ---------------------------------------------------------------------------------------------------------

def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "gd":
        return tf.train.GradientDescentOptimizer(learning_rate)
    if name == "momentum":
        return tf.train.MomentumOptimizer(learning_rate, momentum)
    if name == "adam":
        return tf.train.AdamOptimizer(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: choose gd, momentum or adam")


def draws_random_numbers(tensor):
    """Whether computing `tensor` runs a stateful random op (dropout): a loop would draw other numbers."""
    seen, todo = set(), [tensor.op]
    while todo:
        op = todo.pop()
        if op.type in STATEFUL_RANDOM_OPS:
            return True
        for t in op.inputs:
            if t.op not in seen:
                seen.add(t.op)
                todo.append(t.op)
    return False


def resolve_steps_per_call(args, batch_at, loss):
    """--steps-per-call; else STEPS_PER_CALL where a loop in the graph gives exactly the plain steps' numbers."""
    if args.steps_per_call is not None:
        return args.steps_per_call
    return 1 if batch_at is None or draws_random_numbers(loss) else STEPS_PER_CALL


# ---------------------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------------------

def run_config(spec, args, seed):
    return dict(model=spec.name, batch_size=args.batch_size, learning_rate_base=args.learning_rate_base,
                learning_rate_decay=args.learning_rate_decay, regularizer=args.regularizer,
                moving_average_decay=args.moving_average_decay, optimizer=args.optimizer, data=args.data,
                precision=args.precision, augment=knobs_dict(args), seed=seed, init_from=args.init_from,
                own_data=args.own_data and os.path.abspath(args.own_data),
                mnist_mix=args.mnist_mix if args.own_data else None)


def knobs_dict(args):
    knobs = augment_knobs(args)
    return None if knobs is None else knobs._asdict()


def resolve_seed(args, old_status):
    """--seed; else the seed of the run being resumed (same batch order); else DEFAULT_SEED."""
    if args.seed is not None:
        return args.seed
    old = old_status.get("config", {}).get("seed")
    if not args.fresh and isinstance(old, int):
        return old
    return DEFAULT_SEED


def initialize_from(sess, folder, spec, stream):
    """--init-from: the weights and their moving averages of the newest readable checkpoint in `folder` (read only);
    the global step, the optimizer's slots and the data's order start afresh. Returns the checkpoint's path."""
    model_vars = [v for v in tf.global_variables()
                  if v in tf.trainable_variables() or v.op.name.endswith("/ExponentialMovingAverage")]
    saver = tf.train.Saver(model_vars)
    found = list_checkpoints(folder)
    if not found:
        raise ConfigError(f"--init-from {folder}: no checkpoint there; train that model first ({spec.train_command} "
                          f"--model-dir {folder})")
    for path, attempt in newest_first(found, spec, folder, stream):
        with attempt:
            check_compatible(path, model_vars, folder, spec)
            saver.restore(sess, path)
            print(f"starting from the weights of {path} (step {checkpoint_step(path)}); {folder} is only read",
                  file=stream)
            return path


def warn_schedule_change(old_status, config, stream):
    old = old_status.get("config", {})
    if old and "precision" not in old:  # written before --precision existed: such runs were float32
        old = dict(old, precision=precision.DEFAULT)
    changed = [k for k in SCHEDULE_KEYS if k in old and old[k] != config[k]]
    if changed:
        changes = ", ".join(f"{k} {old[k]} -> {config[k]}" for k in changed)
        print(f"warning: resuming with other settings than the saved run ({changes}); the learning-rate schedule "
              "and results will differ from an uninterrupted run", file=stream)


def plain_steps_ahead(step, args, limit):
    """How many steps after `step` can run in one call: none shows values, a checkpoint may follow the last."""
    def upcoming(every):  # the first step number after `step` that is a multiple of `every`
        return (step // every + 1) * every

    fetch = min(upcoming(args.log_every), upcoming(args.summary_every), args.steps)
    return max(0, min(fetch - 1, upcoming(args.save_every), step + limit) - step)


def make_runner(sess, ops, feed_fn):
    """run(show, summarize, ahead) -> (steps done, fetched values): one session call.

    It runs `ahead` plain steps in the loop of the graph where there is one and ahead > 1, else one step,
    fetching loss and learning rate when `show` and also the summary when `summarize`.
    """
    extra = [ops["train_op"], ops["loss"], ops["learning_rate"]]
    # A callable skips sess.run's per-call work of parsing fetches; the plain steps are nearly all steps.
    basic = None if feed_fn else sess.make_callable(ops["train_op"])
    loop = sess.make_callable(ops["multi_step"], [ops["multi_steps"]]) if "multi_step" in ops else None

    def run(show, summarize, ahead):
        if loop is not None and ahead > 1:
            loop(ahead)
            return ahead, ()
        if basic is not None and not (show or summarize):
            basic()
            return 1, ()
        fetches = extra + [ops["summary"]] if summarize else extra if show else [ops["train_op"]]
        return 1, sess.run(fetches, feed_fn(sess) if feed_fn else None)

    return run


def hot_loop(sess, ops, args, start, feed_fn, stop, progress, writer):
    """The steps from `start` to --steps (or a stop request): plain steps in calls of up to ops["steps_per_call"]
    steps, and a call of its own for each step that shows values; loss and summaries are fetched only on the
    steps that show them. A generator: it yields each step after which a checkpoint is due (--save-every),
    and returns (last step, last step yielded, measured steps per second or None).
    """
    step, last_saved, t_warm, warm_step = start, start, None, None
    warm_end = start + WARMUP_STEPS  # a call ends there, so the speed is timed from exactly that step
    run = make_runner(sess, ops, feed_fn)
    while step < args.steps and stop.signum is None:
        show = progress.wants_values(step)
        summarize = (step + 1) % args.summary_every == 0
        limit = ops["steps_per_call"] if step >= warm_end else min(ops["steps_per_call"], warm_end - step)
        ahead = 0 if show or summarize else plain_steps_ahead(step, args, limit)
        done, out = run(show, summarize, ahead)
        step += done
        if len(out) > 1 and not math.isfinite(out[1]):
            progress.clear()
            raise TrainingError(f"the loss became {out[1]} at step {step}; lower --learning-rate-base. The last "
                                f"good checkpoint (step {last_saved}) is kept.")
        if summarize:
            writer.add_summary(out[3], step)
        if show:
            progress.report(step, out[1], out[2])
        if step % args.save_every == 0 and step < args.steps:
            yield step
            last_saved = step
        if t_warm is None and step - start >= WARMUP_STEPS:
            t_warm, warm_step = time.perf_counter(), step
    rate = (step - warm_step) / (time.perf_counter() - t_warm) if t_warm and step > warm_step else None
    return step, last_saved, rate


@contextlib.contextmanager
def own_collection(name):
    """Inside the block the graph's collection `name` is empty, and afterwards as it was: a step built again
    inside a loop adds up only its own L2 terms (tf.get_collection("losses")), not the plain step's too."""
    ref = tf.get_default_graph().get_collection_ref(name)
    saved = list(ref)
    del ref[:]
    try:
        yield
    finally:
        ref[:] = saved


def build_multi_step(one_step, batch_at, global_step):
    """(steps placeholder, op): the op runs that many training steps in one session call, in a tf.while_loop.

    Each pass builds one_step(x, y_) again, the script's own step, which returns its train_op last: with
    the variables reused, it updates the same weights, optimizer slots and moving averages as the plain
    train_op, on the batch batch_at built for its step, one pass after the other. The batch of the next step
    (with --augment, the costly part) is built while the current one trains: the two do not depend on each
    other, so the graph's executor runs them side by side, and the numbers stay those of the plain steps.
    """
    steps = tf.placeholder(tf.int32, [], name="steps_per_call")

    def body(i, x, labels):
        with own_collection("losses"):
            train_op = one_step(x, labels)[-1]
        # After this step's batch is complete: two batches built at once could both start a new epoch's
        # shuffle, and one could read the order while the other writes it.
        with tf.control_dependencies([x, labels]):
            next_x, next_labels = batch_at(first + tf.cast(i, tf.int64) + 1)
        with tf.control_dependencies([train_op, next_x, next_labels]):
            return i + 1, tf.identity(next_x), tf.identity(next_labels)

    with tf.name_scope("multi_step"), tf.variable_scope(tf.get_variable_scope(), reuse=True):
        first = tf.cast(tf.identity(global_step), tf.int64)
        x, labels = batch_at(first)
        loop = tf.while_loop(lambda i, *_: i < steps, body, [tf.constant(0), x, labels], parallel_iterations=1,
                             back_prop=False)
    return steps, tf.group(*loop)


# ---------------------------------------------------------------------------------------------------------
# The run: what a lesson's backward() adds to the course's graph and session loop
# ---------------------------------------------------------------------------------------------------------

class Run:
    """One training run of a lesson script: each method is one thing the course lacked, called by backward().

        with Run(spec, args) as run:       the model folder (--fresh), the seed (--seed, or the resumed run's),
                                           the status file that mnist_test.py follows; a failure or a second
                                           Ctrl-C is written there on the way out
        run.batches()                      the inputs x, y_: each step's batch made inside the graph
        run.augment(x)                     --augment
        run.optimizer(learning_rate)       --optimizer, one optimizer for every step built
        run.summaries(y, y_, loss, lr)     TensorBoard summaries
        run.multi_step(one_step, loss)     several steps per session.run
        run.session_config                 --precision bf16
        run.restore_or_initialize(...)     resume
        run.steps(sess, ...)               progress and ETA, Ctrl-C/SIGTERM, summaries; yields the steps to save

    Afterwards: step, status ("finished" or "interrupted"), signal, steps_per_sec, exit_code, and the
    graph with its ops (graph, ops, init_feed, feed_fn) for tests and benchmarks.
    """

    def __init__(self, spec, args, stream=None):
        check_args(args)
        self.spec, self.args, self.stream = spec, args, stream or sys.stdout
        self.session_config = precision.session_config(args.precision)  # refuses bf16 where it cannot run
        self.old_status = prepare_model_dir(args.model_dir, args.fresh, self.stream)
        self.seed = resolve_seed(args, self.old_status)
        self.config = run_config(spec, args, self.seed)
        # Claim the folder at once: a mnist_test started now waits for this run's first checkpoint.
        write_status(args.model_dir, status="running", step=0 if args.fresh else self.old_status.get("step", 0),
                     steps=args.steps, config=self.config)
        self.graph = self.global_step = self.init_feed = self.feed_fn = self.batch_at = self.num_examples = None
        self.ops, self.steps_per_call, self._rates, self._optimizer = {}, 1, [], None
        self.start = self.step = 0
        self.status, self.signal, self.steps_per_sec, self.exit_code = "running", None, None, 1

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None:
            return False
        failed = not isinstance(error, KeyboardInterrupt)  # say in the status file that no training runs here
        write_status(self.args.model_dir, status="failed" if failed else "interrupted",
                     step=read_status(self.args.model_dir).get("step"), steps=self.args.steps, config=self.config,
                     error=str(error)[:500] if failed else None)
        if not failed:
            raise TrainingInterrupted() from None
        return False

    def batches(self):
        """(x, y_): the inputs, y_ as integer labels. Each step's batch is sliced inside the graph from the step
        number (--feed: the course's placeholders, fed each step; --data tfrecords: the TFRecord reader of
        mnist_generateds.py). Makes the global step first, as it picks the batch."""
        self.global_step = tf.train.get_or_create_global_step()
        x, y_, self.init_feed, self.feed_fn, self.num_examples, self.batch_at = build_input(
            self.args, self.global_step, self.seed)
        return x, y_

    def augment(self, x):
        """--augment: each training image varied inside the graph, drawn from (seed, step); x as it is without."""
        x, self.batch_at = with_augment(self.args, self.seed, self.global_step, x, self.batch_at)
        return x

    def optimizer(self, learning_rate):
        """The graph's one optimizer (--optimizer; gd is the course's GradientDescentOptimizer), set to the
        learning rate of the step being built. One for every step built, so that a step built again inside
        the loop of multi_step() updates the same slots (momentum, Adam's moments) as the plain step."""
        self._rates.append(learning_rate)
        if self._optimizer is None:  # it reads a callable learning rate when it builds each update
            self._optimizer = make_optimizer(self.args.optimizer, lambda: self._rates[-1], self.args.momentum)
        return self._optimizer

    def summaries(self, y, y_, loss, learning_rate):
        """The TensorBoard summary op: loss, learning rate and the batch's accuracy (in the model folder)."""
        with tf.name_scope("accuracy"):
            correct = tf.equal(tf.argmax(y, 1, output_type=tf.int32), tf.cast(y_, tf.int32))
            accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
        self.ops["summary"] = tf.summary.merge([tf.summary.scalar("loss", loss),
                                                tf.summary.scalar("learning_rate", learning_rate),
                                                tf.summary.scalar("train_accuracy", accuracy)])
        return self.ops["summary"]

    def multi_step(self, one_step, loss):
        """Several training steps per session.run (--steps-per-call): a tf.while_loop that builds one_step again
        for each step. By default only where it gives exactly the plain steps' numbers: in-graph batches, and
        a step that draws no random numbers (LeNet-5's dropout does)."""
        self.steps_per_call = resolve_steps_per_call(self.args, self.batch_at, loss)
        if self.steps_per_call > 1:
            self.ops["multi_steps"], self.ops["multi_step"] = build_multi_step(one_step, self.batch_at,
                                                                               self.global_step)

    def restore_or_initialize(self, sess, saver, init_op):
        """Resume: run init_op (and fill the in-graph data set), then restore the newest readable checkpoint of
        the model folder, an older one where it is damaged. Returns its step (0 for a new run)."""
        args = self.args
        self.graph = sess.graph
        self.ops["init"] = [init_op, tf.local_variables_initializer()]
        sess.run(self.ops["init"], self.init_feed)
        found = list_checkpoints(args.model_dir)
        # The Saver then keeps pruning the older checkpoints of this run (max_to_keep), not only its own.
        saver.set_last_checkpoints_with_time([(p, os.path.getmtime(p + ".index")) for p in found[::-1]])
        for path, attempt in newest_first(found, self.spec, args.model_dir, self.stream, required=False):
            with attempt:
                check_compatible(path, tf.global_variables(), args.model_dir, self.spec)
                saver.restore(sess, path)
                self.start = int(sess.run(self.global_step))
                print(f"resumed from step {self.start} ({path})", file=self.stream)
                warn_schedule_change(self.old_status, self.config, self.stream)
                return self.start
        if found:  # starting afresh would let the Saver prune them: refuse, and say what to do
            raise UnreadableCheckpoints(f"none of the {len(found)} checkpoints in {args.model_dir} can be read (named "
                                        "above); use --fresh to start afresh (the old files are moved to "
                                        f"{os.path.join(args.model_dir, PREVIOUS_DIR)}/)")
        if args.init_from is not None:
            initialize_from(sess, args.init_from, self.spec, self.stream)
        return 0

    def steps(self, sess, train_op, loss, learning_rate):
        """The session loop up to --steps: yields each step after which a checkpoint is due (every --save-every
        steps, and the last one, also when Ctrl-C or SIGTERM stopped the run), for the caller to save.

        What the course's loop lacked happens here: several steps per session call, a progress line with
        loss, learning rate, examples/s and ETA, TensorBoard summaries, a first Ctrl-C or SIGTERM that stops
        after the current call (saved, resumable), and a loss that is no longer finite.
        """
        args = self.args
        if self.start >= args.steps:
            print(f"{args.model_dir} is already trained to step {self.start} (--steps {args.steps}): nothing to do. "
                  "Raise --steps to train on, or use --fresh to start afresh.", file=self.stream)
            write_status(args.model_dir, status="finished", step=self.start, steps=args.steps, config=self.config)
            self._finish(self.start, None, None, say=False)
            return
        write_status(args.model_dir, status="running", step=self.start, steps=args.steps, config=self.config)
        self._announce()
        sess.graph.finalize()  # nothing may add ops inside the loop (that would slow every step)
        self.ops.update(train_op=train_op, loss=loss, learning_rate=learning_rate, steps_per_call=self.steps_per_call)
        writer = tf.summary.FileWriter(args.model_dir, sess.graph if self.start == 0 else None)
        # Tells TensorBoard to drop points logged after `start` by a run that died before its next checkpoint.
        writer.add_session_log(tf.SessionLog(status=tf.SessionLog.START), self.start)
        progress = Progress(self.start, args.steps, args.batch_size, args.log_every, self.stream)
        with StopRequest() as stop:
            step, last_saved, rate = yield from hot_loop(sess, self.ops, args, self.start, self.feed_fn, stop,
                                                         progress, writer)
            progress.clear()
            if step > last_saved:  # the final checkpoint, also when stopped by a signal
                yield step
            writer.close()
            # Written last: mnist_test exits once "finished" names a checkpoint it has evaluated.
            write_status(args.model_dir, status="finished" if step >= args.steps else "interrupted", step=step,
                         steps=args.steps, config=self.config)
        self._finish(step, stop.signum, rate)

    def _announce(self):
        args = self.args
        source = ("feed_dict" if args.feed else "in-graph") + (" tfrecords" if args.data == "tfrecords" else "")
        print(f"training {self.spec.name}: steps {self.start} -> {args.steps}, batch {args.batch_size}, seed "
              f"{self.seed}, {source} input, {precision.describe(args.precision)}, up to {self.steps_per_call} "
              f"step(s) per call, model dir {args.model_dir}", file=self.stream)

    def _finish(self, step, signum, rate, say=True):
        done = step >= self.args.steps
        if say:
            if done:
                print(f"finished: step {step}, checkpoint {self.args.model_name}-{step} in {self.args.model_dir}",
                      file=self.stream)
            else:
                print(f"stopped by signal {signum} at step {step}; checkpoint saved. Run the same command again to "
                      "resume.", file=self.stream)
        self.step, self.status, self.signal, self.steps_per_sec = step, "finished" if done else "interrupted", \
            signum, rate
        # A run stopped by a signal exits as the shell expects of that signal (130 for Ctrl-C, 143 for SIGTERM).
        self.exit_code = 128 + signum if signum else 0


def parse_args(spec, constants, argv=None):
    """The script's flags (build_parser) parsed, with the model folder made absolute."""
    args = build_parser(spec, constants).parse_args(argv)
    if args.model_dir is None:
        args.model_dir = spec.model_dir + (MINE_SUFFIX if args.init_from else "")
    args.model_dir = os.path.abspath(args.model_dir)
    if args.init_from is not None:
        args.init_from = os.path.abspath(args.init_from)
    return args


def show_augment(args, stream=None, rows=8, cols=12):
    """--show-augment PNG: the first training images, each row one digit and its augmented versions.
    Returns the exit code (0); no training runs."""
    check_args(args)
    stream = stream or sys.stdout
    train = data.read_data_sets(args.data_dir, one_hot=False).train
    knobs = knob_flags(args)   # the flags, with or without --augment: what --augment would do
    seed = args.seed if args.seed is not None else DEFAULT_SEED
    originals = train.images[:rows]
    with tf.Graph().as_default():
        batch = augment.augment(tf.constant(np.repeat(originals, cols - 1, axis=0)), seed, 0, knobs)
        with tf.Session() as sess:
            varied = sess.run(batch).reshape(rows, cols - 1, 784)
    grid = np.concatenate([originals[:, None], varied], axis=1).reshape(rows, cols, 28, 28)
    augment.save_grid(grid, args.show_augment)
    print(f"wrote {args.show_augment}: {rows} training digits (first column) and {cols - 1} augmented versions "
          f"of each ({knobs})", file=stream)
    return 0
