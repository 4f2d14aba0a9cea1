"""CustomScaleLayer: InceptionResNetV2's residual sum `inputs[0] + inputs[1] * scale` (keras.applications registers it).

Keras defines it in `keras.src.applications.inception_resnet_v2` without exporting it under `keras.layers`, and writes
it into JSON as that module, class_name and registered_name "CustomScaleLayer", its config holding `scale`. It is
called on a list of two tensors of the same shape (the shortcut and the scaled residual branch); its call is
NumPy's `a + b * scale` in float32, which we compute in that order, so the bits are Keras's.
"""

from __future__ import annotations

import numpy as np

from ..layer import CodePart, Problem, register
from ..shapes import format_shape
from .activation_layers import Number
from .merging import _Merge, _unbroadcast

KERAS_MODULE = "keras.src.applications.inception_resnet_v2"


@register
class CustomScaleLayer(_Merge):
    """`a + b · scale`: a shortcut plus its residual branch scaled down (InceptionResNetV2's 0.17, 0.1, 0.2)."""

    keras_module = KERAS_MODULE
    keras_registered_name = "CustomScaleLayer"
    settings = (
        Number(
            "scale",
            0.1,
            "What the second tensor (the residual branch) is multiplied by before it is added "
            "to the first (the shortcut).",
            required=True,
        ),
    )
    description = "The first tensor plus the second times `scale` (InceptionResNetV2's scaled residual sum)."
    verb = "add"
    least = most = 2
    extra_ops = 1  # the product before the sum

    def check_shape(self, shapes, name: str) -> Problem | None:
        problem = super().check_shape(shapes, name)
        if problem is None and len(shapes[0]) != len(shapes[1]):  # NumPy's alignment, not a merge's: same ranks only
            return Problem(
                "two tensors with the same number of axes",
                f"Layer {name!r} (CustomScaleLayer) adds {format_shape(shapes[0])} and {format_shape(shapes[1])}, "
                "which have different numbers of axes.",
                "CustomScaleLayer adds its two inputs value by value, the shortcut and the residual branch of "
                "one block: they have the same shape.",
            )
        return problem

    def call(self, xs):
        a, b = xs
        return a + b * np.float32(self.scale)

    def combine_backward(self, xs, dy):
        a, b = xs
        return [_unbroadcast(dy, a.shape), _unbroadcast(dy * np.float32(self.scale), b.shape)]

    def keras_code(self) -> CodePart:
        return CodePart(
            f"CustomScaleLayer(scale={self.scale!r}, name={self.name!r})",
            {"CustomScaleLayer": f"from {KERAS_MODULE} import CustomScaleLayer\n"},
        )

    def torch_code(self, shapes) -> list[CodePart]:
        return [CodePart(f"{{0}} + {{1}} * {self.scale!r}")]
