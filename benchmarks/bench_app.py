"""Speed of mnist_app: N pictures predicted in one call (the TensorFlow import is not counted).

    python benchmarks/bench_app.py                    # 1000 realistic pictures, fc model in <repo>/model
    python benchmarks/bench_app.py --count 200 --model-dir /tmp/m

Renders the realistic test pictures into a temporary folder, imports TensorFlow (timed apart), then
times mnist_app.main() on the folder - model load, decoding, preprocessing, one batch prediction,
printing - and, separately, each stage.
"""
import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfnotes import data as mnist_data  # noqa: E402
from tfnotes import digits, inference  # noqa: E402
from tfnotes.models import MODELS  # noqa: E402

import mnist_app  # noqa: E402
from benchmarks import machine  # noqa: E402
from benchmarks.realistic_digits import make_realistic_set  # noqa: E402

TARGET_S = 10.0   # for 1000 pictures


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=1000, help="pictures")
    p.add_argument("--seed", type=int, default=0, help="drives the rendering of the pictures")
    p.add_argument("--model", choices=tuple(MODELS), default="fc", help="network")
    p.add_argument("--model-dir", default=None, help="checkpoint folder (default: the model's own)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    machine.describe("start")
    _, _, test_x, test_y = mnist_data.load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        make_realistic_set(tmp, test_x, test_y, args.count, seed=args.seed)
        print(f"rendered {args.count} pictures in {time.time() - start:.1f} s (not timed below)")

        start = time.time()
        import tensorflow  # noqa: F401  (imported here so that it is not part of the timing)
        print(f"TensorFlow import: {time.time() - start:.1f} s (not counted)")

        cli = [tmp, "--model", args.model] + (["--model-dir", args.model_dir] if args.model_dir else [])
        start, cpu = time.time(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()) as out:
            status = mnist_app.main(cli)
        total, cpu = time.time() - start, time.process_time() - cpu
        lines = len(out.getvalue().splitlines())
        print(f"mnist_app.main on {args.count} pictures: {total:.2f} s wall ({1000 * total / args.count:.1f} ms "
              f"per picture), {cpu:.2f} s CPU, exit status {status}, {lines} result lines")

        # The stages, one by one.
        start = time.time()
        model = inference.load_model(args.model, args.model_dir)
        loaded = time.time()
        batch, entries, _ = digits.prepare_all(digits.expand_inputs([tmp]))
        prepared = time.time()
        model.predict(batch)
        predicted = time.time()
        model.close()
        print(f"  model load {loaded - start:.2f} s, decode + preprocess {prepared - loaded:.2f} s "
              f"({1000 * (prepared - loaded) / args.count:.1f} ms each), batch prediction {predicted - prepared:.2f} s")
    if args.count == 1000:
        print(f"target: under {TARGET_S:.0f} s -> {'met' if total < TARGET_S else 'NOT met'}")
    machine.describe("end")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
