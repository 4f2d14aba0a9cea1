"""Conv1DTranspose and Conv2DTranspose: the gradient of a convolution, run forward (learned upsampling)."""

from __future__ import annotations
