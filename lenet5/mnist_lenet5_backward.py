"""Back propagation for LeNet-5 (the course's mnist_lenet5_backward.py).

    python lenet5/mnist_lenet5_backward.py            # the course's run: gradient descent, 50,000 steps
    python lenet5/mnist_lenet5_backward.py --optimizer adam --learning-rate-base 0.002 --steps 2500
                                                      # the CPU recipe (lenet5/README.md): >= 99% in minutes
    python lenet5/mnist_lenet5_backward.py --help     # every flag, with its default

backward() is the fully connected lesson's recipe (mnist_backward.py), statement by statement, with
the course's two differences: the batch is reshaped to [BATCH_SIZE, 28, 28, 1] for the convolutions,
and forward() takes train=True (dropout while training). The rest is the same calls into
tfnotes/training.py (Run). Checkpoints go to lenet5/model/ from any working directory.
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: the library lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfnotes import training  # noqa: E402
from tfnotes.errors import CourseError  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402
from tfnotes.tfenv import tf  # noqa: E402

from lenet5 import mnist_lenet5_forward  # noqa: E402

MODEL = MODELS["lenet5"]

# The course's LeNet-5 constants; each one is the default of a flag.
BATCH_SIZE = 100
LEARNING_RATE_BASE = 0.005
LEARNING_RATE_DECAY = 0.99
REGULARIZER = 0.0001
STEPS = 50000
MOVING_AVERAGE_DECAY = 0.99
MODEL_SAVE_PATH = MODEL.model_dir  # LeNet's own folder, lenet5/model/
MODEL_NAME = "mnist_model"


def backward(args, stream=None):
    """Train (or resume) LeNet-5 as the flags in `args` say; returns the Run (exit_code, steps_per_sec...)."""
    with training.Run(MODEL, args, stream) as run:   # model folder, --seed, status file (what mnist_test follows)
        with tf.Graph().as_default():
            tf.set_random_seed(run.seed)
            x, y_ = run.batches()                    # each step's batch, made in the graph (--feed: placeholders)
            x = run.augment(x)                       # --augment (off by default)

            def one_step(x, y_):                     # run.multi_step builds it again inside a loop in the graph
                reshaped_x = tf.reshape(x, [args.batch_size, mnist_lenet5_forward.IMAGE_SIZE,
                                            mnist_lenet5_forward.IMAGE_SIZE, mnist_lenet5_forward.NUM_CHANNELS])
                y = mnist_lenet5_forward.forward(reshaped_x, True, args.regularizer)
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
            run.summaries(y, y_, loss, learning_rate)        # TensorBoard: tensorboard --logdir lenet5/model
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
    except CourseError as e:
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
