"""Your own handwriting as a data set in the course's layout: what the web page's Collect tab (and
`mnist_app.py --collect DIR --label N picture ...`) saves, for mnist_generateds.py and fine-tuning.

    my_digits/train/00007_3.png   the 28x28 input the model sees (light ink on black, as MNIST)
    my_digits/train.txt           its label line, "00007_3.png 3" (the course's NAME LABEL file)
    my_digits/test/, test.txt     every TEST_EVERY-th sample: held out, so your accuracy is measured on writing
                                  the network never trained on
    my_digits/raw/00007_3.png     the picture as it came, byte for byte (the page's drawing; a photo keeps its
                                  own kind, e.g. raw/00008_5.jpg)

Every file is written to a temporary name and renamed into place, the label file last: a crash or a full disk
leaves the folder as it was (at worst an image no label line names, which nothing reads). Names are made here
from a running number and the label, so nothing is ever written outside the folder. One lock serializes the web
page's requests.
"""
import io
import os
import re
import sys
import threading

import numpy as np
from PIL import Image

from tfnotes import pictures
from tfnotes.atomic import atomic_path, atomic_write_text
from tfnotes.errors import ConfigError, ImageError

TEST_EVERY = 5            # samples 5, 10, 15, ... go to the held-out test folder
SPLITS = ("train", "test")
RAW = "raw"
NAME = re.compile(r"^(\d{5,})_(\d)\.png$")


def check_label(label):
    """The digit 0-9 that `label` (an int, or text such as "7") names; ConfigError otherwise."""
    text = str(label).strip()
    if not (text.isascii() and text.isdigit() and len(text) == 1):
        raise ConfigError(f"label={label!r}: must be one digit, 0 to 9")
    return int(text)


class Collection:
    """A folder of collected digits: add(label, picture bytes), undo(), counts()."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.lock = threading.Lock()

    def _label_file(self, split):
        return os.path.join(self.folder, split + ".txt")

    def _lines(self, split):
        try:
            with open(self._label_file(split), encoding="utf-8") as f:
                return [line for line in f.read().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _entries(self):
        """[(number, split, name, label)] of every labelled sample, in the order they were added."""
        found = []
        for split in SPLITS:
            for line in self._lines(split):
                name, label = line.split()
                match = NAME.match(name)
                if match:
                    found.append((int(match.group(1)), split, name, int(label)))
        return sorted(found)

    def counts(self):
        """{"train": [count of each digit], "test": [...], "total": n, "folder": path}."""
        with self.lock:
            out = {split: [0] * 10 for split in SPLITS}
            entries = self._entries()
        for _, split, _, label in entries:
            out[split][label] += 1
        return dict(out, total=len(entries), folder=self.folder)

    def add(self, label, data, name=pictures.UPLOAD_NAME):
        """Save one picture (its bytes) of the digit `label`: the model's 28x28 input and the raw picture.
        Returns {"number", "split", "file", "counts"}; ImageError or ConfigError, with nothing written."""
        label = check_label(label)
        digit = pictures.preprocess(pictures.load_image(data, name=name), name=name)  # as the app reads it
        pixels = np.round(np.clip(digit, 0, 1) * 255).astype(np.uint8)
        with self.lock:
            entries = self._entries()
            number = entries[-1][0] + 1 if entries else 1
            split = "test" if number % TEST_EVERY == 0 else "train"
            file = f"{number:05d}_{label}.png"
            self._write(os.path.join(self.folder, RAW, file[:-4] + _extension(data)), bytes(data))
            self._write(os.path.join(self.folder, split, file), _png(Image.fromarray(pixels, "L")))
            lines = self._lines(split) + [f"{file} {label}"]
            atomic_write_text(self._label_file(split), "\n".join(lines) + "\n")  # last: the sample now counts
        return {"number": number, "split": split, "file": f"{split}/{file}", "counts": self.counts()}

    def undo(self):
        """Remove the sample added last; returns what add() said of it, or None when there is none."""
        with self.lock:
            entries = self._entries()
            if not entries:
                return None
            number, split, file, label = entries[-1]
            lines = [line for line in self._lines(split) if line.split()[0] != file]
            atomic_write_text(self._label_file(split), "".join(line + "\n" for line in lines))  # first: uncounted
            raw = os.path.join(self.folder, RAW)
            kept = [os.path.join(raw, n) for n in (os.listdir(raw) if os.path.isdir(raw) else ())
                    if os.path.splitext(n)[0] == file[:-4]]
            for path in [os.path.join(self.folder, split, file)] + kept:
                if os.path.exists(path):
                    os.remove(path)
        return {"number": number, "split": split, "file": f"{split}/{file}", "label": label, "counts": self.counts()}

    def _write(self, path, data):
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(data)


def add_pictures(folder, label, paths, stream=None, errors=None):
    """`mnist_app.py --collect --label N picture ...`: each picture (a photo of one digit) into the collection;
    prints a line for each; returns the exit code (1 when some could not be used: each gets an error line)."""
    stream, errors = stream or sys.stdout, errors or sys.stderr
    label = check_label(label)
    if not paths:
        raise ConfigError("no pictures given")
    collection, failed = Collection(folder), 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                saved = collection.add(label, f.read(), name=path)
        except OSError as exc:
            print(f"error: {path}: cannot read it ({exc.strerror or exc})", file=errors)
            failed += 1
            continue
        except ImageError as exc:
            print(f"error: {exc}", file=errors)
            failed += 1
            continue
        counts = saved["counts"]
        print(f"{path}: saved as {saved['file']} in {collection.folder} (digit {label}: {counts['train'][label]} to "
              f"train on, {counts['test'][label]} held out)", file=stream)
    return 1 if failed else 0


def _png(picture):
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _extension(data):
    """The file extension of a picture's bytes, from what PIL reads them as (".png", ".jpg", ...)."""
    with Image.open(io.BytesIO(bytes(data))) as img:
        kind = (img.format or "bin").lower()
    return "." + {"jpeg": "jpg", "tiff": "tif"}.get(kind, kind)
