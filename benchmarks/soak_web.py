"""The web page's server under a soak: good and bad requests from many threads, slow clients beside them.

    python benchmarks/soak_web.py --train-steps 600       # no trained model: train a small one first (temporary)
    python benchmarks/soak_web.py --model-dir model       # 2,000 requests in 4 rounds, 20 threads, 50 slow clients

Starts `mnist_app.py --serve` as the user does (a subprocess, its default limits), then sends rounds of requests
from 20 threads, each on a new connection: drawings as the page sends them (bench_web.py's), and one in five a
bad request of a kind the server must refuse (not a picture, a bad query, another name in Host, another page's
Origin, a text/plain body, an invalid Content-Length, a wrong method, an unknown path). All the while, slow
clients hold connections: each sends a header line, or a byte of its body, every few seconds, and connects
again once the server cuts it. Prints per round the good answers' latency (p50, p95) and errors, the bad ones
that got another answer than expected, and the server's memory (RSS) and threads after the round; at the end,
how long the server let a slow client hold its connection. Targets: no error on a good request, every bad one
refused as expected, the server's RSS flat after the first round (within 5 %), its threads back to where they
were once the slow clients have gone.

tests/test_web_load.py runs the same code, smaller, against a server with short deadlines.
"""
import argparse
import http.client
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import bench_web  # noqa: E402

TARGET_RSS_GROWTH = 0.05      # RSS after the last round over RSS after the first, at most this much more
# A bad request: (kind, what it changes in a good one, the status the server must answer)
BAD = [("not a picture", {"body": b"a shopping list, not a picture\n"}, 400),
       ("bad query", {"path": "/api/predict?top_k=99"}, 400),
       ("another Host", {"headers": {"Host": "rebind.example"}}, 421),
       ("another Origin", {"headers": {"Origin": "http://evil.example"}}, 403),
       ("text/plain body", {"headers": {"Content-Type": "text/plain"}}, 415),
       ("invalid Content-Length", {"headers": {"Content-Length": "-1"}}, 400),
       ("wrong method", {"method": "GET", "body": None}, 405),
       ("unknown path", {"path": "/api/nothing"}, 404)]


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="requests in all, over the rounds")
    p.add_argument("--rounds", type=int, default=4, help="rounds; the memory is read after each")
    p.add_argument("--threads", type=int, default=20, help="threads sending the requests")
    p.add_argument("--bad-share", type=float, default=0.2, help="share of bad requests")
    p.add_argument("--slow", type=int, default=50, help="slow clients, half dribbling headers, half a body")
    p.add_argument("--slow-every", type=float, default=2.0, help="seconds between a slow client's bytes")
    p.add_argument("--model-dir", default=None, help="fc checkpoint folder (default: <repo>/model)")
    p.add_argument("--train-steps", type=int, default=0,
                   help="train a fresh fc model for this many steps in a temporary folder first (0: don't)")
    p.add_argument("--seed", type=int, default=0, help="which drawings, and which requests are bad")
    return p


def mixed_requests(pictures, count, bad_share, seed):
    """`count` requests: (kind, method, path, headers, body, expected status, index of the picture or None).
    Good ones POST one of `pictures` (bytes) as the page does; a share of them is made bad, of each kind in turn."""
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        index = int(rng.integers(len(pictures)))
        request = {"method": "POST", "path": "/api/predict?top_k=3&inputs=1", "body": pictures[index],
                   "headers": {"Content-Type": "image/png"}}
        kind, status = "good", 200
        if rng.random() < bad_share:
            kind, change, status = BAD[n % len(BAD)]
            request.update({k: v for k, v in change.items() if k != "headers"})
            request["headers"] = {**request["headers"], **change.get("headers", {})}
            index = None
        out.append((kind, request["method"], request["path"], request["headers"], request["body"], status, index))
    return out


def send(port, method, path, headers, body, timeout=60):
    """(status or None, milliseconds, decoded JSON answer) of one request on a new connection; a connection
    error is an answer of None with its message."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read() or b"null")
        return response.status, 1000 * (time.perf_counter() - start), answer
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, 1000 * (time.perf_counter() - start), {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        conn.close()


def run_round(port, requests, threads):
    """Send `requests` (mixed_requests') from `threads` threads: [(request, status, ms, answer)] in their order."""
    def one(request):
        return (request, *send(port, *request[1:5]))
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, requests))


class SlowClients:
    """`count` connections that send their request slowly: half a header line every `every_s` seconds, half
    (after whole headers announcing 100 kB) a byte of the body. One thread drives them all (selectors). When
    the server closes one, its life (seconds) and the answer's status line are kept in `cut`, and with
    `again` another connects in its place at the next tick (not at once: one answered 503 would loop)."""

    def __init__(self, port, count, every_s, again=True, host=None):
        self.port, self.every_s, self.again = port, every_s, again
        self.host = host or f"127.0.0.1:{port}"
        self.cut, self.failed_connects, self.to_connect = [], 0, []
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        for n in range(count):
            self.connect(n % 2 == 0)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def connect(self, headers_only):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError:
            self.failed_connects += 1
            return
        head = f"POST /api/predict HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: image/png\r\n"
        sock.sendall(head.encode() if headers_only else f"{head}Content-Length: 100000\r\n\r\n".encode())
        sock.setblocking(False)
        state = {"headers_only": headers_only, "opened": time.monotonic(), "answer": b""}
        self.selector.register(sock, selectors.EVENT_READ, state)

    def run(self):
        next_bytes = time.monotonic() + self.every_s
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=max(0.0, min(0.2, next_bytes - time.monotonic()))):
                self.read(key.fileobj, key.data)
            if time.monotonic() >= next_bytes:
                next_bytes += self.every_s
                for key in list(self.selector.get_map().values()):
                    self.dribble(key.fileobj, key.data)
                while self.to_connect:
                    self.connect(self.to_connect.pop())

    def read(self, sock, state):
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        state["answer"] += data
        if not data:
            self.close(sock, state)

    def dribble(self, sock, state):
        try:
            sock.send(b"X-Slow: 1\r\n" if state["headers_only"] else b"x")
        except BlockingIOError:
            pass
        except OSError:
            self.close(sock, state)

    def close(self, sock, state):
        self.selector.unregister(sock)
        sock.close()
        status = state["answer"].split(b"\r\n", 1)[0].decode("latin-1")
        self.cut.append((time.monotonic() - state["opened"], status))
        if self.again:
            self.to_connect.append(state["headers_only"])

    def open_count(self):
        return len(self.selector.get_map())

    def close_all(self):
        self.stop.set()
        self.thread.join(10)
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            key.fileobj.close()
        self.selector.close()


def proc_status(pid, field):
    """A field of /proc/PID/status as a number (VmRSS in kB, Threads)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return int(next(line.split()[1] for line in f if line.startswith(f"{field}:")))


def wrong_answers(results):
    """The requests that did not get their expected status: [(kind, expected, got, error)]."""
    return [(request[0], request[5], status, (answer or {}).get("error") if isinstance(answer, dict) else answer)
            for request, status, _, answer in results if status != request[5]]


def report_round(n, results, pid):
    good = [ms for request, status, ms, _ in results if request[0] == "good"]
    p50, p95 = np.percentile(good, [50, 95])
    wrong = wrong_answers(results)
    rss, threads = proc_status(pid, "VmRSS"), proc_status(pid, "Threads")
    print(f"  round {n}: {len(results)} requests ({len(good)} good): latency p50 {p50:6.1f} ms  p95 {p95:6.1f} ms; "
          f"wrong answers {len(wrong)}; server RSS {rss / 1024:6.1f} MB, {threads} threads")
    for kind, expected, got, error in wrong[:5]:
        print(f"    {kind}: expected {expected}, got {got}: {error}")
    return rss, len(wrong)


def soak(port, pid, args, pictures):
    """The rounds, with the slow clients going on: (RSS after each round in kB, wrong answers, the clients)."""
    requests = mixed_requests(pictures, args.requests, args.bad_share, args.seed)
    size = len(requests) // args.rounds
    slow = SlowClients(port, args.slow, args.slow_every)
    rss, wrong = [], 0
    try:
        for n in range(args.rounds):
            found, bad = report_round(n + 1, run_round(port, requests[n * size:(n + 1) * size], args.threads), pid)
            rss.append(found)
            wrong += bad
    finally:
        slow.close_all()
    return rss, wrong, slow


def main(argv=None):
    args = build_parser().parse_args(argv)
    pictures = [body for body, _ in bench_web.canvases(100, 1, args.seed)]
    print(f"CPU: {bench_web.machine()}; load average (1/5/15 min) before: {bench_web.load()}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir
        if args.train_steps:
            model_dir = os.path.join(tmp, "fc")
            bench_web.train(args.train_steps, model_dir)
        with bench_web.serving(model_dir) as (port, pid):
            idle_threads = proc_status(pid, "Threads")
            print(f"{args.requests} requests in {args.rounds} rounds from {args.threads} threads, "
                  f"{100 * args.bad_share:.0f} % bad; {args.slow} slow clients (a byte every {args.slow_every} s)")
            rss, wrong, slow = soak(port, pid, args, pictures)
            time.sleep(1)
            threads_after = proc_status(pid, "Threads")
    held = [age for age, _ in slow.cut]
    answers = sorted({status for _, status in slow.cut})
    print(f"slow clients cut by the server: {len(held)}, after {min(held, default=0):.1f}-{max(held, default=0):.1f} s"
          f" (answers: {', '.join(answers) or '-'}); connections refused at once: {slow.failed_connects}")
    growth = rss[-1] / rss[0] - 1
    print(f"server RSS after the first round {rss[0] / 1024:.1f} MB, after the last {rss[-1] / 1024:.1f} MB "
          f"({100 * growth:+.1f} %; target under {100 * TARGET_RSS_GROWTH:.0f} %); threads idle {idle_threads}, "
          f"after the slow clients {threads_after}")
    print(f"load average after: {bench_web.load()}")
    met = wrong == 0 and growth < TARGET_RSS_GROWTH and threads_after <= idle_threads
    print(f"targets: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
