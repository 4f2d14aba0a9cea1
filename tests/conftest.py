"""Shared test setup: Keras (the oracle) runs on its NumPy backend; `e2e` marks real-browser tests."""

import os
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "numpy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real `streamlit run` server in Debian's Chromium")
    # Keras 3.15's variables warn about NumPy 2's copy keyword on every conversion: noise, not a finding.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


@pytest.fixture
def public_budget():
    """The test runs under the app's public budgets (engine/budget.py): the library has none of its own."""
    from netbuilder.engine.budget import PUBLIC_DEFAULTS, using

    with using(PUBLIC_DEFAULTS):
        yield PUBLIC_DEFAULTS


def eventually(condition, seconds: float = 10) -> bool:
    """Whether `condition()` holds within `seconds` (for what another thread finishes after a call returns, such as
    the worker pool replacing a cancelled run's worker)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True
