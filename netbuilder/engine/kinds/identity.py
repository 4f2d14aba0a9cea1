"""Identity: the input, unchanged (keras.applications writes it where a block does nothing)."""

from __future__ import annotations
