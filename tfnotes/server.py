"""The digit model as a local web page: draw or upload a number, and see what the model sees.

    GET  /                the page (tfnotes/web/: index.html, app.js, style.css; no CDN, works offline)
    GET  /api/health      {"status": "ok", "model": "fc", "checkpoint_step": 50000}
    GET  /api/models      {"default": "fc", "models": [{"name": "fc", "checkpoint_step": 50000}, ...]}
    POST /api/predict     body: a picture's bytes -> the object `mnist_app.py --json` prints for it, with
                          "path": "upload". Query: model=NAME, top_k=1..10 (default 1), inputs=1 (adds
                          "inputs": each digit's 28x28 input as 0..255 rows, what the model sees)

Only the standard library's http.server (ThreadingHTTPServer): one thread per connection. The networks are
loaded once and shared; their TensorFlow sessions may run from several threads at once. Every error is a
JSON object {"error": message}; a bad request never stops the server; one log line per request.
"""
import ipaddress
import json
import signal
import socket
import sys
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tfnotes import digits, pictures
from tfnotes.errors import ConfigError, CourseError, ImageError, ModelError
from tfnotes.models import MODELS

MAX_BODY = 10 * 1024 * 1024          # bytes of one uploaded picture (a phone photo is 2-6 MB)
WEB_DIR = Path(__file__).resolve().parent / "web"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/style.css": ("style.css", "text/css; charset=utf-8")}
# The page loads nothing from elsewhere; the policy makes the browser refuse it if it ever tried.
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
               "connect-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
IDLE_TIMEOUT_S = 30                  # a kept-alive connection left idle this long is closed (frees its thread)
CLOSE_WAIT_S = 10                    # close() waits at most this long for predictions still running


def trained_models(load, exclude=()):
    """{name: Model} of every lesson network whose own folder holds a usable checkpoint, `exclude` left out.

    load(name) restores one (mnist_app.restore_model). For the page's model switch: a network not trained
    (or being written) is simply not offered.
    """
    found = {}
    for name in MODELS:
        if name in exclude:
            continue
        try:
            found[name] = load(name)
        except (CourseError, ValueError, OSError):
            continue
    return found


class Predictor:
    """The loaded networks (one per name, shared by all requests) and the reading of one uploaded picture."""

    def __init__(self, models, default):
        if default not in models:
            raise ConfigError(f"model {default!r} is not among the loaded ones ({', '.join(models)})")
        self.models, self.default = dict(models), default
        self._running = 0
        self._idle = threading.Condition()

    def health(self):
        return {"status": "ok", "model": self.default, "checkpoint_step": self.models[self.default].step}

    def catalogue(self):
        return {"default": self.default,
                "models": [{"name": name, "checkpoint_step": m.step} for name, m in self.models.items()]}

    def model(self, name):
        model = self.models.get(name or self.default)
        if model is None:
            raise ConfigError(f"model={name}: not loaded here; choose {' or '.join(self.models)}")
        return model

    def predict(self, data, name=None, top_k=1, inputs=False):
        """A picture's bytes -> mnist_app --json's object for it ("path": "upload"); ImageError, ConfigError."""
        model = self.model(name)
        with self._idle:
            self._running += 1
        try:
            return read_upload(model, data, top_k, inputs)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def close(self):
        """Close the sessions, after the predictions still running (daemon threads at Ctrl-C) have ended."""
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=CLOSE_WAIT_S)
        for model in self.models.values():
            model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def read_upload(model, data, top_k=1, inputs=False):
    """What mnist_app does to one picture file (load, find the digits, one batch, results), on bytes."""
    name = pictures.UPLOAD_NAME
    picture = pictures.load_image(data, name=name)
    batch, fields = digits.read_number(picture, name, model.predict)
    entry = {"path": name, "rows": list(range(len(batch))), **fields}
    [result] = digits.results([entry], model.predict(batch), top_k)
    if inputs:
        result["inputs"] = np.round(batch * 255).astype(np.uint8).tolist()
    return result


def predict_options(query):
    """The query of POST /api/predict -> (model name or None, top_k, inputs); ConfigError naming the bad one."""
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"model", "top_k", "inputs"})
    if unknown:
        raise ConfigError(f"unknown query parameter {unknown[0]!r}: use model, top_k or inputs")
    top_k = fields.get("top_k", ["1"])[-1]
    if not (top_k.isascii() and top_k.isdigit() and 1 <= int(top_k) <= 10):
        raise ConfigError(f"top_k={top_k}: must be a whole number from 1 to 10")
    inputs = fields.get("inputs", ["0"])[-1]
    if inputs not in ("0", "1"):
        raise ConfigError(f"inputs={inputs}: must be 0 or 1")
    return fields.get("model", [None])[-1], int(top_k), inputs == "1"


class Reply:
    """One HTTP answer: status, body bytes, content type and extra headers."""

    def __init__(self, status, body, content_type="application/json; charset=utf-8", headers=None):
        self.status, self.body, self.content_type = HTTPStatus(status), body, content_type
        self.headers = headers or {}

    @classmethod
    def json(cls, status, obj, headers=None):
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers)

    @classmethod
    def error(cls, status, message, headers=None):
        return cls.json(status, {"error": message}, headers)


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the page and the API; every answer, errors included, goes through send()."""

    protocol_version = "HTTP/1.1"    # keep-alive: the page's many small predictions reuse one connection
    server_version = "tfnotes-digits"
    timeout = IDLE_TIMEOUT_S
    started = None

    # Every usual method reaches route(), which answers 405 where a path does not take it (http.server
    # itself would answer 501 for a method without a do_ function).
    def do_GET(self):
        try:
            reply = self.route()
        except Exception:   # a bug: this request gets a JSON 500 and the log the traceback; the server goes on
            self.server.log(f"internal error in {self.command} {self.path}:\n{traceback.format_exc()}")
            self.close_connection = True
            reply = Reply.error(500, "internal error; the server's log has the details")
        self.send(reply)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm holds the body back until
        # the client's delayed ACK, 40 ms on Linux, for every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self):
        return self.server_version     # not the Python version: nobody needs it

    def parse_request(self):
        self.started = time.perf_counter()
        return super().parse_request()

    def route(self):
        url = urlsplit(self.path)
        routes = {"/api/health": ("GET", self.get_health), "/api/models": ("GET", self.get_models),
                  "/api/predict": ("POST", self.post_predict)}
        routes.update({path: ("GET", self.get_page) for path in PAGES})
        if url.path not in routes:
            return Reply.error(404, f"no such page: {url.path}; the page is at /, the API at /api/health, "
                                    "/api/models and /api/predict")
        method, action = routes[url.path]
        allowed = f"{method}, HEAD" if method == "GET" else method
        if self.command not in allowed.split(", "):
            self.close_connection = self.has_body()   # its body is never read: this connection cannot go on
            return Reply.error(405, f"{self.command} {url.path}: not allowed; use {allowed}", {"Allow": allowed})
        return action(url)

    def has_body(self):
        return bool(self.headers.get("Content-Length", "0") != "0" or self.headers.get("Transfer-Encoding"))

    def get_health(self, url):
        return Reply.json(200, self.server.predictor.health(), {"Cache-Control": "no-store"})

    def get_models(self, url):
        return Reply.json(200, self.server.predictor.catalogue(), {"Cache-Control": "no-store"})

    def get_page(self, url):
        body, content_type = self.server.pages[url.path]
        return Reply(200, body, content_type, {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache",
                                               "X-Content-Type-Options": "nosniff"})

    def post_predict(self, url):
        refused = self.refuse_body()
        if refused:
            self.close_connection = True
            return refused
        size = int(self.headers["Content-Length"])
        start = time.perf_counter()
        data = self.rfile.read(size)
        if len(data) < size:
            self.close_connection = True
            return Reply.error(400, f"the body ended after {len(data)} of {size} bytes (upload interrupted)")
        read_ms, start, cpu = 1000 * (time.perf_counter() - start), time.perf_counter(), time.thread_time()
        try:
            result = self.server.predictor.predict(data, *predict_options(url.query))
        except (ImageError, ConfigError) as exc:
            return Reply.error(400, str(exc))
        except ModelError as exc:        # the server's own files (e.g. tfnotes/touching.npz), not the upload
            return Reply.error(503, str(exc))
        # cpu: this thread's processor time for the prediction, which other programs' load does not inflate
        timing = (f"read;dur={read_ms:.2f}, predict;dur={1000 * (time.perf_counter() - start):.2f}, "
                  f"cpu;dur={1000 * (time.thread_time() - cpu):.2f}")
        return Reply.json(200, result, {"Cache-Control": "no-store", "Server-Timing": timing})

    def refuse_body(self):
        """A Reply refusing the announced body (none to read, too big) before any of it is read, else None."""
        if self.headers.get("Transfer-Encoding"):
            return Reply.error(411, "send the picture's bytes with a Content-Length header (no chunked upload)")
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            return Reply.error(411, "send the picture's bytes as the request body, with a Content-Length header")
        if int(length) > MAX_BODY:
            return Reply.error(413, f"the body is {int(length):,} bytes, over the limit of {MAX_BODY:,} "
                                    "(10 MB); send a smaller picture")
        return None

    def handle_expect_100(self):
        """`Expect: 100-continue` (curl, for big uploads): refuse a body over the limit before it is sent."""
        refused = self.refuse_body() if urlsplit(self.path).path == "/api/predict" else None
        if refused and refused.status == 413:
            self.close_connection = True
            self.send(refused)
            return False
        return super().handle_expect_100()

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (malformed request line, header too long, ...) as JSON, like the others."""
        self.close_connection = True
        self.send(Reply.error(code, message or HTTPStatus(code).phrase))

    def send(self, reply):
        """Log the request's one line, then write `reply` (no body for HEAD); a client gone away is no error.

        The line goes first so that it is in the log once the client has its answer, even when the server is
        stopped right after (its threads end with the process)."""
        self.log_line(reply)
        self.started = None
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def log_line(self, reply):
        spent = f"{1000 * (time.perf_counter() - self.started):.1f} ms" if self.started else "-"
        note = ""
        if reply.status >= 400:
            note = "  " + json.loads(reply.body)["error"][:160]
        request = f"{self.command or '-'} {getattr(self, 'path', '-')}"[:200]
        self.server.log(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} \"{request}\" "
                        f"{int(reply.status)} {len(reply.body)} B {spent}{note}")

    def log_request(self, code="-", size="-"):
        pass    # send() logs the request's one line, with its time and error

    def log_message(self, format, *args):
        pass    # http.server's only other line: a kept-alive connection left idle timed out, which is no request


class DigitServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with the Predictor, the page's files (read once) and the log for the handlers."""

    daemon_threads = True            # Ctrl-C does not wait for a browser's kept-alive connections
    request_queue_size = 64          # connections waiting to be accepted (socketserver: 5; a burst of uploads resets)

    def __init__(self, address, predictor, log, family=socket.AF_INET):
        self.address_family = family
        self.predictor, self.log = predictor, log
        self.pages = {path: ((WEB_DIR / name).read_bytes(), kind) for path, (name, kind) in PAGES.items()}
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        """A handler that failed (a bug, or a client that vanished mid-request) costs one request, not the server."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            self.log(f"{time.strftime('%H:%M:%S')} {client_address[0]} connection dropped ({exc})")
        else:
            self.log(f"{time.strftime('%H:%M:%S')} {client_address[0]} internal error:\n{traceback.format_exc()}")


def stderr_line(line):
    print(line, file=sys.stderr, flush=True)


def make_server(predictor, host="127.0.0.1", port=8000, log=stderr_line):
    """A DigitServer listening on host:port (port 0: any free one); ConfigError naming the flag if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return DigitServer((host, port), predictor, log, family)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); "
                          "another program may use the port: choose another with --port") from None


def is_loopback(host):
    """True when only this machine can reach an address bound to `host`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address(server):
    """The page's address, as a browser on this machine opens it."""
    host, port = server.server_address[:2]
    if host in ("0.0.0.0", "::"):      # all interfaces: this machine reaches them at the loopback address
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve_until_stopped(server):
    """Serve until Ctrl-C or SIGTERM, then return normally (the caller closes the server)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)   # `kill` stops it the same clean way as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
