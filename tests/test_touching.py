"""The touching-digits network (tfnotes/touching.py): its NumPy forward pass, the shipped weights, their errors."""
import numpy as np
import pytest

from benchmarks.make_touching_weights import groups_in
from benchmarks.realistic_numbers import render_number
from tfnotes import data, touching
from tfnotes.errors import ModelError
from tfnotes.tfenv import tf


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
        for group, line, height, label in groups_in(picture, boxes):
            inputs.append(touching.group_input(group, line, height))
            labels.append(label == 1.0)
    p = touching.probability(touching.load(), np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))
    labels = np.array(labels)
    right, pairs, caught = int(((p >= 0.5) == labels).sum()), int(labels.sum()), int((p[labels] >= 0.5).sum())
    assert pairs >= 8 and len(labels) >= 100
    # (a network that always says "one digit" would be right on about 85 % of the groups)
    assert right / len(labels) >= 0.95 and caught >= 0.8 * pairs, f"{right}/{len(labels)} right, {caught}/{pairs} pairs"


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
