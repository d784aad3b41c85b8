"""The digit model as a local web page: draw or upload a number, and see what the model sees.

    GET  /                the page (tfnotes/web/: index.html, app.js, style.css; no CDN, works offline)
    GET  /api/health      {"status": "ok", "model": "fc", "checkpoint_step": 50000}
    GET  /api/models      {"default": "fc", "models": [{"name": "fc", "checkpoint_step": 50000}, ...]}
    POST /api/predict     body: a picture's bytes (Content-Type image/* or application/octet-stream) -> the
                          object `mnist_app.py --json` prints for it, with "path": "upload". Query: model=NAME,
                          top_k=1..10 (default 1), inputs=1 (adds "inputs": each digit's 28x28 input as 0..255
                          rows, what the model sees)
    POST /api/collect?label=N       body: a picture of the digit N (the Collect tab's drawing) -> saved into the
                          collection folder (tfnotes/collect.py): {"number", "split", "file", "counts"}
    GET  /api/collect/counts        {"train": [count of each digit], "test": [...], "total", "folder"}
    POST /api/collect/undo          removes the digit saved last -> {"number", "split", "file", "label", "counts"}

Only the standard library's http.server (ThreadingHTTPServer): one thread per connection. The networks are
loaded once and shared; their TensorFlow sessions may run from several threads at once. Every error is a
JSON object {"error": message}; a bad request never stops the server; one log line per request, with every
control character a client sent escaped.

Any web page the user opens can send requests to a server on this machine, so every route refuses, before
reading a body: a Host that is not this server's (DNS rebinding; 421), an Origin that is not the page's own
(403), a body of a type the route does not take (415; a page elsewhere can send only text/plain, form types
or none without asking the browser first, and the asking is refused by the Origin check), and an ambiguous
or invalid Content-Length (400). Limits (class Limits) keep slow or many clients from holding the threads:
a whole request must arrive within a deadline, and connections beyond a cap get a 503 at once.
"""
import collections
import dataclasses
import io
import ipaddress
import json
import os
import re
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

from tfnotes import collect, digits, pictures
from tfnotes.errors import ConfigError, CourseError, ImageError, ModelError
from tfnotes.models import MINE_SUFFIX, MODELS, REPO_DIR

MAX_BODY = 10 * 1024 * 1024          # bytes of one uploaded picture (a phone photo is 2-6 MB)
DEFAULT_COLLECT_DIR = os.path.join(REPO_DIR, "my_digits")   # the Collect tab's folder (--collect-dir)
WEB_DIR = Path(__file__).resolve().parent / "web"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/style.css": ("style.css", "text/css; charset=utf-8")}
# The page loads nothing from elsewhere; the policy makes the browser refuse it if it ever tried.
PAGE_POLICY = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
               "connect-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# What a picture's body may be labelled (app.js sends image/png, or a file's own type, else octet-stream). No
# Content-Type at all counts as application/octet-stream (RFC 9110, 8.3), as programs send it (http.client).
PICTURE_TYPES = ("image/*", "application/octet-stream")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")   # the names a server on 127.0.0.1 answers to, beside --allow-host
CLOSE_WAIT_S = 10                    # close() waits at most this long for predictions still running
LINGER_S = 2                         # a refused connection is read (and dropped) at most this long before closing


@dataclasses.dataclass(frozen=True)
class Limits:
    """What keeps slow or many clients from holding the server's threads (tests use shorter ones)."""

    idle_s: float = 30               # a kept-alive connection idle this long between requests is closed
    request_s: float = 20            # a request's line, headers and body must all have come this long after its
    min_rate: float = 100_000        # first byte, plus its body's size at this many bytes/s (10 MB: 105 s more)
    write_s: float = 30              # an answer the client does not take within this is dropped
    connections: int = 128           # connections served at once; one more gets a 503 at once, with no thread


def trained_models(load, exclude=()):
    """{name: Model} of every lesson network whose own folder holds a usable checkpoint, and of each one fine-tuned
    on your digits ("<name>-mine", in <its folder>_mine), `exclude` left out.

    load(name, folder) restores one (mnist_app.restore_model). For the page's model switch: a network not trained
    (or being written) is simply not offered.
    """
    found = {}
    for name, spec in MODELS.items():
        for label, folder in ((name, spec.model_dir), (f"{name}-mine", spec.model_dir + MINE_SUFFIX)):
            if label in exclude or not os.path.isdir(folder):
                continue
            try:
                found[label] = load(name, folder)
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
    [result] = digits.results([entry], model.predict(batch), top_k, batch if inputs else None)
    return result


def collect_label(query):
    """The query of POST /api/collect -> the digit it saves (`label=N`); ConfigError naming what is wrong."""
    fields = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(fields) - {"label"})
    if unknown:
        raise ConfigError(f"unknown query parameter {unknown[0]!r}: use label")
    if len(fields.get("label", [])) != 1:
        raise ConfigError("give the digit drawn as one label=N, N from 0 to 9")
    return collect.check_label(fields["label"][0])


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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def printable(text):
    """`text` with each control character (C0, DEL, C1, line and paragraph separators, bidirectional controls)
    written as an escape (\\r, \\x00, \\u2028): a value a client sent cannot start a forged log line, hide text or
    drive the terminal that shows the log."""
    def escape(match):
        char = match[0]
        return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
    return _CONTROL.sub(escape, text)


def host_and_port(authority):
    """'name:port', '[v6]:port' or 'name' (a Host header, an Origin's end) -> (name lowercased, IP addresses
    written the one way, port or None); None when it is no such thing."""
    try:
        parts = urlsplit(f"//{authority}")
        port = parts.port
    except ValueError:
        return None
    if parts.netloc != authority or "@" in authority or not parts.hostname:
        return None
    name = parts.hostname
    try:
        name = str(ipaddress.ip_address(name))
    except ValueError:
        pass
    return name, port


def same_origin(origin, authority):
    """True when `origin` (an Origin header) is http://`authority` (this request's Host): the page that sent the
    request came from this server. "null" (a sandboxed frame, a file) is no origin of ours."""
    scheme, _, rest = origin.partition("://")
    mine, theirs = host_and_port(authority), host_and_port(rest)
    return (scheme.lower() == "http" and None not in (mine, theirs) and mine[0] == theirs[0]
            and (mine[1] or 80) == (theirs[1] or 80))


def host_name(value):
    """An --allow-host value as the Host check compares it (lowercased; an IPv6 address without brackets);
    ConfigError naming it when it is no host name or address alone."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    found = host_and_port(text)
    if found is None or ":" in text or not re.fullmatch(r"[a-z0-9_.-]+", found[0]):
        raise ConfigError(f"--allow-host {value}: not a host name; give a name or address alone, without "
                          "http:// or a port, e.g. --allow-host mybox.local or --allow-host 192.168.1.5")
    return found[0]


def is_address(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def accepts(content_type, accepted):
    """True when a body labelled `content_type` (None: unlabelled) is one of `accepted` ("image/*" covers
    every image type)."""
    media = (content_type or "application/octet-stream").split(";", 1)[0].strip().lower()
    return any(media == kind or (kind.endswith("/*") and media.startswith(kind[:-1]) and media != kind[:-1])
               for kind in accepted)


def is_length(value):
    value = value.strip(" \t")
    return value.isascii() and value.isdigit()


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

    def raw(self):
        """The whole answer as bytes, closing the connection: for the server's accepting thread (503)."""
        status = f"HTTP/1.1 {int(self.status)} {self.status.phrase}"
        head = [status, f"Content-Type: {self.content_type}", f"Content-Length: {len(self.body)}",
                "X-Content-Type-Options: nosniff", "Connection: close"]
        head += [f"{key}: {value}" for key, value in self.headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + self.body


class Refused(Exception):
    """A request refused with a JSON error; raised wherever it is found, answered by Handler.do_GET."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.reply = Reply.error(status, message, headers)


class RequestTimeout(Refused):
    def __init__(self, limit_s):
        super().__init__(408, f"the request took over {limit_s:.0f} s to arrive (request line, headers and body); "
                              "send it at once")


class RequestClock(io.RawIOBase):
    """The connection's bytes for the handler's rfile, each recv given only the time its request has left.

    Between requests the connection may idle Limits.idle_s. Once a request's first byte has come, all of it must
    have come Limits.request_s later (plus its body's size at Limits.min_rate): a deadline for the whole
    request, which a client sending a byte now and then cannot stretch as it could a timeout per recv."""

    def __init__(self, sock, limits):
        super().__init__()
        self.sock, self.limits = sock, limits
        self.started = self.deadline = None      # time.monotonic() of this request's first byte, and its deadline

    def readable(self):
        return True

    def next_request(self):
        self.started = self.deadline = None

    def allow_body(self, size):
        if self.started is not None:
            self.deadline = self.started + self.limits.request_s + size / self.limits.min_rate

    def readinto(self, buffer):
        if self.deadline is None:
            self.sock.settimeout(self.limits.idle_s)
        else:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout(self.deadline - self.started)
            self.sock.settimeout(left)
        try:
            count = self.sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is None:
                raise                            # idle: http.server closes the connection without a word
            raise RequestTimeout(self.deadline - self.started) from None
        if self.started is None and count:
            self.started = time.monotonic()
            self.deadline = self.started + self.limits.request_s
        return count


class HostCheck:
    """Which Host headers a server answers (a callable): the loopback names, the address it is bound to and
    the --allow-host names, each with its port (none: 80); when bound to an address open to the network, also
    any IP address, which is how other machines reach it. Never any other name: a web page elsewhere can point
    a name of its own at this machine (DNS rebinding), but the browser then sends that name."""

    def __init__(self, bound, port, allow_hosts=()):
        self.port, self.any_address = port, not is_loopback(bound)
        self.names = set(LOOPBACK_NAMES) | {host_name(bound)} | {host_name(name) for name in allow_hosts}

    def __call__(self, authority):
        found = host_and_port(authority)
        if found is None or (found[1] or 80) != self.port:
            return False
        return found[0] in self.names or (self.any_address and is_address(found[0]))

    def __str__(self):
        names = sorted(f"[{name}]" if ":" in name else name for name in self.names)
        return ", ".join(f"{name}:{self.port}" for name in names) + (" or any IP address" if self.any_address else "")


# A route: the method it takes, the function answering it, and the Content-Types of the body it reads (none: it
# reads no body).
Route = collections.namedtuple("Route", "method action body_types", defaults=((),))


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the page and the API; every answer, errors included, goes through send()."""

    protocol_version = "HTTP/1.1"    # keep-alive: the page's many small predictions reuse one connection
    server_version = "tfnotes-digits"
    # Headers and body leave in two writes: without this, Nagle's algorithm holds the body back until the
    # client's delayed ACK, 40 ms on Linux, for every answer.
    disable_nagle_algorithm = True
    started = None
    body_read = False
    unread = False                   # the connection is closed with the client's bytes unread (a refused body)

    def routes(self):
        table = {"/api/health": Route("GET", self.get_health), "/api/models": Route("GET", self.get_models),
                 "/api/predict": Route("POST", self.post_predict, PICTURE_TYPES),
                 "/api/collect": Route("POST", self.post_collect, PICTURE_TYPES),
                 "/api/collect/counts": Route("GET", self.get_collect_counts),
                 "/api/collect/undo": Route("POST", self.post_collect_undo)}
        table.update({path: Route("GET", self.get_page) for path in PAGES})
        return table

    # Every usual method reaches route(), which answers 405 where a path does not take it (http.server
    # itself would answer 501 for a method without a do_ function).
    def do_GET(self):
        try:
            reply = self.route()
        except Refused as exc:
            reply = exc.reply
        except Exception:   # a bug: this request gets a JSON 500 and the log the traceback; the server goes on
            self.server.log_traceback(f"internal error in {self.command} {self.path}")
            self.close_connection = True
            reply = Reply.error(500, "internal error; the server's log has the details")
        if self.has_body() and not self.body_read:
            self.close_connection = self.unread = True     # its body is still coming: this connection cannot go on
        self.send(reply)

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = do_GET

    def setup(self):
        super().setup()
        self.rfile.close()                           # the socket's own reader: replaced by one with deadlines
        self.clock = RequestClock(self.connection, self.server.limits)
        self.rfile = io.BufferedReader(self.clock)

    def handle_one_request(self):
        self.clock.next_request()
        self.command, self.path, self.request_version, self.body_read = "", "", "HTTP/1.1", False
        try:
            super().handle_one_request()
        except RequestTimeout as exc:                # the request line or the headers came too slowly
            self.close_connection = self.unread = True
            self.send(exc.reply)

    def finish(self):
        super().finish()
        if self.unread:
            # Closed with the client's bytes unread, the socket would be reset, and the client could lose the
            # answer before reading it: its end is closed first, and what it still sends read and dropped.
            linger(self.connection, LINGER_S)

    def version_string(self):
        return self.server_version     # not the Python version: nobody needs it

    def parse_request(self):
        self.started = self.clock.started or time.monotonic()
        return super().parse_request()

    def route(self):
        url = urlsplit(self.path)
        self.refuse(url)
        return self.routes()[url.path].action(url)

    def refuse(self, url):
        """Raise Refused for a request this server does not serve, before any of its body is read (every route
        gets these checks, and so does a request that asks first with `Expect: 100-continue`)."""
        if not self.path.startswith("/"):
            raise Refused(400, f"request target {self.path}: must be a path such as /api/health (this is no proxy)")
        self.refuse_host()
        self.refuse_framing()
        routes = self.routes()
        if url.path not in routes:
            raise Refused(404, f"no such page: {url.path}; the page is at /, the API at /api/health, "
                               "/api/models, /api/predict and /api/collect")
        route = routes[url.path]
        allowed = f"{route.method}, HEAD" if route.method == "GET" else route.method
        if self.command not in allowed.split(", "):
            raise Refused(405, f"{self.command} {url.path}: not allowed; use {allowed}", {"Allow": allowed})
        if route.body_types:
            self.refuse_body(route.body_types)

    def refuse_host(self):
        """A Host not this server's (DNS rebinding: a name of the attacker's now pointing here), an Origin not
        the page's own (another page in the same browser)."""
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1:
            raise Refused(400, f"send one Host header, not {len(hosts)}")
        if not self.server.hosts(hosts[0]):
            raise Refused(421, f"Host {hosts[0]}: this server answers only to {self.server.hosts}; "
                               "to use another name, start it with --allow-host NAME")
        origins = self.headers.get_all("Origin") or []
        if origins and not (len(origins) == 1 and same_origin(origins[0], hosts[0])):
            raise Refused(403, f"Origin {', '.join(origins)}: requests from other web pages are refused; use the "
                               f"page at http://{hosts[0]}/ itself")

    def refuse_framing(self):
        """A body whose length is unknown or ambiguous (it would be read as the next request)."""
        if self.headers.get("Transfer-Encoding"):
            raise Refused(411, "send the body with a Content-Length header (no chunked upload)")
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1:
            raise Refused(400, f"{len(lengths)} Content-Length headers ({', '.join(lengths)}): send one")
        if lengths and not is_length(lengths[0]):
            raise Refused(400, f"invalid Content-Length {lengths[0]!r}: send the body's size in bytes, a whole "
                               "number such as 1234")

    def refuse_body(self, body_types):
        """The route's body: announced, not over the limit, of a type it takes."""
        length = self.headers.get("Content-Length")
        if length is None:
            raise Refused(411, "send the picture's bytes as the request body, with a Content-Length header")
        if int(length) > MAX_BODY:
            raise Refused(413, f"the body is {int(length):,} bytes, over the limit of {MAX_BODY:,} (10 MB); "
                               "send a smaller picture")
        content_type = self.headers.get("Content-Type")
        if not accepts(content_type, body_types):
            example = body_types[0].replace("*", "png")
            raise Refused(415, f"Content-Type {content_type}: not taken here; send {' or '.join(body_types)} "
                               f"(with curl: -H 'Content-Type: {example}')")

    def has_body(self):
        """True when a body may follow the headers: announced, or a POST, PUT or PATCH without a length (an old
        client's body that runs to the connection's end)."""
        lengths = self.headers.get_all("Content-Length") or []
        if not lengths and self.command in ("POST", "PUT", "PATCH"):
            return True
        return bool(self.headers.get("Transfer-Encoding")) or any(value.strip() != "0" for value in lengths)

    def read_body(self):
        """The body refuse() let through, read within the request's deadline (RequestTimeout past it)."""
        size = int(self.headers["Content-Length"])
        self.clock.allow_body(size)
        data = self.rfile.read(size)
        if len(data) < size:
            raise Refused(400, f"the body ended after {len(data)} of {size} bytes (upload interrupted)")
        self.body_read = True
        return data

    def get_health(self, url):
        return Reply.json(200, self.server.predictor.health(), {"Cache-Control": "no-store"})

    def get_models(self, url):
        return Reply.json(200, self.server.predictor.catalogue(), {"Cache-Control": "no-store"})

    def get_page(self, url):
        body, content_type = self.server.pages[url.path]
        return Reply(200, body, content_type, {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"})

    def post_predict(self, url):
        start = time.perf_counter()
        data = self.read_body()
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

    def post_collect(self, url):
        """The Collect tab's drawing of the digit ?label=N, saved into the collection folder (tfnotes/collect.py)."""
        data = self.read_body()
        try:
            label = collect_label(url.query)
            saved = self.server.collection.add(label, data)
        except (ImageError, ConfigError) as exc:
            return Reply.error(400, str(exc))
        except OSError as exc:           # a full disk, a folder that cannot be written: nothing saved is lost
            return Reply.error(507, f"could not save into {self.server.collection.folder} ({exc.strerror or exc}); "
                                    "the digits saved before are kept")
        return Reply.json(200, saved, {"Cache-Control": "no-store"})

    def get_collect_counts(self, url):
        return Reply.json(200, self.server.collection.counts(), {"Cache-Control": "no-store"})

    def post_collect_undo(self, url):
        try:
            removed = self.server.collection.undo()
        except OSError as exc:
            return Reply.error(507, f"could not undo in {self.server.collection.folder} ({exc.strerror or exc})")
        if removed is None:
            return Reply.error(409, "nothing to undo: no digit is saved")
        return Reply.json(200, removed, {"Cache-Control": "no-store"})

    def handle_expect_100(self):
        """`Expect: 100-continue` (curl, for big uploads): a refused request is answered before its body is sent."""
        try:
            self.refuse(urlsplit(self.path))
        except Refused as exc:
            self.close_connection = self.unread = True
            self.send(exc.reply)
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
            self.connection.settimeout(self.server.limits.write_s)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("X-Content-Type-Options", "nosniff")     # JSON is never read as a script or page
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
        started = self.started or self.clock.started       # the clock's: a request cut before its headers
        spent = f"{1000 * (time.monotonic() - started):.1f} ms" if started else "-"
        note = ""
        if reply.status >= 400:
            note = "  " + printable(json.loads(reply.body)["error"])[:160]
        # The request as sent, its control characters escaped and its quotes too: the field stays one field.
        request = printable(f"{self.command or '-'} {self.path or '-'}").replace('"', "\\x22")[:200]
        self.server.log(f"{time.strftime('%H:%M:%S')} {self.client_address[0]} \"{request}\" "
                        f"{int(reply.status)} {len(reply.body)} B {spent}{note}")

    def log_request(self, code="-", size="-"):
        pass    # send() logs the request's one line, with its time and error

    def log_message(self, format, *args):
        pass    # http.server's only other line: a kept-alive connection left idle timed out, which is no request


class DigitServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with the Predictor, the page's files (read once), the log, the names it answers to
    and its limits, for the handlers."""

    daemon_threads = True            # Ctrl-C does not wait for a browser's kept-alive connections
    request_queue_size = 64          # connections waiting to be accepted (socketserver: 5; a burst of uploads resets)

    def __init__(self, address, predictor, log, family=socket.AF_INET, allow_hosts=(), limits=None, collection=None):
        names = [host_name(name) for name in allow_hosts]      # a bad name is refused before the port is taken
        self.address_family = family
        self.predictor, self.log, self.limits = predictor, log, limits or Limits()
        self.collection = collection or collect.Collection(DEFAULT_COLLECT_DIR)   # the Collect tab's folder
        self.pages = {path: ((WEB_DIR / name).read_bytes(), kind) for path, (name, kind) in PAGES.items()}
        self.open_connections, self.counting = 0, threading.Lock()    # each holds a thread until it closes
        self.lingering = []          # connections answered 503: (socket, when to close it at the latest)
        self.refused, self.refusal_logged = 0, 0.0
        super().__init__(address, Handler)
        given = host_and_port(address[0])                     # --host as given (a name) beside its address
        self.hosts = HostCheck(self.server_address[0], self.server_address[1], names + ([given[0]] if given else []))

    # The cap on connections, counted from their accepting to their thread's end.
    def process_request(self, request, client_address):
        with self.counting:
            busy = self.open_connections >= self.limits.connections
            self.open_connections += not busy
        if busy:
            self.refuse_busy(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:                       # no thread started: it counts no more
            self.connection_closed()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connection_closed()

    def connection_closed(self):
        with self.counting:
            self.open_connections -= 1

    def refuse_busy(self, request, client_address):
        """Over the cap: a 503 at once from this, the accepting thread, which must never wait for a client.

        The socket is closed later (service_actions), once the client has closed its end or LINGER_S has
        passed: closed at once with the request unread, it would reset the connection, and the client could
        lose the answer."""
        busy = Reply.error(503, f"busy: {self.limits.connections} connections open, the most this server takes; "
                                "try again in a few seconds", {"Retry-After": "5"})
        request.setblocking(False)
        try:
            request.send(busy.raw())
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if len(self.lingering) < self.limits.connections:
            self.lingering.append((request, time.monotonic() + LINGER_S))
        else:
            request.close()
        self.refused += 1
        if time.monotonic() - self.refusal_logged >= 1:      # under a flood: a line a second, not one each
            self.log(f"{time.strftime('%H:%M:%S')} {client_address[0]} 503: {self.limits.connections} connections "
                     f"open, the most allowed; {self.refused} refused since the last such line")
            self.refused, self.refusal_logged = 0, time.monotonic()

    def service_actions(self):
        """Run by serve_forever between connections (at least every half second): close the refused ones whose
        client has closed or whose time is up, after reading (and dropping) what they sent."""
        super().service_actions()
        now, still = time.monotonic(), []
        for sock, until in self.lingering:
            if finished(sock) or now > until:
                sock.close()
            else:
                still.append((sock, until))
        self.lingering = still

    def server_close(self):
        super().server_close()
        for sock, _ in self.lingering:
            sock.close()
        self.lingering = []

    def log_traceback(self, headline):
        """A bug's traceback in the log: the headline with its control characters escaped, each line of the
        traceback indented, so that none can pass for a request's line."""
        lines = traceback.format_exc().rstrip().splitlines()
        self.log(f"{time.strftime('%H:%M:%S')} {printable(headline)}:\n"
                 + "\n".join("    " + printable(line) for line in lines))

    def handle_error(self, request, client_address):
        """A handler that failed (a bug, or a client that vanished mid-request) costs one request, not the server."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            self.log(f"{time.strftime('%H:%M:%S')} {client_address[0]} connection dropped ({printable(str(exc))})")
        else:
            self.log_traceback(f"{client_address[0]} internal error")


def linger(sock, seconds):
    """Close our end of `sock` for writing, then read and drop what the client sends until it closes its end or
    `seconds` have passed."""
    deadline = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return
    except OSError:
        pass


def finished(sock):
    """Read and drop what a non-blocking socket has; True once the client has closed its end (or it failed)."""
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def stderr_line(line):
    print(line, file=sys.stderr, flush=True)


def make_server(predictor, host="127.0.0.1", port=8000, log=stderr_line, allow_hosts=(), limits=None,
                collection=None):
    """A DigitServer listening on host:port (port 0: any free one), answering to the loopback names, `host` and
    `allow_hosts` (--allow-host), saving the Collect tab's digits into `collection` (a tfnotes.collect.Collection;
    None: DEFAULT_COLLECT_DIR); ConfigError naming the flag if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return DigitServer((host, port), predictor, log, family, allow_hosts, limits, collection)
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
