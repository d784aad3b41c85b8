"""MNIST: verified IDX files, download from mirrors, and read_data_sets.

read_data_sets() replaces TF1's removed tensorflow.examples.tutorials.mnist.input_data. Every MNIST
file is checked (magic number, sizes, SHA-256 of the decompressed content) before use, so a model is
never trained on damaged data without an error saying which file and what to do. No TensorFlow here.
"""
import hashlib
import os
import sys
import tempfile
import urllib.request
import zlib

import numpy as np

from tfnotes.atomic import usual_mode
from tfnotes.errors import DataError

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The one place for the data's defaults.
IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
NUM_CLASSES = 10
VALIDATION_SIZE = 5000
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
DATA_DIR_HELP = "MNIST folder (default: $MNIST_DATA_DIR where it is set, else <repo>/data)"  # every --data-dir

def _fix_hint(data_dir):
    return (f"Delete it and run `python mnist_generateds.py download --data-dir {data_dir}` to fetch a fresh copy, "
            f"or copy the original MNIST .gz files into {data_dir}.")


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
            raise DataError(f"{path}: damaged gzip data ({e}). {fix}") from None
        if not d.eof:
            raise DataError(f"{path}: the gzip file is truncated (it ends before its data does). {fix}")
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
        raise DataError(f"{path}: only {len(content)} bytes, too short for an IDX header; the file is truncated. {fix}")
    header = np.frombuffer(content, ">u4", count=header_len // 4)
    if int(header[0]) != magic:
        raise DataError(f"{path}: magic number {int(header[0])} where {magic} was expected; this is not the MNIST "
                        f"file {name}. {fix}")
    shape = (count, IMAGE_SIZE, IMAGE_SIZE) if magic == IMAGES_MAGIC else (count,)
    if tuple(int(v) for v in header[1:]) != shape:
        found = tuple(int(v) for v in header[1:])
        raise DataError(f"{path}: header says shape {found}, MNIST's {name} has {shape}. {fix}")
    expected_len = header_len + int(np.prod(shape))
    if len(content) != expected_len:
        what = "truncated" if len(content) < expected_len else "longer than its header says"
        raise DataError(f"{path}: {len(content)} bytes after decompression, {expected_len} expected; the file is "
                        f"{what}. {fix}")
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha:
        raise DataError(f"{path}: SHA-256 of the decompressed content is {digest}, expected {sha}; the file is "
                        f"corrupted or is not the original MNIST. {fix}")
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
            raise DataError(f"{name} is missing: put {name}.gz (or the decompressed file) into {data_dir}.")
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


def progress_line(stream, text, final=False):
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
                progress_line(stream, f"{label}: {100.0 * done / total:5.1f}% "
                                      f"({done / 1e6:.1f} of {total / 1e6:.1f} MB)")
    progress_line(stream, f"{label}: {done / 1e6:.1f} MB received", final=True)
    if total and done != total:
        raise OSError(f"connection closed after {done} of {total} bytes")
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
        stream.write(f"Downloading {url}\n")
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix="." + name + ".gz.", suffix=".tmp")
        usual_mode(tmp)
        try:
            with os.fdopen(fd, "wb") as dest:
                size = _fetch(url, dest, name + ".gz", timeout, stream)
            parse_idx(read_idx_bytes(tmp, fix=""), name, url, fix="")
        except (OSError, DataError, ValueError) as e:   # network errors are OSErrors; try the next mirror
            os.remove(tmp)
            failures.append(f"  {url}: {str(e).strip()}")
            stream.write(f"  failed: {str(e).strip()}\n")
            continue
        except BaseException:                          # Ctrl-C: leave no partial file behind
            os.remove(tmp)
            raise
        os.replace(tmp, final)
        stream.write(f"  saved {final} ({size / 1e6:.1f} MB, SHA-256 verified)\n")
        return final
    tried = "\n".join(failures)
    raise DataError(
        f"Could not download {name}.gz from any mirror:\n{tried}\nWithout network access, copy the four MNIST files "
        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        f"t10k-labels-idx1-ubyte.gz) into {data_dir} (or point --data-dir / MNIST_DATA_DIR at a folder holding them).")


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

class DataSet:
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
            raise ValueError(f"batch_size must be in 1..{self.num_examples}, got {batch_size}")
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


class DataSets:
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
        raise ValueError(f"validation_size must be in 0..{len(train_x)}, got {validation_size}")
    seeds = [None] * 3 if seed is None else [[seed, i] for i in range(3)]
    x, y = _images_to_float(train_x), _labels_out(train_y, one_hot)
    tx, ty = _images_to_float(test_x), _labels_out(test_y, one_hot)
    return DataSets(DataSet(x[validation_size:], y[validation_size:], seeds[0]),
                    DataSet(x[:validation_size], y[:validation_size], seeds[1]),
                    DataSet(tx, ty, seeds[2]))

