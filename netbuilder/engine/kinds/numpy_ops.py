"""keras.ops on tensors inside a functional model: `x + 3.0` or `keras.ops.multiply(x, 1 / 6)` in a model's code is a
call of an operation (keras.src.ops.numpy's Add, Multiply), not of a layer.

keras.applications writes them into its JSON (MobileNetV3's hard sigmoid `(x + 3) * (1 / 6)`, ConvNeXt's residual
sums). As in Keras, an operation is a call of the graph and a row of the summary but not a layer: it is not in
`model.layers`, has no weights and no build_config, and its JSON config is its name alone. Its arguments are two
tensors or a tensor and a number, broadcast as NumPy broadcasts (from the last axis, the batch axis included).
Each operation is called once (Keras makes one per use)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from ..errors import LayerConfigError
from ..layer import CodePart, Cost, Layer, Problem, register_operation
from ..shapes import format_shape
from ..tensors import OPERATORS, KerasTensor, pack


def _operator(cls):
    """`cls` behind its operator on tensors (`a + b`, `x * 0.5`)."""
    OPERATORS[cls.function] = cls
    return cls


def _number(value) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _broadcast(shapes: list) -> tuple | None:
    """NumPy's broadcast of full shapes (a number's is ()), the batch axis None; None when two sizes clash."""
    out: list = []
    for shape in shapes:
        dims = list(shape)
        if len(dims) > len(out):
            out = [1] * (len(dims) - len(out)) + out
        dims = [1] * (len(out) - len(dims)) + dims
        for k, (a, b) in enumerate(zip(out, dims)):
            if a == b or b == 1:
                continue
            if a != 1:
                return None
            out[k] = b
    return tuple(out)


def _reduced(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """The gradient of an argument of array `shape` broadcast to `grad`'s shape: summed over what was added or
    stretched."""
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad
    stretched = tuple(k for k, d in enumerate(shape) if d == 1 and grad.shape[k] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


class NumpyOperation(Layer):
    """An elementwise keras.src.ops.numpy operation of two arguments, each a tensor or a number."""

    is_layer = False
    builds_at_init = True  # Keras writes no build_config for an operation
    takes_list = True  # called with its arguments as a list: call and backward see every one, numbers included
    keras_module = "keras.src.ops.numpy"
    symbol: ClassVar[str] = "?"  # the operator written in PyTorch code and explanations
    function: ClassVar[str] = "?"  # keras.ops.<function>

    def __call__(self, *args, **kwargs):
        if self._inbound_nodes:
            raise LayerConfigError(
                f"operation {self.name or self.kind!r} is already called: Keras makes one operation per use"
            )
        return super().__call__(*args, **kwargs)

    def call_shape(self, args: tuple, kwargs: dict):
        """The arguments' shapes (a number's is ()): two, at least one a tensor."""
        if (
            kwargs
            or len(args) != 2
            or not all(isinstance(a, KerasTensor) or _number(a) for a in args)
            or not any(isinstance(a, KerasTensor) for a in args)
        ):
            raise LayerConfigError(
                f"keras.ops.{self.function} takes two arguments, tensors or finite numbers, at least one "
                f"a tensor; received {len(args)} positional and {len(kwargs)} keyword arguments"
            )
        return [a.shape if isinstance(a, KerasTensor) else () for a in args]

    def input_problem(self, shapes, name: str) -> Problem | None:
        if _broadcast(shapes) is not None:
            return None
        first, second = (format_shape(s) if s else "a number" for s in shapes)
        return Problem(
            "shapes that are equal axis by axis from the last, or 1 where they differ",
            f"Operation {name!r} ({self.kind}) cannot {self.function} {first} and {second}.",
            "keras.ops broadcast as NumPy does: shapes are lined up from the last axis, the batch axis included, "
            "and an axis of size 1 is stretched to the other's size.",
        )

    def compute_output_shape(self, shapes):
        return _broadcast(shapes)

    def cost(self, shapes, output_shape) -> Cost:
        return Cost(elementwise=math.prod(output_shape[1:]))

    def call_arguments(self, node, arrays: list):
        return pack(list(node.args), arrays)

    def call(self, xs):
        return self.compute(*xs)

    def compute(self, a, b) -> np.ndarray:
        raise NotImplementedError

    def forward_train(self, xs, rng):
        return self.call(xs), xs

    def get_config(self) -> dict:
        return {"name": self.name}

    def label(self) -> str:
        return ""

    def _arguments(self) -> list:
        return list(self._inbound_nodes[0].args)

    def keras_code(self) -> CodePart:
        return CodePart(f"keras.ops.{self.function}")

    def torch_code(self, shapes) -> list[CodePart]:
        """One expression over the call's tensors, `{0}`, `{1}` (its numbers written in), as a merge's."""
        terms, k = [], 0
        for a in self._arguments():
            if isinstance(a, KerasTensor):
                terms.append(f"{{{k}}}")
                k += 1
            else:
                terms.append(repr(float(a)))
        return [CodePart(f"({terms[0]} {self.symbol} {terms[1]})")]


@_operator
@register_operation
class Add(NumpyOperation):
    """keras.ops.add: the sum, value by value."""

    symbol, function = "+", "add"

    def compute(self, a, b):
        return np.add(a, b)

    def backward(self, xs, dy):
        return [_reduced(dy, np.shape(x)) for x in xs if isinstance(x, np.ndarray)], []


@_operator
@register_operation
class Multiply(NumpyOperation):
    """keras.ops.multiply: the product, value by value."""

    symbol, function = "*", "multiply"

    def compute(self, a, b):
        return np.multiply(a, b)

    def backward(self, xs, dy):
        a, b = xs
        return [_reduced(dy * other, np.shape(x)) for x, other in ((a, b), (b, a)) if isinstance(x, np.ndarray)], []
