"""The one training loop every model uses: the course's back propagation, made a real training tool.

A model plugs in through its ModelSpec (tfnotes.models) and its script's constants; everything else
is shared: batches made inside the graph (or the course's feed_dict), L2 regularization, a learning
rate decaying once per epoch, moving averages of the weights, checkpoints, resume, Ctrl-C/SIGTERM,
progress lines, TensorBoard summaries and the status file that mnist_test.py follows.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

from tfnotes import data, records
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
SCHEDULE_KEYS = ("model", "batch_size", "learning_rate_base", "learning_rate_decay", "optimizer", "data")
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
    p.add_argument("--seed", type=int, default=None,
                   help="seed for weights, batch order and dropout; the same seed gives the same losses on a CPU "
                        f"(None: the resumed run's own seed, else DEFAULT_SEED = {DEFAULT_SEED})")
    return p


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
    raise ValueError(f"unknown optimizer {name!r}: choose gd, momentum or adam")


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
        path = os.path.join(data.resolve_data_dir(args.data_dir), records.TRAIN_TFRECORD)
        img_batch, label_batch = records.get_tfrecord(args.batch_size, isTrain=True, data_dir=args.data_dir,
                                                               seed=seed)
        num_examples = records.count_records(path)
        if not args.feed:
            return img_batch, tf.argmax(label_batch, 1), {}, None, num_examples
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), sess.run([img_batch, label_batch])))), \
            num_examples
    mnist = data.read_data_sets(args.data_dir, one_hot=True, seed=seed)
    train = mnist.train
    if args.batch_size > train.num_examples:
        raise ConfigError(f"--batch-size {args.batch_size} is larger than the {train.num_examples} training "
                          "examples")
    if args.feed:
        x, y_ = _placeholders()
        return x, tf.argmax(y_, 1), {}, (lambda sess: dict(zip((x, y_), train.next_batch(args.batch_size)))), \
            train.num_examples
    x, labels, init_feed = in_graph_batches(train.images, np.argmax(train.labels, 1), args.batch_size,
                                            global_step, seed)
    return x, labels, init_feed, None, train.num_examples


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
                seed=seed)


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
    changed = [k for k in SCHEDULE_KEYS if k in old and old[k] != config[k]]
    if changed:
        changes = ", ".join(f"{k} {old[k]} -> {config[k]}" for k in changed)
        print(f"warning: resuming with other settings than the saved run ({changes}); the learning-rate schedule "
              "and results will differ from an uninterrupted run", file=stream)


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
            raise TrainingError(f"the loss became {out[1]} at step {step}; lower --learning-rate-base. The last "
                                f"good checkpoint (step {last_saved}) is kept.")
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
    stream = stream or sys.stdout
    old_status = prepare_model_dir(args.model_dir, args.fresh, stream)
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
        if not failed:
            raise TrainingInterrupted() from None
        raise


def _train(spec, args, stream, old_status, seed, config):
    graph, ops, init_feed, feed_fn = build_graph(spec, args, seed)
    with tf.Session(graph=graph) as sess:
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
              f"{source} input, model dir {args.model_dir}", file=stream)
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


