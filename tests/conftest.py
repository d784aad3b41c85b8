"""Test fixtures: where the repository is. Tests read only files in the repository or files they make."""
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

