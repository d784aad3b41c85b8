"""The networks of tfnotes/touching.py: their NumPy forward passes, the shipped weights, their errors, the maker."""
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.make_touching_weights import groups_in
from benchmarks.realistic_numbers import render_number
from tfnotes import data, digits, touching
from tfnotes.errors import ModelError
from tfnotes.tfenv import tf

PAIRS_READ = 0.8     # share of test-digit pairs the shipped pair network must read right (both digits)


def test_convolution_block_matches_tensorflow():
    rng = np.random.default_rng(0)
    x = rng.random((3, 12, 20, 5), np.float32)
    w = rng.normal(size=(3, 3, 5, 7)).astype(np.float32)
    b = rng.normal(size=7).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        y = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b), 2, 2, "VALID")
        want = sess.run(y)
    np.testing.assert_allclose(touching._conv_relu_pool(x, w, b), want, rtol=1e-5, atol=1e-5)


def test_shipped_weights_tell_touching_digits_from_one():
    # Numbers of MNIST test digits (the network learned from training digits), half with touching pairs;
    # every group the app finds is labelled by the true boxes and must be judged right nearly always.
    images = data.load_mnist()[2]
    rng = np.random.default_rng(5)
    inputs, labels = [], []
    for n in range(24):
        chosen = rng.choice(len(images), 5, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([5, n]),
                                       touching=n % 2 == 0)
        for group, line, height, inside in groups_in(picture, boxes):
            inputs.append(touching.group_input(group, line, height))
            labels.append(len(inside) >= 2)
    p = touching.probability(touching.load(), np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))
    labels = np.array(labels)
    right, pairs, caught = int(((p >= 0.5) == labels).sum()), int(labels.sum()), int((p[labels] >= 0.5).sum())
    assert pairs >= 8 and len(labels) >= 100
    # (a network that always says "one digit" would be right on about 85 % of the groups)
    assert right / len(labels) >= 0.95 and caught >= 0.8 * pairs, f"{right}/{len(labels)} right, {caught}/{pairs} pairs"


def test_shipped_pair_weights_read_touching_pairs_of_test_digits():
    # Short numbers of MNIST test digits (the network learned from training digits), each with a touching
    # pair: every group the app finds holding two true digits is read by the pair network alone.
    images, labels = data.load_mnist()[2:]
    rng = np.random.default_rng(6)
    inputs, truth = [], []
    for n in range(60):
        chosen = rng.choice(len(images), 3, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([6, n]), touching=True)
        for group, line, height, inside in groups_in(picture, boxes):
            if len(inside) == 2:
                inputs.append(touching.group_input(group, line, height))
                truth.append([labels[chosen[i]] for i in inside])
    left, right = touching.read_pairs(touching.load(kind="pairs"),
                                      np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))
    truth = np.array(truth)
    assert len(truth) >= 45 and np.allclose(left.sum(axis=1), 1) and np.allclose(right.sum(axis=1), 1)
    both = (left.argmax(1) == truth[:, 0]) & (right.argmax(1) == truth[:, 1])
    # (guessing the commonest pair would be right about 1 % of the time)
    assert both.mean() >= PAIRS_READ, f"{both.sum()}/{len(truth)} pairs read right"


def test_a_cut_digit_gets_both_opinions():
    probs = np.array([[0.6, 0.3, 0.1] + [0.0] * 7, [0.0] * 9 + [1.0]], np.float32)
    reading = np.array([0.1, 0.8, 0.1] + [0.0] * 7)
    entry = {"rows": [0, 1], "pair_readings": [reading, None]}
    each = digits.digit_probabilities(entry, probs)
    joint = np.array([0.06, 0.24, 0.01]) / 0.31
    np.testing.assert_allclose(each[0][:3], joint, rtol=1e-6)          # the product, normalised: 1 wins
    np.testing.assert_array_equal(each[1], probs[1])                  # a digit not cut from a pair: as read
    disagree = {"rows": [0], "pair_readings": [np.array([0.0] * 9 + [1.0])]}
    np.testing.assert_array_equal(digits.digit_probabilities(disagree, probs)[0], probs[0])  # nothing shared


def test_damaged_or_foreign_weights_file_is_named(tmp_path):
    broken = tmp_path / "touching.npz"
    broken.write_bytes(open(touching.WEIGHTS, "rb").read()[:5000])
    with pytest.raises(ModelError, match="touching.npz.*make_touching_weights"):
        touching.load(str(broken))
    other = tmp_path / "other.npz"
    np.savez(other, conv1_w=np.zeros((3, 3, 1, 16)))
    with pytest.raises(ModelError, match="not a touching-digits network.*conv1_b"):
        touching.load(str(other))
    with pytest.raises(ModelError, match="missing.npz"):
        touching.load(str(tmp_path / "missing.npz"))
    pairs = tmp_path / "pairs.npz"
    pairs.write_bytes(open(touching.PAIR_WEIGHTS, "rb").read()[:5000])
    with pytest.raises(ModelError, match="pairs.npz: cannot read the pair-reading network.*make_pair_weights"):
        touching.load(str(pairs), "pairs")
    with pytest.raises(ModelError, match="not a pair-reading network.*left_w"):
        touching.load(touching.WEIGHTS, "pairs")


def test_pair_maker_writes_a_loadable_file_and_repeats_itself(tmp_path):
    # A tiny run of the maker (in its own process: it turns on TensorFlow's op determinism), twice.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for out in outs:
        done = subprocess.run([sys.executable, os.path.join(root, "benchmarks", "make_pair_weights.py"), "--out",
                               str(out), "--pictures", "60", "--held-out", "10", "--epochs", "1", "--workers", "1"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "held-out pairs read right (both digits)" in done.stdout and f"wrote {out}" in done.stdout
    weights = touching.load(str(outs[0]), "pairs")
    assert weights["left_w"].shape == (128, 10) and weights["conv1_w"].shape == (3, 3, 1, 32)
    assert outs[0].read_bytes() == outs[1].read_bytes()              # the same arguments, the same file
