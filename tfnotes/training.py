"""The one training loop every model uses: the course's back propagation, made a real training tool.

A model plugs in through its ModelSpec (tfnotes.models) and its script's constants; everything else
is shared: batches made inside the graph (or the course's feed_dict), L2 regularization, a learning
rate decaying once per epoch, moving averages of the weights, checkpoints, resume, Ctrl-C/SIGTERM,
progress lines, TensorBoard summaries and the status file that mnist_test.py follows.

Speed: where the batches are made inside the graph and the step draws no random numbers, up to
STEPS_PER_CALL plain steps run in one session call (a tf.while_loop that builds the same step again);
--precision bf16 runs the session with bfloat16 mixed precision (tfnotes.precision).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from tfnotes import augment, data, precision, records
from tfnotes.checkpoints import (
    check_compatible,
    list_checkpoints,
    prepare_model_dir,
    read_status,
    write_status,
)
from tfnotes.errors import ConfigError, TrainingError, TrainingInterrupted
from tfnotes.progress import Progress, StopRequest
from tfnotes.tfenv import tf

SAVE_EVERY = 1000        # steps between checkpoints
LOG_EVERY = 1000         # steps between progress lines (the course printed every 1000)
SUMMARY_EVERY = 100      # steps between TensorBoard points
MAX_TO_KEEP = 5          # checkpoints kept by the Saver (TF's default)
DEFAULT_SEED = 1         # a fixed default, so the plain command gives the same run (and figures) every time
WARMUP_STEPS = 20        # steps left out of the measured speed (graph optimisation, caches)
STEPS_PER_CALL = 100     # training steps per session call (a loop inside the graph), where the input allows
SCHEDULE_KEYS = ("model", "batch_size", "learning_rate_base", "learning_rate_decay", "optimizer", "data",
                 "precision", "augment")
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
    p.add_argument("--precision", choices=precision.PRECISIONS, default=precision.DEFAULT,
                   help=precision.PRECISION_HELP)
    p.add_argument("--steps-per-call", type=int, default=None,
                   help="training steps per session call, run by a loop inside the graph (progress lines, summaries "
                        f"and checkpoints stay on their steps); None: {STEPS_PER_CALL} with in-graph batches when "
                        "the step draws no random numbers (the fully connected network), else 1 (LeNet-5's "
                        "dropout, --feed, --data tfrecords)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for weights, batch order, dropout and augmentation; the same seed gives the same "
                        f"losses on a CPU (None: the resumed run's own seed, else DEFAULT_SEED = {DEFAULT_SEED})")
    add_augment_flags(p)
    return p


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
                   help="write a grid of augmented training images to PNG and exit (no training)")


def knob_flags(args):
    """The --augment-* flags as an augment.Augment (their defaults are augment.DEFAULT)."""
    return augment.Augment(args.augment_rotate, args.augment_scale, args.augment_shift, args.augment_shear,
                           args.augment_thicken, args.augment_thin)


def augment_knobs(args):
    """The augmentation's settings from the flags, or None when --augment is off."""
    return knob_flags(args) if args.augment else None


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
    x, y, init_feed, _ = in_graph_batch_source(images, labels, batch_size, global_step, seed)
    return x, y, init_feed


def in_graph_batch_source(images, labels, batch_size, global_step, seed):
    """in_graph_batches, plus batch_at(step) -> (x, labels): the same batch, built again where it is called
    (inside a training loop in the graph)."""
    n = len(images)
    per_epoch = n // batch_size
    local = [tf.GraphKeys.LOCAL_VARIABLES]
    with tf.name_scope("input") as scope:
        images_in = tf.placeholder(tf.float32, images.shape, name="train_images")
        labels_in = tf.placeholder(tf.int32, [n], name="train_labels")
        images_var = tf.Variable(images_in, trainable=False, collections=local, name="images", use_resource=True)
        labels_var = tf.Variable(labels_in, trainable=False, collections=local, name="labels", use_resource=True)
        order_var = tf.Variable(tf.zeros([n], tf.int32), trainable=False, collections=local, name="order",
                                use_resource=True)
        order_epoch = tf.Variable(tf.constant(-1, tf.int64), trainable=False, collections=local,
                                  name="order_epoch", use_resource=True)

    def batch_at(global_step):
        step = tf.cast(global_step, tf.int64)
        epoch = step // per_epoch
        pos = tf.cast(step % per_epoch, tf.int32) * batch_size

        def reshuffle():  # once per epoch: a fresh permutation, remembered in order_var
            keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
            with tf.control_dependencies([order_epoch.assign(epoch)]):
                return tf.identity(order_var.assign(tf.argsort(keys)))

        order = tf.cond(tf.equal(order_epoch.read_value(), epoch), order_var.read_value, reshuffle)
        index = order[pos:pos + batch_size]
        return tf.gather(images_var, index), tf.gather(labels_var, index)

    with tf.name_scope(scope):  # the same scope again: the graph's names stay as they were
        x, y = batch_at(global_step)
    init_feed = {images_in: images, labels_in: labels.astype(np.int32)}
    return x, y, init_feed, batch_at


def loss_fn(logits, labels, terms=None):
    """Mean softmax cross-entropy plus the L2 terms (None: every term in the 'losses' collection)."""
    with tf.name_scope("total_loss"):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=labels)
        cem = tf.reduce_mean(ce)
        terms = tf.get_collection("losses") if terms is None else terms
        return cem + tf.add_n(terms) if terms else cem


def make_optimizer(name, learning_rate, momentum=0.9):
    if name == "gd":
        return tf.train.GradientDescentOptimizer(learning_rate)
    if name == "momentum":
        return tf.train.MomentumOptimizer(learning_rate, momentum)
    if name == "adam":
        return tf.train.AdamOptimizer(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}: choose gd, momentum or adam")


def shared_updates(args, global_step):
    """(optimizer_for, ema): the graph's one optimizer and one moving average, whichever steps are built.

    A step built inside a loop must update the same optimizer slots and shadow variables as the plain
    step. optimizer_for(learning_rate) hands out the one optimizer, set to the learning-rate tensor of
    the step being built (the optimizer reads a callable learning rate when it builds its update).
    """
    rates = []
    optimizer = make_optimizer(args.optimizer, lambda: rates[-1], args.momentum)

    def optimizer_for(learning_rate):
        rates.append(learning_rate)
        return optimizer

    return optimizer_for, tf.train.ExponentialMovingAverage(args.moving_average_decay, global_step)


def training_step(spec, args, x, labels, global_step, num_examples, shared):
    """One training step, built where it is called: (logits, loss, learning rate, op that updates the averages)."""
    optimizer_for, ema = shared
    regularizer = args.regularizer if args.regularizer > 0 else None
    first_term = len(tf.get_collection("losses"))
    y = spec.build_logits(x, True, regularizer)
    loss = loss_fn(y, labels, tf.get_collection("losses")[first_term:])  # this network's own L2 terms
    # Decay once per epoch, as the course did (staircase, decay steps = examples / batch size).
    learning_rate = tf.train.exponential_decay(args.learning_rate_base, global_step,
                                               num_examples / args.batch_size,
                                               args.learning_rate_decay, staircase=True)
    train_step = optimizer_for(learning_rate).minimize(loss, global_step=global_step)
    # The course put train_step and ema_op side by side in one control_dependencies; here the averages
    # are taken after the update, so every run does the same thing in the same order (--seed).
    with tf.control_dependencies([train_step]):
        train_op = ema.apply(tf.trainable_variables())
    return y, loss, learning_rate, train_op


def build_train_ops(spec, args, x, labels, global_step, num_examples, shared):
    """Logits, loss, learning rate and one training op that also updates the moving averages."""
    y, loss, learning_rate, train_op = training_step(spec, args, x, labels, global_step, num_examples, shared)
    with tf.name_scope("accuracy"):
        correct = tf.equal(tf.argmax(y, 1, output_type=tf.int32), tf.cast(labels, tf.int32))
        accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))
    summary = tf.summary.merge([tf.summary.scalar("loss", loss), tf.summary.scalar("learning_rate", learning_rate),
                                tf.summary.scalar("train_accuracy", accuracy)])
    return dict(loss=loss, learning_rate=learning_rate, train_op=train_op, summary=summary)


def build_multi_step(spec, args, batch_at, global_step, num_examples, shared):
    """(steps placeholder, op): the op runs that many training steps in one session call, in a tf.while_loop.

    Each pass runs the same step as the plain train_op (same variables, optimizer slots and averages) on the
    batch batch_at built for its step, one pass after the other. The batch of the next step (with --augment,
    the costly part) is built while the current one trains: the two do not depend on each other, so the
    graph's executor runs them side by side, and the numbers stay those of the plain steps.
    """
    steps = tf.placeholder(tf.int32, [], name="steps_per_call")

    def body(i, x, labels):
        train_op = training_step(spec, args, x, labels, global_step, num_examples, shared)[3]
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


def build_input(args, global_step, seed):
    """(x, labels, init_feed, feed_fn, num_examples, batch_at) for the chosen --data and --feed.

    feed_fn(sess) gives each step's feed_dict (None for in-graph batches); batch_at(step) builds the
    in-graph batch of a step again (None for the other inputs).
    """
    if args.data == "tfrecords":
        path = os.path.join(data.resolve_data_dir(args.data_dir), records.TRAIN_TFRECORD)
        img_batch, label_batch = records.get_tfrecord(args.batch_size, isTrain=True, data_dir=args.data_dir,
                                                               seed=seed)
        num_examples = records.count_records(path)
        if not args.feed:
            return img_batch, tf.argmax(label_batch, 1), {}, None, num_examples, None
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), sess.run([img_batch, label_batch])))), \
            num_examples, None
    mnist = data.read_data_sets(args.data_dir, one_hot=True, seed=seed)
    train = mnist.train
    if args.batch_size > train.num_examples:
        raise ConfigError(f"--batch-size {args.batch_size} is larger than the {train.num_examples} training "
                          "examples")
    if args.feed:
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), train.next_batch(args.batch_size)))), \
            train.num_examples, None
    x, labels, init_feed, batch_at = in_graph_batch_source(train.images, np.argmax(train.labels, 1),
                                                           args.batch_size, global_step, seed)
    return x, labels, init_feed, None, train.num_examples, batch_at


def with_augment(args, seed, global_step, x, batch_at):
    """(x, batch_at) augmented by --augment: drawn from (seed, step), so a resumed run or a loop inside the
    graph augments each step's batch exactly as an unbroken, one-step-per-call run does."""
    knobs = augment_knobs(args)
    if knobs is None:
        return x, batch_at
    x = augment.augment(x, seed, global_step, knobs)
    if batch_at is None:
        return x, None

    def augmented_batch_at(step):
        images, labels = batch_at(step)
        return augment.augment(images, seed, step, knobs), labels

    return x, augmented_batch_at


def _placeholders():
    x = tf.placeholder(tf.float32, [None, data.IMAGE_PIXELS], name="x")
    y_ = tf.placeholder(tf.float32, [None, data.NUM_CLASSES], name="y_")
    return x, y_


# ---------------------------------------------------------------------------------------------------------
# The training loop
# ---------------------------------------------------------------------------------------------------------

def run_config(spec, args, seed):
    return dict(model=spec.name, batch_size=args.batch_size, learning_rate_base=args.learning_rate_base,
                learning_rate_decay=args.learning_rate_decay, regularizer=args.regularizer,
                moving_average_decay=args.moving_average_decay, optimizer=args.optimizer, data=args.data,
                precision=args.precision, augment=knobs_dict(args), seed=seed)


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
            reason = str(getattr(e, "message", e)).splitlines()[0]
            print(f"warning: skipping unreadable checkpoint {path} ({reason})", file=stream)
            continue
        step = int(sess.run(tf.train.get_global_step()))
        print(f"resumed from step {step} ({path})", file=stream)
        return step
    return 0


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


def run_steps(sess, ops, args, start, feed_fn, saver, writer, stop, progress):
    """The hot loop: plain steps in calls of up to ops["steps_per_call"] steps, and a call of its own for each
    step that shows values; loss and summaries are fetched only on the steps that show them.

    Returns (last step, last saved step, measured steps per second or None).
    """
    save_path = os.path.join(args.model_dir, args.model_name)
    step, last_saved, t_warm, warm_step = start, start, None, None
    run = make_runner(sess, ops, feed_fn)
    while step < args.steps and stop.signum is None:
        show = progress.wants_values(step)
        summarize = (step + 1) % args.summary_every == 0
        ahead = 0 if show or summarize else plain_steps_ahead(step, args, ops["steps_per_call"])
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
            saver.save(sess, save_path, global_step=step)
            last_saved = step
        if t_warm is None and step - start >= WARMUP_STEPS:
            t_warm, warm_step = time.perf_counter(), step
    rate = (step - warm_step) / (time.perf_counter() - t_warm) if t_warm and step > warm_step else None
    return step, last_saved, rate


def build_graph(spec, args, seed):
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        global_step = tf.train.get_or_create_global_step()
        x, labels, init_feed, feed_fn, num_examples, batch_at = build_input(args, global_step, seed)
        x, batch_at = with_augment(args, seed, global_step, x, batch_at)
        shared = shared_updates(args, global_step)
        ops = build_train_ops(spec, args, x, labels, global_step, num_examples, shared)
        ops["var_list"] = tf.global_variables()
        ops["saver"] = tf.train.Saver(max_to_keep=args.max_to_keep, save_relative_paths=True)
        ops["init"] = [tf.global_variables_initializer(), tf.local_variables_initializer()]
        ops["steps_per_call"] = resolve_steps_per_call(args, batch_at, ops["loss"])
        if ops["steps_per_call"] > 1:  # built last: it makes no variables, and the plain step's graph is unchanged
            ops["multi_steps"], ops["multi_step"] = build_multi_step(spec, args, batch_at, global_step,
                                                                     num_examples, shared)
    graph.finalize()  # nothing may add ops inside the loop (that would slow every step)
    return graph, ops, init_feed, feed_fn


def parse_args(spec, constants, argv=None):
    """The script's flags (build_parser) parsed, with the model folder made absolute."""
    args = build_parser(spec, constants).parse_args(argv)
    args.model_dir = os.path.abspath(args.model_dir)
    return args


def train(spec, args, stream=None):
    """Train (or resume) as args say. Returns a dict: step, status, signal, steps_per_sec, exit_code.

    Raises ConfigError, TrainingError or DataError with a message for the user, and TrainingInterrupted
    for a Ctrl-C that the loop could not turn into a clean stop (the last complete checkpoint is kept).
    """
    check_args(args)
    if args.show_augment:
        return show_augment(args, stream or sys.stdout)
    session_config = precision.session_config(args.precision)  # refuses bf16 where it cannot run
    stream = stream or sys.stdout
    old_status = prepare_model_dir(args.model_dir, args.fresh, stream)
    seed = resolve_seed(args, old_status)
    config = run_config(spec, args, seed)
    # Claim the folder at once: a mnist_test started now waits for this run's first checkpoint.
    write_status(args.model_dir, status="running", step=old_status.get("step", 0) if not args.fresh else 0,
                 steps=args.steps, config=config)
    try:
        return _train(spec, args, stream, old_status, seed, config, session_config)
    except BaseException as e:  # say in the status file that no training runs here any more
        failed = not isinstance(e, KeyboardInterrupt)
        write_status(args.model_dir, status="failed" if failed else "interrupted",
                     step=read_status(args.model_dir).get("step"), steps=args.steps, config=config,
                     error=str(e)[:500] if failed else None)
        if not failed:
            raise TrainingInterrupted() from None
        raise


def _train(spec, args, stream, old_status, seed, config, session_config):
    graph, ops, init_feed, feed_fn = build_graph(spec, args, seed)
    with tf.Session(graph=graph, config=session_config) as sess:
        sess.run(ops["init"], init_feed)
        start = restore_latest(sess, ops["saver"], ops["var_list"], args, spec, stream)
        if start:
            warn_schedule_change(old_status, config, stream)
        if start >= args.steps:
            print(f"{args.model_dir} is already trained to step {start} (--steps {args.steps}): nothing to do. "
                  "Raise --steps to train on, or use --fresh to start afresh.", file=stream)
            write_status(args.model_dir, status="finished", step=start, steps=args.steps, config=config)
            return dict(step=start, status="finished", signal=None, steps_per_sec=None, exit_code=0)
        write_status(args.model_dir, status="running", step=start, steps=args.steps, config=config)
        source = ("feed_dict" if args.feed else "in-graph") + (" tfrecords" if args.data == "tfrecords" else "")
        print(f"training {spec.name}: steps {start} -> {args.steps}, batch {args.batch_size}, seed {seed}, "
              f"{source} input, {precision.describe(args.precision)}, up to {ops['steps_per_call']} step(s) per "
              f"call, model dir {args.model_dir}", file=stream)
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
        print(f"finished: step {step}, checkpoint {args.model_name}-{step} in {args.model_dir}", file=stream)
    else:
        print(f"stopped by signal {stop.signum} at step {step}; checkpoint saved. Run the same command again to "
              "resume.", file=stream)
    # A run stopped by a signal exits as the shell expects of that signal (130 for Ctrl-C, 143 for SIGTERM).
    return dict(step=step, status="finished" if done else "interrupted", signal=stop.signum, steps_per_sec=rate,
                exit_code=128 + stop.signum if stop.signum else 0)




def show_augment(args, stream, rows=8, cols=12):
    """--show-augment PNG: the first training images, each row one digit and its augmented versions."""
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
    return dict(step=0, status="shown", signal=None, steps_per_sec=None, exit_code=0)
