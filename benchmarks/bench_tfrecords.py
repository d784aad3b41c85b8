"""How long it takes to write, and to read back, the 60,000-image MNIST training TFRecord file.

    python benchmarks/bench_tfrecords.py [--batch 100] [--keep DIR]

Prints: loading the IDX files (decompress + SHA-256 + parse), writing the TFRecord file, reading it back
once in file order and once shuffled through get_tfrecord (graph mode, Session.run per batch), and the
file size. The file goes to a temporary folder unless --keep names one.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import records  # noqa: E402

from benchmarks import machine  # noqa: E402


def time_read(path, batch, is_train, seed):
    """Seconds to fetch one full pass (ceil(N/batch) batches) through get_tfrecord, and the images seen."""
    import tensorflow.compat.v1 as tf
    n = records.count_records(path)
    steps = -(-n // batch)
    with tf.Graph().as_default():
        img, label = records.get_tfrecord(batch, isTrain=is_train, path=path, seed=seed)
        with tf.Session() as sess:
            sess.run([img, label])                       # first batch: graph start-up, not reading speed
            start = time.perf_counter()
            seen = batch
            for _ in range(steps - 1):
                seen += len(sess.run([img, label])[0])
            return time.perf_counter() - start, seen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", default=mnist_data.DEFAULT_DATA_DIR, help="folder with the MNIST .gz files")
    parser.add_argument("--batch", type=int, default=100, help="batch size for reading back")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed for the shuffled read")
    parser.add_argument("--keep", default=None, help="write the file into this folder and keep it (None: temp)")
    args = parser.parse_args(argv)
    machine.describe("start")

    start = time.perf_counter()
    train_x, train_y, _, _ = mnist_data.load_mnist(args.data_dir, download=False)
    load_s = time.perf_counter() - start
    out_dir = args.keep or tempfile.mkdtemp(prefix="bench_tfrecords_")
    path = os.path.join(out_dir, records.TRAIN_TFRECORD)
    try:
        import tensorflow.compat.v1 as tf  # noqa: F401  imported before timing so the write excludes it
        start = time.perf_counter()
        records.write_tfrecord(path, train_x, train_y, stream=open(os.devnull, "w"))
        write_s = time.perf_counter() - start
        ordered_s, n1 = time_read(path, args.batch, False, args.seed)
        shuffled_s, n2 = time_read(path, args.batch, True, args.seed)
        size_mb = os.path.getsize(path) / 1e6
    finally:
        if not args.keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    print(f"load IDX (decompress, SHA-256, parse) : {load_s:6.2f} s")
    print(f"write 60,000 records ({size_mb:.1f} MB)       : {write_s:6.2f} s  ({len(train_x) / write_s:,.0f} images/s)")
    for how, seconds, n in (("in order", ordered_s, n1), ("shuffled", shuffled_s, n2)):
        print(f"read back, {how}, batch {args.batch:<4}       : {seconds:6.2f} s  "
              f"({(n - args.batch) / seconds:,.0f} images/s, {n} images)")
    machine.describe("end")


if __name__ == "__main__":
    main()
