"""Speed of the web page's predictions (`mnist_app.py --serve`) and the page's weight.

    python benchmarks/bench_web.py                        # the fc model in <repo>/model, 500 canvas predictions
    python benchmarks/bench_web.py --train-steps 600      # no trained model: train a small one first (temporary)
    python benchmarks/bench_web.py --model-dir /tmp/m --count 200

Starts the server as the user does (a subprocess, so the client's work does not share its interpreter),
then sends what the page sends while you draw: a PNG of the ink's region of its 640x320 pad (dark strokes
on white, a margin around, at most 256 px a side), with `?top_k=3&inputs=1`, one request after the other on
one kept-alive connection. The drawings are MNIST test digits, enlarged onto such a pad. Server time is what
the server reports in its Server-Timing header (body read, decode, digit finding, preprocessing, model);
round trip is as the client sees it.
Targets: p50 and p95 of the server time under 20 ms each with the fc model; the page under 200 KB.
"""
import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfnotes import data as mnist_data  # noqa: E402

TARGET_MS = 20.0
TARGET_PAGE_BYTES = 200_000
PAGE_FILES = ("/", "/app.js", "/style.css")
CANVAS = (640, 320)            # the page's drawing pad (tfnotes/web/index.html) ...
SEND_SIDE, MARGIN, MIN_MARGIN = 256, 0.25, 20   # ... and what of it app.js sends (padPicture)
WARM_UP = 20


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--count", type=int, default=500, help="timed predictions")
    p.add_argument("--digits", type=int, default=1, help="digits drawn side by side on each canvas")
    p.add_argument("--model-dir", default=None, help="fc checkpoint folder (default: <repo>/model)")
    p.add_argument("--train-steps", type=int, default=0,
                   help="train a fresh fc model for this many steps in a temporary folder first (0: don't)")
    p.add_argument("--seed", type=int, default=0, help="which MNIST test digits are drawn")
    p.add_argument("--full-pad", action="store_true",
                   help="send the whole 640x320 pad instead of its ink's region (what the page would cost without "
                        "cropping)")
    return p


def canvases(count, per_canvas, seed, full_pad=False):
    """[(PNG bytes, the number drawn)] of `count` drawings as the page sends them, `per_canvas` MNIST digits each."""
    _, _, images, labels = mnist_data.load_mnist()
    rng = np.random.default_rng(seed)
    width, height = CANVAS
    side = int(height * 0.7)                      # a digit drawn about two thirds of the pad's height
    out = []
    for _ in range(count):
        sheet = Image.new("L", CANVAS, 255)
        chosen = rng.choice(len(images), per_canvas, replace=False)
        for k, index in enumerate(chosen):
            digit = Image.fromarray(255 - images[index].reshape(28, 28).astype(np.uint8))
            digit = digit.resize((side, side), Image.Resampling.BILINEAR)
            x = int((k + 0.5) * width / per_canvas - side / 2)
            sheet.paste(digit, (x, (height - side) // 2))
        buffer = io.BytesIO()
        (sheet.convert("RGBA") if full_pad else as_sent(sheet)).save(buffer, "PNG")
        out.append((buffer.getvalue(), "".join(str(labels[i]) for i in chosen)))
    return out


def as_sent(sheet):
    """What the page (app.js, padPicture) sends of its pad: the ink's region with a margin, scaled down, RGBA."""
    rows, cols = np.nonzero(np.asarray(sheet) < 250)
    left, top, right, bottom = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    margin = max(MIN_MARGIN, MARGIN * max(right - left, bottom - top))
    box = (max(0, int(left - margin)), max(0, int(top - margin)),
           min(sheet.width, int(right + margin + 0.999)), min(sheet.height, int(bottom + margin + 0.999)))
    crop = sheet.crop(box)
    scale = min(1.0, SEND_SIDE / max(crop.size))
    size = (max(8, round(crop.width * scale)), max(8, round(crop.height * scale)))
    crop = crop.resize(size, Image.Resampling.BILINEAR) if scale < 1 else crop
    return crop.convert("RGBA")                   # a canvas's PNG is RGBA (opaque here), which costs more to read


def train(steps, folder):
    command = [sys.executable, os.path.join(ROOT, "mnist_backward.py"), "--steps", str(steps), "--model-dir",
               folder, "--save-every", str(steps), "--log-every", str(steps)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def serving(model_dir):
    """`mnist_app.py --serve --port 0` in a subprocess: yields its port and process id."""
    command = [sys.executable, os.path.join(ROOT, "mnist_app.py"), "--serve", "--port", "0"]
    command += ["--model-dir", model_dir] if model_dir else []
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = proc.stdout.readline()
            if not line.startswith("serving"):
                log.seek(0)
                raise SystemExit(f"the server did not start: {line}{log.read()[-2000:]}")
            print(line.strip())
            yield int(line.split("http://127.0.0.1:")[1].split("/")[0]), proc.pid
        finally:
            proc.terminate()
            proc.wait(30)


def post(conn, body):
    """(server ms, round-trip ms, answer, server CPU ms) of one prediction."""
    start = time.perf_counter()
    conn.request("POST", "/api/predict?top_k=3&inputs=1", body=body, headers={"Content-Type": "image/png"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    rtt = 1000 * (time.perf_counter() - start)
    if response.status != 200:
        raise SystemExit(f"prediction failed: {response.status} {answer}")
    timing = {k: float(v) for k, v in (part.strip().split(";dur=") for part in
                                       response.getheader("Server-Timing").split(","))}
    return timing["read"] + timing["predict"], rtt, answer, timing["cpu"]


def page_weight(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sizes = {}
    for path in PAGE_FILES:
        conn.request("GET", path)
        sizes[path] = len(conn.getresponse().read())
    conn.close()
    return sizes


def machine():
    model = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return f"{model}, {os.cpu_count()} CPUs"


def load():
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def main(argv=None):
    args = build_parser().parse_args(argv)
    pictures = canvases(args.count + WARM_UP, args.digits, args.seed, args.full_pad)
    print(f"CPU: {machine()}; load average (1/5/15 min) before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir
        if args.train_steps:
            model_dir = os.path.join(tmp, "fc")
            train(args.train_steps, model_dir)
        with serving(model_dir) as (port, _):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for body, _ in pictures[:WARM_UP]:
                post(conn, body)
            times = [post(conn, body) for body, _ in pictures[WARM_UP:]]
            conn.close()
            sizes = page_weight(port)
    server_ms = np.array([t[0] for t in times])
    rtt_ms = np.array([t[1] for t in times])
    right = np.mean([t[2]["number"] == truth for t, (_, truth) in zip(times, pictures[WARM_UP:])])
    size = np.mean([len(body) for body, _ in pictures]) / 1000
    what = "the whole" if args.full_pad else "the ink's region of the"
    print(f"{args.count} canvas predictions ({what} {CANVAS[0]}x{CANVAS[1]} pad, {args.digits} "
          f"digit(s), PNG {size:.1f} kB each; read right: {100 * right:.1f} %)")
    cpu_ms = np.array([t[3] for t in times])
    for name, values in (("server time", server_ms), ("round trip", rtt_ms), ("server CPU", cpu_ms)):
        p50, p95 = np.percentile(values, [50, 95])
        print(f"  {name:11s}: p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {values.max():6.1f} ms")
    print("  (server CPU: the predicting thread's processor time; the server time is that plus waiting for a CPU "
          "when other programs use them)")
    p50, p95 = np.percentile(server_ms, [50, 95])
    met = p50 < TARGET_MS and p95 < TARGET_MS
    print(f"  target: server p50 and p95 under {TARGET_MS:.0f} ms -> {'met' if met else 'NOT met'}")
    total = sum(sizes.values())
    print(f"page weight: {total:,} bytes ({', '.join(f'{p} {n:,}' for p, n in sizes.items())}); "
          f"target under {TARGET_PAGE_BYTES // 1000} KB -> {'met' if total < TARGET_PAGE_BYTES else 'NOT met'}")
    print(f"load average after: {load()}")
    return 0 if met and total < TARGET_PAGE_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
