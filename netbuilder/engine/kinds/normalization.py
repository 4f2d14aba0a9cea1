"""BatchNormalization and LayerNormalization, computed the way Keras's NumPy backend computes them.

Keras's order of operations is kept exactly (it decides the last bits): the variance is
`mean(x²) − mean(x)²`, `inv = 1/sqrt(var + ε)` then `inv · γ`, `res = −mean · inv (+ β)`, and
`out = x · inv + res`. On a short axis (size 2) the textbook formula differs from Keras by ~1e-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import LayerConfigError
from ..layer import CodePart, Cost, InputSpec, Layer, Problem, WeightSpec, register
from ..settings import (
    Axes,
    Axis,
    Bool,
    Float,
    Init,
    beta_and_gamma_regularizers,
    check_regularizer_rank,
    rank_refusal,
)
from ..shapes import format_shape, times

_BATCH_AXIS_KERAS = (
    "Shapes used to initialize variables must be fully-defined (no `None` dimensions). "
    "Received: shape={shape} for variable path='sequential/{name}/{weight}'"
)

_TORCH_BATCH_NORM = '''class KerasBatchNormalization(nn.Module):
    """Keras's BatchNormalization at inference, on any axis and in Keras's layout:
    inv = gamma / sqrt(moving_variance + epsilon); out = x * inv + (beta - moving_mean * inv)."""

    def __init__(self, size, axis=-1, epsilon=1e-3, scale=True, center=True):
        super().__init__()
        self.axis, self.epsilon = axis, epsilon
        self.gamma = nn.Parameter(torch.ones(size)) if scale else None
        self.beta = nn.Parameter(torch.zeros(size)) if center else None
        # moving statistics are state, not parameters (torch's own BatchNorm keeps them as buffers too)
        self.register_buffer("moving_mean", torch.zeros(size))
        self.register_buffer("moving_variance", torch.ones(size))

    def forward(self, x):
        shape = [1] * x.dim()
        shape[self.axis] = -1
        inv = 1.0 / torch.sqrt(self.moving_variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        res = -self.moving_mean * inv
        if self.beta is not None:
            res = res + self.beta
        return x * inv.reshape(shape) + res.reshape(shape)
'''

_TORCH_LAYER_NORM = '''class KerasLayerNormalization(nn.Module):
    """Keras's LayerNormalization in Keras's own arithmetic (the two-pass variance mean((x - mean)²), as its
    JAX, TensorFlow and Torch backends compute it), over any axes; gamma and beta are reshaped onto the axes as \
Keras does."""

    def __init__(self, shape, axes=(-1,), epsilon=1e-3, scale=True, center=True, rms_scaling=False):
        super().__init__()
        self.axes, self.epsilon, self.rms_scaling = list(axes), epsilon, rms_scaling
        self.gamma = nn.Parameter(torch.ones(shape)) if scale or rms_scaling else None
        self.beta = nn.Parameter(torch.zeros(shape)) if center and not rms_scaling else None

    def forward(self, x):
        shape = [1] * x.dim()
        for axis in self.axes:
            shape[axis] = x.shape[axis]
        if self.rms_scaling:  # Keras's deprecated option: divides by the standard deviation, without centering
            out = x * (1.0 / torch.sqrt(x.var(dim=self.axes, keepdim=True, correction=0) + self.epsilon))
            return out if self.gamma is None else out * self.gamma.reshape(shape)
        mean = x.mean(dim=self.axes, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=self.axes, keepdim=True)
        inv = 1.0 / torch.sqrt(var + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma.reshape(shape)
        res = -mean * inv
        if self.beta is not None:
            res = res + self.beta.reshape(shape)
        return x * inv + res
'''


def _bad_axis(axis: int, shape, name: str, kind: str) -> Problem:
    """An axis outside the input's axes (Keras: IndexError when it builds the weights)."""
    ndim = len(shape)
    return Problem(
        f"an axis from {-ndim} to {ndim - 1}",
        f"Layer {name!r} ({kind}) normalises axis {axis}, but its input {format_shape(shape)} has only {ndim} axes "
        f"({-ndim} to {ndim - 1}, the batch axis included).",
        f"axis counts the input's axes, the batch axis included: 0 (or {-ndim}) is the batch and -1 the last. "
        f"Axis {axis} does not exist here, so there is nothing to normalise along it.",
        "tuple index out of range",
    )


def _batch_axis(axis: int, shape, name: str, kind: str, keras: str) -> Problem:
    """An axis that is the batch axis: its size is unknown when the weights are made."""
    return Problem(
        "an axis other than the batch axis",
        f"Layer {name!r} ({kind}) would normalise axis {axis}, which is the batch axis of {format_shape(shape)}.",
        f"{kind} keeps one learned number per position of the normalised axis, and the batch axis has no fixed size "
        f"(None). Features usually sit on the last axis, axis -1"
        + (
            " — but this input has no axis besides the batch: give each sample a feature axis of size 1."
            if len(shape) < 2
            else "."
        ),
        keras,
    )


# --- BatchNormalization ------------------------------------------------------------------------------
@register
class BatchNormalization(Layer):
    """`γ·(x − mean)/√(var + ε) + β` per feature on `axis`: batch statistics in training, moving ones at inference."""

    train_call_microseconds = 70  # forward_train and backward of a step whatever the batch (measured at batch 1)

    settings = (
        Axis(
            "axis",
            -1,
            "The features axis: each of its positions gets its own statistics, γ and β (-1 is the last axis).",
        ),
        Float(
            "momentum",
            0.99,
            "How slowly the moving mean and variance follow the batches in training: moving·momentum + "
            "batch·(1 − momentum).",
        ),
        Float("epsilon", 0.001, "Added to the variance so it is never divided by zero.", low=0.0, low_open=True),
        Bool("center", True, "Add a learned offset β (beta)."),
        Bool("scale", True, "Multiply by a learned scale γ (gamma)."),
        Init("beta_initializer", "zeros", "How the offsets β start.", ndim=1),
        Init("gamma_initializer", "ones", "How the scales γ start.", ndim=1),
        Init(
            "moving_mean_initializer",
            "zeros",
            "How the moving mean starts (what inference uses before training).",
            ndim=1,
        ),
        Init(
            "moving_variance_initializer",
            "ones",
            "How the moving variance starts (what inference uses before training).",
            ndim=1,
        ),
        *beta_and_gamma_regularizers(1),
    )
    group = "Normalisation"
    description = "Normalises each feature with batch statistics in training and learned moving averages at inference."
    keras_extra_config = {
        "beta_constraint": None,
        "gamma_constraint": None,
        "synchronized": False,
        "renorm": False,
        "renorm_clipping": None,
        "renorm_momentum": 0.99,
    }
    keeps_shape = True

    @classmethod
    def settings_from_config(cls, config: dict) -> dict:
        if config.get("renorm"):
            raise LayerConfigError(
                f"BatchNormalization {str(config.get('name'))[:40]!r} uses renorm=True (batch renormalization), "
                "which netbuilder does not support; it trains differently"
            )
        return super().settings_from_config(config)

    def _axis_index(self, ndim: int) -> int | None:
        """The axis as an index 1..ndim-1, or None when it is out of range or the batch axis."""
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            return None
        return self.axis % ndim

    # --- shapes ---------------------------------------------------------------------------------
    def input_spec(self) -> InputSpec:
        built = self.built_shape
        if built is None:
            return InputSpec()
        axes = ((self.axis, built[self.axis]),) if self._axis_index(len(built)) is not None else ()
        return InputSpec(ndim=len(built), axes=axes)  # as Keras's, once built: same rank, same feature count

    def check_shape(self, shape, name: str) -> Problem | None:
        ndim = len(shape)
        if not -ndim <= self.axis < ndim:
            return _bad_axis(self.axis, shape, name, self.kind)
        if self.axis % ndim == 0:
            first = self._names()[0]
            return _batch_axis(
                self.axis, shape, name, self.kind, _BATCH_AXIS_KERAS.format(shape="(None,)", name=name, weight=first)
            )
        return None

    def rank_explanation(self, shape, name: str) -> str:
        return (
            f"{name} was built for inputs with {len(self.built_shape)} axes (its statistics belong to axis {self.axis} "
            f"of that shape); this input has {len(shape)}."
        )

    def axis_explanation(self, shape, axis: int, size: int, name: str) -> str:
        return (
            f"{name} was built for {size:,} features on axis {axis}: its gamma, beta, moving mean and moving variance "
            f"have {size:,} entries each. Here that axis has {shape[axis]:,}."
        )

    def suggest_fixes(self, shape, problem, context) -> list:
        name, ndim = context.name, len(shape)
        if ndim < 2:
            return [
                context.insert(
                    "Flatten", {}, f"insert Flatten before {name} (it turns {format_shape(shape)} into (None, 1))"
                ),
                context.input_shape_fix((1,)),
            ]
        fixes = []
        if self._axis_index(ndim) is None:
            fixes.append(
                context.set_setting(
                    "axis", -1, description=f"set axis of {name} to -1 (the last axis, size {shape[-1]:,})"
                )
            )
        elif self.built_shape is not None:
            size = self.built_shape[self.axis] if self._axis_index(len(self.built_shape)) is not None else None
            if size is not None and self._axis_index(ndim) == ndim - 1:
                fixes.append(context.upstream_fix(size))
                fixes.append(context.input_shape_fix((*shape[1:-1], size)))
        if self.built_shape is not None:
            fixes.append(context.unbuild(f"rebuild {name} for the input {format_shape(shape)} it receives"))
        return fixes

    # --- weights --------------------------------------------------------------------------------
    def _names(self) -> list[str]:
        return (
            (["gamma"] if self.scale else []) + (["beta"] if self.center else []) + ["moving_mean", "moving_variance"]
        )

    def weight_specs(self, shape) -> list[WeightSpec]:
        size = (shape[self.axis],)
        return [
            WeightSpec(n, size, self.values[f"{n}_initializer"], trainable=not n.startswith("moving"))
            for n in self._names()
        ]

    def formula(self, shape) -> str:
        """`4×64 = 256 (128 trainable)`: gamma, beta, moving mean and variance, one each per feature."""
        size, n = shape[self.axis], len(self._names())
        return f"{n}×{size:,} = {n * size:,} ({(n - 2) * size:,} trainable)"

    def cost(self, shape, output_shape) -> Cost:
        # x·inv, then + res in place: besides the output, one feature-sized buffer holds inv, then res. It does
        # not grow with the batch, so counting it per sample overstates it; the features are at most all the values
        # training: the batch's mean and variance, the normalised input and backward's sums (~12 operations a value)
        return Cost(
            elementwise=2 * math.prod(shape[1:]), scratch=shape[self.axis], train_elementwise=12 * math.prod(shape[1:])
        )

    # --- numbers --------------------------------------------------------------------------------
    def _normalise(self, x, mean, variance):
        """Keras's `x·inv + (β − mean·inv)` with inv = γ/√(var + ε), using one feature-sized buffer for inv then res."""
        w = dict(zip(self._names(), self._weights))
        t = variance + self.epsilon
        np.sqrt(t, out=t)
        np.divide(1.0, t, out=t)  # in place, same bits as Keras's `1.0 / np.sqrt(variance + epsilon)`
        if self.scale:
            np.multiply(t, w["gamma"].astype(x.dtype, copy=False), out=t)
        y = x * self._broadcast(t, x.ndim)
        np.multiply(mean, t, out=t)
        np.negative(t, out=t)  # -(mean·inv) has the bits of Keras's (-mean)·inv: rounding is symmetric
        if self.center:
            np.add(t, w["beta"].astype(x.dtype, copy=False), out=t)
        return np.add(y, self._broadcast(t, x.ndim), out=y)

    def _broadcast(self, v, ndim: int):
        shape = [1] * ndim
        shape[self.axis] = v.shape[0]
        return v.reshape(shape)

    def call(self, x):
        n = len(self._names())
        mean, variance = self._weights[n - 2], self._weights[n - 1]
        return self._normalise(x, mean.astype(x.dtype, copy=False), variance.astype(x.dtype, copy=False))

    def forward_train(self, x, rng):
        """Batch statistics (biased variance, two-pass as jnp.var), and the moving ones updated as Keras does."""
        axes = tuple(a for a in range(x.ndim) if a != self.axis % x.ndim)
        mean = np.mean(x, axes, keepdims=True)
        variance = _centred_variance(x, mean, axes)
        mean, variance = mean.reshape(-1), variance.reshape(-1)
        names = self._names()
        for stat, batch in (("moving_mean", mean), ("moving_variance", variance)):
            i = names.index(stat)
            old = self._weights[i]
            self._weights[i] = (old.astype(x.dtype, copy=False) * self.momentum + batch * (1.0 - self.momentum)).astype(
                old.dtype
            )
        y = self._normalise(x, mean, variance)
        return y, (
            x,
            axes,
            self._broadcast(mean, x.ndim),
            self._broadcast(1.0 / np.sqrt(variance + self.epsilon), x.ndim),
        )

    def backward(self, cache, dy):
        x, axes, mean, istd = cache
        xhat = (x - mean) * istd
        grads = []
        dxhat = dy
        if self.scale:
            gamma = self._weights[0]
            grads.append(np.sum(dy * xhat, axis=axes))
            dxhat = dy * self._broadcast(gamma.astype(x.dtype, copy=False), x.ndim)
        if self.center:
            grads.append(np.sum(dy, axis=axes))
        dx = istd * (
            dxhat - np.mean(dxhat, axis=axes, keepdims=True) - xhat * np.mean(dxhat * xhat, axis=axes, keepdims=True)
        )
        return dx, grads

    # --- description ----------------------------------------------------------------------------
    def label(self) -> str:
        parts = [f"axis {self.axis}"]
        parts += [] if self.scale else ["no scale"]
        parts += [] if self.center else ["no center"]
        parts += [] if self.momentum == 0.99 else [f"momentum {self.momentum:g}"]
        parts += [] if self.epsilon == 0.001 else [f"ε {self.epsilon:g}"]
        if self.built_shape is not None and self._axis_index(len(self.built_shape)) is not None:
            parts.append(f"built for {self.built_shape[self.axis]:,} features")
        return ", ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        size = shape[self.axis]
        others = [d for i, d in enumerate(shape[1:], 1) if i != self.axis % len(shape)]
        over = "the batch" + (f" and the {times(others)} positions" if others else "")
        return (
            f"Each of the {size:,} features on axis {self.axis} is normalised on its own: in training with the mean "
            f"and variance over {over}, at inference with the moving averages learned then — "
            f"(x − mean)/√(variance + {self.epsilon:g})·γ + β. The shape {format_shape(shape)} is unchanged."
        )

    def torch_code(self, shape) -> list[CodePart]:
        # torch's BatchNorm1d/2d want the features on axis 1 (channels first); Keras's are usually last
        code = (
            f"KerasBatchNormalization({shape[self.axis]}, axis={self.axis}, epsilon={self.epsilon!r}, "
            f"scale={self.scale}, center={self.center})"
        )
        return [CodePart(code, {"KerasBatchNormalization": _TORCH_BATCH_NORM}, dict(zip(self._names(), self._weights)))]


def _centred_variance(x, mean, axes):
    """mean((x − mean)²), the two-pass variance that Keras's JAX, TensorFlow and Torch backends compute.

    Keras's NumPy backend uses mean(x²) − mean(x)² instead: faster, but it cancels catastrophically far from
    zero (inputs near 2000 give a wrong or negative variance, hence NaN), so we follow the other backends.
    The centred copy is squared in place: one full-size temporary, as the one-pass formula's x² was."""
    centred = np.subtract(x, mean)
    np.square(centred, out=centred)
    return np.mean(centred, axis=axes, keepdims=True)


# --- LayerNormalization ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NormAxes(Axes):
    """LayerNormalization's axis: an int, or several axes, sorted as Keras sorts them when it builds
    (one axis in a list is that axis); the same axis twice is refused."""

    def check(self, value):
        value = super().check(value)
        if isinstance(value, int):
            return value
        if len(set(value)) != len(value):
            self.fail(value, "different axes (each at most once)")
        return value[0] if len(value) == 1 else tuple(sorted(value))


@register
class LayerNormalization(Layer):
    """Each sample normalised over `axis` by its own mean and variance, then `·γ + β` (shapes of those axes)."""

    keras_config_order = ("name", "trainable", "dtype", "axis", "epsilon", "center", "scale", "rms_scaling")
    train_call_microseconds = 80  # forward_train and backward of a step whatever the batch (measured at batch 1)

    settings = (
        NormAxes("axis", -1, "The axis (or axes, e.g. 1, 2) each sample is normalised over; -1 is the last axis."),
        Float("epsilon", 0.001, "Added to the variance so it is never divided by zero.", low=0.0, low_open=True),
        Bool("center", True, "Add a learned offset β (beta)."),
        Bool("scale", True, "Multiply by a learned scale γ (gamma)."),
        Init("beta_initializer", "zeros", "How the offsets β start."),
        Init("gamma_initializer", "ones", "How the scales γ start."),
        *beta_and_gamma_regularizers(None),  # γ and β have one axis per normalised axis: checked in validate
        Bool(
            "rms_scaling",
            False,
            "Deprecated in Keras: divide by the standard deviation without centering, then ·γ (no β).",
        ),
    )
    group = "Normalisation"
    description = "Normalises each sample on its own over the last axis (or given axes), then scales and shifts."
    keras_extra_config = {
        "beta_constraint": None,
        "gamma_constraint": None,
    }
    keeps_shape = True

    def __init__(self, *args, **kwargs):
        if len(args) > 8:  # Keras takes rms_scaling by keyword only; its ninth positional is beta_constraint
            raise LayerConfigError(
                "LayerNormalization takes axis, epsilon, center, scale, beta_initializer, gamma_initializer, "
                "beta_regularizer and gamma_regularizer positionally; pass rms_scaling=... by name"
            )
        super().__init__(*args, **kwargs)

    def validate(self) -> None:
        for name in ("beta_initializer", "gamma_initializer"):  # gamma and beta have one axis per normalised axis
            if not self.values[name].fits_rank(len(self.axes)):
                raise LayerConfigError(rank_refusal(name, self.values[name], len(self.axes)))
        for name in ("beta_regularizer", "gamma_regularizer"):
            check_regularizer_rank(name, self.values[name], len(self.axes))

    @property
    def axes(self) -> tuple[int, ...]:
        return (self.axis,) if isinstance(self.axis, int) else self.axis

    def _names(self) -> list[str]:
        gamma, beta = self.scale or self.rms_scaling, self.center and not self.rms_scaling
        return (["gamma"] if gamma else []) + (["beta"] if beta else [])

    # --- shapes ---------------------------------------------------------------------------------
    def check_shape(self, shape, name: str) -> Problem | None:
        ndim = len(shape)
        for axis in self.axes:
            if not -ndim <= axis < ndim:
                return _bad_axis(axis, shape, name, self.kind)
        resolved = [a % ndim for a in self.axes]
        if 0 in resolved:
            # Keras accepts the batch axis when there are no weights (it then normalises across samples); we do not
            names = self._names()
            weight_shape = format_shape(self._weight_shape(shape))
            keras = _BATCH_AXIS_KERAS.format(shape=weight_shape, name=name, weight=names[0]) if names else ""
            return _batch_axis(self.axis, shape, name, self.kind, keras)
        if len(set(resolved)) != len(resolved):
            return Problem(
                "different axes",
                f"Layer {name!r} (LayerNormalization) names the same axis twice: axis={self.axis} on "
                f"{format_shape(shape)}.",
                f"On an input with {ndim} axes, "
                f"{' and '.join(str(a) for a in self.axes if resolved.count(a % ndim) > 1)} "
                "are the same axis (negative axes count from the end).",
                "duplicate value in 'axis'",
            )
        built = self.built_shape
        if built is not None:
            # weights made for a shape the axes do not fit (a hand-written build_config) are refused whatever they hold
            fits = all(-len(built) <= a < len(built) and a % len(built) for a in self.axes)
            if not fits or self._names() and any(built[a] != shape[a] for a in self.axes):
                want = tuple(built[a] if -len(built) <= a < len(built) else None for a in self.axes)
                got = tuple(shape[a] for a in self.axes)
                return Problem(
                    f"sizes {want} on axes {self.axes}",
                    f"Layer {name!r} (LayerNormalization) was built for sizes {want} on axes {self.axes}, "
                    f"but received {format_shape(shape)} (sizes {got}).",
                    f"Its {' and '.join(self._names())} hold one number per position of the normalised axes, "
                    f"{times(want)} of them; this input has a different number there."
                    if fits
                    else f"It was built for {format_shape(built)}, where axis {self.axis} is not a feature axis; "
                    "rebuild it for this input.",
                    self._mismatch_keras(want, shape),
                )
        return None

    def _mismatch_keras(self, want, shape) -> str:
        """What Keras says when weights built for `want` meet `shape` (at predict; equal sizes in another
        arrangement it accepts, reshaping gamma and beta onto the new sizes)."""
        ndim, size = len(shape), math.prod(w or 1 for w in want)
        target = self._broadcast_shape(ndim, shape)
        if size == math.prod(target):
            return ""
        if sorted(self.axes) == [ndim - 1]:  # Keras broadcasts without reshaping when the only axis is written ndim-1
            return "operands could not be broadcast together with shapes"
        return f"cannot reshape array of size {size} into shape {format_shape(target)}"

    def suggest_fixes(self, shape, problem, context) -> list:
        name, ndim = context.name, len(shape)
        if ndim < 2:
            return [
                context.insert(
                    "Flatten", {}, f"insert Flatten before {name} (it turns {format_shape(shape)} into (None, 1))"
                ),
                context.input_shape_fix((1,)),
            ]
        fixes = [
            context.set_setting("axis", -1, description=f"set axis of {name} to -1 (the last axis, size {shape[-1]:,})")
        ]
        if self.built_shape is not None:
            if self.axes == (-1,) or self.axes == (ndim - 1,):
                size = (
                    self.built_shape[self.axes[0]]
                    if -len(self.built_shape) <= self.axes[0] < len(self.built_shape)
                    else None
                )
                if size:
                    fixes += [context.upstream_fix(size), context.input_shape_fix((*shape[1:-1], size))]
            fixes.append(context.unbuild(f"rebuild {name} for the input {format_shape(shape)} it receives"))
        return fixes

    # --- weights --------------------------------------------------------------------------------
    def _weight_shape(self, shape) -> tuple[int, ...]:
        return tuple(shape[a] for a in self.axes)  # in Keras's sorted order of the axis values, as it builds them

    def weight_specs(self, shape) -> list[WeightSpec]:
        size = self._weight_shape(shape)
        return [WeightSpec(n, size, self.values[f"{n}_initializer"]) for n in self._names()]

    def formula(self, shape) -> str:
        """`2×64 = 128` (gamma and beta, one per position of the normalised axes)."""
        names, size = self._names(), math.prod(self._weight_shape(shape))
        dims = times(self._weight_shape(shape))
        if not names:
            return ""
        if len(names) == 1:
            return f"{dims} ({names[0]}) = {size:,}"
        return f"2×{dims} = {2 * size:,}"

    def cost(self, shape, output_shape) -> Cost:
        n = math.prod(shape[1:])
        rows = n // math.prod(self._weight_shape(shape))
        # ops as measured: NumPy's mean over a short last axis costs several adds per element
        # backward keeps the centred input, the normalised input and dy·γ (with γ) beside two temporaries
        train_scratch = (5 if self.scale or self.rms_scaling else 4) * n + 8 * rows
        if self.rms_scaling:  # np.var's centred copy is freed before the output exists
            return Cost(elementwise=12 * n, scratch=4 * rows, train_scratch=train_scratch)
        full = self.scale or self.center  # inv·γ, or res + β, is a full-size array beside the output
        return Cost(elementwise=14 * n, scratch=(n if full else 0) + 6 * rows, train_scratch=train_scratch)

    # --- numbers --------------------------------------------------------------------------------
    def _broadcast_shape(self, ndim: int, shape) -> list[int]:
        out = [1] * ndim
        for a in self.axes:
            out[a] = shape[a]
        return out

    def _params(self, x):
        """gamma and beta (or None) reshaped onto the normalised axes exactly as Keras does (a reshape, not a
        transpose)."""
        w = dict(zip(self._names(), self._weights))
        shape = self._broadcast_shape(x.ndim, x.shape)
        return [
            None if w.get(n) is None else w[n].astype(x.dtype, copy=False).reshape(shape) for n in ("gamma", "beta")
        ]

    def call(self, x):
        gamma, beta = self._params(x)
        if self.rms_scaling:
            variance = np.var(x, axis=self.axes, keepdims=True, dtype=np.result_type(x.dtype, np.float32))
            inv = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)
            y = x * inv
            return y if gamma is None else np.multiply(y, gamma, out=y)
        mean = np.mean(x, self.axes, keepdims=True)
        variance = _centred_variance(x, mean, self.axes)
        inv = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)
        if gamma is not None:
            inv = inv * gamma
        y = x * inv
        res = np.multiply(-mean, inv, out=inv if inv.shape == y.shape else None)  # reuse inv's buffer when full-size
        if beta is not None:
            res = np.add(res, beta, out=res if res.shape == y.shape else None)
        return np.add(y, res, out=y)

    def forward_train(self, x, rng):
        return self.call(x), x

    def backward(self, cache, dy):
        x = cache
        gamma, _ = self._params(x)
        others = tuple(a for a in range(x.ndim) if a not in {b % x.ndim for b in self.axes})
        count = math.prod(x.shape[a] for a in self.axes)
        wshape = self._weight_shape(x.shape)
        mean = np.mean(x, self.axes, keepdims=True)
        centred = x - mean
        var = np.mean(centred * centred, axis=self.axes, keepdims=True)
        istd = 1.0 / np.sqrt(var + self.epsilon)
        dyg = dy if gamma is None else dy * gamma
        grads = []
        if self.rms_scaling:
            dx = istd * dyg - istd**3 * centred / count * np.sum(dyg * x, axis=self.axes, keepdims=True)
            if gamma is not None:
                grads.append(np.sum(dy * x * istd, axis=others).reshape(wshape))
            return dx, grads
        xhat = centred * istd
        dx = istd * (
            dyg
            - np.mean(dyg, axis=self.axes, keepdims=True)
            - xhat * np.mean(dyg * xhat, axis=self.axes, keepdims=True)
        )
        if gamma is not None:
            grads.append(np.sum(dy * xhat, axis=others).reshape(wshape))
        if self.center:
            grads.append(np.sum(dy, axis=others).reshape(wshape))
        return dx, grads

    # --- description ----------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = list(self.axes)  # Keras writes the built layer's axis as a sorted list
        return config

    def label(self) -> str:
        parts = [f"axis {self.axis}" if isinstance(self.axis, int) else f"axes {', '.join(map(str, self.axis))}"]
        parts += ["rms scaling"] if self.rms_scaling else []
        parts += [] if self.scale or self.rms_scaling else ["no scale"]
        parts += [] if self.center or self.rms_scaling else ["no center"]
        parts += [] if self.epsilon == 0.001 else [f"ε {self.epsilon:g}"]
        return ", ".join(parts)

    def explain_shape(self, shape, output_shape) -> str:
        dims = self._weight_shape(shape)
        where = f"axis {self.axis}" if isinstance(self.axis, int) else f"axes {', '.join(map(str, self.axis))}"
        how = (
            "divided by the standard deviation of those values (rms_scaling: no centering), then ·γ"
            if self.rms_scaling
            else "shifted by their mean and divided by their standard deviation, then ·γ + β"
        )
        count = f"{times(dims)} = {math.prod(dims):,}" if len(dims) > 1 else f"{dims[0]:,}"
        return (
            f"Each sample is normalised on its own over {where} ({count} values at a time): "
            f"{how}. The shape {format_shape(shape)} is unchanged."
        )

    def torch_code(self, shape) -> list[CodePart]:
        code = (
            f"KerasLayerNormalization({self._weight_shape(shape)!r}, axes={self.axes!r}, epsilon={self.epsilon!r}, "
            f"scale={self.scale}, center={self.center}, rms_scaling={self.rms_scaling})"
        )
        return [CodePart(code, {"KerasLayerNormalization": _TORCH_LAYER_NORM}, dict(zip(self._names(), self._weights)))]
