"""VGG16 inference: memory (RSS) against the weights' size, and images per second.

    python benchmarks/bench_vgg16.py [--batch-size 8] [--iters 3] [--seed 0] [--weights PATH] [--course-style]

Without --weights it writes seeded random full-size weights (138,357,544 float32 = 553 MB)
to a temporary .npz; the speed and memory are the same as with the real file.  Each
measurement runs in a fresh Python process, so its peak RSS (VmHWM) is its own.  It
prints the RSS after importing TensorFlow, after building the graph, the peak while
loading the weights and while classifying one batch, and the speed.  --course-style
also measures the course's way (weights dict kept + tf.constant in the graph).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script (python benchmarks/bench_vgg16.py): the repository root, where the vgg16
# package is, is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import machine  # noqa: E402

MB = 1e6


def memory():
    """(current RSS, peak RSS) of this process in MB, from /proc (Linux)."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024 / MB
    return fields["VmRSS"], fields["VmHWM"]


def weights_mb():
    from vgg16 import network as V
    return sum(np.prod(w) + np.prod(b) for w, b in V.LAYER_SHAPES.values()) * 4 / MB


def build_model(weights_path, course_style):
    """A Vgg16 reading the .npz layer by layer, or the course's way: all in a dict, then constants."""
    import tensorflow.compat.v1 as tf

    from vgg16 import network as V

    if not course_style:
        return V.Vgg16(V.load_weights(weights_path))

    class CourseStyleVgg16(V.Vgg16):
        def _layer_variables(self, layer):
            w, b = self.weights[layer]
            return tf.constant(w, name="filter"), tf.constant(b, name="biases")

        def load(self, sess):
            pass  # the constants are already in the graph; the dict stays, as in the course

    npz = V.load_weights(weights_path)
    return CourseStyleVgg16({layer: npz[layer] for layer in V.LAYERS})


def measure(weights_path, batch_size, iters, seed, course_style):
    """Run in a fresh process: memory at each stage and images/s. Returns a dict."""
    import tensorflow.compat.v1 as tf

    from vgg16 import network as V

    result = {"mode": "course (dict + constants)" if course_style else "variables fed from .npz"}
    result["rss_after_import_mb"] = memory()[0]
    batch = np.random.default_rng(seed).random((batch_size, V.IMAGE_SIZE, V.IMAGE_SIZE, 3), dtype=np.float32)
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, V.IMAGE_SIZE, V.IMAGE_SIZE, 3])
        start = time.perf_counter()
        vgg = build_model(weights_path, course_style)
        prob = vgg.forward(images)
        result["graphdef_mb"] = graph.as_graph_def().ByteSize() / MB
        result["rss_after_graph_mb"] = memory()[0]
        with tf.Session() as sess:
            vgg.load(sess)
            result["load_s"] = time.perf_counter() - start
            result["rss_after_load_mb"], result["peak_rss_load_mb"] = memory()
            sess.run(prob, feed_dict={images: batch})  # warm-up: first-run allocations and autotuning
            result["peak_rss_batch_mb"] = memory()[1]
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                sess.run(prob, feed_dict={images: batch})
                times.append(time.perf_counter() - start)
    result["batch_s"] = times
    result["images_per_s"] = batch_size / float(np.median(times))
    return result


def write_random_weights(folder, seed):
    from vgg16 import network as V
    path = Path(folder) / "random_vgg16.npz"
    start = time.perf_counter()
    V.write_npz(path, V.random_weights(seed))
    print(f"wrote random full-size weights to {path} in {time.perf_counter() - start:.1f} s", flush=True)
    return path


def run_child(args, weights_path, course_style):
    cmd = [sys.executable, __file__, "--child", "--weights", str(weights_path), "--batch-size",
           str(args.batch_size), "--iters", str(args.iters), "--seed", str(args.seed)]
    if course_style:
        cmd.append("--course-style")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_result(r, size_mb):
    base = r["rss_after_import_mb"]
    print(f"\n{r['mode']}:")
    print(f"  GraphDef {r['graphdef_mb']:.2f} MB; weights loaded in {r['load_s']:.1f} s")
    print(f"  RSS after importing TensorFlow {base:.0f} MB, after building the graph {r['rss_after_graph_mb']:.0f} MB")
    for label, key in (("after loading", "rss_after_load_mb"), ("peak while loading", "peak_rss_load_mb"),
                       ("peak with one batch", "peak_rss_batch_mb")):
        extra = r[key] - base
        print(f"  {label:20s} {r[key]:6.0f} MB = import + {extra:5.0f} MB = {extra / size_mb:.2f}x the weights")
    print(f"  batch times {', '.join(f'{t:.2f}' for t in r['batch_s'])} s -> {r['images_per_s']:.2f} images/s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--weights", default=None, help="an .npz to use (None: seeded random full-size weights)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    parser.add_argument("--iters", type=int, default=3, help="timed batches (after one warm-up batch)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and images")
    parser.add_argument("--course-style", action="store_true", help="also measure the course's constants")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.weights, args.batch_size, args.iters, args.seed, args.course_style)))
        return
    size_mb = weights_mb()
    print(f"VGG16 weights: {size_mb:.1f} MB float32; batch {args.batch_size}", flush=True)
    machine.describe("start")
    with tempfile.TemporaryDirectory(prefix="bench_vgg16_") as tmp:
        weights_path = args.weights or write_random_weights(tmp, args.seed)
        for course_style in (False, True) if args.course_style else (False,):
            print_result(run_child(args, weights_path, course_style), size_mb)
    machine.describe("end")


if __name__ == "__main__":
    main()
