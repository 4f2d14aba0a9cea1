"""Activation: a function by name, applied to every value (softmax-like ones along the last axis)."""

from __future__ import annotations

import math
from dataclasses import replace

from .. import activations
from ..layer import CodePart, Cost, InputSpec, Layer, Problem, register
from ..settings import ActivationName
from ..shapes import format_shape
from .common import activation_step_cost, torch_activation
from .dense import glu_problem

_KERAS_GLU = """# Keras's Activation reports glu's output shape unchanged, though glu halves the last axis;
# this subclass reports the true shape, so layers after it are built for the right size.
class GluActivation(keras.layers.Activation):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)
"""


@register
class Activation(Layer):
    """An activation function by name, applied elementwise (softmax-like ones on the last axis)."""

    settings = (ActivationName("activation", "relu", "The function applied to every value.", required=True),)
    group = "Activations"
    description = "One function applied to every value; the shape stays the same (glu halves the last axis)."
    builds_at_init = True

    @property
    def keeps_shape(self) -> bool:
        return self.activation != "glu"

    def input_spec(self) -> InputSpec:
        # Deliberately not Keras: glu on a batch-only tensor would split the batch in two there.
        return InputSpec(min_ndim=2, axis_names=("batch", "features")) if self.activation == "glu" else InputSpec()

    def check_shape(self, shape, name: str) -> Problem | None:
        if self.activation == "glu" and shape[-1] % 2:
            return glu_problem(name, shape, shape[-1])
        return None

    def rank_explanation(self, shape, name: str) -> str:
        return "glu splits the last axis in two halves; here that would split the batch, which depends on the data."

    def suggest_fixes(self, shape, problem, context) -> list:
        if len(shape) < 2:
            return [
                context.insert("Flatten", {}, f"insert Flatten before {context.name}"),
                context.input_shape_fix((2,)),
            ]
        return [context.upstream_fix(shape[-1] + 1), context.input_shape_fix((*shape[1:-1], shape[-1] + 1))]

    def compute_output_shape(self, shape):
        # Deliberately not Keras: Keras reports glu's input shape unchanged, but glu halves the last axis.
        return (*shape[:-1], shape[-1] // 2) if self.activation == "glu" else shape

    def cost(self, shape, output_shape) -> Cost:
        cost = activation_step_cost(self.activation, math.prod(shape[1:]))
        return replace(cost, output_is_view=self.activation == "linear")

    def validate(self) -> None:
        self._activation_fn = activations.ACTIVATIONS[self.activation]  # built when made, as Keras's Activation is

    def call(self, x):
        return self._activation_fn(x)

    def forward_train(self, x, rng):
        y = self._activation_fn(x)
        return y, (x, y)

    def backward(self, cache, dy):
        x, y = cache
        return activations.gradient(self.activation, x, y, dy), []

    def label(self) -> str:
        return self.activation

    def explain_shape(self, shape, output_shape) -> str:
        if self.activation == "glu":
            return f"glu gates the first half of the last axis with the second: {shape[-1]:,} → {output_shape[-1]:,}."
        return f"{self.activation} is applied to every value; the shape {format_shape(shape)} is unchanged."

    def keras_code(self) -> CodePart:
        if self.activation != "glu":
            return CodePart(f"keras.layers.Activation({self.activation!r}, name={self.name!r})")
        return CodePart(f"GluActivation('glu', name={self.name!r})", {"GluActivation": _KERAS_GLU})

    def torch_code(self, shape) -> list[CodePart]:
        return [torch_activation(self.activation)]
