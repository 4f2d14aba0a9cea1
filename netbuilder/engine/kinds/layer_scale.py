"""LayerScale: ConvNeXt's learned per-channel scale (keras.applications.convnext registers it)."""

from __future__ import annotations
