"""Accuracy of mnist_app on realistic pictures (MNIST test digits photographed on paper) and the samples in pic/.

    python benchmarks/eval_app_realistic.py                      # 2000 pictures, fc model in <repo>/model
    python benchmarks/eval_app_realistic.py --count 500 --model-dir /tmp/m --keep /tmp/pics
    python benchmarks/eval_app_realistic.py --conditions all --count 1000     # each hard condition too

Prints the accuracy on the realistic pictures (by format) in the app's default reading, which looks
for every digit in a picture (so a digit read as two is wrong), or with --single one digit per picture,
with its 95 % interval (Wilson's); with --conditions, the same pictures under each condition of
benchmarks/realistic_conditions.py (shadow, light, paper, pen, tilt, blur, tight, stroke), one line each;
the same network's accuracy on the original 28x28 digits of the sample (the ceiling the preprocessing
can reach); and the result on the ten sample pictures shipped in pic/ (0.png ... 9.png; --samples-dir
for another folder whose file names start with the true digit).
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import digits, inference  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402

from benchmarks.eval_app_numbers import conditions_arg, share  # noqa: E402
from benchmarks.realistic_conditions import NUMBERS_ONLY  # noqa: E402
from benchmarks.realistic_digits import make_realistic_set  # noqa: E402

SAMPLES_DIR = os.path.join(ROOT, "pic")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=2000, help="realistic pictures to render")
    p.add_argument("--seed", type=int, default=0, help="drives the choice of digits and their rendering")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="network")
    p.add_argument("--model-dir", default=None, help="checkpoint folder (default: the model's own)")
    p.add_argument("--keep", metavar="DIR", default=None, help="write the pictures here and keep them")
    p.add_argument("--single", action="store_true", help="read each picture as one digit (mnist_app.py --single)")
    p.add_argument("--conditions", type=conditions_arg, default="clean",
                   help="comma-separated conditions of benchmarks/realistic_conditions.py, or all (overlap, "
                        "of numbers only, is left out)")
    p.add_argument("--samples-dir", default=SAMPLES_DIR,
                   help="one-digit pictures whose file name is the digit (NAME like 7.png)")
    return p


def accuracy_on_files(model, files, labels, single=False):
    """(accuracy, wrong [(path, truth, read)]) of the app on picture files: its default reading (every digit
    found, so a picture read as two digits is wrong), or with single=True the one-digit reading (--single)."""
    items = [(f, None) for f in files]
    if single:
        batch, entries, _ = digits.prepare_all(items)
    else:
        batch, entries, _ = digits.prepare_numbers(items, model.predict)
    probs = model.predict(batch) if len(batch) else np.zeros((0, 10))
    wrong, right = [], 0
    for result, label in zip(digits.results(entries, probs), labels):
        if "error" in result:
            print("  failed:", result["error"])
        read = str(result.get("digit", "")) if single else result.get("number", "")
        right += read == str(label)
        if read != str(label):
            wrong.append((result["path"], label, read))
    return right / max(1, len(files)), wrong


def one_condition(model, condition, args, folder, test_x, test_y):
    """Render the pictures of one condition, read them, print the accuracy (and by format)."""
    start = time.time()
    written = make_realistic_set(folder, test_x, test_y, args.count, seed=args.seed, condition=condition)
    files, labels = [p for p, _ in written], [label for _, label in written]
    acc, wrong = accuracy_on_files(model, files, labels, args.single)
    mode = "one digit per picture (--single)" if args.single else "the app's default reading"
    print(f"{condition:8}: {mode}: {share(len(files) - len(wrong), len(files))} right, "
          f"{time.time() - start:.1f} s to draw and read", flush=True)
    for ext in (".jpg", ".png"):
        n = sum(f.endswith(ext) for f in files)
        bad = sum(w[0].endswith(ext) for w in wrong)
        print(f"    {ext}: {(n - bad) / max(1, n):.2%} of {n}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    _, _, test_x, test_y = mnist_data.load_mnist()
    model = inference.load_model(args.model, args.model_dir)
    print(f"model: {model.checkpoint_path} (step {model.step}); seed {args.seed}, {args.count} pictures per "
          "condition")
    with tempfile.TemporaryDirectory() as tmp:
        for condition in (c for c in args.conditions if c not in NUMBERS_ONLY):
            one_condition(model, condition, args, os.path.join(args.keep or tmp, condition), test_x, test_y)
        order = np.random.default_rng(args.seed).permutation(len(test_x))[:args.count]
        ceiling = np.mean(np.argmax(model.predict(test_x[order] / 255.0), axis=1) == test_y[order])
        print(f"same digits as 28x28 MNIST images: {ceiling:.2%} right (the ceiling)")
    if os.path.isdir(args.samples_dir):
        names = sorted(f for f in os.listdir(args.samples_dir) if f[:1].isdigit() and f[1:2] == ".")
        files = [os.path.join(args.samples_dir, f) for f in names]
        acc, wrong = accuracy_on_files(model, files, [int(f[0]) for f in names], args.single)
        print(f"sample pictures ({args.samples_dir}): {acc:.0%} right" + "".join(
            f"\n  {os.path.basename(p)}: read as {got}" for p, _, got in wrong))
    model.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
