"""Shared test setup: Keras (the oracle) runs on its NumPy backend; `e2e` marks real-browser tests."""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives a real `streamlit run` server in Debian's Chromium")
