"""Shape inference that never raises: per-layer shapes and params, and the first problem explained."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import Fix, LayerConfigError, ShapeIssue
from .layers import Activation, Dense, Flatten, Layer, Shape
from .limits import MAX_LAYERS, MAX_PARAMS, MAX_TENSOR_ELEMENTS


def format_shape(shape: Shape) -> str:
    """`(None, 3, 16)`, and `(None,)` for rank 1, as Python prints tuples."""
    return str(tuple(shape))


def format_batch_shape(shape: tuple[int, ...], batch="batch") -> str:
    """A per-sample shape with its batch axis named or counted in front: `(batch, 3, 2)`, `(1,)`."""
    return "(" + ", ".join(map(str, (batch, *shape))) + ("," if not shape else "") + ")"


@dataclass(frozen=True)
class LayerReport:
    """One layer as the model sees it; output_shape is None for the layer that fails."""

    index: int
    name: str
    class_name: str
    input_shape: Shape
    output_shape: Shape | None
    params: int
    formula: str  # Dense: "2×16 + 16 = 48"; other layers: ""


@dataclass(frozen=True)
class Analysis:
    """Shapes of a whole model up to (and including) its first failing layer."""

    input_shape: Shape
    layers: tuple[LayerReport, ...]
    issue: ShapeIssue | None
    names: tuple[str, ...] = ()  # every layer's Keras name, also past the failing layer

    @property
    def ok(self) -> bool:
        return self.issue is None

    @property
    def output_shape(self) -> Shape | None:
        if not self.ok:
            return None
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)


def assign_names(layers: list[Layer]) -> None:
    """Name auto-named layers as Keras does in a fresh session: dense, dense_1, activation, ..."""
    explicit = [layer.name for layer in layers if not layer._auto_named]
    duplicates = sorted({n for n in explicit if explicit.count(n) > 1})
    if duplicates:
        raise LayerConfigError(
            f"All layers added to a Sequential model should have unique names. Name {duplicates[0]!r} "
            "is already the name of a layer in this model. Update the `name` argument to pass a unique name."
        )
    taken, counters = set(explicit), {}
    for layer in layers:
        if layer._auto_named:
            prefix = type(layer).__name__.lower()
            n = counters.get(prefix, 0)
            while (name := prefix if n == 0 else f"{prefix}_{n}") in taken:
                n += 1
            counters[prefix] = n + 1
            taken.add(name)
            layer.name = name


def dense_formula(input_dim: int, layer: Dense) -> str:
    """`2×16 + 16 = 48` (or `2×16 = 32` without bias)."""
    product = f"{input_dim:,}×{layer.units:,}"
    total = layer.params_for(input_dim)
    return f"{product} + {layer.units:,} = {total:,}" if layer.use_bias else f"{product} = {total:,}"


def analyze(layers: list[Layer], input_shape: tuple[int, ...]) -> Analysis:
    """Walk the layers from a per-sample `input_shape`; stop at the first layer that cannot run.

    Never raises for shapes or limits (they become `issue`); duplicate explicit names raise LayerConfigError.
    """
    assign_names(layers)
    names = tuple(layer.name for layer in layers)
    shape: Shape = (None, *input_shape)
    reports: list[LayerReport] = []
    total = 0
    if len(layers) > MAX_LAYERS:
        issue = _limit_issue(layers, MAX_LAYERS, shape, f"a model holds at most {MAX_LAYERS} layers; this one has {len(layers)}")
        return Analysis(shape, (), issue, names)
    for i, layer in enumerate(layers):
        issue = _check(layers, i, shape, input_shape)
        params = layer.params_for(shape[-1]) if isinstance(layer, Dense) and issue is None else layer.count_params()
        out = None if issue else layer.compute_output_shape(shape)
        if issue is None and total + params > MAX_PARAMS:
            issue = _limit_issue(layers, i, shape, f"the model would have {total + params:,} parameters; at most {MAX_PARAMS:,} are allowed")
            out = None
        if issue is None and math.prod(out[1:]) > MAX_TENSOR_ELEMENTS:
            issue = _limit_issue(
                layers, i, shape,
                f"its output {format_shape(out)} would hold {math.prod(out[1:]):,} values per sample; "
                f"at most {MAX_TENSOR_ELEMENTS:,} are allowed",
            )
            out = None
        formula = dense_formula(shape[-1], layer) if isinstance(layer, Dense) and issue is None else ""
        reports.append(LayerReport(i, layer.name, type(layer).__name__, shape, out, params, formula))
        if issue:
            return Analysis((None, *input_shape), tuple(reports), issue, names)
        total += params
        shape = out
    return Analysis((None, *input_shape), tuple(reports), None, names)


def _limit_issue(layers, i, shape, why) -> ShapeIssue:
    layer = layers[min(i, len(layers) - 1)]
    return ShapeIssue(
        layer_index=min(i, len(layers) - 1), layer_name=layer.name, layer_type=type(layer).__name__,
        expected="a model within netbuilder's limits", received=shape,
        message=f"Layer {layer.name!r} ({type(layer).__name__}) exceeds a limit: {why}.",
        explanation="netbuilder bounds model size so every page stays fast; the limits are listed in the README.",
        fixes=(Fix("remove_layer", f"remove {layer.name}", layer_index=min(i, len(layers) - 1)),),
        kind="limit",
    )


def _check(layers: list[Layer], i: int, shape: Shape, input_shape: tuple) -> ShapeIssue | None:
    """The problem `layers[i]` has with receiving `shape`, or None."""
    layer = layers[i]
    if isinstance(layer, Dense):
        if len(shape) < 2:
            return _dense_rank_issue(layers, i, shape, input_shape)
        if layer.input_dim is not None and shape[-1] != layer.input_dim:
            return _dense_mismatch_issue(layers, i, shape, input_shape)
        if layer.activation == "glu" and layer.units % 2:
            return _glu_issue(layer, i, shape, layer.units, (Fix("set_units", f"set units of {layer.name} to {layer.units + 1}", i, layer.units + 1),))
    if isinstance(layer, Activation) and layer.activation == "glu":
        if len(shape) < 2:
            return ShapeIssue(
                i, layer.name, "Activation", "at least 2 axes (batch, features)", shape,
                f"Layer {layer.name!r} (glu) receives {format_shape(shape)}, whose only axis is the batch axis.",
                "glu splits the last axis in two halves; here that would split the batch, which depends on the data.",
                (Fix("insert_flatten", f"insert Flatten before {layer.name}", i),),
            )
        if shape[-1] % 2:
            fixes = tuple(f for f in [_upstream_units_fix(layers, i, shape[-1] + 1)] if f)
            return _glu_issue(layer, i, shape, shape[-1], fixes)
    return None


def _glu_issue(layer, i, shape, size, fixes) -> ShapeIssue:
    return ShapeIssue(
        i, layer.name, type(layer).__name__, "an even size on the last axis", shape,
        f"Layer {layer.name!r} applies glu, which needs an even last axis; it gets {size}.",
        "glu multiplies the first half of the last axis by the sigmoid of the second half, so the "
        "axis must split into two equal halves (and the output has half as many features).",
        fixes,
        f"axis size must be divisible by 2. Received: x.shape={format_shape(shape[:-1] + (size,))} with axis=-1",
    )


def _dense_rank_issue(layers, i, shape, input_shape) -> ShapeIssue:
    layer = layers[i]
    fixes = [Fix("insert_flatten", f"insert Flatten before {layer.name} (it turns {format_shape(shape)} into (None, 1))", i)]
    if _only_activations_before(layers, i):
        fixes.append(Fix("set_input_shape", "set the input shape to (1,)", None, (1,)))
    return ShapeIssue(
        i, layer.name, "Dense", "at least 2 axes (batch, features)", shape,
        f"Layer {layer.name!r} (Dense) needs at least 2 axes (batch, features), but received {format_shape(shape)}.",
        "Each sample here is a single number with no feature axis, and Dense multiplies the last axis "
        "by its kernel. Give each sample a feature axis of size 1.",
        tuple(fixes),
        f"Input 0 with name 'None' of layer '{layer.name}' is incompatible with the layer: expected min_ndim=2, "
        f"found ndim={len(shape)}. Full shape received: {format_shape(shape)}",
    )


def _dense_mismatch_issue(layers, i, shape, input_shape) -> ShapeIssue:
    layer = layers[i]
    want, got = layer.input_dim, shape[-1]
    flat = math.prod(shape[1:])
    fixes = []
    if len(shape) > 2 and flat == want:
        fixes.append(Fix("insert_flatten", f"insert Flatten before {layer.name} (it turns {format_shape(shape)} into (None, {flat}))", i))
    units_fix = _upstream_units_fix(layers, i, want)
    if units_fix:
        fixes.append(units_fix)
    elif _only_activations_before(layers, i):
        new_shape = (*input_shape[:-1], want)
        fixes.append(Fix("set_input_shape", f"set the input shape to {format_shape(new_shape)}", None, new_shape))
    explanation = (
        f"{layer.name} was built for {want} input features: its kernel is {want}×{layer.units}. "
        f"Dense reads only the last axis, and here that axis has {got}."
    )
    if len(shape) > 2:
        lead = " × ".join(str(d) for d in shape[1:-1])
        explanation += (
            f" The leading axes ({lead}) are not folded in: Dense applies the same kernel at each position. "
            f"Flatten first would give (None, {flat})."
        )
    return ShapeIssue(
        i, layer.name, "Dense", f"last axis of size {want}", shape,
        f"Layer {layer.name!r} (Dense) expects an input whose last axis has size {want}, "
        f"but received shape {format_shape(shape)}.",
        explanation, tuple(fixes),
        f"Input 0 with name 'None' of layer '{layer.name}' is incompatible with the layer: expected axis -1 "
        f"of input shape to have value {want}, but received input with shape {format_shape(shape)}",
    )


def _only_activations_before(layers, i) -> bool:
    return all(isinstance(layer, Activation) and layer.activation != "glu" for layer in layers[:i])


def _upstream_units_fix(layers, i, size) -> Fix | None:
    """Set units of the nearest Dense before `i`, if only shape-keeping layers stand between."""
    for j in range(i - 1, -1, -1):
        layer = layers[j]
        if isinstance(layer, Dense):
            units = 2 * size if layer.activation == "glu" else size
            return Fix("set_units", f"set units of {layer.name} to {units}", j, units)
        if isinstance(layer, Flatten) or (isinstance(layer, Activation) and layer.activation == "glu"):
            return None
    return None
