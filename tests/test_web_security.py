"""The web page's server (tfnotes/server.py) against what a hostile web page, or a hostile client, sends it.

Any page open in the user's browser can send requests to a server on this machine. Here: control characters
in what is logged (log injection), Host headers of other names (DNS rebinding, also for real in Chromium),
other pages' Origins and the body types a page elsewhere can send (also for real in Chromium, from a second
local origin), and HTTP framing (Connection: close, Content-Length). Every refusal is checked to have run no
prediction. The slow clients, the connection cap and the soak are in tests/test_web_load.py.
"""
import base64
import http.client
import re
import shlex
import shutil
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import test_web
from test_web import WAIT_S, call, host, picture_bytes, raw_request, running, split_answer

from tfnotes import server
from tfnotes.errors import ConfigError

import mnist_app

# test_web's fixtures, shared: the small model and its predictor, a server on a free port, the browser.
browser, model_dir, predictor, site = test_web.browser, test_web.model_dir, test_web.predictor, test_web.site
collected = test_web.collected
PNG = {"Content-Type": "image/png"}
# What must never reach the log raw: C0, DEL, C1, line and paragraph separators, bidirectional controls.
REQUEST_LINE = re.compile(r'\d\d:\d\d:\d\d 127\.0\.0\.1 "[^"]*" \d{3} \d+ B ')
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def predictions(predictor, monkeypatch):
    """The predictions the server runs during a test (the arguments of each call)."""
    calls = []
    real = predictor.predict

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(predictor, "predict", counted)
    return calls


@pytest.fixture(scope="module")
def three(root):
    return picture_bytes(root, "3.png")


# ---------------------------------------------------------------------------------------------------------
# 3. Log injection
# ---------------------------------------------------------------------------------------------------------

def test_control_characters_a_client_sends_are_escaped_in_the_log(predictor, three):
    with running(predictor) as site:
        answers = [call(site, "POST", "/api/predict?model=fc%0d%0aX-Injected:%201", three, PNG),
                   call(site, "POST", "/api/predict?model=%00", three, PNG),
                   call(site, "POST", "/api/predict?top_k=%1b[31m%E2%80%A8%C2%85%E2%80%AE", three, PNG)]
        # Raw bytes in the request line: ESC, BEL, CSI (a C1 control) and a quote, which would end the field.
        raw = raw_request(site, b'GET /\x1b[2J\x07\x9b"x HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                          % host(site).encode())
        lines = list(site[2])
    assert [status for status, _, _ in answers] == [400, 400, 400]
    # The answer names the value as it was sent (JSON escapes it); only the log needs escaping.
    assert answers[0][2]["error"].startswith("model=fc\r\nX-Injected: 1: not loaded here")
    assert raw.startswith(b"HTTP/1.1 404")
    assert len(lines) == 4, lines                                   # one line per request, none forged
    assert not [line for line in lines if CONTROL.search(line)], lines
    assert all(REQUEST_LINE.match(line) for line in lines), lines       # the request's field stays one field
    assert '"POST /api/predict?model=fc%0d%0aX-Injected:%201" 400' in lines[0]
    assert lines[0].endswith("model=fc\\r\\nX-Injected: 1: not loaded here; choose fc")
    assert "model=\\x00: not loaded here" in lines[1]
    assert "top_k=\\x1b[31m\\u2028\\x85\\u202e: must be" in lines[2]
    assert '"GET /\\x1b[2J\\x07\\x9b\\x22x" 404' in lines[3]


def test_a_bugs_traceback_is_logged_escaped_and_indented(predictor, monkeypatch, three):
    def broken(*args, **kwargs):
        raise RuntimeError('bad\r\n12:00:00 6.6.6.6 "GET /forged" 200 1 B 1.0 ms\x1b[2J')

    monkeypatch.setattr(predictor, "predict", broken)
    with running(predictor) as site:
        head = (f"POST /api/predict?model=\x1b[2J HTTP/1.1\r\nHost: {host(site)}\r\nContent-Type: image/png\r\n"
                f"Content-Length: {len(three)}\r\n\r\n").encode("latin-1")
        status, answer = split_answer(raw_request(site, head, three))
        assert call(site, "GET", "/api/health")[0] == 200                  # still serving
        log = "\n".join(site[2])
    assert status.startswith("HTTP/1.1 500") and answer == {"error": "internal error; the server's log has the details"}
    lines = log.splitlines()
    assert lines[0].endswith(" internal error in POST /api/predict?model=\\x1b[2J:"), lines[0]
    assert all(line.startswith(" " * 4) for line in lines[1:-2]), lines
    assert '"POST /api/predict?model=\\x1b[2J" 500' in lines[-2] and '"GET /api/health" 200' in lines[-1]
    # The exception's own line break makes a line, but an indented one: no line is a forged request's.
    assert '    12:00:00 6.6.6.6 "GET /forged" 200 1 B 1.0 ms\\x1b[2J' in lines
    assert not [line for line in lines if line.startswith("12:00:00 6.6.6.6")]
    assert not CONTROL.search(log.replace("\n", ""))


# ---------------------------------------------------------------------------------------------------------
# 4. Hostile pages: Host (DNS rebinding), Origin, the body's type, nosniff
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("authority, status", [
    ("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("[::1]:{port}", 200), ("LocalHost:{port}", 200),
    ("[0:0::1]:{port}", 200),
    ("evil.example", 421), ("evil.example:{port}", 421), ("127.0.0.1:{other}", 421), ("localhost", 421),
    ("127.0.0.1.nip.io:{port}", 421), ("user@127.0.0.1:{port}", 421), ("127.0.0.1:{port}/x", 421),
    ("192.168.1.5:{port}", 421), ("", 421)])
def test_only_this_servers_names_are_served(site, authority, status):
    authority = authority.format(port=site[1], other=site[1] + 1)
    answer = raw_request(site, f"GET /api/health HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode())
    head, body = split_answer(answer)
    assert head.startswith(f"HTTP/1.1 {status} "), (authority, head)
    assert "X-Content-Type-Options: nosniff" in head
    if status != 200:
        assert body["error"].startswith(f"Host {authority}: this server answers only to ")
        assert f"localhost:{site[1]}" in body["error"] and "--allow-host NAME" in body["error"]


def test_a_request_needs_one_host_header(site):
    for hosts in ([], [host(site), host(site)], [host(site), "evil.example"]):
        head = "GET / HTTP/1.1\r\n" + "".join(f"Host: {h}\r\n" for h in hosts) + "Connection: close\r\n\r\n"
        status, answer = split_answer(raw_request(site, head.encode()))
        assert status.startswith("HTTP/1.1 400") and f"send one Host header, not {len(hosts)}" in answer["error"]
    status, answer = split_answer(raw_request(site, f"GET http://evil.example/ HTTP/1.1\r\nHost: {host(site)}\r\n"
                                                    "Connection: close\r\n\r\n".encode()))
    assert status.startswith("HTTP/1.1 400") and "must be a path" in answer["error"]     # no proxy, no other host


def test_every_route_checks_the_host_before_any_work(site, predictions, three):
    evil = {"Host": f"evil.example:{site[1]}"}
    for method, path, body in (("GET", "/", None), ("GET", "/app.js", None), ("GET", "/api/models", None),
                               ("POST", "/api/predict", three), ("DELETE", "/api/nothing", None)):
        assert call(site, method, path, body, {**evil, **PNG})[0] == 421, (method, path)
    assert predictions == []


def test_an_open_server_answers_ip_addresses_and_the_allowed_names_only():
    open_one = server.HostCheck("0.0.0.0", 8000, ["MyBox.local", "[fe80::2]"])
    for ok in ("192.168.1.5:8000", "[fe80::1]:8000", "[fe80::2]:8000", "mybox.local:8000", "MYBOX.LOCAL:8000",
               "localhost:8000", "0.0.0.0:8000"):
        assert open_one(ok), ok
    for refused in ("evil.example:8000", "192.168.1.5:8001", "mybox.local", "192.168.1.5", "mybox.local.:8000"):
        assert not open_one(refused), refused
    assert str(open_one).endswith("mybox.local:8000 or any IP address")
    loopback = server.HostCheck("127.0.0.1", 80)                 # port 80: browsers send no port
    assert loopback("localhost") and loopback("127.0.0.1:80") and not loopback("192.168.1.5")
    assert str(loopback) == "127.0.0.1:80, [::1]:80, localhost:80"
    with pytest.raises(ConfigError, match="--allow-host http://x: not a host name"):
        server.HostCheck("127.0.0.1", 80, ["http://x"])


def test_allow_host_adds_a_name_to_the_server(model_dir, monkeypatch, capsys):
    seen = {}

    def serve_a_little(httpd):
        site = ("127.0.0.1", httpd.server_address[1])
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            for name in ("digits.test", "Other.digits.test"):
                seen[name] = call(site, "GET", "/api/health", headers={"Host": f"{name}:{site[1]}"})[0]
        finally:
            httpd.shutdown()
            thread.join(WAIT_S)

    monkeypatch.setattr(server, "serve_until_stopped", serve_a_little)
    argv = ["--serve", "--port", "0", "--model-dir", model_dir, "--allow-host", "digits.test"]
    assert mnist_app.main(argv) == 0
    assert seen == {"digits.test": 200, "Other.digits.test": 421}
    for bad in ("digits.test:8000", "http://digits.test", "digits test"):
        capsys.readouterr()
        assert mnist_app.main(argv[:-1] + [bad]) == 2
        assert f"error: --allow-host {bad}: not a host name" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--allow-host"):               # refused before the port is taken
        server.make_server(None, "127.0.0.1", 0, allow_hosts=["a/b"])


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null", "https://{site}",
                                    "http://localhost:{port}", "http://{site}.evil.example", "http://{site}/x"])
def test_requests_from_another_origin_are_refused(site, predictions, three, origin):
    origin = origin.format(site=host(site), port=site[1])
    status, headers, answer = call(site, "POST", "/api/predict", three, {"Origin": origin, **PNG})
    assert status == 403 and headers["X-Content-Type-Options"] == "nosniff"
    assert answer["error"] == (f"Origin {origin}: requests from other web pages are refused; use the page at "
                               f"http://{host(site)}/ itself")
    assert call(site, "GET", "/api/health", headers={"Origin": origin})[0] == 403      # every route
    assert call(site, "OPTIONS", "/api/predict", headers={"Origin": origin})[0] == 403  # a CORS preflight
    assert predictions == []


def test_the_pages_own_origin_is_served(site, predictions, three):
    status, headers, answer = call(site, "POST", "/api/predict", three, {"Origin": f"http://{host(site)}", **PNG})
    assert (status, answer["number"], len(predictions)) == (200, "3", 1)
    assert headers["X-Content-Type-Options"] == "nosniff" and "Access-Control-Allow-Origin" not in headers
    two = (f"POST /api/predict HTTP/1.1\r\nHost: {host(site)}\r\nOrigin: http://{host(site)}\r\n"
           f"Origin: http://evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert split_answer(raw_request(site, two.encode()))[0].startswith("HTTP/1.1 403")
    assert len(predictions) == 1


@pytest.mark.parametrize("content_type, status", [
    ("text/plain", 415), ("text/plain;charset=UTF-8", 415), ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415), ("application/json", 415), ("image/", 415), ("imagex/png", 415),
    ("image/png", 200), ("IMAGE/JPEG; q=1", 200), ("application/octet-stream", 200), (None, 200)])
def test_a_picture_must_come_as_an_image_or_bytes(site, predictions, three, content_type, status):
    got, headers, answer = call(site, "POST", "/api/predict", three,
                                {"Content-Type": content_type} if content_type else {})
    assert got == status and headers["X-Content-Type-Options"] == "nosniff"
    if status == 415:
        assert answer["error"] == (f"Content-Type {content_type}: not taken here; send image/* or "
                                   "application/octet-stream (with curl: -H 'Content-Type: image/png')")
        assert predictions == []
    else:
        assert answer["number"] == "3" and len(predictions) == 1


def test_the_docs_curl_command_is_served(site, root):
    doc = (root / "docs" / "mnist.md").read_text(encoding="utf-8")
    [command] = [line[2:] for line in doc.splitlines() if line.startswith("$ curl ") and "/api/predict" in line]
    assert "-H 'Content-Type: image/png'" in command                 # curl's default type is a form's
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the docs' command was checked for its Content-Type only")
    argv = [arg.replace("http://127.0.0.1:8000/", f"http://{host(site)}/") for arg in shlex.split(command)]
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=WAIT_S, check=True).stdout
    assert out.startswith('{"path": "upload", "number": "2026"'), out


# ---------------------------------------------------------------------------------------------------------
# 4. ... in a real browser: a hostile page on a second local origin, and a rebound name
# ---------------------------------------------------------------------------------------------------------

HOSTILE_PAGE = """<!doctype html><meta charset="utf-8"><title>another site</title><script>
const target = "http://%(target)s/api/predict?top_k=3";
const png = Uint8Array.from(atob("%(png)s"), (c) => c.charCodeAt(0));
const post = (mode, headers, body) => fetch(target, { method: "POST", mode, headers, body });
const tries = {
  "no-cors text/plain": () => post("no-cors", { "Content-Type": "text/plain" }, png),
  "no-cors, no Content-Type": () => post("no-cors", {}, png.buffer),
  "cors text/plain": () => post("cors", { "Content-Type": "text/plain" }, png),
  "cors image/png (preflighted)": () => post("cors", { "Content-Type": "image/png" }, png),
};
window.done = Promise.all(Object.entries(tries).map(([name, go]) => go().then(
  (r) => [name, `answered: ${r.type} ${r.status}`], (e) => [name, `failed: ${e}`])));
</script>
"""


@pytest.fixture
def hostile_site(tmp_path, site, three):
    """A page on a second local origin (another port) that POSTs a picture to the app's server in the ways
    a page may without asking the server first, and in one way that asks (a CORS preflight)."""
    page = HOSTILE_PAGE % {"target": host(site), "png": base64.b64encode(three).decode()}
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(WAIT_S)


def test_a_page_on_another_origin_cannot_make_the_server_work(browser, site, hostile_site, predictions):
    logged = len(site[2])
    browser.get(hostile_site)
    browser.set_script_timeout(WAIT_S)
    results = dict(browser.execute_async_script("window.done.then(arguments[0])"))
    assert set(results) == {"no-cors text/plain", "no-cors, no Content-Type", "cors text/plain",
                            "cors image/png (preflighted)"}
    # The browser: no-cors gets an opaque answer whatever the server did; cors fails without CORS headers.
    assert results["no-cors text/plain"] == "answered: opaque 0", results
    assert results["cors text/plain"].startswith("failed: TypeError"), results
    # The server: each request came (the preflight as an OPTIONS), each refused for its Origin, none predicted.
    lines = site[2][logged:]
    assert len(lines) == 4 and all('/api/predict?top_k=3" 403 ' in line for line in lines), lines
    assert sum('"OPTIONS ' in line for line in lines) == 1 and all("Origin http://127.0.0.1:" in x for x in lines)
    assert predictions == []


def test_a_rebound_name_gets_no_page(browser, site):
    # Chromium resolves rebind.test to 127.0.0.1 (BROWSER_FLAGS in test_web.py), as a hostile site's own
    # name would resolve after DNS rebinding: the browser then sends that name as Host, and it is refused.
    logged = len(site[2])
    browser.get(f"http://rebind.test:{site[1]}/api/health")
    text = browser.find_element("tag name", "body").text
    assert text.startswith(f'{{"error": "Host rebind.test:{site[1]}: this server answers only to'), text
    assert "checkpoint_step" not in browser.page_source
    lines = site[2][logged:]
    # Whatever else Chromium asks of that host (a favicon), nothing is served to it. Lines without a request
    # (a connection opened ahead and dropped, or one cut at its deadline, maybe an earlier test's) are no answer.
    requests = [line for line in lines if re.search(r'"[A-Z]+ /', line)]
    assert any('"GET /api/health" 421 ' in line for line in requests), lines
    assert all(re.search(rf'" 421 \d+ B .*Host rebind\.test:{site[1]}: ', line) for line in requests), lines


# ---------------------------------------------------------------------------------------------------------
# 6. HTTP details
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("HEAD", "/"), ("HEAD", "/api/predict"), ("DELETE", "/"),
                                          ("GET", "/api/predict"), ("GET", "/api/nothing"), ("OPTIONS", "/")])
def test_connection_close_is_kept_on_every_answer(site, method, path):
    start = time.monotonic()
    answer = raw_request(site, f"{method} {path} HTTP/1.1\r\nHost: {host(site)}\r\nConnection: close\r\n\r\n".encode())
    assert time.monotonic() - start < 5                  # closed at once, not after the 30 s idle timeout
    assert "Connection: close" in answer.partition(b"\r\n\r\n")[0].decode().split("\r\n")


def test_head_and_405_keep_the_connection_alive_unless_told(site):
    conn = http.client.HTTPConnection(*site[:2], timeout=WAIT_S)
    sockets = set()
    try:
        for method, path, status in (("HEAD", "/", 200), ("HEAD", "/api/predict", 405), ("GET", "/api/health", 200)):
            conn.request(method, path)
            response = conn.getresponse()
            response.read()
            assert response.status == status and response.getheader("Connection") is None
            sockets.add(id(conn.sock))
    finally:
        conn.close()
    assert len(sockets) == 1                             # one connection for the three


@pytest.mark.parametrize("lengths, message", [
    (["5", "5"], "2 Content-Length headers (5, 5): send one"), (["5", "6"], "2 Content-Length headers (5, 6)"),
    (["-1"], "invalid Content-Length '-1': send the body's size in bytes"), (["abc"], "invalid Content-Length 'abc'"),
    (["+5"], "invalid Content-Length '+5'"), (["5, 5"], "invalid Content-Length '5, 5'"),
    (["\u0665"], "invalid Content-Length")])
def test_content_length_must_be_one_whole_number(site, predictions, lengths, message):
    head = (f"POST /api/predict HTTP/1.1\r\nHost: {host(site)}\r\nContent-Type: image/png\r\n"
            + "".join(f"Content-Length: {value}\r\n" for value in lengths) + "\r\n")
    status, answer = split_answer(raw_request(site, head.encode("utf-8"), b"12345"))
    assert status.startswith("HTTP/1.1 400") and "Connection: close" in status, status
    assert message in answer["error"], answer
    assert predictions == []


def test_a_body_no_route_reads_ends_the_connection(site):
    # Left unread, the body would be read as the next request: here a request smuggled in it.
    smuggled = f"GET /api/nothing HTTP/1.1\r\nHost: {host(site)}\r\n\r\n"
    head = f"GET /api/health HTTP/1.1\r\nHost: {host(site)}\r\nContent-Length: {len(smuggled)}\r\n\r\n"
    answer = raw_request(site, (head + smuggled).encode())
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1 ") == 1
    assert b"\r\nConnection: close\r\n" in answer
