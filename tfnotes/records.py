"""TFRecords (the course's format) and image folders with label files.

The course's record: img_raw = the 784 raw pixel bytes, label = one-hot int64[10]. get_tfrecord() gives
graph-mode batches through tf.data; export_images()/read_image_folder() convert between MNIST and the
course's mnist_data_jpg layout (a folder of pictures + a `NAME LABEL` file).
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

from tfnotes import pictures
from tfnotes.atomic import atomic_path, replace_dir, usual_mode
from tfnotes.data import IMAGE_PIXELS, IMAGE_SIZE, NUM_CLASSES, load_mnist, progress_line, resolve_data_dir
from tfnotes.errors import DataError
from tfnotes.tfenv import tf

TRAIN_TFRECORD = "mnist_train.tfrecords"
TEST_TFRECORD = "mnist_test.tfrecords"
EXPORT_DIRNAME = "mnist_data_jpg"
JPEG_QUALITY = 95
SHUFFLE_BUFFER = 1000          # the course's queue held 1000 examples


def make_example(pixels, label):
    """One tf.train.Example in the course's format from uint8 pixels [28,28] and an int label."""
    one_hot = [0] * NUM_CLASSES
    one_hot[int(label)] = 1
    return tf.train.Example(features=tf.train.Features(feature={
        "img_raw": tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.asarray(pixels, np.uint8).tobytes()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=one_hot)),
    }))




def write_tfrecord(path, images, labels, stream=None):
    """Write uint8 images [N,28,28] and int labels [N] to a TFRecord file, atomically. Returns N."""
    images = np.asarray(images, np.uint8).reshape(-1, IMAGE_PIXELS)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    stream = stream or sys.stdout
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        step = max(1, len(images) // 10)
        for i, (pixels, label) in enumerate(zip(images, labels)):
            writer.write(make_example(pixels, label).SerializeToString())
            if (i + 1) % step == 0 or i + 1 == len(images):
                progress_line(stream, f"{os.path.basename(path)}: {i + 1}/{len(images)} images",
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
                raise DataError(f"{path}: truncated TFRecord file (record {n}).")
            length = int(np.frombuffer(header[:8], "<u8")[0])
            pos += 12 + length + 4
            f.seek(pos)
            n += 1
    if pos != size:
        raise DataError(f"{path}: truncated TFRecord file (last record incomplete); write it again.")
    return n


def load_tfrecord(path):
    """uint8 images [N,784] and int64 labels [N] of a TFRecord file in the course's format, every record checked
    (length and CRC); DataError naming the file and the record otherwise."""
    images, labels = [], []
    try:
        for raw in tf.io.tf_record_iterator(path):
            features = tf.train.Example.FromString(raw).features.feature
            pixels = np.frombuffer(features["img_raw"].bytes_list.value[0], np.uint8)
            one_hot = np.asarray(features["label"].int64_list.value)
            if pixels.size != IMAGE_PIXELS or one_hot.shape != (NUM_CLASSES,) or one_hot.sum() != 1:
                raise ValueError("not a 28x28 picture with a one-hot label")
            images.append(pixels)
            labels.append(int(one_hot.argmax()))
    except (tf.errors.OpError, ValueError, KeyError, IndexError) as e:
        reason = str(getattr(e, "message", e)).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"{path}: record {len(images)} cannot be read ({reason}); write the file again "
                        "(python mnist_generateds.py tfrecords ...).") from None
    if not images:
        raise DataError(f"{path}: holds no records.")
    return np.stack(images), np.asarray(labels, np.int64)


def label_file_of(folder):
    """The label file of an image folder in the course's layout: `<folder>.txt` beside it."""
    return os.path.normpath(folder) + ".txt"


def load_labelled(path):
    """(images float32 [N,784] in [0,1], labels int64 [N]) of your own digits, from a TFRecord file (made by
    `python mnist_generateds.py tfrecords ...`) or from an image folder with its label file beside it as
    `<folder>.txt` (the course's layout, as the web page's Collect tab writes it). DataError otherwise."""
    if os.path.isdir(path):
        if not os.path.isfile(label_file_of(path)):
            raise DataError(f"{path} is a folder without its label file {label_file_of(path)} ('NAME LABEL' lines, "
                            "the course's layout).")
        images, labels = read_image_folder(path, label_file_of(path))
    elif os.path.isfile(path):
        images, labels = load_tfrecord(path)
    else:
        raise DataError(f"{path} does not exist: give a TFRecord file or an image folder with its label file.")
    return images.reshape(-1, IMAGE_PIXELS).astype(np.float32) / 255.0, labels


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
    dark ink on a light background) goes through the digit app's preprocessing (pictures.load_image +
    preprocess), so training data made from photos is converted exactly like the pictures the app
    will classify.
    """
    with Image.open(path) as img:
        if img.mode == "L" and img.size == (IMAGE_SIZE, IMAGE_SIZE):
            pixels = np.asarray(img, np.uint8).copy()
            border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
            if border.mean() < 128:
                return pixels
    arr = np.asarray(pictures.preprocess(pictures.load_image(path), name=path), np.float32)
    if arr.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"preprocessing returned shape {arr.shape}, expected 28x28")
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
                errors.append(f"line {lineno}: expected 'NAME LABEL', got {line.rstrip(chr(10))!r}")
                continue
            name, label = fields
            if label not in [str(d) for d in range(NUM_CLASSES)]:
                errors.append(f"line {lineno}: {name}: label {label!r} is not a digit 0-9")
                continue
            if name in seen:
                errors.append(f"line {lineno}: {name}: duplicate name (first on line {seen[name]})")
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
            raise DataError(f"{what} {path} does not exist.")
    rows, errors = parse_label_file(label_file)
    images, labels = [], []
    for lineno, name, label in rows:
        path = os.path.join(image_dir, name)
        if not os.path.isfile(path):
            errors.append(f"line {lineno}: {name}: no such file in {image_dir}")
            continue
        try:
            images.append(image_to_pixels(path))
            labels.append(label)
        except Exception as e:  # any decoder failure is a bad row to report, not a crash
            errors.append(f"line {lineno}: {name}: unreadable or unusable image ({e})")
    if errors:
        errors.sort(key=lambda s: int(s.split(":")[0].split()[1]))
        shown = errors[:50] + ([f"... and {len(errors) - 50} more"] if len(errors) > 50 else [])
        listed = "\n  ".join(shown)
        raise DataError(f"{label_file}: {len(errors)} bad row(s); nothing was written. Fix them and run again:\n"
                        f"  {listed}")
    if not images:
        raise DataError(f"{label_file}: no images listed; nothing was written.")
    return np.stack(images), np.asarray(labels, np.int64)


def export_split(images, labels, out_root, split, fmt="jpg", quality=JPEG_QUALITY, stream=None):
    """Save one split as `<out_root>/mnist_<split>_<fmt>_<N>/{i}_{label}.<fmt>` + `mnist_<split>_<fmt>_<N>.txt`.

    The folder is built under a temporary name and renamed when complete; the label file is written
    last, atomically, so a finished label file always describes a finished folder.
    """
    stream = stream or sys.stdout
    base = f"mnist_{split}_{fmt}_{len(images)}"
    folder, label_path = os.path.join(out_root, base), os.path.join(out_root, base + ".txt")
    os.makedirs(out_root, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(dir=out_root, prefix="." + base + ".", suffix=".tmp")
    usual_mode(tmp_dir, directory=True)
    try:
        lines, step = [], max(1, len(images) // 10)
        for i, (pixels, label) in enumerate(zip(images, labels)):
            name = f"{i}_{int(label)}.{fmt}"
            options = {"quality": quality} if fmt == "jpg" else {}
            Image.fromarray(np.asarray(pixels, np.uint8), "L").save(os.path.join(tmp_dir, name), **options)
            lines.append(f"{name} {int(label)}\n")
            if (i + 1) % step == 0 or i + 1 == len(images):
                progress_line(stream, f"{base}: {i + 1}/{len(images)} images", final=i + 1 == len(images))
        replace_dir(tmp_dir, folder)  # an older export of the same name is deleted only once this one is in
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
    features = tf.io.parse_example(serialized, {
        "img_raw": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([NUM_CLASSES], tf.int64),
    })
    pixels = tf.reshape(tf.io.decode_raw(features["img_raw"], tf.uint8), [-1, IMAGE_PIXELS])
    return tf.cast(pixels, tf.float32) * (1.0 / 255.0), tf.cast(features["label"], tf.float32)


def tfrecord_dataset(path, num, isTrain=True, seed=None, shuffle_buffer=SHUFFLE_BUFFER):
    """The tf.data pipeline behind get_tfrecord (usable in eager mode too)."""
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
    if tf.executing_eagerly():
        raise RuntimeError("get_tfrecord builds graph-mode tensors: call it inside `with tf.Graph().as_default():` "
                           "or after tf.disable_eager_execution(); in eager code use tfrecord_dataset().")
    if path is None:
        path = os.path.join(resolve_data_dir(data_dir), TRAIN_TFRECORD if isTrain else TEST_TFRECORD)
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist: run `python mnist_generateds.py` to write the TFRecord files "
                        "from the MNIST data.")
    n = count_records(path)
    if isTrain and num > n:
        raise ValueError(f"batch size {num} is larger than the {n} records in {path}")
    ds = tfrecord_dataset(path, num, isTrain, seed, shuffle_buffer)
    img_batch, label_batch = tf.data.make_one_shot_iterator(ds).get_next()
    rows = num if (isTrain or n % num == 0) else None
    img_batch.set_shape([rows, IMAGE_PIXELS])
    label_batch.set_shape([rows, NUM_CLASSES])
    return img_batch, label_batch


def read_tfrecord(path):
    """(img [784], label [10]) graph tensors of one record at a time, in file order (the course's read_tfRecord)."""
    img, label = get_tfrecord(1, isTrain=False, path=path)
    return tf.reshape(img, [IMAGE_PIXELS]), tf.reshape(label, [NUM_CLASSES])
