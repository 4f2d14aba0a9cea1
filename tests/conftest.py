"""Shared test setup: Keras (the oracle) runs on its NumPy backend."""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
