"""Back propagation: train the fully connected MNIST network (the course's mnist_backward.py).

    python mnist_backward.py                  # the course's run: 50,000 steps, checkpoints in ./model/
    python mnist_backward.py --steps 2000     # a short run; run again with a larger --steps to go on
    python mnist_backward.py --fresh          # start afresh; the old run is moved to model/previous/<time>/
    python mnist_backward.py --help           # every flag, with its default

backward() is the course's recipe (八股), statement by statement and in its order: the inputs x, y_;
y = forward(x, REGULARIZER); global_step; the cross-entropy plus the L2 terms; the exponentially
decaying learning rate; the optimizer's minimize; the moving average; train_op; the Saver; the session
that restores or initialises, then loops over the steps and saves. docs/course_map.md lays the
course's listing beside it. What the course lacked (in-graph batches, --augment, resume, progress,
summaries, Ctrl-C, several steps per call, bf16) is one call each into tfnotes/training.py (Run).
"""
import os
import sys

from tfnotes import training
from tfnotes.errors import CourseError
from tfnotes.models import MODELS
from tfnotes.tfenv import tf

import mnist_forward

MODEL = MODELS["fc"]

# The course's constants; each one is the default of a flag (--batch-size, --learning-rate-base, ...).
BATCH_SIZE = 200
LEARNING_RATE_BASE = 0.1
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = MODEL.model_dir  # the course's "./model/", but the same from any working directory
MODEL_NAME = "mnist_model"


def backward(args, stream=None):
    """Train (or resume) the network as the flags in `args` say; returns the Run (exit_code, steps_per_sec...)."""
    with training.Run(MODEL, args, stream) as run:   # model folder, --seed, status file (what mnist_test follows)
        with tf.Graph().as_default():
            tf.set_random_seed(run.seed)
            x, y_ = run.batches()                    # each step's batch, made in the graph (--feed: placeholders)
            x = run.augment(x)                       # --augment (off by default)

            def one_step(x, y_):                     # run.multi_step builds it again inside a loop in the graph
                y = mnist_forward.forward(x, args.regularizer)
                global_step = tf.train.get_global_step()   # made by run.batches(): it picks each step's batch
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=y, labels=y_)
                cem = tf.reduce_mean(ce)
                loss = cem + tf.add_n(tf.get_collection("losses"))
                learning_rate = tf.train.exponential_decay(args.learning_rate_base, global_step,
                                                           run.num_examples / args.batch_size,
                                                           args.learning_rate_decay, staircase=True)
                train_step = run.optimizer(learning_rate).minimize(loss, global_step=global_step)
                ema = tf.train.ExponentialMovingAverage(args.moving_average_decay, global_step)
                # The averages are taken of the updated weights, so every run does the same in the same order.
                with tf.control_dependencies([train_step]):
                    ema_op = ema.apply(tf.trainable_variables())
                with tf.control_dependencies([train_step, ema_op]):
                    train_op = tf.no_op(name="train")
                return y, loss, learning_rate, train_op

            y, loss, learning_rate, train_op = one_step(x, y_)
            run.summaries(y, y_, loss, learning_rate)        # TensorBoard: tensorboard --logdir model
            run.multi_step(one_step, loss)                   # several steps per session.run, where exact
            saver = tf.train.Saver(max_to_keep=args.max_to_keep, save_relative_paths=True)

            with tf.Session(config=run.session_config) as sess:   # --precision bf16: a mixed-precision rewrite
                init_op = tf.global_variables_initializer()
                run.restore_or_initialize(sess, saver, init_op)   # resume from the newest readable checkpoint
                for step in run.steps(sess, train_op, loss, learning_rate):  # progress, Ctrl-C, ...
                    saver.save(sess, os.path.join(args.model_dir, args.model_name), global_step=step)
    return run


def main(argv=None):
    args = training.parse_args(MODEL, globals(), argv)
    try:
        if args.show_augment:   # a picture of what --augment does; no training
            return training.show_augment(args)
        return backward(args).exit_code
    except CourseError as e:   # bad flags or data, a foreign checkpoint, Ctrl-C: the message says what to do
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
