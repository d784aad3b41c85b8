"""Test fixtures: where the repository is, and a small trained model.

Tests read only files in the repository or files they make: MNIST_DATA_DIR is unset for the suite, and a guard
fails the run when a test opens or lists anything beside the repository (such as CI's shared data folder). The
run's last lines say which processor features it had and which tests it skipped, so that a green run without
bfloat16 is not taken for a tested bf16 path."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Quieter TensorFlow in test output; the scripts set the same.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests read the repository's data/, whatever the shell running them has set.
os.environ.pop("MNIST_DATA_DIR", None)

# --- the guard: nothing is read beside the repository --------------------------------------------------------
_ROOT_TEXT = os.path.abspath(ROOT)
_BESIDE = os.path.dirname(_ROOT_TEXT) + os.sep
_OUTSIDE = []


def beside_the_repository(path):
    """Whether `path` (as a test passed it to open() or listdir()) lies next to the repository, not in it."""
    try:
        text = os.path.abspath(os.fsdecode(os.fspath(path)))
    except TypeError:  # a file descriptor
        return False
    return text.startswith(_BESIDE) and text != _ROOT_TEXT and not text.startswith(_ROOT_TEXT + os.sep)


def _audit(event, args):
    if event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
        try:
            if beside_the_repository(args[0]):
                _OUTSIDE.append(os.fsdecode(os.fspath(args[0])))
        except Exception:  # an audit hook must never break the operation it watches
            pass


sys.addaudithook(_audit)


def pytest_sessionfinish(session, exitstatus):
    if _OUTSIDE:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    from tfnotes import precision  # here: after sys.path is set, and only when the run ends

    report = terminalreporter
    report.write_line(f"processor: {precision.cpu_summary()}")
    skipped = report.stats.get("skipped", [])
    for rep in skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        report.write_line(f"skipped: {rep.nodeid}: {reason}")
    if _OUTSIDE:
        report.write_line(f"error: the tests read {len(set(_OUTSIDE))} path(s) beside the repository, which a user's "
                          f"clone does not have: {sorted(set(_OUTSIDE))[:5]}")


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def run_maker():
    """run(script, *args): a weights maker of benchmarks/ run in its own process (it turns on TensorFlow's op
    determinism, which must not leak into the other tests); its output, once it has ended well (fails=True: its
    error output, once it has ended with an error)."""
    def run(script, *args, fails=False):
        done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *map(str, args)],
                              capture_output=True, text=True, timeout=600)
        assert (done.returncode != 0) == fails, done.stderr[-2000:]
        return done.stderr if fails else done.stdout
    return run


@pytest.fixture
def run_maker_with_one_and_two_workers(run_maker, tmp_path):
    """run(script, *args): a weights maker run twice, drawn by one worker and by two; the pictures are drawn in
    seeded chunks, so both runs must write the same file, bit for bit. -> (the file, the two runs' outputs)."""
    def run(script, *args):
        outs = [tmp_path / "one.npz", tmp_path / "two.npz"]
        said = [run_maker(script, "--out", out, *args, "--workers", workers) for workers, out in zip((1, 2), outs)]
        for out, text in zip(outs, said):
            assert f"wrote {out}" in text
        assert outs[0].read_bytes() == outs[1].read_bytes()
        return str(outs[0]), said
    return run



@pytest.fixture(scope="session")
def small_fc_model(tmp_path_factory):
    """The folder of a fully connected model trained here for 600 steps (about 0.9 test accuracy), shared by
    the tests of the app's number reading and of the web page."""
    import mnist_backward  # after the sys.path line above: the repository root must be importable first
    folder = tmp_path_factory.mktemp("small_fc_model")
    with contextlib.redirect_stdout(io.StringIO()):
        assert mnist_backward.main(["--steps", "600", "--model-dir", str(folder), "--save-every", "600",
                                    "--log-every", "600"]) == 0
    return str(folder)
