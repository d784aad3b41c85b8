"""--augment: in-graph random affine transforms and pen-width jitter of the training batches."""
import contextlib
import io
import re

import numpy as np
import pytest
from PIL import Image

from tfnotes import augment, batches, checkpoints, data, training
from tfnotes.models import MODELS
from tfnotes.tfenv import tf

import mnist_backward


@pytest.fixture(scope="module")
def digits():
    _, _, images, labels = data.load_mnist()
    return (images[:64].reshape(64, 784) / 255.0).astype(np.float32), labels[:64]


def run(x, seed, step, knobs=augment.DEFAULT):
    with tf.Graph().as_default():
        out = augment.augment(tf.constant(x), seed, step, knobs)
        with tf.Session() as sess:
            return sess.run(out)


def centre_of_mass(images):
    grid = images.reshape(-1, 28, 28)
    idx = np.arange(28)
    total = grid.sum(axis=(1, 2))
    return grid.sum(axis=2) @ idx / total, grid.sum(axis=1) @ idx / total


def test_shapes_and_range(digits):
    x, _ = digits
    out = run(x, 1, 7)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, x)                           # it does change the pictures ...
    # ... but keeps each digit whole and in place: most ink stays, the centre of mass moves a few pixels.
    kept = out.sum(axis=1) / x.sum(axis=1)
    assert 0.5 < np.median(kept) < 1.6
    moved = np.hypot(*(np.subtract(centre_of_mass(out), centre_of_mass(x))))
    assert np.median(moved) < 3.0


def test_same_seed_and_step_same_batch(digits):
    x, _ = digits
    assert np.array_equal(run(x, 3, 11), run(x, 3, 11))
    assert not np.array_equal(run(x, 3, 11), run(x, 3, 12))     # each step its own draws
    assert not np.array_equal(run(x, 3, 11), run(x, 4, 11))     # each seed its own stream


def test_zero_knobs_leave_the_pictures_as_they_are(digits):
    x, _ = digits
    nothing = augment.Augment(rotate=0.0, scale=0.0, shift=0.0, shear=0.0, thicken=0.0, thin=0.0)
    np.testing.assert_allclose(run(x, 1, 1, nothing), x, atol=1e-6)


def test_shift_moves_the_digit_by_that_many_pixels(digits):
    x, _ = digits
    shift_only = augment.Augment(rotate=0.0, scale=0.0, shift=3.0, shear=0.0, thicken=0.0, thin=0.0)
    rows, cols = np.subtract(centre_of_mass(run(x, 2, 5, shift_only)), centre_of_mass(x))
    assert np.abs(rows).max() <= 3.05 and np.abs(cols).max() <= 3.05
    assert np.abs(cols).max() > 1.0                             # and it does move them


def test_pen_jitter_thickens_and_thins(digits):
    x, _ = digits
    always_thick = augment.Augment(rotate=0.0, scale=0.0, shift=0.0, shear=0.0, thicken=1.0, thin=0.0)
    always_thin = augment.Augment(rotate=0.0, scale=0.0, shift=0.0, shear=0.0, thicken=0.0, thin=1.0)
    assert (run(x, 1, 1, always_thick).sum(axis=1) > x.sum(axis=1)).all()
    assert (run(x, 1, 1, always_thin).sum(axis=1) < x.sum(axis=1)).all()


def test_pen_filter_is_max_and_min_pooling_bit_for_bit(digits):
    # stroke_jitter filters the batch as one [1, 28, 28, N] picture with one filter for both pens; it must
    # give exactly the 2x2 maximum / minimum pooling of each image on its own (the augmented stream measured
    # in the README depends on it).
    x, _ = digits
    draw = np.linspace(0.0, 0.999, len(x)).astype(np.float32).reshape(-1, 1, 1, 1)
    knobs = augment.Augment(rotate=0.0, scale=0.0, shift=0.0, shear=0.0, thicken=0.3, thin=0.3)
    with tf.Graph().as_default():
        images = tf.constant(x.reshape(-1, 28, 28, 1))
        thick, thin = tf.nn.max_pool2d(images, 2, 1, "SAME"), -tf.nn.max_pool2d(-images, 2, 1, "SAME")
        with tf.Session() as sess:
            got, thick, thin = sess.run([augment.stroke_jitter(images, tf.constant(draw), knobs), thick, thin])
    pen = draw.ravel()
    want = np.where((pen < 0.3)[:, None, None, None], thick, np.where((pen > 0.7)[:, None, None, None], thin,
                                                                      x.reshape(-1, 28, 28, 1)))
    assert np.array_equal(got, want)
    assert (pen < 0.3).sum() > 10 and (pen > 0.7).sum() > 10 and not np.array_equal(thick, thin)


# ---------------------------------------------------------------------------------------------------------
# In the shared training loop
# ---------------------------------------------------------------------------------------------------------

LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\S+?)\.? \(")


def train(model_dir, *flags):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = mnist_backward.main(["--model-dir", str(model_dir), "--log-every", "20", "--save-every", "20",
                                    *map(str, flags)])
    assert code == 0, out.getvalue()
    return out.getvalue(), {int(s): float(v) for s, v in LOSS_LINE.findall(out.getvalue())}


def test_off_by_default(tmp_path):
    args = training.parse_args(MODELS["fc"], vars(mnist_backward), ["--model-dir", str(tmp_path), "--steps", "1"])
    assert not args.augment and batches.augment_knobs(args) is None
    graph = mnist_backward.backward(args, stream=io.StringIO()).graph
    assert graph.get_operations() and not [op for op in graph.get_operations() if "ImageProjectiveTransform" in op.type]
    assert training.run_config(MODELS["fc"], args, 1)["augment"] is None


def test_augmented_runs_repeat_resume_and_record_their_settings(tmp_path, capsys):
    _, whole = train(tmp_path / "a", "--augment", "--steps", 60, "--seed", 3)
    _, again = train(tmp_path / "b", "--augment", "--steps", 60, "--seed", 3)
    assert whole == again and sorted(whole) == [20, 40, 60]                # same seed, same run
    _, other = train(tmp_path / "c", "--augment", "--steps", 60, "--seed", 4)
    assert other[60] != whole[60]
    _, plain = train(tmp_path / "d", "--steps", 60, "--seed", 3)
    assert plain[60] != whole[60]                                            # it does change the batches
    train(tmp_path / "e", "--augment", "--steps", 40, "--seed", 3)            # stopped at step 40 ...
    out, resumed = train(tmp_path / "e", "--augment", "--steps", 60)          # ... resumed to 60
    assert "resumed from step 40" in out and resumed[60] == whole[60]       # the same augmented stream
    status = checkpoints.read_status(str(tmp_path / "e"))
    assert status["config"]["augment"] == augment.DEFAULT._asdict()
    out, _ = train(tmp_path / "e", "--augment", "--augment-rotate", 20, "--steps", 80)
    assert "warning: resuming with other settings" in out and "augment" in out


def test_show_augment_writes_a_grid(tmp_path):
    target = tmp_path / "grid.png"
    with contextlib.redirect_stdout(io.StringIO()):
        assert mnist_backward.main(["--show-augment", str(target), "--model-dir", str(tmp_path / "m")]) == 0
    with Image.open(target) as img:
        assert img.format == "PNG" and img.size == ((12 * 29 - 1) * 3, (8 * 29 - 1) * 3)
    assert not (tmp_path / "m").exists()                                     # nothing trained


def test_bad_knobs_are_refused(tmp_path, capsys):
    assert mnist_backward.main(["--augment", "--augment-thicken", "0.8", "--augment-thin", "0.5",
                                "--model-dir", str(tmp_path)]) == 1
    assert "--augment-thicken" in capsys.readouterr().err
