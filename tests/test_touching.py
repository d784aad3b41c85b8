"""The touching-digits network (tfnotes/touching.py): its NumPy forward pass, the shipped weights, their errors."""
import numpy as np
import pytest

from benchmarks.realistic_numbers import render_number
from tfnotes import data, digits, pictures, segment, touching
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


def test_shipped_weights_tell_touching_digits_from_one(tmp_path):
    # Numbers of MNIST test digits (the network learned from training digits), half with touching pairs;
    # every group the app finds is labelled by the true boxes and must be judged right nearly always.
    images = data.load_mnist()[2]
    rng = np.random.default_rng(5)
    right, total, pairs, caught = 0, 0, 0, 0
    for n in range(24):
        chosen = rng.choice(len(images), 5, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([5, n]),
                                       touching=n % 2 == 0)
        grey = pictures.grey_image(picture)
        found = pictures.analyse(grey, segment.SEGMENT_SIDE)
        sx = grey.size[0] / found.small.shape[1]
        for line in segment.find_digits(found):
            height = segment.line_height(line)
            p = digits.touching_probability(line, line, height)
            for group, prob in zip(line, p):
                inside = sum(1 for b in boxes if group.left * sx <= b[0] + b[2] / 2 < group.right * sx)
                right += (prob >= 0.5) == (inside >= 2)
                total += 1
                pairs += inside >= 2
                caught += inside >= 2 and prob >= 0.5
    assert pairs >= 8 and total >= 100
    # (a network that always says "one digit" would be right on about 85 % of the groups)
    assert right / total >= 0.95 and caught >= 0.8 * pairs, f"{right}/{total} right, {caught}/{pairs} pairs"


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
