"""Each training step's batch, made inside the graph: what run.batches() and run.augment() of the lessons' backward()
build, for the chosen --data, --feed, --own-data and --augment.

By default the whole training set lives in the graph and each step's batch is sliced from a per-epoch permutation
drawn from (seed, epoch): the batch depends only on the step, so a resumed run, or a loop of several steps inside
the graph, sees exactly the batches an unbroken run of single steps sees. --feed keeps the course's placeholders
and feed_dict; --data tfrecords reads mnist_generateds.py's file; --own-data mixes your digits into every batch.
"""
import os

import numpy as np

from tfnotes import augment, data, records
from tfnotes.errors import ConfigError
from tfnotes.tfenv import tf

MNIST_MIX = 0.5          # with --own-data: the share of each batch from MNIST
OWN_SEED_OFFSET = 7919   # your digits' batch order is drawn from --seed + this, apart from MNIST's


def knob_flags(args):
    """The --augment-* flags as an augment.Augment (their defaults are augment.DEFAULT)."""
    return augment.Augment(args.augment_rotate, args.augment_scale, args.augment_shift, args.augment_shear,
                           args.augment_thicken, args.augment_thin)


def augment_knobs(args):
    """The augmentation's settings from the flags, or None when --augment is off."""
    return knob_flags(args) if args.augment else None


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
    if args.own_data is not None:
        return mixed_batch_source(args, train, global_step, seed)
    x, labels, init_feed, batch_at = in_graph_batch_source(train.images, np.argmax(train.labels, 1),
                                                           args.batch_size, global_step, seed)
    return x, labels, init_feed, None, train.num_examples, batch_at


def mixed_batch_source(args, train, global_step, seed):
    """build_input for --own-data: each step's batch holds round(batch * --mnist-mix) MNIST examples and your own
    digits for the rest, each part sliced inside the graph from its own per-epoch permutation (so a resumed run, or
    the loop in the graph, sees exactly the same batches)."""
    own_x, own_y = records.load_labelled(args.own_data)
    from_mnist = round(args.batch_size * args.mnist_mix)
    from_own = args.batch_size - from_mnist
    if not 0 < from_own <= len(own_x):
        raise ConfigError(f"--own-data {args.own_data} holds {len(own_x)} digits, and each batch of "
                          f"{args.batch_size} would take {from_own} of them: lower --batch-size, or change --mnist-mix")
    parts = [in_graph_batch_source(own_x, own_y, from_own, global_step, seed + OWN_SEED_OFFSET)]
    if from_mnist:
        parts.insert(0, in_graph_batch_source(train.images, np.argmax(train.labels, 1), from_mnist, global_step, seed))
    x, labels = tf.concat([p[0] for p in parts], 0), tf.concat([p[1] for p in parts], 0)
    init_feed = {k: v for p in parts for k, v in p[2].items()}

    def batch_at(step):
        pieces = [p[3](step) for p in parts]
        return tf.concat([a for a, _ in pieces], 0), tf.concat([b for _, b in pieces], 0)

    return x, labels, init_feed, None, train.num_examples + len(own_x), batch_at


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
