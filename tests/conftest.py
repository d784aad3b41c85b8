"""Shared test fixtures: where the repository, its data and ../shared are."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ../shared holds reference files for tests (course pictures, class names).
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Quieter TensorFlow in test output; the scripts set the same.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def shared():
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests need the shared/ folder beside the repository")
    return SHARED
