"""Test: evaluate the training's checkpoints on the 10,000 MNIST test images (the course's mnist_test.py).

    python mnist_test.py           # beside `python mnist_backward.py`: follows it, stops when it finishes
    python mnist_test.py --once    # evaluate the newest checkpoint and exit

test() is the course's evaluation, statement by statement: the inputs x, y_; y = forward(x, None); a
Saver over the moving-average (shadow) weights (ExponentialMovingAverage.variables_to_restore); the
accuracy op; and the loop that finds the newest checkpoint, restores it, runs the accuracy, prints
"After N training step(s), test accuracy = A" and waits TEST_INTERVAL_SECS. What the course lacked is
tfnotes/evaluation.py (Watch): each checkpoint tested once, a damaged one skipped for an older one, an
end when the training has finished, the history in MODEL_DIR/test_accuracy.csv and .png, and the report
of what the model gets wrong (confusion_matrix.png, mistakes.png, per_class.csv).
"""
import sys

from tfnotes import evaluation, precision
from tfnotes.checkpoints import checkpoint_step, get_checkpoint_state
from tfnotes.errors import CourseError
from tfnotes.models import MODELS
from tfnotes.tfenv import tf

import mnist_forward

MODEL = MODELS["fc"]
MOVING_AVERAGE_DECAY = 0.99  # the training's; restoring the averages reads only their names, not the decay
TEST_INTERVAL_SECS = evaluation.TEST_INTERVAL_SECS  # the course's 5 s between looks (--interval)


def test(args, stream=None):
    """Evaluate as the flags in `args` say; returns the exit code."""
    stream = stream or sys.stdout
    config = precision.session_config(args.precision)     # --precision bf16; refused where it cannot run
    test_set = evaluation.test_set(args)                  # mnist.test, or your own digits (--data)
    watch = evaluation.Watch(MODEL, args, test_set, stream)   # each checkpoint once; ends with the training
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, mnist_forward.INPUT_NODE])
        y_ = tf.placeholder(tf.int64, [None])             # the labels as integers, not one-hot
        y = mnist_forward.forward(x, None)
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
