"""Making a data set (the course's mnist_generateds.py): MNIST as TFRecord files, and back as batches.

    python mnist_generateds.py              # IDX files -> data/mnist_train.tfrecords, data/mnist_test.tfrecords
    python mnist_generateds.py download     # fetch any missing MNIST file (checked by SHA-256)
    python mnist_generateds.py check        # verify the four MNIST files, offline
    python mnist_generateds.py export-jpg   # MNIST as image folders + label files (the course's layout)
    python mnist_generateds.py tfrecords --image-dir DIR --label-file FILE --output FILE   # your own pictures

The course's three functions are here: generate_tfRecord() writes the files, read_tfRecord() reads
one record file, get_tfrecord() gives shuffled training (or in-order test) batches as graph tensors.
The work is done by tfnotes/data.py (verified MNIST, download) and tfnotes/records.py (TFRecords,
image folders), which also serve read_data_sets() to the training.
"""
import argparse
import os
import sys

from tfnotes import data, records
from tfnotes.cli import HelpFormatter
from tfnotes.errors import DataError


def generate_tfRecord(data_dir=None):
    """The IDX files in data_dir -> mnist_train.tfrecords and mnist_test.tfrecords beside them; returns the paths."""
    return records.write_mnist_tfrecords(data_dir)


def read_tfRecord(tfRecord_path):
    """(img [784] in [0, 1], one-hot label [10]) graph tensors: one record per sess.run, in file order."""
    return records.read_tfrecord(tfRecord_path)


def get_tfrecord(num, isTrain=True, data_dir=None, path=None, seed=None, shuffle_buffer=records.SHUFFLE_BUFFER):
    """(img_batch [num,784], label_batch [num,10]) graph tensors: shuffled training batches, or the test set."""
    return records.get_tfrecord(num, isTrain, data_dir, path, seed, shuffle_buffer)


def build_parser():
    fmt = HelpFormatter
    parser = argparse.ArgumentParser(
        description="MNIST data tools. With no subcommand: write data/mnist_train.tfrecords and "
                    "data/mnist_test.tfrecords from the MNIST IDX files (offline).", formatter_class=fmt)
    parser.add_argument("--data-dir", default=data.resolve_data_dir(),
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
    p.add_argument("--out", help=f"output folder; None means DATA_DIR/{records.EXPORT_DIRNAME}")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg",
                   help="jpg as in the course (lossy) or png (lossless, pixels exact)")
    p.add_argument("--quality", type=int, default=records.JPEG_QUALITY, help="JPEG quality 1-100")
    p.add_argument("--limit", type=int, default=None,
                   help="export only the first N images of each split (default: all)")
    return parser


def run_tfrecords(args):
    given = [args.image_dir, args.label_file, args.output]
    if any(given) and not all(given):
        raise DataError("from an image folder, give all three of --image-dir, --label-file and --output")
    if all(given):
        n = records.write_folder_tfrecord(args.image_dir, args.label_file, args.output)
        print(f"Wrote {n} records to {os.path.abspath(args.output)}")
    else:
        for path in generate_tfRecord(args.data_dir):
            print(f"Wrote {records.count_records(path)} records to {path}")


def run_export(args):
    if args.limit is not None and args.limit < 1:
        raise DataError(f"--limit must be at least 1, got {args.limit}")
    if not 1 <= args.quality <= 100:
        raise DataError(f"--quality must be in 1..100, got {args.quality}")
    for folder, label_path in records.export_images(args.data_dir, args.out, args.format, args.quality, args.limit):
        print(f"Wrote {folder} and {label_path}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "tfrecords"):
            if args.command is None:
                args.image_dir = args.label_file = args.output = None
            run_tfrecords(args)
        elif args.command == "download":
            print(f"MNIST files verified in {data.download(args.data_dir)}")
        elif args.command == "check":
            data.load_mnist(args.data_dir, download=False)
            print(f"All four MNIST files in {args.data_dir} are complete and match their SHA-256.")
        elif args.command == "export-jpg":
            run_export(args)
    except (DataError, OSError) as e:   # bad data or an unwritable folder: a message, not a traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
