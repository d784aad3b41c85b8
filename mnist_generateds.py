"""MNIST data layer: verified loading, TFRecord data sets and their command line.

Lesson "如何制作数据集" (making your own data set) in runnable form:

    python mnist_generateds.py              # IDX files -> data/mnist_train.tfrecords, data/mnist_test.tfrecords
    python mnist_generateds.py download     # fetch any missing MNIST file (checked by SHA-256)
    python mnist_generateds.py export-jpg   # MNIST as image folders + label files (the course's layout)
    python mnist_generateds.py tfrecords --image-dir DIR --label-file FILE --output FILE

In Python:
    read_data_sets()        replaces TF1's removed tensorflow.examples.tutorials.mnist.input_data
    get_tfrecord(num)       graph-mode (images, labels) batch tensors read from a TFRecord file with tf.data

Every MNIST file is checked (magic number, sizes, SHA-256 of the decompressed content) before use, so a
model is never trained on damaged data without an error saying which file and what to do.
"""
import argparse
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zlib

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_DIR = os.path.dirname(os.path.abspath(__file__))

# The one place for defaults.
IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10
VALIDATION_SIZE = 5000
TRAIN_TFRECORD = "mnist_train.tfrecords"
TEST_TFRECORD = "mnist_test.tfrecords"
EXPORT_DIRNAME = "mnist_data_jpg"
JPEG_QUALITY = 95
SHUFFLE_BUFFER = 1000          # the course's queue held 1000 examples
DOWNLOAD_TIMEOUT_S = 5         # per connection attempt and read; no network fails in seconds, not minutes
# Public mirrors serving the original gzip files, tried in order. MNIST_MIRRORS (space separated base
# URLs) replaces the list, e.g. for a local copy.
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

# name -> (SHA-256 of the decompressed file, IDX magic number, number of items)
MNIST_FILES = {
    "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 2051, 60000),
    "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 2049, 60000),
    "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 2051, 10000),
    "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 2049, 10000),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def resolve_data_dir(data_dir=None):
    """The data folder: the argument, else $MNIST_DATA_DIR, else <repo>/data; always absolute."""
    if data_dir is None:
        data_dir = os.environ.get("MNIST_DATA_DIR") or os.path.join(REPO_DIR, "data")
    return os.path.abspath(os.path.expanduser(data_dir))


DEFAULT_DATA_DIR = resolve_data_dir()


class DataError(ValueError):
    """A data file is missing, damaged or malformed. The message names the file and the fix."""


def _fix_hint(data_dir):
    return ("Delete it and run `python mnist_generateds.py download --data-dir {0}` to fetch a fresh copy, "
            "or copy the original MNIST .gz files into {0}.".format(data_dir))


# ---------------------------------------------------------------------------------------------------------
# Reading and checking IDX files
# ---------------------------------------------------------------------------------------------------------

def _gunzip(raw, path, fix):
    """Decompress all gzip members of `raw`; a cut-off stream is an error, not a short array."""
    out, rest = [], raw
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(rest))
        except zlib.error as e:
            raise DataError("{}: damaged gzip data ({}). {}".format(path, e, fix))
        if not d.eof:
            raise DataError("{}: the gzip file is truncated (it ends before its data does). {}".format(path, fix))
        rest = d.unused_data
    return b"".join(out)


def read_idx_bytes(path, fix=None):
    """The decompressed content of an IDX file, `.gz` or plain (recognised by its gzip header).

    `fix` is the advice appended to an error (default: how to replace the file).
    """
    with open(path, "rb") as f:
        raw = f.read()
    fix = _fix_hint(os.path.dirname(path)) if fix is None else fix
    return _gunzip(raw, path, fix) if raw[:2] == b"\x1f\x8b" else raw


def parse_idx(content, name, path, fix=None):
    """Check the IDX header of one MNIST file and return its uint8 array (images [N,28,28], labels [N])."""
    sha, magic, count = MNIST_FILES[name]
    fix = _fix_hint(os.path.dirname(path)) if fix is None else fix
    header_len = 16 if magic == IMAGES_MAGIC else 8
    if len(content) < header_len:
        raise DataError("{}: only {} bytes, too short for an IDX header; the file is truncated. {}".format(
            path, len(content), fix))
    header = np.frombuffer(content, ">u4", count=header_len // 4)
    if int(header[0]) != magic:
        raise DataError("{}: magic number {} where {} was expected; this is not the MNIST file {}. {}".format(
            path, int(header[0]), magic, name, fix))
    shape = (count, IMAGE_SIZE, IMAGE_SIZE) if magic == IMAGES_MAGIC else (count,)
    if tuple(int(v) for v in header[1:]) != shape:
        raise DataError("{}: header says shape {}, MNIST's {} has {}. {}".format(
            path, tuple(int(v) for v in header[1:]), name, shape, fix))
    expected_len = header_len + int(np.prod(shape))
    if len(content) != expected_len:
        what = "truncated" if len(content) < expected_len else "longer than its header says"
        raise DataError("{}: {} bytes after decompression, {} expected; the file is {}. {}".format(
            path, len(content), expected_len, what, fix))
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha:
        raise DataError("{}: SHA-256 of the decompressed content is {}, expected {}; the file is corrupted "
                        "or is not the original MNIST. {}".format(path, digest, sha, fix))
    return np.frombuffer(content, np.uint8, offset=header_len).reshape(shape)


def find_file(name, data_dir):
    """Path of `name`.gz or `name` in data_dir, or None."""
    for candidate in (name + ".gz", name):
        path = os.path.join(data_dir, candidate)
        if os.path.isfile(path):
            return path
    return None


def load_idx(name, data_dir=None, download=True, mirrors=None):
    """One verified MNIST file as a uint8 array, downloading it first if it is missing."""
    data_dir = resolve_data_dir(data_dir)
    path = find_file(name, data_dir)
    if path is None:
        if not download:
            raise DataError("{} is missing: put {}.gz (or the decompressed file) into {}.".format(
                name, name, data_dir))
        path = download_file(name, data_dir, mirrors=mirrors)
    return parse_idx(read_idx_bytes(path), name, path)


def load_mnist(data_dir=None, download=True, mirrors=None):
    """All of MNIST as uint8 arrays: (train_images [60000,28,28], train_labels, test_images, test_labels)."""
    return tuple(load_idx(name, data_dir, download, mirrors) for name in (
        "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


# ---------------------------------------------------------------------------------------------------------
# Downloading
# ---------------------------------------------------------------------------------------------------------

def mirror_list(mirrors=None):
    """The mirrors to try: the argument, else $MNIST_MIRRORS (space separated), else MIRRORS."""
    if mirrors is None:
        env = os.environ.get("MNIST_MIRRORS", "").split()
        mirrors = env or MIRRORS
    return [m if m.endswith("/") else m + "/" for m in mirrors]


def _progress(stream, text, final=False):
    """One updating line on a terminal; in a log file only the final state, so logs stay readable."""
    tty = getattr(stream, "isatty", lambda: False)()
    if tty:
        stream.write("\r  " + text + ("\n" if final else ""))
        stream.flush()
    elif final:
        stream.write("  " + text + "\n")


def _fetch(url, dest, label, timeout, stream):
    """Stream `url` into the open file `dest`, showing progress."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while True:
            chunk = response.read(1 << 16)
            if not chunk:
                break
            dest.write(chunk)
            done += len(chunk)
            if total:
                _progress(stream, "{}: {:5.1f}% ({:.1f} of {:.1f} MB)".format(
                    label, 100.0 * done / total, done / 1e6, total / 1e6))
    _progress(stream, "{}: {:.1f} MB received".format(label, done / 1e6), final=True)
    if total and done != total:
        raise OSError("connection closed after {} of {} bytes".format(done, total))
    return done


def download_file(name, data_dir=None, mirrors=None, timeout=DOWNLOAD_TIMEOUT_S, stream=None):
    """Download `name`.gz into data_dir from the first mirror that serves the right content.

    The file goes to a temporary name in the same folder, is verified (SHA-256 of the decompressed
    content) and only then renamed into place, so an interrupted or bad download never looks complete.
    """
    stream = stream or sys.stderr
    data_dir = resolve_data_dir(data_dir)
    os.makedirs(data_dir, exist_ok=True)
    final = os.path.join(data_dir, name + ".gz")
    failures = []
    for base in mirror_list(mirrors):
        url = base + name + ".gz"
        stream.write("Downloading {}\n".format(url))
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix="." + name + ".gz.", suffix=".tmp")
        _usual_mode(tmp)
        try:
            with os.fdopen(fd, "wb") as dest:
                size = _fetch(url, dest, name + ".gz", timeout, stream)
            parse_idx(read_idx_bytes(tmp, fix=""), name, url, fix="")
        except (OSError, DataError, ValueError) as e:   # network errors are OSErrors; try the next mirror
            os.remove(tmp)
            failures.append("  {}: {}".format(url, str(e).strip()))
            stream.write("  failed: {}\n".format(str(e).strip()))
            continue
        except BaseException:                          # Ctrl-C: leave no partial file behind
            os.remove(tmp)
            raise
        os.replace(tmp, final)
        stream.write("  saved {} ({:.1f} MB, SHA-256 verified)\n".format(final, size / 1e6))
        return final
    raise DataError(
        "Could not download {}.gz from any mirror:\n{}\nWithout network access, copy the four MNIST files "
        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz) into {} (or point --data-dir / MNIST_DATA_DIR at a folder holding them)."
        .format(name, "\n".join(failures), data_dir))


def download(data_dir=None, mirrors=None):
    """Fetch every MNIST file missing from data_dir, then verify all four. Returns the folder."""
    data_dir = resolve_data_dir(data_dir)
    for name in MNIST_FILES:
        if find_file(name, data_dir) is None:
            download_file(name, data_dir, mirrors)
    load_mnist(data_dir, download=False)
    return data_dir


# ---------------------------------------------------------------------------------------------------------
# read_data_sets: the in-memory data set of the course's first lessons
# ---------------------------------------------------------------------------------------------------------

class DataSet(object):
    """One split: `images` float32 [N,784] in [0,1], `labels`, `num_examples`, `next_batch(n)`."""

    def __init__(self, images, labels, seed=None):
        assert len(images) == len(labels)
        self.images = images
        self.labels = labels
        self.num_examples = len(images)
        self.epochs_completed = 0
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(self.num_examples)
        self._pos = 0

    def next_batch(self, batch_size):
        """The next `batch_size` examples of a per-epoch shuffle; each example appears once per epoch.

        A batch that crosses the end of an epoch takes the rest of the old epoch, then the start of a
        freshly shuffled one.
        """
        if not 0 < batch_size <= self.num_examples:
            raise ValueError("batch_size must be in 1..{}, got {}".format(self.num_examples, batch_size))
        parts, need = [], batch_size
        while need:
            take = self._order[self._pos:self._pos + need]
            parts.append(take)
            need -= len(take)
            self._pos += len(take)
            if self._pos == self.num_examples:
                self.epochs_completed += 1
                self._order = self._rng.permutation(self.num_examples)
                self._pos = 0
        index = np.concatenate(parts)
        return self.images[index], self.labels[index]


class DataSets(object):
    def __init__(self, train, validation, test):
        self.train, self.validation, self.test = train, validation, test


def _images_to_float(images):
    return np.multiply(images.reshape(len(images), IMAGE_PIXELS), np.float32(1.0 / 255.0), dtype=np.float32)


def _labels_out(labels, one_hot):
    if not one_hot:
        return labels.astype(np.int64)
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def read_data_sets(data_dir=None, one_hot=True, validation_size=VALIDATION_SIZE, seed=None,
                   download=True, mirrors=None):
    """MNIST as train (55,000) / validation (5,000) / test (10,000) in the original order.

    The validation set is the first `validation_size` training images, as in TF1's input_data.
    `seed` fixes each split's batch order in next_batch (None: different on every run).
    """
    train_x, train_y, test_x, test_y = load_mnist(data_dir, download, mirrors)
    if not 0 <= validation_size <= len(train_x):
        raise ValueError("validation_size must be in 0..{}, got {}".format(len(train_x), validation_size))
    seeds = [None] * 3 if seed is None else [[seed, i] for i in range(3)]
    x, y = _images_to_float(train_x), _labels_out(train_y, one_hot)
    tx, ty = _images_to_float(test_x), _labels_out(test_y, one_hot)
    return DataSets(DataSet(x[validation_size:], y[validation_size:], seeds[0]),
                    DataSet(x[:validation_size], y[:validation_size], seeds[1]),
                    DataSet(tx, ty, seeds[2]))


# ---------------------------------------------------------------------------------------------------------
# TFRecord writing (the course's format: img_raw = 784 raw bytes, label = one-hot int64[10])
# ---------------------------------------------------------------------------------------------------------

def _tf():
    import tensorflow.compat.v1 as tf  # imported late: loading MNIST alone should not pay for TensorFlow
    return tf


def make_example(pixels, label):
    """One tf.train.Example in the course's format from uint8 pixels [28,28] and an int label."""
    tf = _tf()
    one_hot = [0] * NUM_CLASSES
    one_hot[int(label)] = 1
    return tf.train.Example(features=tf.train.Features(feature={
        "img_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.asarray(pixels, np.uint8).tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=one_hot)),
    }))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary file name beside `path`; it is renamed over `path` only when the block completes.

    On any error (Ctrl-C included) the temporary file is removed and an existing `path` stays as it was,
    so a reader never sees a half-written file. Shared by every script that writes results.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    _usual_mode(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _usual_mode(path, directory=False):
    """mkstemp/mkdtemp make private files; give the result the permissions a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


def write_tfrecord(path, images, labels, stream=None):
    """Write uint8 images [N,28,28] and int labels [N] to a TFRecord file, atomically. Returns N."""
    tf = _tf()
    images = np.asarray(images, np.uint8).reshape(-1, IMAGE_PIXELS)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError("{} images but {} labels".format(len(images), len(labels)))
    stream = stream or sys.stdout
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        step = max(1, len(images) // 10)
        for i, (pixels, label) in enumerate(zip(images, labels)):
            writer.write(make_example(pixels, label).SerializeToString())
            if (i + 1) % step == 0 or i + 1 == len(images):
                _progress(stream, "{}: {}/{} images".format(os.path.basename(path), i + 1, len(images)),
                          final=i + 1 == len(images))
    return len(images)


def count_records(path):
    """Number of records in a TFRecord file, read from its framing without TensorFlow."""
    n, size = 0, os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            header = f.read(12)
            if len(header) < 12:
                raise DataError("{}: truncated TFRecord file (record {}).".format(path, n))
            length = int(np.frombuffer(header[:8], "<u8")[0])
            pos += 12 + length + 4
            f.seek(pos)
            n += 1
    if pos != size:
        raise DataError("{}: truncated TFRecord file (last record incomplete); write it again.".format(path))
    return n


def write_mnist_tfrecords(data_dir=None, out_dir=None, download=True, mirrors=None, stream=None):
    """What the course's script did: the IDX files -> mnist_train.tfrecords, mnist_test.tfrecords."""
    data_dir = resolve_data_dir(data_dir)
    out_dir = out_dir or data_dir
    train_x, train_y, test_x, test_y = load_mnist(data_dir, download, mirrors)
    paths = []
    for fname, x, y in ((TRAIN_TFRECORD, train_x, train_y), (TEST_TFRECORD, test_x, test_y)):
        path = os.path.join(out_dir, fname)
        write_tfrecord(path, x, y, stream)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------------------
# Image folders + label files (the course's mnist_data_jpg layout)
# ---------------------------------------------------------------------------------------------------------

def image_to_pixels(path):
    """uint8 [28,28] pixels of an image file, MNIST convention (light ink on black).

    An image that is already MNIST-style (28x28, single channel 'L', dark border) is taken as it is,
    pixel for pixel, so exported MNIST comes back unchanged. Anything else (other sizes or modes, or
    dark ink on a light background) goes through the digit app's preprocessing (mnist_app.load_image +
    preprocess), so training data made from photos is converted exactly like the pictures the app
    will classify.
    """
    from PIL import Image
    with Image.open(path) as img:
        if img.mode == "L" and img.size == (IMAGE_SIZE, IMAGE_SIZE):
            pixels = np.asarray(img, np.uint8).copy()
            border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
            if border.mean() < 128:
                return pixels
        desc = "{}x{} {}".format(img.size[0], img.size[1], img.mode)
    try:
        import mnist_app
        convert = mnist_app.preprocess, mnist_app.load_image
    except (ImportError, AttributeError) as e:
        raise ValueError("image is {}, not 28x28 greyscale with light ink on black, and mnist_app's "
                         "preprocessing is not available ({}); convert it first".format(desc, e))
    preprocess, load_image = convert
    arr = np.asarray(preprocess(load_image(path)), np.float32)
    if arr.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError("preprocessing returned shape {}, expected 28x28".format(arr.shape))
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def parse_label_file(label_file):
    """Rows (line number, name, label) of a `NAME LABEL` file, plus a list of line-numbered errors."""
    rows, errors, seen = [], [], {}
    with open(label_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                errors.append("line {}: expected 'NAME LABEL', got {!r}".format(lineno, line.rstrip("\n")))
                continue
            name, label = fields
            if label not in [str(d) for d in range(NUM_CLASSES)]:
                errors.append("line {}: {}: label {!r} is not a digit 0-9".format(lineno, name, label))
                continue
            if name in seen:
                errors.append("line {}: {}: duplicate name (first on line {})".format(lineno, name, seen[name]))
                continue
            seen[name] = lineno
            rows.append((lineno, name, int(label)))
    return rows, errors


def read_image_folder(image_dir, label_file):
    """uint8 images [N,28,28] and labels [N] from a folder and its label file, in the file's order.

    Every bad row (malformed line, label not 0-9, duplicate name, missing or unreadable image) is
    collected; if there is any, one DataError lists them all with line numbers.
    """
    for what, path, check in (("image folder", image_dir, os.path.isdir), ("label file", label_file, os.path.isfile)):
        if not check(path):
            raise DataError("{} {} does not exist.".format(what, path))
    rows, errors = parse_label_file(label_file)
    images, labels = [], []
    for lineno, name, label in rows:
        path = os.path.join(image_dir, name)
        if not os.path.isfile(path):
            errors.append("line {}: {}: no such file in {}".format(lineno, name, image_dir))
            continue
        try:
            images.append(image_to_pixels(path))
            labels.append(label)
        except Exception as e:  # any decoder failure is a bad row to report, not a crash
            errors.append("line {}: {}: unreadable or unusable image ({})".format(lineno, name, e))
    if errors:
        errors.sort(key=lambda s: int(s.split(":")[0].split()[1]))
        shown = errors[:50] + (["... and {} more".format(len(errors) - 50)] if len(errors) > 50 else [])
        raise DataError("{}: {} bad row(s); nothing was written. Fix them and run again:\n  {}".format(
            label_file, len(errors), "\n  ".join(shown)))
    if not images:
        raise DataError("{}: no images listed; nothing was written.".format(label_file))
    return np.stack(images), np.asarray(labels, np.int64)


def export_split(images, labels, out_root, split, fmt="jpg", quality=JPEG_QUALITY, stream=None):
    """Save one split as `<out_root>/mnist_<split>_<fmt>_<N>/{i}_{label}.<fmt>` + `mnist_<split>_<fmt>_<N>.txt`.

    The folder is built under a temporary name and renamed when complete; the label file is written
    last, atomically, so a finished label file always describes a finished folder.
    """
    from PIL import Image
    stream = stream or sys.stdout
    base = "mnist_{}_{}_{}".format(split, fmt, len(images))
    folder, label_path = os.path.join(out_root, base), os.path.join(out_root, base + ".txt")
    os.makedirs(out_root, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(dir=out_root, prefix="." + base + ".", suffix=".tmp")
    _usual_mode(tmp_dir, directory=True)
    try:
        lines, step = [], max(1, len(images) // 10)
        for i, (pixels, label) in enumerate(zip(images, labels)):
            name = "{}_{}.{}".format(i, int(label), fmt)
            options = {"quality": quality} if fmt == "jpg" else {}
            Image.fromarray(np.asarray(pixels, np.uint8), "L").save(os.path.join(tmp_dir, name), **options)
            lines.append("{} {}\n".format(name, int(label)))
            if (i + 1) % step == 0 or i + 1 == len(images):
                _progress(stream, "{}: {}/{} images".format(base, i + 1, len(images)), final=i + 1 == len(images))
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(tmp_dir, folder)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    with atomic_path(label_path) as tmp_label, open(tmp_label, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return folder, label_path


def export_images(data_dir=None, out_root=None, fmt="jpg", quality=JPEG_QUALITY, limit=None,
                  download=True, mirrors=None, stream=None):
    """Export MNIST train and test as image folders + label files. `limit`: first N of each split."""
    data_dir = resolve_data_dir(data_dir)
    out_root = out_root or os.path.join(data_dir, EXPORT_DIRNAME)
    train_x, train_y, test_x, test_y = load_mnist(data_dir, download, mirrors)
    results = []
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if limit is not None:
            x, y = x[:limit], y[:limit]
        results.append(export_split(x, y, out_root, split, fmt, quality, stream))
    return results


def write_folder_tfrecord(image_dir, label_file, output, stream=None):
    """The course's lesson: an image folder + `NAME LABEL` file -> one TFRecord file. Returns N."""
    images, labels = read_image_folder(image_dir, label_file)
    return write_tfrecord(output, images, labels, stream)


# ---------------------------------------------------------------------------------------------------------
# get_tfrecord: graph-mode batches on tf.data
# ---------------------------------------------------------------------------------------------------------

def _parse_batch(serialized):
    """Serialized examples [B] -> (float32 images [B,784] in [0,1], float32 one-hot labels [B,10])."""
    tf = _tf()
    features = tf.io.parse_example(serialized, {
        "img_raw": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([NUM_CLASSES], tf.int64),
    })
    pixels = tf.reshape(tf.io.decode_raw(features["img_raw"], tf.uint8), [-1, IMAGE_PIXELS])
    return tf.cast(pixels, tf.float32) * (1.0 / 255.0), tf.cast(features["label"], tf.float32)


def tfrecord_dataset(path, num, isTrain=True, seed=None, shuffle_buffer=SHUFFLE_BUFFER):
    """The tf.data pipeline behind get_tfrecord (usable in eager mode too)."""
    tf = _tf()
    ds = tf.data.TFRecordDataset(path)
    if isTrain:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.batch(num, drop_remainder=True)
    else:
        ds = ds.batch(num).repeat()   # every record once per pass, in file order
    return ds.map(_parse_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def get_tfrecord(num, isTrain=True, data_dir=None, path=None, seed=None, shuffle_buffer=SHUFFLE_BUFFER):
    """(img_batch float32 [num,784] in [0,1], label_batch float32 [num,10]) tensors in the current graph.

    Training batches are shuffled (a `shuffle_buffer`-example buffer, like the course's queue) and
    repeat forever. Test batches read every record exactly once per pass, in file order; a pass over
    N records is ceil(N/num) batches, the last one shorter if num does not divide N.
    Each sess.run of the returned tensors gives the next batch. Build it inside a graph
    (`with tf.Graph().as_default():` or after tf.disable_eager_execution()).
    """
    tf = _tf()
    if tf.executing_eagerly():
        raise RuntimeError("get_tfrecord builds graph-mode tensors: call it inside `with tf.Graph().as_default():` "
                           "or after tf.disable_eager_execution(); in eager code use tfrecord_dataset().")
    if path is None:
        path = os.path.join(resolve_data_dir(data_dir), TRAIN_TFRECORD if isTrain else TEST_TFRECORD)
    if not os.path.isfile(path):
        raise DataError("{} does not exist: run `python mnist_generateds.py` to write the TFRecord files "
                        "from the MNIST data.".format(path))
    n = count_records(path)
    if isTrain and num > n:
        raise ValueError("batch size {} is larger than the {} records in {}".format(num, n, path))
    ds = tfrecord_dataset(path, num, isTrain, seed, shuffle_buffer)
    img_batch, label_batch = tf.data.make_one_shot_iterator(ds).get_next()
    rows = num if (isTrain or n % num == 0) else None
    img_batch.set_shape([rows, IMAGE_PIXELS])
    label_batch.set_shape([rows, NUM_CLASSES])
    return img_batch, label_batch


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------

def build_parser():
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        description="MNIST data tools. With no subcommand: write data/mnist_train.tfrecords and "
                    "data/mnist_test.tfrecords from the MNIST IDX files (offline).", formatter_class=fmt)
    parser.add_argument("--data-dir", default=resolve_data_dir(),
                        help="folder holding the MNIST .gz files (env MNIST_DATA_DIR sets the default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("download", formatter_class=fmt,
                   help="fetch any missing MNIST file into --data-dir and verify all four (SHA-256)")
    sub.add_parser("check", formatter_class=fmt, help="verify the four MNIST files without downloading")
    p = sub.add_parser("tfrecords", formatter_class=fmt,
                       help="write TFRecord files: from the IDX files (default) or from an image folder")
    p.add_argument("--image-dir", help="folder of images, used with --label-file and --output; None: the IDX files")
    p.add_argument("--label-file", help="text file with one 'NAME LABEL' line per image")
    p.add_argument("--output", help="TFRecord file to write (from IDX: DATA_DIR/mnist_{train,test}.tfrecords)")
    p = sub.add_parser("export-jpg", formatter_class=fmt,
                       help="save MNIST as image folders + label files (course layout mnist_data_jpg/)")
    p.add_argument("--out", help="output folder; None means DATA_DIR/{}".format(EXPORT_DIRNAME))
    p.add_argument("--format", choices=("jpg", "png"), default="jpg",
                   help="jpg as in the course (lossy) or png (lossless, pixels exact)")
    p.add_argument("--quality", type=int, default=JPEG_QUALITY, help="JPEG quality 1-100")
    p.add_argument("--limit", type=int, default=None, help="export only the first N images of each split (None: all)")
    return parser


def run_tfrecords(args):
    given = [args.image_dir, args.label_file, args.output]
    if any(given) and not all(given):
        raise DataError("from an image folder, give all three of --image-dir, --label-file and --output")
    if all(given):
        n = write_folder_tfrecord(args.image_dir, args.label_file, args.output)
        print("Wrote {} records to {}".format(n, os.path.abspath(args.output)))
    else:
        for path in write_mnist_tfrecords(args.data_dir):
            print("Wrote {} records to {}".format(count_records(path), path))


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "tfrecords"):
            if args.command is None:
                args.image_dir = args.label_file = args.output = None
            run_tfrecords(args)
        elif args.command == "download":
            print("MNIST files verified in {}".format(download(args.data_dir)))
        elif args.command == "check":
            load_mnist(args.data_dir, download=False)
            print("All four MNIST files in {} are complete and match their SHA-256.".format(args.data_dir))
        elif args.command == "export-jpg":
            if args.limit is not None and args.limit < 1:
                raise DataError("--limit must be at least 1, got {}".format(args.limit))
            if not 1 <= args.quality <= 100:
                raise DataError("--quality must be in 1..100, got {}".format(args.quality))
            for folder, label_path in export_images(args.data_dir, args.out, args.format, args.quality, args.limit):
                print("Wrote {} and {}".format(folder, label_path))
    except (DataError, OSError) as e:   # bad data or an unwritable folder: a message, not a traceback
        print("error: {}".format(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
