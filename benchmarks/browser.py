"""Headless Chromium for the web page's tests and benchmarks: the system's browser and driver, nothing downloaded.

Chromium comes from Debian (apt-get install chromium chromium-driver) and Selenium from requirements.txt.
"""
import os
import shutil

INSTALL = ("install a browser for these tests with: apt-get install chromium chromium-driver "
           "(as root), then .venv/bin/pip install selenium")
DRIVER = "/usr/bin/chromedriver"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=900,1150",
                 # A name of a hostile site's own that points at this machine, as after DNS rebinding
                 # (tests/test_web_security.py); nothing is looked up on the network.
                 "--host-resolver-rules=MAP rebind.test 127.0.0.1"]


def missing():
    """What is missing to drive Chromium here, as a message with the command that installs it; None if nothing."""
    try:
        import selenium  # noqa: F401
        have_selenium = True
    except ImportError:
        have_selenium = False
    absent = [what for what, ok in (("the Selenium package", have_selenium),
                                    ("Chromium", shutil.which("chromium") or shutil.which("chromium-browser")),
                                    (DRIVER, os.path.exists(DRIVER))) if not ok]
    return f"no {', no '.join(absent)}: {INSTALL}" if absent else None


def chromium(user_data_dir):
    """A Selenium driver of a headless Chromium with a fresh profile in `user_data_dir`; its console is logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_AVOID_STATS"] = "true"          # Selenium sends no usage statistics
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in BROWSER_FLAGS + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def draw_strokes(driver, canvas, strokes, pause_ms=10):
    """Draw `strokes` ([[(x, y), ...], ...] in the canvas's own pixels) on the `canvas` element with the mouse."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    size = driver.execute_script("return [arguments[0].width, arguments[0].height]", canvas)
    rect = canvas.rect
    for stroke in strokes:
        actions = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_MOUSE, "mouse"), duration=pause_ms)
        # Offsets from the element's centre, in CSS pixels.
        moves = [(round((x / size[0] - 0.5) * rect["width"]), round((y / size[1] - 0.5) * rect["height"]))
                 for x, y in stroke]
        actions.pointer_action.move_to(canvas, *moves[0]).pointer_down()
        for x, y in moves[1:]:
            actions.pointer_action.move_to(canvas, x, y)
        actions.pointer_action.pointer_up()
        actions.perform()
