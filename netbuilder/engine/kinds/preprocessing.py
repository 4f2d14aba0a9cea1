"""Rescaling and Normalization: fixed affine maps of the input, as keras.applications puts first."""

from __future__ import annotations
