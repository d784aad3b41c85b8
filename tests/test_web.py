"""The web page (`mnist_app.py --serve`, tfnotes/server.py): the HTTP API, its bad requests, concurrent
requests, the command's start and clean stop, and the page in a real headless Chromium driven by Selenium
(drawing a 1, a 7 and a 0 with mouse, pen and touch; a photo of a number; a text file's error; no console
errors).

The browser tests need Chromium, its driver at /usr/bin/chromedriver and Selenium. On a machine without them
they are skipped with the command that installs them; with CI=true a missing browser is a failure.
Set UPDATE_SCREENSHOT=1 to write the page's screenshot into docs/images/web_page.png.
"""
import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tfnotes import collect, digits, inference, server, touching
from tfnotes.errors import ConfigError, ModelError

import mnist_app
from benchmarks.browser import BROWSER_FLAGS, DRIVER, INSTALL, chromium  # noqa: F401  (test_web_security uses them)
from benchmarks.browser import missing as missing_browser

try:
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    webdriver = None

WAIT_S = 30            # a prediction takes well under a second; this is for a very busy machine


# ---------------------------------------------------------------------------------------------------------
# A small trained model and a server on a free port
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(small_fc_model):
    return small_fc_model


@pytest.fixture(scope="module")
def predictor(model_dir):
    with server.Predictor({"fc": inference.load_model("fc", model_dir)}, "fc") as loaded:
        yield loaded


@contextlib.contextmanager
def running(predictor, **options):
    """A server on a free port of 127.0.0.1 in a thread: (host, port, its log lines, the server). options:
    make_server's allow_hosts, limits, collection."""
    lines = []
    httpd = server.make_server(predictor, "127.0.0.1", 0, log=lines.append, **options)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[0], httpd.server_address[1], lines, httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """The Collect tab's folder of the tests' server (never the repository's my_digits/)."""
    return collect.Collection(tmp_path_factory.mktemp("collected") / "my_digits")


@pytest.fixture(scope="module")
def site(predictor, collected):
    with running(predictor, collection=collected) as address:
        yield address


def call(site, method, path, body=None, headers=None):
    """(status, headers, decoded JSON) of one request on a new connection."""
    conn = http.client.HTTPConnection(site[0], site[1], timeout=WAIT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        conn.close()


def picture_bytes(root, name):
    return (root / "pic" / name).read_bytes()


def app_json(path, model_dir, capsys, *flags):
    """What `mnist_app.py --json` prints for one picture."""
    capsys.readouterr()
    assert mnist_app.main([str(path), "--json", "--model-dir", model_dir, *flags]) == 0
    [result] = json.loads(capsys.readouterr().out)
    return result


# ---------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------

def test_health_and_models(site):
    assert call(site, "GET", "/api/health")[::2] == (200, {"status": "ok", "model": "fc", "checkpoint_step": 600})
    assert call(site, "GET", "/api/models")[2] == {"default": "fc", "models": [{"name": "fc", "checkpoint_step": 600}]}


@pytest.mark.parametrize("name, flags, query", [("number_2026.png", [], ""), ("3.png", ["--top-k", "3"], "?top_k=3")])
def test_predict_answers_what_the_app_prints(site, root, model_dir, capsys, name, flags, query):
    status, headers, answer = call(site, "POST", f"/api/predict{query}", picture_bytes(root, name))
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert "predict;dur=" in headers["Server-Timing"]
    expected = app_json(root / "pic" / name, model_dir, capsys, *flags)
    assert answer == dict(expected, path="upload")
    if name == "number_2026.png":
        assert answer["number"] == "2026"          # and this small model reads it right


def test_inputs_are_what_the_model_sees(site, root, model_dir, capsys):
    # The page shows the same 28x28 inputs as the command line gives for the file (mnist_app.py --json --inputs).
    seen = call(site, "POST", "/api/predict?inputs=1", picture_bytes(root, "number_2026.png"))[2]["inputs"]
    expected = app_json(root / "pic" / "number_2026.png", model_dir, capsys, "--inputs")["inputs"]
    assert np.array(seen).shape == (4, 28, 28) and np.array(seen).max() == 255
    assert seen == expected


def test_bad_requests_answer_json_errors_and_the_server_goes_on(predictor, root, tmp_path, capsys, model_dir):
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    capsys.readouterr()
    assert mnist_app.main([str(text), "--model-dir", model_dir]) == 1
    cli_message = capsys.readouterr().err.strip().removeprefix("error: ").replace(str(text), "upload")
    requests = [
        (("POST", "/api/predict", b"not a picture\n"), 400, cli_message),
        (("POST", "/api/predict", b""), 400, "upload: the file is empty (0 bytes)"),
        (("POST", "/api/predict?top_k=11", picture_bytes(root, "3.png")), 400, "top_k=11"),
        (("POST", "/api/predict?top_k=%C2%B2", picture_bytes(root, "3.png")), 400, "top_k=²"),
        (("POST", "/api/predict?model=lenet5", picture_bytes(root, "3.png")), 400, "model=lenet5: not loaded"),
        (("POST", "/api/predict?colour=1", picture_bytes(root, "3.png")), 400, "unknown query parameter"),
        (("GET", "/api/predict", None), 405, "use POST"),
        (("PUT", "/api/predict", b"x"), 405, "use POST"),
        (("POST", "/api/health", b"x"), 405, "use GET"),
        (("DELETE", "/", None), 405, "use GET"),
        (("GET", "/api/nothing", None), 404, "no such page: /api/nothing"),
        (("GET", "/../tfnotes/server.py", None), 404, "no such page"),
    ]
    with running(predictor) as site:
        for (method, path, body), status, message in requests:
            got, headers, answer = call(site, method, path, body)
            assert (got, set(answer)) == (status, {"error"}), (method, path, answer)
            assert message in answer["error"], (message, answer)
            if status == 405:
                assert headers["Allow"] in ("POST", "GET, HEAD")
        assert cli_message == answer_of(site, b"not a picture\n")
        assert call(site, "GET", "/api/health")[0] == 200          # still serving
        lines = list(site[2])                                        # each written before its answer
    assert len(lines) == len(requests) + 2, lines                 # one line per request
    assert all(line.count('"') == 2 for line in lines), lines
    assert "400" in lines[0] and cli_message in lines[0]


def test_a_missing_network_file_is_a_503_naming_it(predictor, root, monkeypatch):
    def missing(path=None, kind="touching"):
        raise ModelError(f"{path or touching.WEIGHTS}: cannot read the touching-digits network (gone)")

    monkeypatch.setattr(digits, "_NETWORKS", {})
    monkeypatch.setattr(touching, "load", missing)
    with running(predictor) as site:
        status, _, answer = call(site, "POST", "/api/predict", picture_bytes(root, "number_2026.png"))
        assert status == 503 and "touching.npz" in answer["error"]
        assert call(site, "GET", "/api/health")[0] == 200          # still serving


def answer_of(site, body):
    return call(site, "POST", "/api/predict", body)[2]["error"]


def host(site):
    """The Host header a browser sends for `site`: the only kind the server answers (tests/test_web_security.py)."""
    return f"{site[0]}:{site[1]}"


def raw_request(site, head, body=b""):
    """Send raw bytes; the whole answer (the server closes the connection after it), as bytes."""
    with socket.create_connection(site[:2], timeout=WAIT_S) as sock:
        sock.sendall(head + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_answer(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("latin-1"), json.loads(body)


def test_a_body_over_10_mb_is_refused_unread(site):
    size = server.MAX_BODY + 1
    head = f"POST /api/predict HTTP/1.1\r\nHost: {host(site)}\r\nContent-Length: {size}\r\n\r\n".encode()
    start = time.monotonic()
    status, answer = split_answer(raw_request(site, head, b"\0" * 65536))   # only the start of the body is sent
    assert status.startswith("HTTP/1.1 413") and "Connection: close" in status
    assert "10 MB" in answer["error"] and time.monotonic() - start < 10
    expect = head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
    status, answer = split_answer(raw_request(site, expect))               # curl's way: it asks before sending
    assert status.startswith("HTTP/1.1 413") and "error" in answer
    assert call(site, "GET", "/api/health")[0] == 200


def test_malformed_requests_get_json_errors(site):
    status, answer = split_answer(raw_request(site, b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n"))
    assert status.startswith("HTTP/1.1 431") and "error" in answer
    # Not HTTP at all: http.server answers as to HTTP/0.9, the body alone; still JSON.
    assert "Bad request syntax" in json.loads(raw_request(site, b"NONSENSE\r\n\r\n"))["error"]
    head = f"POST /api/predict HTTP/1.1\r\nHost: {host(site)}\r\n\r\n".encode()
    status, answer = split_answer(raw_request(site, head))
    assert status.startswith("HTTP/1.1 411") and "Content-Length" in answer["error"]
    assert call(site, "GET", "/api/health")[0] == 200


def test_twenty_concurrent_requests_are_answered_right(site, root):
    names = [f"{d}.png" for d in range(10)] * 2
    names[-2:] = ["number_2026.png", "number_2026.png"]
    expected = {name: call(site, "POST", "/api/predict?top_k=3", picture_bytes(root, name))[2] for name in set(names)}
    barrier = threading.Barrier(len(names))

    def one(name):
        barrier.wait(WAIT_S)           # all twenty start together
        return call(site, "POST", "/api/predict?top_k=3", picture_bytes(root, name))

    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(one, names))
    for name, (status, _, answer) in zip(names, answers):
        assert status == 200 and answer == expected[name], name
    assert [expected[f"{d}.png"]["number"] for d in range(10)] == [str(d) for d in range(10)]


def test_serve_refuses_a_busy_port_and_pictures(site, model_dir, capsys):
    with pytest.raises(ConfigError, match="--port"):
        server.make_server(None, site[0], site[1])
    assert mnist_app.main(["--serve", "--port", str(site[1]), "--model-dir", model_dir]) == 2
    assert "--port" in capsys.readouterr().err
    assert mnist_app.main(["--serve", "pic/3.png"]) == 2


def test_only_loopback_addresses_are_private():
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1") and server.is_loopback("localhost")
    assert not server.is_loopback("0.0.0.0") and not server.is_loopback("192.168.1.5")


def _ctrl_c_as_in_a_terminal():
    # A job started in the background of a shell (`bash .ci/run &`) inherits SIGINT ignored, and Python then
    # leaves it ignored, so the server would never see the Ctrl-C below; a terminal gives it the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_command_serves_until_ctrl_c(root, model_dir):
    proc = subprocess.Popen([sys.executable, str(root / "mnist_app.py"), "--serve", "--port", "0",
                             "--model-dir", model_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=root, env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1"),
                            preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        line = proc.stdout.readline()       # the address, once the model is loaded and the port open
        assert line.startswith("serving the digit page at http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert call(("127.0.0.1", port), "GET", "/api/health")[2]["checkpoint_step"] == 600
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT_S)
    except subprocess.TimeoutExpired:       # still running: SIGABRT makes faulthandler print every thread's stack
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=WAIT_S)
        pytest.fail(f"mnist_app.py --serve did not stop within {WAIT_S} s of Ctrl-C; its threads:\n{err[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and out.strip() == "stopped"
    assert '"GET /api/health" 200' in err                          # its log line


# ---------------------------------------------------------------------------------------------------------
# The page in a real browser
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = missing_browser()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    driver = chromium(tmp_path_factory.mktemp("chromium"))   # the system's driver: nothing downloaded
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser, site):
    browser.get(f"http://{site[0]}:{site[1]}/")
    WebDriverWait(browser, WAIT_S).until(lambda d: "trained 600 steps" in d.find_element(By.ID, "status").text)
    browser.get_log("browser")                     # start each test with an empty console
    return browser


def console_errors(driver):
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def reading(driver, panel):
    """Wait for the panel's reading of what is now on the page: (number, state, digit cards' text)."""
    result = driver.find_element(By.ID, panel)
    WebDriverWait(driver, WAIT_S).until(lambda d: result.get_attribute("data-state") in ("done", "error"))
    cards = [card_text(li) for li in result.find_elements(By.CSS_SELECTOR, ".digits li")]
    return result.find_element(By.CSS_SELECTOR, ".number").text, result.get_attribute("data-state"), cards


def card_text(card):
    """A digit's card: (digit, its probability, [(digit, probability) of each of the top-3 bars])."""
    digit, p = card.find_element(By.CSS_SELECTOR, ".read").text.split()
    bars = [tuple(row.text.split()) for row in card.find_elements(By.CSS_SELECTOR, ".bar-row")]
    return digit, p, bars


def draw(driver, kind, points, press=True, release=True):
    """A stroke through `points` (fractions of the pad's width and height) with a mouse, pen or touch.
    press=False goes on with the stroke of the last call, which release=False left with the pointer down."""
    pad = driver.find_element(By.ID, "pad")
    width, height = pad.rect["width"], pad.rect["height"]
    actions = ActionBuilder(driver, mouse=PointerInput(kind, kind), duration=40)
    moves = [(round((fx - 0.5) * width), round((fy - 0.5) * height)) for fx, fy in points]
    if press:
        actions.pointer_action.move_to(pad, *moves.pop(0)).pointer_down()
    for x, y in moves:
        actions.pointer_action.move_to(pad, x, y)
    if release:
        actions.pointer_action.pointer_up()
    actions.perform()


def one(x):
    return [(x, 0.15 + 0.07 * k) for k in range(11)]


def seven(x):
    return [(x - 0.1, 0.2), (x + 0.1, 0.2)] + [(x + 0.1 - 0.015 * k, 0.2 + 0.08 * k) for k in range(1, 9)]


def zero(x):
    return [(x + 0.09 * np.sin(2 * np.pi * k / 24), 0.5 - 0.33 * np.cos(2 * np.pi * k / 24)) for k in range(25)]


def sent_picture(driver):
    """The picture the page last sent for its drawing (its "Save the picture" link)."""
    data = driver.execute_async_script("""
        const done = arguments[0];
        fetch(document.getElementById("save").href).then((r) => r.blob()).then((blob) => {
            const reader = new FileReader();
            reader.onload = () => done(reader.result);
            reader.readAsDataURL(blob);
        }).catch((err) => done(`failed: ${err}`));""")
    assert data.startswith("data:image/png;base64,"), data[:200]
    return base64.b64decode(data.split(",", 1)[1])


def test_drawn_digits_are_read(page, site, root, tmp_path):
    mouse, pen, touch = interaction.POINTER_MOUSE, interaction.POINTER_PEN, interaction.POINTER_TOUCH
    # The page reads while the pen is still down, once it rests (debounced).
    page.find_element(By.ID, "clear").click()
    draw(page, mouse, one(0.5)[:8], release=False)
    assert reading(page, "draw-result")[:2] == ("1", "done")
    draw(page, mouse, one(0.5)[8:], press=False)
    for digit, kind, stroke in (("1", mouse, one(0.5)), ("7", pen, seven(0.5)), ("0", touch, zero(0.5))):
        page.find_element(By.ID, "clear").click()
        draw(page, kind, stroke)
        number, state, [card] = reading(page, "draw-result")
        assert (number, state) == (digit, "done"), (kind, number, card)
        assert card[0] == digit and len(card[2]) == 3 and card[2][0] == card[:2]         # the top-3 bars
    page.find_element(By.ID, "clear").click()
    for stroke in (one(0.2), seven(0.5), zero(0.8)):
        draw(page, mouse, stroke)
    number, state, cards = reading(page, "draw-result")
    assert (number, len(cards)) == ("170", 3)
    # The page shows the server's reading of exactly what is drawn, and what the model sees of each digit.
    answer = call(site, "POST", "/api/predict?top_k=3&inputs=1", sent_picture(page))[2]
    assert answer["number"] == "170"
    assert [c[0] for c in cards] == [str(d["digit"]) for d in answer["digits"]]
    assert [c[1] for c in cards] == [f"{100 * d['probability']:.1f}%" for d in answer["digits"]]
    shown = page.execute_script("""return [...document.querySelectorAll("#draw-result canvas.seen")].map(
        (c) => [...c.getContext("2d").getImageData(0, 0, 28, 28).data].filter((v, i) => i % 4 === 0))""")
    assert np.array_equal(np.reshape(shown, (3, 28, 28)), answer["inputs"])
    screenshot(page, tmp_path, root)
    page.find_element(By.ID, "undo").click()                       # the 0 goes
    assert reading(page, "draw-result")[0] == "17"
    assert console_errors(page) == []


def screenshot(driver, tmp_path, root, name="web_page.png"):
    """The page as the docs show it: a small palette PNG (written into docs/images/ with UPDATE_SCREENSHOT=1)."""
    shot = tmp_path / name
    driver.save_screenshot(str(shot))
    with Image.open(shot) as img:
        small = img.convert("RGB").quantize(64, method=Image.Quantize.MEDIANCUT)
    small.save(shot, optimize=True)
    assert shot.stat().st_size < 150_000
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(shot, root / "docs" / "images" / name)


def open_photo_tab(page):
    page.find_element(By.ID, "tab-photo").click()
    assert page.find_element(By.ID, "draw").get_attribute("hidden") is not None


def test_photo_of_a_number_is_read_and_boxed(page, root):
    open_photo_tab(page)
    page.find_element(By.ID, "file").send_keys(str(root / "pic" / "number_2026.png"))
    number, state, cards = reading(page, "photo-result")
    assert (number, state) == ("2026", "done")
    assert [c[0] for c in cards] == list("2026")
    WebDriverWait(page, WAIT_S).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".boxes .box")) == 4)
    img = page.find_element(By.ID, "photo-img").rect
    boxes = page.find_elements(By.CSS_SELECTOR, ".boxes .box")
    assert [b.text.split(" ")[0] for b in boxes] == list("2026")
    lefts = [b.rect["x"] for b in boxes]
    assert lefts == sorted(lefts)
    for box in boxes:                                              # each box lies on the picture
        r = box.rect
        assert img["x"] <= r["x"] and r["x"] + r["width"] <= img["x"] + img["width"] + 1
        assert img["y"] <= r["y"] and r["y"] + r["height"] <= img["y"] + img["height"] + 1
    assert page.find_element(By.ID, "camera").get_attribute("capture") is not None
    assert console_errors(page) == []


def test_dropped_picture_is_read(page, root):
    open_photo_tab(page)
    page.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], "7.png", { type: "image/png" }));
        document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true,
                                                                              cancelable: true }));
    """, base64.b64encode(picture_bytes(root, "7.png")).decode())
    assert reading(page, "photo-result")[:2] == ("7", "done")
    assert console_errors(page) == []


def test_text_file_shows_the_error(page, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("a shopping list, not a picture\n")
    open_photo_tab(page)
    page.find_element(By.ID, "file").send_keys(str(text))
    number, state, cards = reading(page, "photo-result")
    assert (number, state, cards) == ("–", "error", [])
    error = page.find_element(By.CSS_SELECTOR, "#photo-result .error")
    assert error.is_displayed()
    assert error.text == "upload: not a picture PIL can read; use PNG, JPEG, BMP, GIF or TIFF"
    # The only console line: Chromium's own note of the 400 answer.
    errors = console_errors(page)
    assert len(errors) == 1 and "/api/predict" in errors[0] and "400" in errors[0], errors


def test_model_switch_reads_again_with_the_other_network(browser, model_dir):
    # Two networks loaded (here the same checkpoint twice, under two names): the page offers the switch.
    models = {"fc": inference.load_model("fc", model_dir), "fc-copy": inference.load_model("fc", model_dir)}
    with server.Predictor(models, "fc") as two, running(two) as site:
        browser.get(f"http://{site[0]}:{site[1]}/")
        switch = browser.find_element(By.ID, "model")
        WebDriverWait(browser, WAIT_S).until(lambda d: switch.is_displayed())
        assert [o.get_attribute("value") for o in switch.find_elements(By.TAG_NAME, "option")] == ["fc", "fc-copy"]
        draw(browser, interaction.POINTER_MOUSE, one(0.5))
        assert reading(browser, "draw-result")[0] == "1"
        Select(switch).select_by_value("fc-copy")
        assert reading(browser, "draw-result")[0] == "1"
        assert "fc-copy" in browser.find_element(By.ID, "status").text
        assert any("model=fc-copy" in line and '" 200 ' in line for line in site[2]), site[2]
        assert console_errors(browser) == []


def test_a_host_open_to_the_network_prints_a_warning(model_dir, monkeypatch, capsys):
    # The tests listen on the loopback address only: the server is made there whatever --host says.
    make_server = server.make_server
    monkeypatch.setattr(server, "make_server",
                        lambda predictor, host, port, **options: make_server(predictor, "127.0.0.1", 0, **options))
    monkeypatch.setattr(server, "serve_until_stopped", lambda httpd: None)
    assert mnist_app.main(["--serve", "--host", "0.0.0.0", "--model-dir", model_dir]) == 0
    out, err = capsys.readouterr()
    assert "warning: --host 0.0.0.0: the page is reachable from the network" in err
    assert out.startswith("serving the digit page at http://127.0.0.1:") and out.endswith("stopped\n")
    assert mnist_app.main(["--serve", "--model-dir", model_dir]) == 0      # the default host: 127.0.0.1
    assert "warning" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# The Collect tab: your handwriting, saved for fine-tuning (tfnotes/collect.py)
# ---------------------------------------------------------------------------------------------------------

def test_collect_api_saves_refuses_and_undoes(site, collected, root):
    before = collected.counts()["total"]
    png = picture_bytes(root, "7.png")
    status, headers, saved = call(site, "POST", "/api/collect?label=7", png, {"Content-Type": "image/png"})
    assert status == 200 and saved["counts"]["total"] == before + 1 and saved["file"].endswith("_7.png")
    assert headers["X-Content-Type-Options"] == "nosniff"
    for query, body, kind, code, words in (
            ("?label=12", png, "image/png", 400, "must be one digit"),
            ("?label=7&label=1", png, "image/png", 400, "one label=N"),
            ("", png, "image/png", 400, "one label=N"),
            ("?label=7&path=../../x", png, "image/png", 400, "unknown query parameter 'path'"),
            ("?label=7", b"not a picture", "image/png", 400, "not a picture"),
            ("?label=7", png, "text/plain", 415, "Content-Type text/plain")):
        status, _, answer = call(site, "POST", f"/api/collect{query}", body, {"Content-Type": kind})
        assert (status, words in answer["error"]) == (code, True), (query, answer)
    status, _, answer = call(site, "POST", "/api/collect?label=7", png,
                             {"Content-Type": "image/png", "Origin": "http://evil.example"})
    assert status == 403
    assert call(site, "GET", "/api/collect/counts")[2]["total"] == before + 1     # nothing more was saved
    status, _, removed = call(site, "POST", "/api/collect/undo", b"")
    assert status == 200 and removed["file"] == saved["file"] and removed["counts"]["total"] == before
    assert not os.path.exists(os.path.join(collected.folder, saved["file"]))
    if before == 0:
        assert call(site, "POST", "/api/collect/undo", b"")[0] == 409


def test_the_collect_tab_saves_the_writers_digits(page, collected, tmp_path, root):
    from benchmarks import writer
    from benchmarks.browser import draw_strokes

    page.find_element(By.ID, "tab-collect").click()
    canvas = page.find_element(By.ID, "collect-pad")
    start = collected.counts()["total"]
    rng = np.random.default_rng(5)
    asked = []
    for k in range(1, 8):
        digit = int(page.find_element(By.ID, "ask").text)
        asked.append(digit)
        draw_strokes(page, canvas, writer.strokes(digit, rng))
        if k % 2:
            page.find_element(By.ID, "collect-save").click()
        else:                                                   # Enter saves too
            ActionChains(page).send_keys(Keys.ENTER).perform()
        WebDriverWait(page, WAIT_S).until(lambda d, k=k: collected.counts()["total"] == start + k)
    counts = collected.counts()
    totals = page.execute_script("""return [...document.querySelectorAll("#counts tbody tr")].map(
        (row) => [...row.querySelectorAll("td")].map((td) => Number(td.textContent)))""")
    assert [row[:10] for row in totals] == [counts["train"], counts["test"]]
    assert len(set(asked)) == len(asked)           # the first round asks each digit once, in a shuffled order
    saved = sorted(line.split() for split in ("train", "test")
                   for line in open(os.path.join(collected.folder, f"{split}.txt")).read().splitlines())
    assert [int(label) for _, label in saved[-7:]] == asked        # each saved as the digit it was asked for
    draw_strokes(page, canvas, writer.strokes(int(page.find_element(By.ID, "ask").text), rng))
    screenshot(page, tmp_path, root, "collect_tab.png")          # the next digit written, not yet saved
    page.find_element(By.ID, "collect-clear").click()
    page.find_element(By.ID, "collect-undo").click()
    WebDriverWait(page, WAIT_S).until(lambda d: collected.counts()["total"] == start + 6)
    # the server removes the file before its reply reaches the page: the status changes a moment later
    WebDriverWait(page, WAIT_S).until(lambda d: "Removed" in d.find_element(By.ID, "collect-status").text)
    page.find_element(By.ID, "collect-save").click()            # nothing drawn: asked to write first
    assert "first" in page.find_element(By.ID, "collect-status").text
    assert console_errors(page) == []
