"""Reading whole numbers: mnist_app's accuracy on realistic pictures of handwritten numbers, and its speed.

    python benchmarks/eval_app_numbers.py                              # 300 numbers, the fc model in <repo>/model
    python benchmarks/eval_app_numbers.py --model lenet5 --count 500
    python benchmarks/eval_app_numbers.py --keep /tmp/numbers          # keep the pictures to look at

The numbers (benchmarks/realistic_numbers.py) have 2 to 10 MNIST test digits, some touching, some
above a ruled line, written with slant, a drifting baseline and various pens. Prints:
  - whole-number accuracy: the share of pictures whose number is read exactly;
  - digit accuracy: the share of true digits read right, after aligning the reading with the truth
    (an edit-distance alignment, so one missed or extra digit costs one digit, not the rest of the number);
  - the same split by touching / ruled pictures, and the share with the right digit count;
  - the speed of one 1280x960 photo of a 10-digit number, decode to answer, the model already loaded.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make `benchmarks` and `tfnotes` importable
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import digits, inference  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402

from benchmarks.realistic_numbers import make_number_set, render_number  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=300, help="numbers to render")
    p.add_argument("--seed", type=int, default=0, help="drives the choice of digits and their rendering")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="network")
    p.add_argument("--model-dir", default=None, help="checkpoint folder (default: the model's own)")
    p.add_argument("--keep", metavar="DIR", default=None, help="write the pictures here and keep them")
    p.add_argument("--speed-runs", type=int, default=20, help="timed reads of the 1280x960 photo")
    p.add_argument("--show", type=int, default=10, help="print this many wrong readings")
    return p


def aligned_right(truth, read):
    """How many digits of `truth` are read right, by the longest common subsequence of the two strings."""
    table = np.zeros((len(truth) + 1, len(read) + 1), int)
    for i, t in enumerate(truth):
        for j, r in enumerate(read):
            table[i + 1, j + 1] = table[i, j] + 1 if t == r else max(table[i, j + 1], table[i + 1, j])
    return int(table[-1, -1])


def read_all(model, paths):
    """The app's readings of the pictures: the number string per picture (None for an error)."""
    batch, entries, _ = digits.prepare_numbers([(p, None) for p in paths], model.predict)
    probs = model.predict(batch) if len(batch) else np.zeros((0, 10), np.float32)
    return [r.get("number") for r in digits.results(entries, probs)]


def score(records, readings):
    right = [r["number"] == got for r, got in zip(records, readings)]
    digits_total = sum(len(r["number"]) for r in records)
    digits_right = sum(aligned_right(r["number"], got or "") for r, got in zip(records, readings))
    count_ok = [got is not None and len(got) == len(r["number"]) for r, got in zip(records, readings)]
    return np.mean(right), digits_right / digits_total, np.mean(count_ok)


def report(records, readings, show):
    number_acc, digit_acc, count_acc = score(records, readings)
    print(f"whole numbers read exactly: {number_acc:.2%} of {len(records)}")
    print(f"digits read right (aligned): {digit_acc:.2%}; right digit count: {count_acc:.2%}")
    for key in ("touching", "ruled"):
        for flag in (True, False):
            sel = [k for k, r in enumerate(records) if r[key] == flag]
            if sel:
                n, d, _ = score([records[k] for k in sel], [readings[k] for k in sel])
                print(f"  {key}={flag!s:5}: numbers {n:.2%}, digits {d:.2%} ({len(sel)} pictures)")
    wrong = [(r["path"], r["number"], got) for r, got in zip(records, readings) if r["number"] != got]
    for path, truth, got in wrong[:show]:
        print(f"  {os.path.basename(path)}: read {got}, truth {truth}")


def time_photo(model, images, labels, runs, folder):
    """ms to read a 1280x960 JPEG photo of a 10-digit number (decode to answer), median of `runs`."""
    rng = np.random.default_rng(1)
    picks = rng.choice(len(images), 10, replace=False)
    number, _ = render_number([images[i] for i in picks], rng)
    # The number as it would sit on a 1280x960 photo: scaled (aspect kept) to most of the width, on paper.
    number = number.convert("RGB")
    width = 1180
    number = number.resize((width, round(number.height * width / number.width)), Image.Resampling.BICUBIC)
    paper = tuple(int(v) for v in np.median(np.asarray(number)[[0, -1]].reshape(-1, 3), axis=0))
    picture = Image.new("RGB", (1280, 960), paper)
    picture.paste(number, ((1280 - number.width) // 2, (960 - number.height) // 2))
    path = os.path.join(folder, "photo_1280x960.jpg")
    picture.save(path, quality=90)
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        got = read_all(model, [path])[0]
        times.append(time.perf_counter() - start)
    truth = "".join(str(labels[i]) for i in picks)
    print(f"1280x960 photo of {truth}: read {got}; {1000 * np.median(times[1:]):.0f} ms median of {runs} "
          f"(decode to answer, model loaded; best {1000 * min(times[1:]):.0f} ms)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, _, test_x, test_y = mnist_data.load_mnist()
    with inference.load_model(args.model, args.model_dir) as model, tempfile.TemporaryDirectory() as tmp:
        print(f"model: {model.checkpoint_path} (step {model.step})")
        out_dir = args.keep or tmp
        start = time.time()
        records = make_number_set(out_dir, test_x, test_y, args.count, seed=args.seed)
        print(f"rendered {len(records)} numbers in {time.time() - start:.1f} s")
        start = time.time()
        readings = read_all(model, [r["path"] for r in records])
        print(f"read them in {time.time() - start:.1f} s")
        report(records, readings, args.show)
        time_photo(model, test_x, test_y, args.speed_runs, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
