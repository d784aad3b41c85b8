"""LeNet-5 lesson: the network's shape, size and dropout; training and evaluation end to end."""
import os
import re
import subprocess
import sys

import numpy as np
import tensorflow.compat.v1 as tf

from lenet5 import mnist_lenet5_forward as lenet

# Parameters, from the layer sizes (weights + biases):
#   conv1: 5*5*1*32  + 32  =       832
#   conv2: 5*5*32*64 + 64  =    51,264
#   fc1:   7*7*64*512 + 512 = 1,606,144   (28 -> 14 -> 7 after two 2x2 pools)
#   fc2:   512*10 + 10      =     5,130
#   total                   = 1,663,370
LENET5_PARAMS = 1_663_370


def _images(n, seed=0):
    return np.random.RandomState(seed).rand(n, 28, 28, 1).astype(np.float32)


def test_forward_output_shape_for_any_batch_size():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, lenet.IMAGE_SIZE, lenet.IMAGE_SIZE, lenet.NUM_CHANNELS])
        y = lenet.forward(x, False, None)
        assert y.shape.as_list() == [None, lenet.OUTPUT_NODE]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for n in (1, 7, 100):
                assert sess.run(y, {x: _images(n)}).shape == (n, lenet.OUTPUT_NODE)


def test_parameter_count_names_and_l2_terms():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 28, 28, 1])
        lenet.forward(x, True, 0.0001)
        variables = tf.trainable_variables()
        assert sum(int(np.prod(v.shape.as_list())) for v in variables) == LENET5_PARAMS
        # one weight and one bias per layer, under that layer's scope
        scopes = sorted(v.name.split("/")[0] for v in variables)
        assert scopes == ["conv1", "conv1", "conv2", "conv2", "fc1", "fc1", "fc2", "fc2"]
        # L2 terms only for the four weight tensors, not for biases
        assert len(tf.get_collection("losses")) == 4
    with tf.Graph().as_default():
        lenet.forward(tf.placeholder(tf.float32, [None, 28, 28, 1]), False, None)
        assert tf.get_collection("losses") == []


def test_dropout_only_when_training():
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 28, 28, 1])
        with tf.variable_scope("lenet"):
            train_logits = lenet.forward(x, True, None)
        with tf.variable_scope("lenet", reuse=True):
            eval_logits = lenet.forward(x, False, None)
        # both graphs use the same eight variables
        assert len(tf.trainable_variables()) == 8
        feed = {x: _images(20)}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            e1, e2 = sess.run(eval_logits, feed), sess.run(eval_logits, feed)
            t1, t2 = sess.run(train_logits, feed), sess.run(train_logits, feed)
    np.testing.assert_array_equal(e1, e2)
    assert not np.allclose(t1, t2), "dropout should draw a new mask on every training pass"
    assert not np.allclose(t1, e1)


LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\S+)\. \(")
ACCURACY_LINE = re.compile(r"After (\d+) training step\(s\), test accuracy = ([0-9.]+)")


def test_spec_defaults_and_model_dir(root):
    from tfnotes import training
    from tfnotes.models import get_spec

    from lenet5 import mnist_lenet5_backward as backward
    spec = get_spec("lenet5")  # how the app finds the network
    assert spec.name == "lenet5" and backward.MODEL is spec
    assert spec.model_dir == str(root / "lenet5" / "model") == backward.MODEL_SAVE_PATH
    # The course's LeNet-5 constants are the script's flags' defaults.
    args = training.parse_args(spec, vars(backward), [])
    assert (args.batch_size, args.learning_rate_base, args.learning_rate_decay, args.regularizer, args.steps,
            args.moving_average_decay, args.model_name) == (100, 0.005, 0.99, 0.0001, 50000, 0.99, "mnist_model")


def test_short_training_lowers_loss_and_test_script_scores_it(root, tmp_path, capsys):
    """60 Adam steps through the real training script, then the real test script run from inside lenet5/."""
    from lenet5 import mnist_lenet5_backward as backward
    model_dir = tmp_path / "model"
    rc = backward.main(["--optimizer", "adam", "--learning-rate-base", "0.001", "--batch-size", "50",
                        "--steps", "60", "--log-every", "10", "--seed", "1", "--model-dir", str(model_dir)])
    out = capsys.readouterr().out
    assert rc == 0, out
    losses = [(int(s), float(v)) for s, v in LOSS_LINE.findall(out)]
    assert [s for s, _ in losses] == [10, 20, 30, 40, 50, 60], out
    assert losses[-1][1] < 0.7 * losses[0][1], out
    assert (model_dir / "mnist_model-60.index").is_file()

    # A separate process started inside lenet5/: the script must find the shared loop by itself.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "mnist_lenet5_test.py", "--once", "--model-dir", str(model_dir)],
                          cwd=root / "lenet5", env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = ACCURACY_LINE.findall(proc.stdout)
    assert len(found) == 1 and found[0][0] == "60", proc.stdout
    assert float(found[0][1]) > 0.6, proc.stdout  # chance is 0.1
    assert (model_dir / "test_accuracy.csv").is_file() and (model_dir / "test_accuracy.png").is_file()
