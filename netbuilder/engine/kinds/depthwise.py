"""DepthwiseConv2D, SeparableConv1D and SeparableConv2D: convolutions per channel (and a pointwise one after)."""

from __future__ import annotations
