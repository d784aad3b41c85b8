"""Fine-tuning on one person's handwriting, measured without a person: the writer's digits (benchmarks/writer.py)
are collected as the web page's Collect tab collects them, made into the course's data set, and fine-tuned on.

    python benchmarks/bench_finetune.py                         # fc: the trained model in model/, 150 samples
    python benchmarks/bench_finetune.py --model lenet5 --base-dir lenet5/model --steps 200

1. --samples of the writer's digits (seeded by --seed) are drawn with the mouse on the real page's Collect tab
   in headless Chromium (the page's shuffled order of digits seeded too) and saved by the server, every 5th one
   into the held-out test folder. --no-browser saves the same digits through tfnotes.collect directly, as the
   page would send them (app.js's padPicture): faster, and for machines without Chromium.
2. `python mnist_generateds.py tfrecords` makes the training folder a TFRecord file, as the docs say to.
3. `python mnist_backward.py --init-from BASE --own-data ... --mnist-mix ...` fine-tunes into a new folder (timed;
   BASE is only read).
4. Both models, before and after, are scored on the held-out test folder, on --fresh more of the writer's digits
   (another seed: nothing of them was collected) and on the 10,000 MNIST test images.

Targets: the error on the writer's held-out digits at least halved and at most 5 % after; MNIST at most 0.3 points
lower; the fine-tune of the fully connected network in under 60 s on 2 cores.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:          # run as a script: make the scripts and `tfnotes` importable
    sys.path.insert(0, ROOT)

from tfnotes import collect, data, inference, pictures, records, server, training  # noqa: E402

import mnist_backward  # noqa: E402
import mnist_generateds  # noqa: E402
from benchmarks import browser, machine, writer  # noqa: E402
from lenet5 import mnist_lenet5_backward  # noqa: E402

SCRIPTS = {"fc": mnist_backward, "lenet5": mnist_lenet5_backward}
FRESH_SEED_OFFSET = 1000   # the fresh digits' seed: --seed + this


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=tuple(SCRIPTS), default="fc", help="which network")
    p.add_argument("--base-dir", default=None, help="the trained model to start from (default: the model's own folder)")
    p.add_argument("--samples", type=int, default=150, help="the writer's digits collected (1 in 5 held out)")
    p.add_argument("--fresh", type=int, default=500, help="more of the writer's digits, never collected, to score on")
    p.add_argument("--seed", type=int, default=0, help="which digits the writer writes")
    p.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    p.add_argument("--learning-rate-base", type=float, default=0.02, help="the fine-tune's learning rate")
    p.add_argument("--mnist-mix", type=float, default=training.MNIST_MIX, help="the share of each batch from MNIST")
    p.add_argument("--batch-size", type=int, default=100, help="examples per step")
    p.add_argument("--keep", default=None, help="keep the collection and the fine-tuned model here (default: a "
                                                "temporary folder)")
    p.add_argument("--no-browser", dest="browser", action="store_false",
                   help="save the digits through tfnotes.collect, not by drawing them on the page in Chromium")
    return p


def collect_samples(folder, count, seed):
    """The writer's digits, saved as the Collect tab saves them; returns the Collection."""
    collection = collect.Collection(folder)
    for digit, sample in writer.samples(count, seed):
        collection.add(digit, writer.page_png(sample))
    return collection


# The page's Math.random, seeded: the Collect tab asks for the digits in the same order at every run.
SEEDED_RANDOM = """(() => { let s = %d >>> 0; Math.random = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296; }; })();"""


def collect_in_browser(folder, count, seed, args):
    """The writer draws `count` digits on the Collect tab of a real page in headless Chromium, served by this
    project's server with the base model; returns the Collection the server saved them into."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    collection = collect.Collection(folder)
    model = inference.load_model(args.model, args.base_dir)
    with server.Predictor({args.model: model}, args.model) as predictor, \
            server.make_server(predictor, port=0, log=lambda line: None, collection=collection) as httpd, \
            tempfile.TemporaryDirectory(prefix="chromium_") as profile:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        driver = browser.chromium(profile)
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SEEDED_RANDOM % seed})
            driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/")
            driver.find_element(By.ID, "tab-collect").click()
            canvas, seen = driver.find_element(By.ID, "collect-pad"), {}
            for k in range(1, count + 1):
                digit = int(driver.find_element(By.ID, "ask").text)
                browser.draw_strokes(driver, canvas, writer.sample(digit, seen.get(digit, 0), seed))
                seen[digit] = seen.get(digit, 0) + 1
                driver.find_element(By.ID, "collect-save").click()
                WebDriverWait(driver, 30).until(lambda d, k=k: collection.counts()["total"] == k)
        finally:
            driver.quit()
            httpd.shutdown()
    return collection


def fresh_digits(count, seed):
    """(images [N,784], labels [N]) of more of the writer's digits, read as the app reads a picture."""
    pairs = writer.samples(count, seed)
    images = [pictures.preprocess(pictures.load_image(writer.page_png(s))) for _, s in pairs]
    return np.stack(images).reshape(-1, 784), np.array([d for d, _ in pairs])


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = fn(*args)
    if code != 0:
        raise SystemExit(f"error: {fn.__module__} exited with {code}:\n{out.getvalue()[-2000:]}")
    return out.getvalue()


def fine_tune(args, folder):
    """Collect, make the TFRecord file, fine-tune; returns (the new model's folder, seconds the fine-tune took)."""
    where = os.path.join(folder, "my_digits")
    start = time.perf_counter()
    if args.browser:
        collection = collect_in_browser(where, args.samples, args.seed, args)
    else:
        collection = collect_samples(where, args.samples, args.seed)
    print(f"collected {args.samples} digits {'on the page in Chromium' if args.browser else 'through tfnotes.collect'}"
          f" in {time.perf_counter() - start:.0f} s")
    train_dir = os.path.join(collection.folder, "train")
    tfrecord = os.path.join(folder, "my_digits.tfrecords")
    quiet(mnist_generateds.main, ["tfrecords", "--image-dir", train_dir, "--label-file", train_dir + ".txt",
                                  "--output", tfrecord])
    out_dir = os.path.join(folder, "model_mine")
    start = time.perf_counter()
    quiet(SCRIPTS[args.model].main, ["--init-from", args.base_dir, "--own-data", tfrecord, "--mnist-mix",
                                     str(args.mnist_mix), "--steps", str(args.steps), "--batch-size",
                                     str(args.batch_size), "--learning-rate-base", str(args.learning_rate_base),
                                     "--model-dir", out_dir, "--seed", str(args.seed)])
    return collection, out_dir, time.perf_counter() - start


def score(model_dir, name, sets):
    """[(right, count)] of the model's newest checkpoint on each (images, labels) set."""
    with inference.load_model(name, model_dir) as model:
        return [(int(np.sum(model.classify(x) == y)), len(y)) for x, y in sets]


def report(args, sets, names, before, after, seconds):
    print(f"| {args.model} | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for label, got in (("before", before), ("after", after)):
        print(f"| {label} | " + " | ".join(f"{r / n:.2%} ({n - r} wrong of {n})" for r, n in got) + " |")
    errors = [(1 - b[0] / b[1], 1 - a[0] / a[1]) for b, a in zip(before, after)]
    held = errors[0]
    print(f"fine-tune: {args.steps} steps in {seconds:.1f} s (target for fc: under 60 s)")
    print(f"held-out error {held[0]:.2%} -> {held[1]:.2%}: "
          f"{'halved' if held[1] <= held[0] / 2 else 'NOT halved'}, {'<= 5 %' if held[1] <= 0.05 else 'over 5 %'}")
    print(f"MNIST test {1 - errors[-1][0]:.2%} -> {1 - errors[-1][1]:.2%} "
          f"({100 * (errors[-1][0] - errors[-1][1]):+.2f} points; target: no more than 0.3 lower)")


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.base_dir = os.path.abspath(args.base_dir or SCRIPTS[args.model].MODEL.model_dir)
    if args.browser and browser.missing():
        raise SystemExit(f"error: {browser.missing()}; or --no-browser")
    machine.describe("start")
    with tempfile.TemporaryDirectory(prefix="bench_finetune_") as tmp:
        folder = args.keep or tmp
        collection, out_dir, seconds = fine_tune(args, folder)
        held_out = records.load_labelled(os.path.join(collection.folder, "test"))
        mnist = data.read_data_sets(one_hot=False).test
        sets = [held_out, fresh_digits(args.fresh, args.seed + FRESH_SEED_OFFSET), (mnist.images, mnist.labels)]
        names = ["held-out collected digits", f"{args.fresh} fresh digits of the writer", "MNIST test"]
        counts = collection.counts()
        print(f"collected {counts['total']} digits of the writer (seed {args.seed}): {sum(counts['train'])} to "
              f"train on, {sum(counts['test'])} held out")
        report(args, sets, names, score(args.base_dir, args.model, sets), score(out_dir, args.model, sets), seconds)
    machine.describe("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
