"""Test LeNet-5's checkpoints on the 10,000 MNIST test images (the course's mnist_lenet5_test.py).

    python lenet5/mnist_lenet5_test.py          # beside the training: follows it, stops when it ends
    python lenet5/mnist_lenet5_test.py --once   # evaluate the newest checkpoint and exit

test() is the fully connected lesson's evaluation (mnist_test.py), statement by statement, with the
course's two differences: the images are reshaped to [N, 28, 28, 1] for the convolutions, and forward()
takes train=False (no dropout). The policy around the loop is the same (tfnotes/evaluation.py):
each checkpoint once, history in lenet5/model/test_accuracy.csv and .png, the report.
"""
import os
import sys

if __package__ in (None, ""):  # run as a script: the library lives at the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfnotes import evaluation, precision  # noqa: E402
from tfnotes.checkpoints import checkpoint_step, get_checkpoint_state  # noqa: E402
from tfnotes.errors import CourseError  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402
from tfnotes.tfenv import tf  # noqa: E402

from lenet5 import mnist_lenet5_forward  # noqa: E402

MODEL = MODELS["lenet5"]
MOVING_AVERAGE_DECAY = 0.99  # the training's; restoring the averages reads only their names, not the decay
TEST_INTERVAL_SECS = evaluation.TEST_INTERVAL_SECS  # the course's 5 s between looks (--interval)


def test(args, stream=None):
    """Evaluate as the flags in `args` say; returns the exit code."""
    stream = stream or sys.stdout
    config = precision.session_config(args.precision)     # --precision bf16; refused where it cannot run
    test_set = evaluation.test_set(args)                  # mnist.test, or your own digits (--data)
    watch = evaluation.Watch(MODEL, args, test_set, stream)   # each checkpoint once; ends with the training
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, mnist_lenet5_forward.IMAGE_SIZE ** 2])
        y_ = tf.placeholder(tf.int64, [None])             # the labels as integers, not one-hot
        reshaped_x = tf.reshape(x, [-1, mnist_lenet5_forward.IMAGE_SIZE, mnist_lenet5_forward.IMAGE_SIZE,
                                    mnist_lenet5_forward.NUM_CHANNELS])
        y = mnist_lenet5_forward.forward(reshaped_x, False, None)
        probabilities = tf.nn.softmax(y)                  # for the report: what it gets wrong, and how sure
        ema = tf.train.ExponentialMovingAverage(MOVING_AVERAGE_DECAY)
        ema_restore = ema.variables_to_restore()
        saver = tf.train.Saver(ema_restore)
        correct_prediction = tf.equal(tf.argmax(y, 1), y_)
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

        with tf.Session(config=config) as sess:
            while watch.go_on():                          # waits --interval s between looks
                ckpt = get_checkpoint_state(args.model_dir)
                for path, attempt in watch.untested(ckpt):   # the newest checkpoint not tested yet
                    with attempt:                         # a damaged one is named, and the next older one tried
                        saver.restore(sess, path)
                        accuracy_score, probs = evaluation.run_in_batches(
                            sess, [accuracy, probabilities], {x: test_set.images, y_: test_set.labels})
                        print(f"After {checkpoint_step(path)} training step(s), test accuracy = {accuracy_score:g}",
                              file=stream, flush=True)
                        watch.record(path, accuracy_score, probs)
                        break
    return watch.exit_code


def main(argv=None, stream=None):
    try:
        args = evaluation.parse_args(MODEL, argv)
        if args.compare:   # a before/after table of two models (fine-tuning on your own digits)
            return evaluation.compare(MODEL, args, stream)
        return test(args, stream)
    except KeyboardInterrupt:
        return 130
    except CourseError as e:   # no checkpoint, damaged data, a checkpoint of another network
        print(e.report(), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
