"""LayerScale: ConvNeXt's learned per-channel scale (keras.applications.convnext registers it).

Keras defines it in `keras.src.applications.convnext` without exporting it under `keras.layers`, and writes it into
JSON as module "keras.src.applications.convnext", class_name "LayerScale", registered_name "LayerScale" (so
`keras.models.model_from_json` imports it from there). Its weight is made with no name (Keras calls it
"variable"; the layer holds it as `gamma`): one factor per channel, `projection_dim` of them, starting at
`init_values`. The call is `x * gamma`, broadcast on the last axis as NumPy broadcasts.
"""

from __future__ import annotations

import math

from ..errors import LayerConfigError
from ..initializers import Constant
from ..layer import CodePart, Cost, Layer, Problem, WeightSpec, register
from ..limits import MAX_UNITS
from ..settings import Int
from ..shapes import format_shape
from .activation_layers import Number

KERAS_MODULE = "keras.src.applications.convnext"  # where Keras's JSON says the class lives
# float32 elements NumPy's ufunc loop buffers when one channel is spread over several
_BROADCAST_BUFFER = 16_384

_KERAS_IMPORT = f"""# ConvNeXt's LayerScale, as Keras's own JSON names it (keras.applications does not export it \
under keras.layers)
from {KERAS_MODULE} import LayerScale
"""

_TORCH_LAYER_SCALE = '''class KerasLayerScale(nn.Module):
    """ConvNeXt's LayerScale (keras.applications.convnext): x * gamma, one learned factor per channel (the last \
axis)."""

    def __init__(self, projection_dim, init_values=1e-6):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((projection_dim,), float(init_values)))

    def forward(self, x):
        return x * self.gamma
'''


@register
class LayerScale(Layer):
    """`x · gamma`: one learned factor per channel (ConvNeXt's residual branches start near zero with it)."""

    keras_module = KERAS_MODULE  # what Keras writes as the JSON entry's module and registered_name
    keras_registered_name = "LayerScale"
    # forward_train and backward of a step whatever the batch (measured at batch 1: 11-12 µs)
    train_call_microseconds = 12

    settings = (
        Number(
            "init_values",
            1e-6,
            "What every factor starts at (ConvNeXt: 1e-6, so each block starts close to "
            "passing its input on unchanged).",
            required=True,
        ),
        Int(
            "projection_dim",
            16,
            "How many factors: the size of the input's last axis (its channels).",
            required=True,
            high=MAX_UNITS,
        ),
    )
    group = "Normalisation"
    description = "Multiplies each channel by its own learned factor, starting small (ConvNeXt's LayerScale)."

    def validate(self) -> None:
        try:
            Constant(self.init_values)  # within ±1e30, as every initializer's number: gamma stays finite in float32
        except LayerConfigError:
            raise LayerConfigError(
                f"init_values must be a number from -1e30 to 1e30 (gamma starts there, in float32); "
                f"received {self.init_values:g}"
            ) from None

    # --- shapes ---------------------------------------------------------------------------------
    def check_shape(self, shape, name: str) -> Problem | None:
        d = self.projection_dim
        if len(shape) < 2 and d != 1:
            return Problem(
                f"a last axis of size {d} (the batch axis and one more)",
                f"Layer {name!r} (LayerScale) scales {d} channels, but its input {format_shape(shape)} has no axis "
                "besides the batch.",
                f"LayerScale multiplies the last axis by its {d} factors, one per channel; here the only axis is the "
                "batch, whose size changes from run to run.",
                f"Could not automatically infer the output shape / dtype of '{name}' (of type LayerScale)",
            )
        if len(shape) >= 2 and shape[-1] not in (d, 1) and d != 1:
            return Problem(
                f"last axis of size {d}",
                f"Layer {name!r} (LayerScale) scales {d} channels, but its input {format_shape(shape)} has "
                f"{shape[-1]:,} on the last axis.",
                f"LayerScale holds one factor per channel (projection_dim = {d}) and multiplies the last axis by them "
                f"position by position, so that axis needs {d} positions.",
                f"Could not automatically infer the output shape / dtype of '{name}' (of type LayerScale)",
            )
        return None

    def suggest_fixes(self, shape, problem, context) -> list:
        if len(shape) < 2:
            return [
                context.set_setting(
                    "projection_dim",
                    1,
                    description=f"set projection_dim of {context.name} to 1 (one factor for every value)",
                ),
                context.input_shape_fix((*shape[1:], self.projection_dim)),
            ]
        return [
            context.set_setting(
                "projection_dim",
                shape[-1],
                description=f"set projection_dim of {context.name} to {shape[-1]:,} (the channels it receives)",
            ),
            context.upstream_fix(self.projection_dim),
            context.input_shape_fix((*shape[1:-1], self.projection_dim)),
        ]

    def compute_output_shape(self, shape):
        """The input's shape, its last axis broadcast with gamma's (projection_dim, a single channel spread over
        them)."""
        if len(shape) < 2:
            return tuple(shape)
        return (*shape[:-1], max(shape[-1], self.projection_dim))

    # --- weights --------------------------------------------------------------------------------
    def weight_specs(self, shape) -> list[WeightSpec]:
        return [WeightSpec("gamma", (self.projection_dim,), Constant(self.init_values))]

    def formula(self, shape) -> str:
        """`96 (gamma, one per channel) = 96`."""
        return f"{self.projection_dim:,} (gamma, one per channel) = {self.projection_dim:,}"

    def cost(self, shape, output_shape) -> Cost:
        # one multiplication per output value; backward: dy·gamma (the input's gradient) and dy·x before its sum
        n = math.prod(output_shape[1:])
        if len(shape) >= 2 and shape[-1] == 1 and self.projection_dim > 1:
            # one channel spread over projection_dim: NumPy's broadcasting loop buffers up to 64 KiB on the way, and
            # backward's dy·gamma is a full-size temporary before its sum over the channels
            return Cost(
                elementwise=n,
                train_elementwise=2 * n,
                train_scratch=2 * n,
                capped_scratch=n,
                scratch_cap=_BROADCAST_BUFFER,
            )
        return Cost(elementwise=n, train_elementwise=n, train_scratch=n)

    # --- numbers --------------------------------------------------------------------------------
    def call(self, x):
        return x * self._weights[0].astype(x.dtype, copy=False)

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, x, dy):
        gamma = self._weights[0].astype(dy.dtype, copy=False)
        dx = dy * gamma
        if x.shape[-1] != dx.shape[-1]:  # one input channel spread over projection_dim: its gradient is their sum
            dx = dx.sum(axis=-1, keepdims=True)
        product = dy * x
        dgamma = product.reshape(-1, product.shape[-1]).sum(axis=0)
        if self.projection_dim == 1 and dgamma.shape[0] != 1:  # one factor for every channel
            dgamma = dgamma.sum(keepdims=True)
        return dx, [dgamma]

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        return f"{self.projection_dim:,} channels, from {self.init_values:g}"

    def explain_shape(self, shape, output_shape) -> str:
        d = self.projection_dim
        if d == 1:
            how = f"every value is multiplied by one learned factor (gamma, starting at {self.init_values:g})"
        elif len(shape) >= 2 and shape[-1] == 1:
            how = (
                f"the single channel is multiplied by each of {d} learned factors (gamma, starting at "
                f"{self.init_values:g}), so the last axis grows from 1 to {d}"
            )
        else:
            how = (
                f"each of the {d} channels on the last axis is multiplied by its own learned factor (gamma, starting "
                f"at {self.init_values:g})"
            )
        return f"{how[0].upper()}{how[1:]}: {format_shape(shape)} → {format_shape(output_shape)}."

    def keras_code(self) -> CodePart:
        code = super().keras_code()
        return CodePart(code.code[len("keras.layers.") :], {"LayerScale": _KERAS_IMPORT})

    def torch_code(self, shape) -> list[CodePart]:
        code = f"KerasLayerScale({self.projection_dim}, init_values={self.init_values!r})"
        return [CodePart(code, {"KerasLayerScale": _TORCH_LAYER_SCALE}, {"gamma": self._weights[0]})]
