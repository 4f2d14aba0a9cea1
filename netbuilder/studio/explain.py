"""What a Flatten changes: a model beside its Flatten variants, and why Dense reads only the last axis.

Pure functions over ModelSpecs returning plain data and sentences; every number comes from the
engine's analysis of the models, so the words stay right for any model the learner builds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..engine.analysis import Analysis, LayerReport
from ..engine.errors import NetbuilderError
from ..engine.shapes import format_shape
from .data import Fill
from .run import Output, too_large
from .run import output as run_output  # the page's run: a heavy one in a worker
from .samples import Cut, Shown
from .spec import LayerSpec, ModelSpec, new_layer

CURRENT, WITHOUT_FLATTEN, FLATTEN_FIRST = "current", "without Flatten", "Flatten first"


# --- variants ---------------------------------------------------------------------------------
def _settings(layers) -> tuple:
    """The layers with ids blanked: two models differ only if their settings do."""
    return tuple(replace(layer, id=0) for layer in layers)


def _valid(spec: ModelSpec, layers) -> ModelSpec | None:
    try:
        return replace(spec, layers=tuple(layers)).validate()
    except NetbuilderError:
        return None  # e.g. Flatten first would exceed a structural bound


def variants(spec: ModelSpec) -> dict[str, ModelSpec]:
    """The model, then without its Flatten layers and with one Flatten first, where those differ and are valid (a
    chain's: in a graph, where a Flatten would move to has no one answer)."""
    if spec.is_graph:
        return {CURRENT: spec}
    flattens = [layer for layer in spec.layers if layer.kind == "Flatten"]
    rest = [layer for layer in spec.layers if layer.kind != "Flatten"]
    # move the learner's own Flatten (keeping its data_format) rather than invent one
    first = flattens[0] if flattens else new_layer("Flatten", spec.next_id())
    out = {CURRENT: spec}
    for name, layers in ((WITHOUT_FLATTEN, rest), (FLATTEN_FIRST, [first, *rest])):
        if _settings(layers) != _settings(spec.layers) and (variant := _valid(spec, layers)) is not None:
            out[name] = variant
    return out


# --- comparison -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)  # eq=False: the output array has no single truth value
class ComparisonRow:
    """One model of a comparison: shapes, parameters, and its output for the shared input."""

    name: str
    spec: ModelSpec
    output_shape: tuple | None  # None when the model does not fit
    total_params: int | None  # None when the model does not fit (later layers are not built)
    layers: tuple[LayerReport, ...]  # per-layer shapes and params, up to a failing layer
    output: Shown | None  # the model's prediction for x, as the page draws the sample shown
    error: str | None  # why there is no output: the model's issue, or x does not match its input
    difference: str  # difference_sentence(first model, this one); "" for the first row


def compare(specs: dict[str, ModelSpec], x: np.ndarray | Fill | None, sample: int, cut: Cut) -> list[ComparisonRow]:
    """Each model's shapes, params and output on `x` (as `cut` of its sample `sample`), with how it differs from the
    first model."""
    rows = []
    base = next(iter(specs.values()), None)
    for name, spec in specs.items():
        analysis = spec.analysis
        output, error = None, None
        if not analysis.ok:
            error = analysis.issue.message
        elif (refused := too_large(spec)) is not None:  # its shapes and params are still compared
            error = refused.reason
        elif x is not None:  # a heavy one in a worker; x may not match this model's input, or be too large
            result = run_output(spec, x, sample, cut)
            output, error = (result.shown, None) if isinstance(result, Output) else (None, result.reason)
        rows.append(
            ComparisonRow(
                name,
                spec,
                analysis.output_shape,
                analysis.total_params if analysis.ok else None,
                analysis.layers,
                output,
                error,
                "" if spec is base else difference_sentence(base, spec),
            )
        )
    return rows


def _skeleton(spec: ModelSpec) -> tuple:
    return _settings(layer for layer in spec.layers if layer.kind != "Flatten")


def _lead(a: ModelSpec, b: ModelSpec) -> str:
    """How `b` was made from `a`, as the sentence's opening words."""
    if _skeleton(a) != _skeleton(b):
        return "Compared with the first model"
    where = [i for i, layer in enumerate(b.layers) if layer.kind == "Flatten"]
    if not where:
        return "Without Flatten"
    if where == [i for i, layer in enumerate(a.layers) if layer.kind == "Flatten"]:
        return "With the Flatten settings changed"
    if where == [0]:
        return "With Flatten first"
    names = b.names
    spots = [f"before {names[i + 1]}" if i + 1 < len(names) else "at the end" for i in where]
    return f"With Flatten {' and '.join(spots)}"


def _positions(leading: tuple[int, ...]) -> str:
    """`each of the 3 rows`, `each of the 2 × 3 = 6 positions`."""
    n = math.prod(leading)
    if len(leading) == 1:
        return "its single row" if n == 1 else f"each of the {n:,} rows"
    return f"each of the {' × '.join(f'{d:,}' for d in leading)} = {n:,} positions"


def _dense_reports(spec: ModelSpec, analysis: Analysis) -> list[tuple[LayerReport, LayerSpec]]:
    return [(r, spec.layers[r.index]) for r in analysis.layers if r.kind == "Dense"]


def _flattening(analysis: Analysis) -> LayerReport | None:
    """The first Flatten that changes the shape (more than one axis per sample, or none)."""
    return next((r for r in analysis.layers if r.kind == "Flatten" and len(r.input_shape) != 2), None)


def _flatten_reason(aa: Analysis, ab: Analysis) -> str:
    """What a Flatten present in only one of the models does (for models without a telling Dense)."""
    fa, fb = _flattening(aa), _flattening(ab)
    if fb and not fa:
        dims = fb.input_shape[1:]
        if not dims:
            return "Flatten adds a feature axis of size 1"
        return f"Flatten joins the {' × '.join(f'{d:,}' for d in dims)} axes into {math.prod(dims):,} values"
    if fa and not fb:
        dims = fa.input_shape[1:]
        return "no feature axis is added" if not dims else f"the {' × '.join(f'{d:,}' for d in dims)} axes stay apart"
    return ""


def _reason(b: ModelSpec, pairs) -> str:
    """What the first Dense that sees a different input does in `b`."""
    for (ra, _), (rb, lb) in pairs:
        if ra.input_shape == rb.input_shape:
            continue
        dense = f"Dense({lb.units:,})"
        if len(rb.input_shape) > 2 and len(ra.input_shape) == 2:
            return f"{dense} acts on {_positions(rb.input_shape[1:-1])} separately"
        if len(rb.input_shape) == 2 and len(ra.input_shape) > 2:
            return f"{dense} sees all {rb.input_shape[1]:,} values of each sample at once"
        return f"{dense} receives {format_shape(rb.input_shape)} instead of {format_shape(ra.input_shape)}"
    return ""


def _params_part(aa: Analysis, ab: Analysis, pairs) -> str:
    diffs = [(rb.name, rb.params, ra.params) for (ra, _), (rb, _) in pairs if ra.params != rb.params]
    if pairs and 1 <= len(diffs) <= 2:
        first, *more = diffs
        text = f"{first[1]:,} instead of {first[2]:,} parameters in {first[0]}"
        return text + "".join(f" and {pb:,} instead of {pa:,} in {name}" for name, pb, pa in more)
    if ab.total_params == aa.total_params:
        return f"{ab.total_params:,} parameters in both"
    return f"{ab.total_params:,} instead of {aa.total_params:,} parameters in total"


def difference_sentence(a: ModelSpec, b: ModelSpec) -> str:
    """One sentence on what differs from model `a` to model `b`, and which Dense layer explains it."""
    lead = _lead(a, b)
    aa, ab = a.analysis, b.analysis
    if not ab.ok:
        return f"{lead}, the model {'still ' if not aa.ok else ''}does not fit: {ab.issue.message}"
    out_b = format_shape(ab.output_shape)
    if not aa.ok:
        return (
            f"{lead}, the model fits: output {out_b} and {ab.total_params:,} parameters, "
            f"where the first model stops at {aa.issue.layer_name}."
        )
    out_a = format_shape(aa.output_shape)
    # the layers besides Flatten are the same, so the k-th Dense of one model is the k-th of the other
    pairs = list(zip(_dense_reports(a, aa), _dense_reports(b, ab))) if _skeleton(a) == _skeleton(b) else []
    if (
        out_a == out_b
        and aa.total_params == ab.total_params
        and all(ra.input_shape == rb.input_shape for (ra, _), (rb, _) in pairs)
    ):
        flattening = [r for r in (*aa.layers, *ab.layers) if r.kind == "Flatten" and len(r.input_shape) > 2]
        why = "" if flattening or not pairs else ": every Flatten here receives samples that are already flat"
        return f"{lead}, the output {out_a} and the {aa.total_params:,} parameters stay the same{why}."
    shapes = f"output {out_b} instead of {out_a}" if out_a != out_b else f"output {out_b} in both"
    # with the same layers besides Flatten, a Flatten present in one model only is the whole story
    reason = _reason(b, pairs) or (_flatten_reason(aa, ab) if _skeleton(a) == _skeleton(b) else "")
    return f"{lead}, {reason + ': ' if reason else ''}{shapes}, and {_params_part(aa, ab, pairs)}."


# --- Dense on more than one axis per sample ---------------------------------------------------
@dataclass(frozen=True)
class LastAxisExplanation:
    """How a Dense applies one kernel along the last axis at every position of the others."""

    layer_name: str
    units: int
    input_shape: tuple[int, ...]  # per sample, e.g. (3, 2)
    kernel_shape: tuple[int, int]  # (input features, units): (2, 16)
    bias_shape: tuple[int] | None  # (16,); None without a bias
    output_shape: tuple[int, ...]  # per sample: (3, 16)
    params: int  # 48
    formula: str  # "2×16 + 16 = 48"
    leading_axes: tuple[int, ...]  # the axes the kernel is NOT applied across: (3,)
    positions: int  # how many times the one kernel is reused: product of leading_axes
    equation: str  # "(3, 2) @ (2, 16) + (16,) → (3, 16)"
    flat_features: int  # what Flatten would feed it: 6
    flat_params: int  # its params if fully connected: 112
    contrast: str  # "Flatten → Dense(16): 6×16 + 16 = 112"
    sentence: str  # the whole point, in words


def last_axis_explanation(spec: ModelSpec, layer_index: int) -> LastAxisExplanation | None:
    """For a Dense that receives more than one axis per sample, the per-position arithmetic; else None."""
    layer = spec.layers[layer_index]
    reports = spec.analysis.layers
    if layer.kind != "Dense" or layer_index >= len(reports):
        return None
    report = reports[layer_index]
    if report.output_shape is None or len(report.input_shape) <= 2:
        return None  # the layer does not run (its issue explains why), or it is already fully connected
    per_sample = tuple(report.input_shape[1:])
    leading, features = per_sample[:-1], per_sample[-1]
    kernel = (features, layer.units)
    bias = (layer.units,) if layer.use_bias else None
    pre_activation = (*leading, layer.units)
    out = tuple(report.output_shape[1:])
    equation = f"{format_shape(per_sample)} @ {format_shape(kernel)}"
    equation += f" + {format_shape(bias)}" if bias else ""
    equation += f" → {format_shape(pre_activation)}"
    if out != pre_activation:  # glu halves the units axis
        equation += f" → {layer.activation} → {format_shape(out)}"
    flat = math.prod(per_sample)
    dense = layer.layer  # unbuilt: only its units and bias matter for the formulas
    flat_params = sum(dense.count_params_for((None, flat)))
    return LastAxisExplanation(
        layer_name=report.name,
        units=layer.units,
        input_shape=per_sample,
        kernel_shape=kernel,
        bias_shape=bias,
        output_shape=out,
        params=report.params,
        formula=report.formula,
        leading_axes=leading,
        positions=math.prod(leading),
        equation=equation,
        flat_features=flat,
        flat_params=flat_params,
        contrast=f"Flatten → Dense({layer.units:,}): {dense.formula((None, flat))}",
        sentence=(
            f"{report.name} multiplies the last axis ({features:,} values) by one {format_shape(kernel)} kernel, "
            f"reused at {_positions(leading)}: {report.params:,} parameters, where a fully connected "
            f"Dense({layer.units:,}) after Flatten would need {flat_params:,}."
        ),
    )
