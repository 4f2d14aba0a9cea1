"""Dense: `activation(x @ kernel + bias)` on the last axis only; one kernel reused at every other position."""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..layer import CodePart, Cost, InputSpec, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import ActivationName, Bool, Init, Int, kernel_and_bias_regularizers
from ..shapes import counted, format_shape, times
from .common import activation_step_cost, torch_activation

_ZERO = np.array(0.0, np.float32)
_IN_PLACE = ("linear", "relu")  # applied to the matmul's own buffer: no second tensor

_KERAS_GLU = """# Keras's Dense reports glu's output shape unchanged, though glu halves the last axis;
# this subclass reports the true shape, so layers after it are built for the right size.
class GluDense(keras.layers.Dense):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units // 2)
"""


@register
class Dense(Layer):
    """`activation(x @ kernel + bias)` on the last axis; kernel (input_dim, units)."""

    settings = (
        Int(
            "units",
            16,
            "Size of the output's last axis: one output per unit at every position.",
            required=True,
            high=MAX_UNITS,
        ),
        ActivationName("activation", "linear", "Applied to every output value (glu halves the units)."),
        Bool("use_bias", True, "Add one learned number per unit."),
        Init(
            "kernel_initializer",
            "glorot_uniform",
            "How the kernel's weights start (drawn from the model's seed).",
            ndim=2,
        ),
        Init("bias_initializer", "zeros", "How the biases start.", ndim=1),
        *kernel_and_bias_regularizers(2),
    )
    description = "A weighted sum of the last axis, one kernel reused at every other position."
    keras_extra_config = {
        "kernel_constraint": None,
        "bias_constraint": None,
        "quantization_config": None,
    }
    output_axis_setting = "units"

    @property
    def input_dim(self) -> int | None:
        """The input features this layer is built for (None until built)."""
        return None if self.built_shape is None else self.built_shape[-1]

    @property
    def output_units(self) -> int:
        """Size of the output's last axis: units, halved by a glu activation."""
        return self.units // 2 if self.activation == "glu" else self.units

    def setting_for_last_axis(self, size: int) -> int:
        """The units that make the output's last axis `size`."""
        return 2 * size if self.activation == "glu" else size

    # --- shapes ---------------------------------------------------------------------------------
    def input_spec(self) -> InputSpec:
        axes = ((-1, self.input_dim),) if self.input_dim is not None else ()
        return InputSpec(min_ndim=2, axes=axes, axis_names=("batch", "features"))

    def check_shape(self, shape, name: str) -> Problem | None:
        if self.activation == "glu" and self.units % 2:
            return glu_problem(name, shape[:-1] + (self.units,), self.units)
        return None

    def compute_output_shape(self, shape):
        return (*shape[:-1], self.output_units)

    def rank_explanation(self, shape, name: str) -> str:
        return (
            "Each sample here is a single number with no feature axis, and Dense multiplies the last axis "
            "by its kernel. Give each sample a feature axis of size 1."
        )

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        text = (
            f"{name} was built for {size} input features: its kernel is {size}×{self.units}. "
            f"Dense reads only the last axis, and here that axis has {shape[-1]}."
        )
        if len(shape) > 2:
            text += (
                f" The leading axes ({' × '.join(map(str, shape[1:-1]))}) are not folded in: Dense applies the same "
                f"kernel at each position. Flatten first would give (None, {math.prod(shape[1:])})."
            )
        return text

    def suggest_fixes(self, shape, problem, context) -> list:
        fixes, name = [], context.name
        if len(shape) < 2:
            fixes.append(
                context.insert(
                    "Flatten", {}, f"insert Flatten before {name} (it turns {format_shape(shape)} into (None, 1))"
                )
            )
            fixes.append(context.input_shape_fix((self.input_dim or 1,)))
        elif self.activation == "glu" and self.units % 2:
            fixes.append(context.set_setting("units", self.units + 1))
        elif self.input_dim is not None:
            if len(shape) > 2 and math.prod(shape[1:]) == self.input_dim:
                fixes.append(
                    context.insert(
                        "Flatten",
                        {},
                        f"insert Flatten before {name} (it turns {format_shape(shape)} into (None, {self.input_dim}))",
                    )
                )
            fixes.append(context.upstream_fix(self.input_dim))
            fixes.append(context.input_shape_fix((*shape[1:-1], self.input_dim)))
            fixes.append(context.unbuild(f"rebuild {name} for the {shape[-1]:,} features it receives"))
        return fixes

    # --- weights --------------------------------------------------------------------------------
    def weight_specs(self, shape) -> list[WeightSpec]:
        specs = [WeightSpec("kernel", (shape[-1], self.units), self.kernel_initializer)]
        return specs + ([WeightSpec("bias", (self.units,), self.bias_initializer)] if self.use_bias else [])

    def formula(self, shape) -> str:
        """`2×16 + 16 = 48` (or `2×16 = 32` without bias)."""
        product, total = f"{shape[-1]:,}×{self.units:,}", sum(self.count_params_for(shape))
        return f"{product} + {self.units:,} = {total:,}" if self.use_bias else f"{product} = {total:,}"

    def cost(self, shape, output_shape) -> Cost:
        positions = math.prod(shape[1:-1])
        pre = positions * self.units  # the matmul's output, before the activation
        activation = activation_step_cost(self.activation, pre)
        in_place = self.activation in _IN_PLACE
        return Cost(
            mult_adds=pre * shape[-1],
            elementwise=(pre if self.use_bias else 0) + activation.elementwise,
            scratch=0 if in_place else pre + activation.scratch,
            scratch_large=0 if in_place else pre + activation.scratch_large,
            large_at=pre,
            capped_scratch=activation.capped_scratch,
            scratch_cap=activation.scratch_cap,
        )

    # --- numbers --------------------------------------------------------------------------------
    @property
    def kernel(self) -> np.ndarray:
        return self._weights[0]

    @property
    def bias(self) -> np.ndarray | None:
        return self._weights[1] if self.use_bias else None

    @property
    def _activation_fn(self):
        return activations.ACTIVATIONS[self.activation]

    def call(self, x: np.ndarray) -> np.ndarray:
        y = np.matmul(x, self.kernel)
        if self.bias is not None:
            np.add(y, self.bias, out=y)  # in place: same bits as `y + bias`, one allocation fewer
        if self.activation == "linear":
            return y
        if self.activation == "relu":
            return np.maximum(y, _ZERO, out=y)  # a 0-d float32 array is the cheapest operand for a ufunc
        return self._activation_fn(y)

    # --- training -------------------------------------------------------------------------------
    def forward_train(self, x, rng):
        z = np.matmul(x, self.kernel)
        if self.bias is not None:
            z = z + self.bias
        y = self._activation_fn(z)
        return y, (x, z, y)  # the pre-activation z is kept: call's relu overwrites it

    def backward(self, cache, dy):
        x, z, y = cache
        dz = activations.gradient(self.activation, z, y, dy)
        flat_x, flat_dz = x.reshape(-1, x.shape[-1]), dz.reshape(-1, dz.shape[-1])  # every position shares the kernel
        grads = [flat_x.T @ flat_dz] + ([flat_dz.sum(axis=0)] if self.bias is not None else [])
        return dz @ self.kernel.T, grads

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        parts = [counted(self.units, "unit")]
        if self.activation != "linear":
            parts.append(self.activation)
        if not self.use_bias:
            parts.append("no bias")
        if self.input_dim is not None:
            parts.append(f"built for {counted(self.input_dim, 'input')}")
        return ", ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        per_sample = shape[1:]
        if len(per_sample) == 1:
            return (
                f"Fully connected: each of the {self.units:,} units weighs all {shape[-1]:,} inputs "
                f"({shape[-1]:,}×{self.units:,} kernel) → {format_shape(output_shape)}."
            )
        return (
            f"Only the last axis ({shape[-1]:,}) is multiplied by the {shape[-1]:,}×{self.units:,} kernel; the "
            f"{times(per_sample[:-1])} leading positions each reuse it → {format_shape(output_shape)}."
        )

    def keras_code(self) -> CodePart:
        # initializers other than Keras's defaults are written too (the script sets the weights, but a model made from
        # it and trained afresh starts as this one was declared)
        extra = "".join(
            f", {s.name}={self.values[s.name]!r}" for s in self.settings[3:] if self.values[s.name] != s.default
        )
        if self.activation != "glu":
            return CodePart(
                f"keras.layers.Dense({self.units}, activation={self.activation!r}, use_bias={self.use_bias}{extra}, "
                f"name={self.name!r})"
            )
        return CodePart(
            f"GluDense({self.units}, activation='glu', use_bias={self.use_bias}{extra}, name={self.name!r})",
            {"GluDense": _KERAS_GLU},
        )

    def torch_code(self, shape) -> list[CodePart]:
        weights = {"weight": self.kernel.T} | ({"bias": self.bias} if self.bias is not None else {})
        # nn.Linear acts on the last axis, as Dense does; torch keeps the kernel as (units, inputs)
        parts = [CodePart(f"nn.Linear({shape[-1]}, {self.units}, bias={self.use_bias})", weights=weights)]
        return parts + ([torch_activation(self.activation)] if self.activation != "linear" else [])


def glu_problem(name: str, shape, size: int) -> Problem:
    """glu on an odd last axis: it cannot split it into two halves."""
    return Problem(
        "an even size on the last axis",
        f"Layer {name!r} applies glu, which needs an even last axis; it gets {size}.",
        "glu multiplies the first half of the last axis by the sigmoid of the second half, so the "
        "axis must split into two equal halves (and the output has half as many features).",
        f"axis size must be divisible by 2. Received: x.shape={format_shape(shape)} with axis=-1",
    )
