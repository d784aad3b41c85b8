"""Reading whole numbers: mnist_app's accuracy on realistic pictures of handwritten numbers, and its speed.

    python benchmarks/eval_app_numbers.py                              # 300 numbers per condition, fc in <repo>/model
    python benchmarks/eval_app_numbers.py --model lenet5 --conditions clean,shadow --count 500
    python benchmarks/eval_app_numbers.py --conditions clean --breakdown   # what kind of error, by kind of number
    python benchmarks/eval_app_numbers.py --keep /tmp/numbers          # keep the pictures to look at

The numbers (benchmarks/realistic_numbers.py) have 2 to 10 MNIST test digits, some touching, some
above a ruled line, written with slant, a drifting baseline and various pens; each condition
(benchmarks/realistic_conditions.py: clean, shadow, light, paper, pen, tilt, blur, overlap, tight, stroke)
shows the same numbers with one kind of trouble of real photos added. Prints, per condition:
  - whole-number accuracy: the share of pictures whose number is read exactly, with its 95 % interval
    (Wilson's score interval for a binomial share);
  - digit accuracy: the share of true digits read right, after aligning the reading with the truth
    (an edit-distance alignment, so one missed or extra digit costs one digit, not the rest of the number);
  - the share with the right digit count;
and at the end the speed of one 1280x960 photo of a 10-digit number, decode to answer, the model already
loaded, beside the machine's load average. --breakdown adds, per condition, the split by touching and ruled
numbers, what the wrong readings got wrong, and the digit model's ceiling (the numbers whose every digit it
reads right as a clean 28x28 MNIST image), and how the digits cut from touching digits read with each way of
combining the digit model's opinion with the reading network's.
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

from benchmarks.realistic_conditions import CONDITIONS  # noqa: E402
from benchmarks.realistic_numbers import make_number_set, render_number  # noqa: E402


def conditions_arg(text):
    """--conditions: a comma-separated list of realistic_conditions.CONDITIONS, or "all"."""
    names = list(CONDITIONS) if text == "all" else [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown condition(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from all, {', '.join(CONDITIONS)}")
    return names


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=300, help="numbers to render per condition")
    p.add_argument("--seed", type=int, default=0, help="drives the choice of digits and their rendering")
    p.add_argument("--conditions", type=conditions_arg, default="all",
                   help=f"comma-separated conditions, or all ({', '.join(CONDITIONS)})")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="network")
    p.add_argument("--model-dir", default=None, help="checkpoint folder (default: the model's own)")
    p.add_argument("--keep", metavar="DIR", default=None, help="write the pictures here (a folder per condition)")
    p.add_argument("--speed-runs", type=int, default=20, help="timed reads of the 1280x960 photo (0: none)")
    p.add_argument("--show", type=int, default=5, help="print this many wrong readings per condition")
    p.add_argument("--breakdown", action="store_true",
                   help="also print the touching/ruled split, the kinds of errors and the digit model's ceiling")
    return p


def wilson(right, total, z=1.96):
    """(low, high) of Wilson's score interval for a binomial share right/total (95 % for z = 1.96)."""
    if total == 0:
        return 0.0, 1.0
    p = right / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def share(right, total):
    """'90.33% (271/300, 95% CI 86.5-93.1%)': a share with its Wilson interval."""
    low, high = wilson(right, total)
    return f"{right / max(total, 1):.2%} ({right}/{total}, 95% CI {100 * low:.1f}-{100 * high:.1f}%)"


def aligned_right(truth, read):
    """How many digits of `truth` are read right, by the longest common subsequence of the two strings."""
    table = np.zeros((len(truth) + 1, len(read) + 1), int)
    for i, t in enumerate(truth):
        for j, r in enumerate(read):
            table[i + 1, j + 1] = table[i, j] + 1 if t == r else max(table[i, j + 1], table[i + 1, j])
    return int(table[-1, -1])


def read_all(model, paths, keep=None):
    """The app's readings of the pictures: the number string per picture (None for an error). keep: a list that
    gets (entries, probabilities) of the reading, for --breakdown."""
    batch, entries, _ = digits.prepare_numbers([(p, None) for p in paths], model.predict)
    probs = model.predict(batch) if len(batch) else np.zeros((0, 10), np.float32)
    if keep is not None:
        keep.append((entries, probs))
    return [r.get("number") for r in digits.results(entries, probs)]


def score(records, readings):
    """(numbers read exactly, digits read right (aligned), digits, numbers with the right digit count)."""
    right = sum(r["number"] == got for r, got in zip(records, readings))
    digits_right = sum(aligned_right(r["number"], got or "") for r, got in zip(records, readings))
    count_ok = sum(got is not None and len(got) == len(r["number"]) for r, got in zip(records, readings))
    return right, digits_right, sum(len(r["number"]) for r in records), count_ok


def report(condition, records, readings, show):
    right, digits_right, digits_total, count_ok = score(records, readings)
    print(f"{condition:8}: numbers {share(right, len(records))}, digits {digits_right / digits_total:.2%}, "
          f"right digit count {count_ok / len(records):.2%}", flush=True)
    wrong = [(r["path"], r["number"], got) for r, got in zip(records, readings) if r["number"] != got]
    for path, truth, got in wrong[:show]:
        print(f"    {os.path.basename(path)}: read {got}, truth {truth}")


def kind_of_number(record):
    """'no touching digits', 'touching pairs' or 'a chain of 3+ touching digits'."""
    pairs = record["touching_pairs"]
    if not pairs:
        return "no touching digits"
    chained = any(b == a + 1 for a, b in zip(pairs, pairs[1:]))
    return "a chain of 3+ touching digits" if chained else "touching pairs"


def kind_of_error(truth, got):
    if got is None:
        return "no reading (an error)"
    if len(got) == len(truth):
        return "a digit misread (count right)"
    return "a digit too many" if len(got) > len(truth) else "a digit too few"


def cut_parts(records, entries, probs):
    """Of the digits cut from touching digits (those with a reading network's opinion) in numbers read with the
    right count: how many each way of combining the two opinions reads wrong: the digit model's and the
    reading network's probabilities multiplied, the reading network alone, the shipped weighting
    (digits.PART_WEIGHT, digits.digit_probabilities)."""
    wrong = {"multiplied": 0, "the reading network alone": 0, f"weighted (PART_WEIGHT {digits.PART_WEIGHT})": 0}
    total = 0
    for record, entry in zip(records, entries):
        if "rows" not in entry or len(entry["rows"]) != len(record["number"]):
            continue
        shipped = digits.digit_probabilities(entry, probs)
        for k, reading in enumerate(entry["part_readings"]):
            if reading is not None:
                truth, model = int(record["number"][k]), probs[entry["rows"][k]]
                total += 1
                for way, p in zip(wrong, (model * reading, reading, shipped[k])):
                    wrong[way] += int(np.argmax(p)) != truth
    print(f"    cut parts of touching digits (numbers with the right count): {total}; read wrong when "
          + ", ".join(f"{way}: {n}" for way, n in wrong.items()))


def breakdown(records, readings, model, test_x):
    """The touching/ruled split, the kinds of errors per kind of number, and the digit model's ceiling."""
    for key in ("touching", "ruled"):
        for flag in (True, False):
            sel = [k for k, r in enumerate(records) if r[key] == flag]
            if sel:
                right, d_right, d_total, _ = score([records[k] for k in sel], [readings[k] for k in sel])
                print(f"    {key}={flag!s:5}: numbers {right / len(sel):.2%}, digits {d_right / d_total:.2%} "
                      f"({len(sel)} pictures)")
    for kind in ("no touching digits", "touching pairs", "a chain of 3+ touching digits"):
        sel = [(r, got) for r, got in zip(records, readings) if kind_of_number(r) == kind]
        errors = [kind_of_error(r["number"], got) for r, got in sel if r["number"] != got]
        if sel:
            counted = {e: errors.count(e) for e in sorted(set(errors))}
            print(f"    {kind}: {len(errors)} wrong of {len(sel)}" + "".join(f"; {e}: {n}" for e, n in counted.items()))
    index = np.concatenate([r["mnist_index"] for r in records])
    read = np.argmax(model.predict(test_x[index] / 255.0), axis=1)
    truth = np.array([int(c) for r in records for c in r["number"]])
    ends = np.cumsum([len(r["number"]) for r in records])
    whole = sum(bool(np.all(ok)) for ok in np.split(read == truth, ends[:-1]))
    print(f"    the digit model's ceiling (every digit read right as a clean 28x28 MNIST image): numbers "
          f"{share(whole, len(records))}, digits {np.mean(read == truth):.2%}")


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
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"1280x960 photo of {truth}: read {got}; {1000 * np.median(times[1:]):.0f} ms median of {runs} "
          f"(decode to answer, model loaded; best {1000 * min(times[1:]):.0f} ms; load average {load})")


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, _, test_x, test_y = mnist_data.load_mnist()
    with inference.load_model(args.model, args.model_dir) as model, tempfile.TemporaryDirectory() as tmp:
        print(f"model: {model.checkpoint_path} (step {model.step}); seed {args.seed}, {args.count} numbers per "
              "condition")
        for condition in args.conditions:
            out_dir = os.path.join(args.keep or tmp, condition)
            records = make_number_set(out_dir, test_x, test_y, args.count, seed=args.seed, condition=condition)
            kept = []
            readings = read_all(model, [r["path"] for r in records], kept)
            report(condition, records, readings, args.show)
            if args.breakdown:
                breakdown(records, readings, model, test_x)
                cut_parts(records, *kept[0])
        if args.speed_runs:
            time_photo(model, test_x, test_y, args.speed_runs, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
