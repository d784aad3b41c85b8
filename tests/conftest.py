"""Test fixtures: where the repository is, and a small trained model. Tests read only files in the repository
or files they make."""
import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Quieter TensorFlow in test output; the scripts set the same.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def root():
    return ROOT



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
