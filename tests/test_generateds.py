"""Tests of the MNIST data layer (mnist_generateds.py, tfnotes/data.py, tfnotes/records.py): loading, checks,
download, TFRecords, CLI."""
import functools
import gzip
import http.server
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image

from tfnotes import data as mnist_data
from tfnotes import pictures, records
from tfnotes.errors import DataError

import mnist_generateds as g

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = "t10k-labels-idx1-ubyte"   # the smallest MNIST file, for tests that damage or download one


@pytest.fixture(scope="module")
def mnist():
    return mnist_data.read_data_sets(seed=0)


@pytest.fixture(scope="module")
def raw():
    return mnist_data.load_mnist()


@pytest.fixture
def fast_load(monkeypatch, raw):
    """read_data_sets on the already verified arrays, for tests of its options rather than of loading."""
    monkeypatch.setattr(mnist_data, "load_mnist", lambda *a, **k: raw)


def _content(name):
    with gzip.open(os.path.join(mnist_data.DEFAULT_DATA_DIR, name + ".gz"), "rb") as f:
        return f.read()


def _link_data(folder, skip=()):
    """A data folder holding links to the shipped MNIST files (except `skip`)."""
    folder.mkdir(exist_ok=True)
    for name in mnist_data.MNIST_FILES:
        if name not in skip:
            os.symlink(os.path.join(mnist_data.DEFAULT_DATA_DIR, name + ".gz"), folder / (name + ".gz"))
    return folder


def _leftovers(folder):
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


# --- read_data_sets ----------------------------------------------------------------------------------------

def test_default_data_dir_is_repo_data():
    assert "MNIST_DATA_DIR" not in os.environ  # conftest.py unsets it: the tests read the repository's data
    assert mnist_data.resolve_data_dir() == os.path.join(ROOT, "data")
    assert os.path.isabs(mnist_data.DEFAULT_DATA_DIR)


def test_split_sizes_and_first_labels(mnist):
    assert (mnist.train.num_examples, mnist.validation.num_examples, mnist.test.num_examples) == (55000, 5000, 10000)
    for split in (mnist.train, mnist.validation, mnist.test):
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.labels.dtype == np.float32 and split.labels.shape == (split.num_examples, 10)
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert np.all(split.labels.sum(axis=1) == 1)
    # validation = the first 5000 training images, train = the rest, in MNIST's order
    assert list(mnist.validation.labels[:10].argmax(1)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(mnist.train.labels[:10].argmax(1)) == [7, 3, 4, 6, 1, 8, 1, 0, 9, 8]
    assert list(mnist.test.labels[:10].argmax(1)) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_integer_labels_and_validation_size(raw, fast_load):
    d = mnist_data.read_data_sets(one_hot=False, validation_size=0)
    assert d.train.num_examples == 60000 and d.validation.num_examples == 0
    assert np.array_equal(d.train.labels, raw[1]) and np.array_equal(d.test.labels, raw[3])
    with pytest.raises(ValueError, match="validation_size"):
        mnist_data.read_data_sets(validation_size=60001)


def test_train_mean_is_mnist_fingerprint(raw, mnist):
    assert raw[0].shape == (60000, 28, 28)
    assert raw[0].mean(dtype=np.float64) / 255 == pytest.approx(0.1306604762738429, abs=1e-15)
    total = mnist.train.images.sum(dtype=np.float64) + mnist.validation.images.sum(dtype=np.float64)
    assert total / (60000 * 784) == pytest.approx(0.1306604762738429, abs=1e-7)


def test_next_batch_covers_each_epoch_once():
    n = 10
    ds = mnist_data.DataSet(np.arange(n, dtype=np.float32)[:, None], np.arange(n), seed=4)
    seen = np.concatenate([ds.next_batch(3)[1] for _ in range(10)])   # 30 = 3 epochs, batches cross epochs
    epochs = seen.reshape(3, n)
    for epoch in epochs:
        assert sorted(epoch) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1])      # reshuffled per epoch
    assert ds.epochs_completed == 3
    with pytest.raises(ValueError):
        ds.next_batch(n + 1)


def test_next_batch_same_seed_same_order(mnist, fast_load):
    again = mnist_data.read_data_sets(seed=0).validation
    other = mnist_data.read_data_sets(seed=1).validation
    fresh = mnist_data.read_data_sets(seed=0).validation
    a = [again.next_batch(500)[0] for _ in range(10)]
    b = [fresh.next_batch(500)[0] for _ in range(10)]
    c = other.next_batch(500)[0]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c)
    # one epoch of real data: every validation image exactly once (the rows sum to the same total)
    assert np.concatenate(a).sum(dtype=np.float64) == pytest.approx(mnist.validation.images.sum(dtype=np.float64))
    assert sorted(np.concatenate([again.next_batch(500)[1] for _ in range(10)]).argmax(1)) == \
        sorted(mnist.validation.labels.argmax(1))


# --- file checks -------------------------------------------------------------------------------------------

def test_uncompressed_file_is_accepted(tmp_path):
    (tmp_path / SMALL).write_bytes(_content(SMALL))
    labels = mnist_data.load_idx(SMALL, str(tmp_path), download=False)
    assert labels.shape == (10000,) and list(labels[:3]) == [7, 2, 1]


def test_corrupted_file_is_a_clear_error(tmp_path):
    content = bytearray(_content(SMALL))
    content[500] = (content[500] + 1) % 10          # still a valid digit: only the checksum can tell
    with gzip.open(tmp_path / (SMALL + ".gz"), "wb") as f:
        f.write(bytes(content))
    with pytest.raises(DataError) as e:
        mnist_data.load_idx(SMALL, str(tmp_path), download=False)
    msg = str(e.value)
    assert str(tmp_path / (SMALL + ".gz")) in msg and "SHA-256" in msg and "download" in msg


def test_corrupted_file_stops_read_data_sets(tmp_path):
    _link_data(tmp_path, skip=[SMALL])
    content = bytearray(_content(SMALL))
    content[8] = 9 - content[8]
    (tmp_path / SMALL).write_bytes(bytes(content))
    with pytest.raises(DataError, match="corrupted"):
        mnist_data.read_data_sets(str(tmp_path), download=False)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file_is_a_clear_error(tmp_path, gz):
    if gz:
        data = (mnist_data.DEFAULT_DATA_DIR + "/" + SMALL + ".gz")
        raw = open(data, "rb").read()
        target = tmp_path / (SMALL + ".gz")
        target.write_bytes(raw[: len(raw) // 2])
    else:
        target = tmp_path / SMALL
        target.write_bytes(_content(SMALL)[:5000])
    with pytest.raises(DataError) as e:
        mnist_data.load_idx(SMALL, str(tmp_path), download=False)
    assert str(target) in str(e.value) and "truncated" in str(e.value)


def test_wrong_file_is_named(tmp_path):
    (tmp_path / SMALL).write_bytes(_content("train-labels-idx1-ubyte"))   # right magic, wrong size
    with pytest.raises(DataError, match="header says shape"):
        mnist_data.load_idx(SMALL, str(tmp_path), download=False)
    (tmp_path / SMALL).write_bytes(b"\x00" * 20000)
    with pytest.raises(DataError, match="magic number 0"):
        mnist_data.load_idx(SMALL, str(tmp_path), download=False)


def test_missing_file_without_download_names_folder(tmp_path):
    with pytest.raises(DataError) as e:
        mnist_data.read_data_sets(str(tmp_path), download=False)
    assert str(tmp_path) in str(e.value) and ".gz" in str(e.value)


# --- download, against a fake mirror on localhost ----------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    """An http.server thread serving tmp_path/site: /good/ has the real file, /bad/ a damaged one."""
    site = tmp_path / "site"
    for sub in ("good", "bad", "empty"):
        (site / sub).mkdir(parents=True)
    raw = open(os.path.join(mnist_data.DEFAULT_DATA_DIR, SMALL + ".gz"), "rb").read()
    (site / "good" / (SMALL + ".gz")).write_bytes(raw)
    content = bytearray(_content(SMALL))
    content[100] = (content[100] + 3) % 10
    (site / "bad" / (SMALL + ".gz")).write_bytes(gzip.compress(bytes(content)))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    yield {sub: base + sub + "/" for sub in ("good", "bad", "empty")}
    server.shutdown()
    server.server_close()


def test_download_verifies_and_falls_back(tmp_path, mirror, capsys):
    out = tmp_path / "data"
    path = mnist_data.download_file(SMALL, str(out), mirrors=[mirror["bad"], mirror["empty"], mirror["good"]])
    assert path == str(out / (SMALL + ".gz"))
    assert list(mnist_data.load_idx(SMALL, str(out), download=False)[:3]) == [7, 2, 1]
    err = capsys.readouterr().err
    assert "SHA-256" in err and "404" in err and "saved" in err
    assert _leftovers(out) == []


def test_download_checksum_failure_leaves_nothing(tmp_path, mirror):
    out = tmp_path / "data"
    with pytest.raises(DataError) as e:
        mnist_data.download_file(SMALL, str(out), mirrors=[mirror["bad"], mirror["empty"]],
                                 stream=open(os.devnull, "w"))
    assert mirror["bad"] in str(e.value) and mirror["empty"] in str(e.value) and str(out) in str(e.value)
    assert os.listdir(out) == []


def test_read_data_sets_downloads_missing_file_via_env(tmp_path, mirror, monkeypatch):
    data = _link_data(tmp_path / "data", skip=[SMALL])
    monkeypatch.setenv("MNIST_MIRRORS", mirror["empty"] + " " + mirror["good"])
    monkeypatch.setenv("MNIST_DATA_DIR", str(data))
    d = mnist_data.read_data_sets(one_hot=False)
    assert list(d.test.labels[:3]) == [7, 2, 1]
    assert (data / (SMALL + ".gz")).is_file() and _leftovers(data) == []


def test_no_network_fails_fast_and_says_where(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                      # nothing listens there now
    start = time.time()
    with pytest.raises(DataError) as e:
        mnist_data.read_data_sets(str(tmp_path / "none"), mirrors=[f"http://127.0.0.1:{port}/"])
    assert time.time() - start < 5
    assert "copy the four MNIST files" in str(e.value) and str(tmp_path / "none") in str(e.value)


# --- TFRecords ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def idx_tfrecords(tmp_path_factory, raw):
    """`python mnist_generateds.py` with no arguments, data folder chosen by MNIST_DATA_DIR.

    To keep the suite fast only the first 6,000 training images are written (the full test set is);
    the benchmark writes all 60,000.
    """
    data = _link_data(tmp_path_factory.mktemp("idx") / "data")
    train_x, train_y, test_x, test_y = raw
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNIST_DATA_DIR", str(data))
        mp.setattr(records, "load_mnist", lambda data_dir, *a: (train_x[:6000], train_y[:6000], test_x, test_y)
                   if data_dir == str(data) else pytest.fail("wrong data folder " + str(data_dir)))
        assert g.main([]) == 0
    return data


def test_default_run_writes_both_files(idx_tfrecords):
    assert records.count_records(str(idx_tfrecords / "mnist_train.tfrecords")) == 6000
    assert records.count_records(str(idx_tfrecords / "mnist_test.tfrecords")) == 10000
    assert _leftovers(idx_tfrecords) == []


def _run(tensors, n):
    import tensorflow.compat.v1 as tf
    with tf.Session() as sess:
        return [sess.run(tensors) for _ in range(n)]


def test_get_tfrecord_test_pass_is_in_order(idx_tfrecords, mnist):
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default():
        img, label = g.get_tfrecord(5000, isTrain=False, data_dir=str(idx_tfrecords))
        assert img.shape.as_list() == [5000, 784] and label.shape.as_list() == [5000, 10]
        assert img.dtype == tf.float32 and label.dtype == tf.float32
        batches = _run([img, label], 3)
    images = np.concatenate([b[0] for b in batches[:2]])
    labels = np.concatenate([b[1] for b in batches[:2]])
    assert np.array_equal(images, mnist.test.images) and np.array_equal(labels, mnist.test.labels)
    assert np.array_equal(batches[2][0], batches[0][0])          # the second pass starts again at record 0


def test_get_tfrecord_train_shuffles_reproducibly(idx_tfrecords, mnist):
    import tensorflow.compat.v1 as tf

    def first_batches(seed):
        with tf.Graph().as_default():
            return _run(g.get_tfrecord(200, data_dir=str(idx_tfrecords), seed=seed), 2)

    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    assert a[0][0].shape == (200, 784) and a[0][1].shape == (200, 10)
    assert np.array_equal(a[0][0], b[0][0]) and np.array_equal(a[1][1], b[1][1])
    assert not np.array_equal(a[0][0], c[0][0])
    train_in_order = np.concatenate([mnist.validation.images[:200], mnist.train.images[:200]])
    assert not np.array_equal(a[0][0], train_in_order[:200])     # shuffled, not file order
    assert np.all(a[0][1].sum(axis=1) == 1)


def test_get_tfrecord_errors(tmp_path):
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default():
        with pytest.raises(DataError, match="python mnist_generateds.py"):
            g.get_tfrecord(10, data_dir=str(tmp_path))
    if tf.executing_eagerly():
        with pytest.raises(RuntimeError, match="tf.Graph"):
            g.get_tfrecord(10, data_dir=str(tmp_path))


def test_tfrecord_write_is_atomic(tmp_path, raw):
    target = tmp_path / "t.tfrecords"
    target.write_bytes(b"old")
    labels = raw[1][:20].copy()
    labels[15] = 10                                  # make_example fails on the 16th image
    with pytest.raises(IndexError):
        records.write_tfrecord(str(target), raw[0][:20], labels, stream=open(os.devnull, "w"))
    assert target.read_bytes() == b"old" and _leftovers(tmp_path) == []
    records.write_tfrecord(str(target), raw[0][:20], raw[1][:20], stream=open(os.devnull, "w"))
    assert records.count_records(str(target)) == 20
    with open(target, "r+b") as f:
        f.truncate(os.path.getsize(target) - 10)
    with pytest.raises(DataError, match="truncated"):
        records.count_records(str(target))


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_round_trip_export_tfrecords_get_tfrecord(tmp_path, raw, fmt, capsys):
    import tensorflow.compat.v1 as tf
    n = 150
    out = tmp_path / "mnist_data_jpg"
    assert g.main(["export-jpg", "--out", str(out), "--limit", str(n), "--format", fmt]) == 0
    folder, label_file = out / f"mnist_train_{fmt}_{n}", out / f"mnist_train_{fmt}_{n}.txt"
    lines = label_file.read_text().splitlines()
    assert lines[0] == f"0_5.{fmt} 5" and len(lines) == n and len(os.listdir(folder)) == n
    assert (out / f"mnist_test_{fmt}_{n}.txt").read_text().splitlines()[0] == f"0_7.{fmt} 7"
    record = tmp_path / "mine.tfrecords"
    assert g.main(["tfrecords", "--image-dir", str(folder), "--label-file", str(label_file),
                   "--output", str(record)]) == 0
    with tf.Graph().as_default():
        img, label = g.get_tfrecord(50, isTrain=False, path=str(record))
        batches = _run([img, label], 3)
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches]).argmax(1)
    assert np.array_equal(labels, raw[1][:n])
    decoded = np.stack([np.asarray(Image.open(folder / line.split()[0]), np.float32) for line in lines])
    assert np.array_equal(np.round(images * 255), decoded.reshape(n, 784))     # exactly the exported pixels
    diff = np.abs(decoded.reshape(n, 784) - raw[0][:n].reshape(n, 784))
    if fmt == "png":
        assert diff.max() == 0                                     # lossless
    else:
        assert diff.max() <= 16 and diff.mean() <= 1.0             # JPEG at quality 95


def _bad_rows_folder(tmp_path, raw):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(raw[0][i], "L").save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image at all")
    label_file = tmp_path / "labels.txt"
    label_file.write_text("\n".join([
        "0.png 5",          # 1 good
        "1.png 0",          # 2 good
        "nothere.png 3",    # 3 missing file
        "broken.png 1",     # 4 unreadable
        "2.png 12",         # 5 label not 0-9
        "0.png 5",          # 6 duplicate
        "2.png",            # 7 malformed
        "",                 # 8 blank: ignored
        "2.png x",          # 9 label not a digit
    ]) + "\n")
    return folder, label_file


def test_bad_rows_are_reported_with_line_numbers(tmp_path, raw, capsys):
    folder, label_file = _bad_rows_folder(tmp_path, raw)
    output = tmp_path / "out" / "bad.tfrecords"
    assert g.main(["tfrecords", "--image-dir", str(folder), "--label-file", str(label_file),
                   "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "6 bad row(s)" in err and "nothing was written" in err
    for lineno, what in [(3, "no such file"), (4, "unreadable"), (5, "not a digit 0-9"),
                         (6, "duplicate name (first on line 1)"), (7, "expected 'NAME LABEL'"), (9, "not a digit")]:
        assert f"line {lineno}:" in err and what in err
    assert "line 1:" not in err and "line 2:" not in err and "line 8:" not in err
    assert not output.exists() and (not output.parent.exists() or os.listdir(output.parent) == [])


def test_large_or_colour_image_uses_app_preprocessing(tmp_path, raw):
    """Images that are not 28x28 grey with light ink on black go through the app's preprocessing."""
    big = Image.fromarray(255 - raw[0][0], "L").resize((112, 112)).convert("RGB")   # dark ink on white, RGB
    path = tmp_path / "big.png"
    big.save(path)
    small_inverted = tmp_path / "small.png"                        # 28x28 grey but dark ink on white
    Image.fromarray(255 - raw[0][0], "L").save(small_inverted)
    for p in (path, small_inverted):
        pixels = records.image_to_pixels(str(p))
        assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
        expected = np.round(np.clip(pictures.preprocess(pictures.load_image(str(p))), 0, 1) * 255)
        assert np.array_equal(pixels, expected.astype(np.uint8))
        assert pixels[0, 0] == 0 and pixels.max() > 200              # light ink on black, like MNIST


def test_help_lists_subcommands_with_defaults(capsys):
    with pytest.raises(SystemExit):
        g.main(["--help"])
    text = capsys.readouterr().out
    for word in ("download", "check", "tfrecords", "export-jpg", "--data-dir", "(default:"):
        assert word in text
    with pytest.raises(SystemExit):
        g.main(["export-jpg", "--help"])
    text = capsys.readouterr().out
    assert "--limit" in text and "--format" in text and "(default: jpg)" in text and "(default: 95)" in text


def test_check_command(tmp_path, capsys):
    assert g.main(["check"]) == 0
    assert g.main(["--data-dir", str(tmp_path), "check"]) == 1
    assert "missing" in capsys.readouterr().err


def test_only_mnist_style_images_are_taken_pixel_for_pixel(tmp_path, raw):
    # The preprocessing is always there now (tfnotes.pictures, no import of the app script); a 56x56
    # picture goes through it, even when it is light ink on black already.
    path = tmp_path / "big.png"
    Image.fromarray(raw[0][0], "L").resize((56, 56)).save(path)
    expected = np.round(np.clip(pictures.preprocess(pictures.load_image(str(path))), 0, 1) * 255)
    assert np.array_equal(records.image_to_pixels(str(path)), expected.astype(np.uint8))
    mnist_style = tmp_path / "ok.png"
    Image.fromarray(raw[0][0], "L").save(mnist_style)
    assert np.array_equal(records.image_to_pixels(str(mnist_style)), raw[0][0])


def test_own_photos_to_tfrecord(tmp_path, root):
    """The lesson's use: a folder of real digit pictures + label file -> TFRecord, via the app's preprocessing."""
    import tensorflow.compat.v1 as tf
    photos = root / "pic"   # the repository's sample photos of digits 0-9
    label_file = tmp_path / "labels.txt"
    label_file.write_text("".join(f"{d}.png {d}\n" for d in range(10)))
    record = tmp_path / "photos.tfrecords"
    assert g.main(["tfrecords", "--image-dir", str(photos), "--label-file", str(label_file),
                   "--output", str(record)]) == 0
    with tf.Graph().as_default():
        images, labels = _run(g.get_tfrecord(10, isTrain=False, path=str(record)), 1)[0]
    assert list(labels.argmax(1)) == list(range(10))
    for img in images.reshape(10, 28, 28):
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        assert border.max() < 0.2 and 0.03 < img.mean() < 0.3       # light ink on black, MNIST-like weight


def test_test_batches_that_do_not_divide_the_file(tmp_path, raw):
    import tensorflow.compat.v1 as tf
    record = tmp_path / "small.tfrecords"
    records.write_tfrecord(str(record), raw[2][:25], raw[3][:25], stream=open(os.devnull, "w"))
    with tf.Graph().as_default():
        img, label = g.get_tfrecord(10, isTrain=False, path=str(record))
        assert img.shape.as_list() == [None, 784]
        batches = _run([img, label], 4)
    assert [len(b[0]) for b in batches] == [10, 10, 5, 10]         # one pass = 25 records, then again from 0
    assert list(np.concatenate([b[1] for b in batches[:3]]).argmax(1)) == list(raw[3][:25])
    assert np.array_equal(batches[3][0], batches[0][0])
