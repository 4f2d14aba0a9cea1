"""Shape inference that never raises and never allocates: per-layer shapes, params and cost, and the first problem
explained.

`analyze` reads only the layers' settings (and the shape a layer was built for); no weight is made, and no budget
applies: it is arithmetic on shapes. A problem becomes a `ShapeIssue` with fixes, and every fix offered has been
tried: applied to a copy of the model, it makes the failing layer fit (or, for "remove", takes it away), and the
model it gives is one the caller could build — a valid input shape, at least one layer, within the structural limits
and the current budget (engine/budget.py). `budget_issue` says where a model crosses the current budget.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from functools import cached_property

from .cost import Flow, ModelCost
from .errors import Fix, IncompatibleShapeError, LayerConfigError, NetbuilderError, ShapeIssue
from .graph import Graph, Input, InputLayer, connect, input_name
from .layer import Cost, Layer, Problem, kind_class, snake_case
from .limits import MAX_LAYERS, MAX_SAMPLE_ELEMENTS
from .shapes import Shape, check_input_shape, format_shape


@dataclass(frozen=True)
class LayerReport:
    """One layer as the model sees it; output_shape (and cost) are None for the layer that fails."""

    index: int
    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape | None
    params: int  # trainable and non-trainable
    trainable: int
    formula: str  # Dense: "2×16 + 16 = 48"; "" for layers without weights
    cost: Cost | None = None


@dataclass(frozen=True)
class Analysis:
    """Shapes of a whole model up to (and including) its first failing layer (of a functional model: its calls)."""

    input_shape: Shape
    layers: tuple[LayerReport, ...]
    issue: ShapeIssue | None
    names: tuple[str, ...] = ()  # every layer's Keras name, also past the failing layer
    flow: Flow | None = None  # a graph's tensors alive at each call (None: a chain, each call reading the one before)
    run_order: tuple[int, ...] | None = None  # a graph listed in another order: the positions in the order they run
    keras_order: tuple[int, ...] | None = None  # ... and in Keras's model.layers order (summary, weights)

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

    @property
    def run_reports(self) -> list[LayerReport]:
        """The reports of the layers that fit, in the order they run (the order of `flow`)."""
        ordered = self.layers if self.run_order is None else [self.layers[k] for k in self.run_order]
        return [r for r in ordered if r.cost is not None]

    @cached_property
    def cost(self) -> ModelCost:
        """Parameters, bytes, work and memory of the layers that fit."""
        return ModelCost.of(self.run_reports, self.flow)


def layer_names(layers: list[Layer]) -> tuple[str, ...]:
    """Each layer's name as a fresh Keras session gives it: explicit names kept, others dense, dense_1, ...

    Keras counts automatic names per prefix, whatever the explicit names are, and refuses a model in
    which two layers end up with the same name (an explicit `name="dense"` next to an automatic one too).
    """
    counters: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer._auto_named:
            prefix = snake_case(layer.kind)
            n = counters.get(prefix, 0)
            counters[prefix] = n + 1
            names.append(prefix if n == 0 else f"{prefix}_{n}")
        else:
            names.append(layer.name)
    seen = set()
    for name in names:
        if name in seen:
            raise LayerConfigError(
                f"All layers added to a Sequential model should have unique names. Name {name!r} is already the name "
                "of a layer in this model. Update the `name` argument to pass a unique name."
            )
        seen.add(name)
    return tuple(names)


def analyze(layers: list[Layer], input_shape: tuple[int, ...], max_layers: int = MAX_LAYERS) -> Analysis:
    """Walk the layers from a per-sample `input_shape`; stop at the first layer that cannot run. A fix is offered only
    if the model it gives has at most `max_layers` layers (the app's editor holds fewer than the engine).

    Never raises for shapes, limits or budgets (they become `issue`); two layers with one name raise LayerConfigError.
    """
    return _walk(list(layers), tuple(input_shape), layer_names(layers), with_fixes=True, max_layers=max_layers)


def _walk(layers: list[Layer], input_shape: tuple, names: tuple, with_fixes: bool, max_layers: int) -> Analysis:
    full_input = (None, *input_shape)
    if len(layers) > max_layers:
        issue = _limit_issue(
            layers,
            max_layers,
            names,
            full_input,
            f"a model holds at most {max_layers} layers; this one has {len(layers)}",
            input_shape,
            with_fixes,
            max_layers,
        )
        return Analysis(full_input, (), issue, names)
    shape: Shape = full_input
    reports: list[LayerReport] = []
    made_reals = None  # the last layer whose output is computed real numbers (not the input's values moved around)
    for i, (layer, name) in enumerate(zip(layers, names)):
        problem = layer.input_problem(shape, name) or _reals_problem(layer, name, made_reals, names)
        if problem is not None:
            fixes = (
                _checked_fixes(layers, i, input_shape, shape, problem, names, reports, max_layers) if with_fixes else ()
            )
            trainable, frozen, formula = _built_weights(layer)
            reports.append(LayerReport(i, name, layer.kind, shape, None, trainable + frozen, trainable, formula))
            issue = ShapeIssue(
                i,
                name,
                layer.kind,
                problem.expected,
                shape,
                problem.message,
                problem.explanation,
                fixes,
                problem.keras_message,
            )
            return Analysis(full_input, tuple(reports), issue, names)
        out = tuple(layer.compute_output_shape(shape))
        if math.prod(out[1:]) > MAX_SAMPLE_ELEMENTS:
            reports.append(LayerReport(i, name, layer.kind, shape, None, 0, 0, ""))
            why = (
                f"its output {format_shape(out)} would hold {math.prod(out[1:]):,} values per sample; "
                f"at most {MAX_SAMPLE_ELEMENTS:,} are allowed"
            )
            issue = _limit_issue(layers, i, names, shape, why, input_shape, with_fixes, max_layers)
            return Analysis(full_input, tuple(reports), issue, names)
        trainable, frozen = layer.count_params_for(layer.built_shape or shape)
        reports.append(
            LayerReport(
                i,
                name,
                layer.kind,
                shape,
                out,
                trainable + frozen,
                trainable,
                layer.formula(layer.built_shape or shape),
                layer.full_cost(shape, out),
            )
        )
        shape = out
        made_reals = made_reals if layer.keeps_values else i
    return Analysis(full_input, tuple(reports), None, names)


def analyze_calls(layers: list[Layer], input_shapes, sources: list[tuple[int, ...]]) -> Analysis:
    """A graph given as a list: unbuilt layers in an order that runs, each with the positions of the layers whose
    outputs it takes (-1 - k: the model's input k, of `input_shapes`). Each is called on symbolic tensors as Keras calls
    it, until the first call that does not fit (its issue carries the call's own fixes, each tried on shapes); every
    layer no other takes is an output. Reports are in list order; `run_order` and `keras_order` give Keras's orders.
    Never raises for shapes."""
    names = layer_names(layers)
    input_shape = input_shapes[0]
    full_input = (None, *input_shape)
    # Keras names the inputs so in a fresh session; fixes say "(from 'input_layer')"
    xs = [Input(shape, name=input_name(k)) for k, shape in enumerate(input_shapes)]
    made: list = []
    reports: list[LayerReport] = []
    for i, (layer, name, source) in enumerate(zip(layers, names, sources)):
        layer.name = name
        given = [xs[-1 - k] if k < 0 else made[k] for k in source]
        problem = _reals_problem(layer, name, _made_reals(layers, sources, i), names)
        try:
            if problem is not None:
                raise IncompatibleShapeError(problem.message, _problem_issue(i, name, layer, given[0].shape, problem))
            y = connect(layer, given)
            shape = layer.call_shape(*_call_of(y))
            out = y.shape
            if math.prod(out[1:]) > MAX_SAMPLE_ELEMENTS:
                why = (
                    f"its output {format_shape(out)} would hold {math.prod(out[1:]):,} values per sample; at most "
                    f"{MAX_SAMPLE_ELEMENTS:,} are allowed"
                )
                raise IncompatibleShapeError(why, _limit_issue([layer], 0, (name,), shape, why, input_shape, False, 1))
        except NetbuilderError as e:
            issue = e.issue or _problem_issue(i, name, layer, [t.shape for t in given], None, str(e))
            fixes = tuple(replace(fix, layer_index=i) for fix in issue.fixes)  # a call's fixes are of this layer
            issue = replace(issue, layer_index=i, layer_name=name, fixes=fixes)
            trainable, frozen, formula = _built_weights(layer)
            reports.append(
                LayerReport(i, name, layer.kind, issue.received, None, trainable + frozen, trainable, formula)
            )
            return Analysis(full_input, tuple(reports), issue, names)
        made.append(y)
        trainable, frozen = layer.count_params_for(layer.built_shape)
        cost = layer.full_cost(shape, out)
        formula = layer.formula(layer.built_shape)
        reports.append(LayerReport(i, name, layer.kind, shape, out, trainable + frozen, trainable, formula, cost))
    if not layers:
        return Analysis(full_input, (), None, names)
    taken = {k for source in sources for k in source}
    ends = [made[k] for k in range(len(layers)) if k not in taken]
    graph = Graph(xs[0] if len(xs) == 1 else xs, ends[0] if len(ends) == 1 else ends)
    at = {id(layer): k for k, layer in enumerate(layers)}
    run_order = tuple(at[id(node.layer)] for node in graph.nodes if not node.is_input)
    keras_order = tuple(at[id(layer)] for layer in graph.layers if not isinstance(layer, InputLayer))
    calls = [layers[k]._inbound_nodes[0] for k in run_order]
    flow = graph_flow(graph, calls, [reports[k] for k in run_order])
    return Analysis(full_input, tuple(reports), None, names, flow, run_order, keras_order)


def _call_of(tensor) -> tuple[tuple, dict]:
    return tensor.node.args, tensor.node.kwargs


def _made_reals(layers: list[Layer], sources, i: int) -> int | None:
    """The nearest layer before `i`, following first inputs, that computes real numbers (None: the input's values)."""
    k = sources[i][0] if sources[i] else -1
    while k >= 0 and layers[k].keeps_values:
        k = sources[k][0] if sources[k] else -1
    return k if k >= 0 else None


def _problem_issue(i: int, name: str, layer: Layer, shape, problem: Problem | None, message: str = "") -> ShapeIssue:
    if problem is None:
        return ShapeIssue(i, name, layer.kind, "tensors this layer can take", shape, message, "")
    return ShapeIssue(
        i, name, layer.kind, problem.expected, shape, problem.message, problem.explanation, (), problem.keras_message
    )


def analyze_graph(graph) -> Analysis:
    """A functional model's calls in the order they run: each call's shapes (known since the call was made), its
    layer's parameters and formula at its first call (a shared layer's weights count once), its cost at every call,
    and the tensors alive while it runs (`Flow`)."""
    calls = [node for node in graph.nodes if not node.is_input]
    reports, seen = [], set()
    for i, node in enumerate(calls):
        layer, out = node.layer, node.outputs[0].shape
        shape = layer.call_shape(node.args, node.kwargs)
        cost = layer.full_cost(shape, out)
        if id(layer) in seen:  # a shared layer: its weights are drawn, counted and updated once
            trainable = frozen = 0
            formula, cost = "", cost.updated(build_work=0, build_bytes=0, trainable_arrays=0)
        else:
            trainable, frozen = layer.count_params_for(layer.built_shape)
            formula = layer.formula(layer.built_shape)
        seen.add(id(layer))
        reports.append(LayerReport(i, layer.name, layer.kind, shape, out, trainable + frozen, trainable, formula, cost))
    flow = graph_flow(graph, calls, reports)
    return Analysis((None,), tuple(reports), None, tuple(layer.name for layer in graph.layers), flow)


def graph_flow(graph, calls, reports) -> Flow:
    """Which tensors are alive while each call runs (elements per sample, its own output not counted), from the graph:
    a tensor lives from the call that makes it to the last call that reads it (a model output to the end); a view
    (a reshape) shares its input's memory, so its input lives as long as it does; the caller's inputs are not ours."""
    taken = [node.inputs for node in calls]  # each call's tensors
    owner: dict[int, int | None] = {id(t): None for t in graph.inputs}  # tensor → the call whose memory it is
    last_use: dict[int, int] = {}  # call → the last call reading its memory
    read_last: dict[int, int] = {}  # tensor → its last reader
    for k, (node, inputs) in enumerate(zip(calls, taken)):
        for t in inputs:
            read_last[id(t)] = k
            base = owner[id(t)]
            if base is not None:
                last_use[base] = k
        view = reports[k].cost.output_is_view and len(inputs) == 1
        owner[id(node.outputs[0])] = owner[id(inputs[0])] if view else k
    for t in graph.outputs:
        if owner.get(id(t)) is not None:
            last_use[owner[id(t)]] = len(calls)
    read_last.update({id(t): len(calls) for t in graph.outputs})
    n = len(calls)
    # call j's output is alive at calls j+1 .. last_use, and its gradient pending at calls j+1 .. last reader - 1:
    # each adds its size where its span starts and takes it off after it ends, one running sum gives every call's total
    alive_steps, pending_steps = [0] * (n + 2), [0] * (n + 2)
    for j, report in enumerate(reports):
        end = min(last_use.get(j, j), n - 1)
        if j + 1 <= end and not report.cost.output_is_view:
            size = math.prod(report.output_shape[1:])
            alive_steps[j + 1] += size
            alive_steps[end + 1] -= size
        end = min(read_last.get(id(calls[j].outputs[0]), j) - 1, n - 1)
        if j + 1 <= end:
            size = math.prod(report.output_shape[1:])
            pending_steps[j + 1] += size
            pending_steps[end + 1] -= size
    alive = list(itertools.accumulate(alive_steps[:n]))
    pending = list(itertools.accumulate(pending_steps[:n]))
    input_sizes = [sum(math.prod(t.shape[1:]) for t in inputs) for inputs in taken]
    return Flow(
        tuple(alive),
        tuple(input_sizes),
        tuple(pending),
        sum(math.prod(t.shape[1:]) for t in graph.inputs),
        sum(math.prod(t.shape[1:]) for t in graph.outputs),
    )


def budget_issue(analysis: Analysis) -> ShapeIssue | None:
    """Where the layers that fit cross the current budget (engine/budget.py) — building their weights or running one
    sample — as an issue at the first layer over it; None within it (always, with no budget)."""
    reports = analysis.run_reports

    def problem(count: int) -> str | None:
        flow = analysis.flow.cut(count) if analysis.flow is not None else None
        return ModelCost.of(reports[:count], flow).budget_problem()

    if not reports or problem(len(reports)) is None:
        return None
    low, high = 0, len(reports) - 1  # every budget grows with each layer added: the first layer over one, by bisection
    while low < high:
        mid = (low + high) // 2
        if problem(mid + 1) is None:
            low = mid + 1
        else:
            high = mid
    report = reports[low]
    return ShapeIssue(
        report.index,
        report.name,
        report.kind,
        "a model within netbuilder's limits and budgets",
        report.input_shape,
        f"Layer {report.name!r} ({report.kind}) exceeds a limit: {problem(low + 1)}.",
        _LIMIT_EXPLANATION,
        (),
        "",
        "limit",
    )


def _built_weights(layer: Layer) -> tuple[int, int, str]:
    """A failing layer built for its own size (imported JSON) has its weights whatever it receives — unless that
    size does not fit its own settings either (the problem then says so)."""
    if layer.built_shape is None:
        return 0, 0, ""
    try:
        return (*layer.count_params_for(layer.built_shape), layer.formula(layer.built_shape))
    except (IndexError, TypeError, ValueError):  # e.g. a normalisation built over the batch axis: a size of None
        return 0, 0, ""


def _reals_problem(layer: Layer, name: str, made_reals: int | None, names) -> Problem | None:
    """A layer that takes indices (Embedding) after a layer that computes real numbers."""
    if made_reals is None or not layer.input_spec().integers:
        return None
    before = names[made_reals]
    return Problem(
        "whole-number indices (the model's input, not a computed value)",
        f"Layer {name!r} ({layer.kind}) looks up a row for each whole-number index, but it receives the real numbers "
        f"that {before!r} computes.",
        f"{layer.kind} maps ids (word numbers) to learned vectors, so it belongs first, on the raw ids. After "
        f"{before} the values are weighted sums, such as 2.37; Keras would silently cut each to a whole number and "
        "look that up, which means nothing.",
    )


_LIMIT_EXPLANATION = (
    "netbuilder bounds what one visitor's model may take (weights, memory and work per run) so every "
    "page stays fast for everyone; the limits are listed in the README."
)


def _limit_issue(layers, i, names, shape, why, input_shape: tuple, with_fixes: bool, max_layers: int) -> ShapeIssue:
    layer = layers[i]
    remove = _remove(names, i)
    return ShapeIssue(
        layer_index=i,
        layer_name=names[i],
        kind=layer.kind,
        expected="a model within netbuilder's limits and budgets",
        received=shape,
        message=f"Layer {names[i]!r} ({layer.kind}) exceeds a limit: {why}.",
        explanation=_LIMIT_EXPLANATION,
        fixes=(remove,)
        if with_fixes and len(layers) > 1 and _fix_works(layers, i, input_shape, remove, max_layers)
        else (),
        category="limit",
    )


# --- fixes: proposed by kinds and by general rules, kept only when they work -------------------------------
@dataclass
class FixContext:
    """What a kind may ask when proposing fixes for the layer at `index`."""

    layers: list[Layer]
    index: int
    input_shape: tuple[int, ...]  # per sample
    shape: Shape  # what the failing layer receives
    names: tuple[str, ...]
    reports: list = field(default_factory=list)  # the layers before, as analysed

    @property
    def name(self) -> str:
        return self.names[self.index]

    def insert(self, kind: str, settings: dict, description: str, before: int | None = None) -> Fix:
        """A new `kind` layer right before the failing one (or before layer `before`)."""
        return Fix("insert_layer", description, self.index if before is None else before, (kind, dict(settings)))

    def set_setting(self, setting: str, value, index: int | None = None, description: str | None = None) -> Fix:
        index = self.index if index is None else index
        return Fix(
            "set_setting", description or f"set {setting} of {self.names[index]} to {value}", index, (setting, value)
        )

    def unbuild(self, description: str) -> Fix:
        return Fix("unbuild", description, self.index)

    def _scale(self, j: int) -> int | None:
        """How many times the last axis of layer j's input its output's last axis is (glu: 2), when j changes
        nothing else; None when it changes more (Flatten of a feature map, a convolution...)."""
        report = self.reports[j]
        received, given = report.input_shape, report.output_shape
        if len(received) != len(given) or received[:-1] != given[:-1] or len(received) < 2 or given[-1] < 1:
            return 1 if received == given else None
        return received[-1] // given[-1] if received[-1] % given[-1] == 0 else None

    def _last_axis_scale(self, j: int) -> int | None:
        """How many times the last axis of layer j's input its output's last axis is, whatever j does to the other
        axes (UpSampling1D, MaxPooling1D...); None when j sets that axis itself (units, filters) or drops it."""
        report = self.reports[j]
        received, given = report.input_shape, report.output_shape
        if self.layers[j].output_axis_setting or len(received) < 2 or len(given) < 2 or received[-1] % given[-1]:
            return None
        return received[-1] // given[-1]

    def input_shape_fix(self, shape: tuple[int, ...]) -> Fix | None:
        """Set the model's input shape so the failing layer receives per-sample `shape`, when the layers before
        change only the size of the last axis (by whole factors); or, when `shape` differs from what the layer
        receives in the last axis only, when the layers before carry that axis through (by whole factors)."""
        wanted = self._input_for(shape, self._scale)
        if wanted is None and shape and self.input_shape and tuple(shape[:-1]) == tuple(self.shape[1:-1]):
            last = self._input_for(shape[-1:], self._last_axis_scale)
            wanted = None if last is None else (*self.input_shape[:-1], *last)
        if wanted is None:
            return None
        return _set_input(wanted)

    def _input_for(self, shape: tuple, scale_of) -> tuple | None:
        factor = 1
        for j in range(self.index - 1, -1, -1):
            scale = scale_of(j)
            if scale is None:
                return None
            factor *= scale
        return (*shape[:-1], shape[-1] * factor) if shape else tuple(shape)

    def rank_input_shapes(self) -> list[tuple[int, ...]]:
        """Model input shapes to try when the failing layer receives the wrong number of axes: as many axes more
        or fewer as it lacks or has too many, the values kept (axes of 1 added, the first axes merged), then the
        same with the axes but the last, then every axis, at least 8 long (a window or kernel needs room)."""
        spec, rank = self.layers[self.index].input_spec(), len(self.shape)
        if spec.ndim is not None and rank != spec.ndim:
            needed = spec.ndim
        elif spec.min_ndim is not None and rank < spec.min_ndim:
            needed = spec.min_ndim
        elif spec.max_ndim is not None and rank > spec.max_ndim:
            needed = spec.max_ndim
        else:
            return []
        dims, delta = list(self.input_shape), needed - rank
        if delta > 0:
            kept = [*dims, *[1] * delta]
        elif len(dims) + delta >= 1:
            kept = [math.prod(dims[: 1 - delta]), *dims[1 - delta :]]
        else:
            return []
        candidates = [tuple(kept), (*(max(d, 8) for d in kept[:-1]), kept[-1]), tuple(max(d, 8) for d in kept)]
        return list(dict.fromkeys(candidates))

    def upstream_fix(self, size: int) -> Fix | None:
        """Resize the nearest layer before that sets the last axis (units, filters), through layers that change
        only that axis's size by whole factors (activations, glu, dropout, normalisations)."""
        for j in range(self.index - 1, -1, -1):
            layer = self.layers[j]
            if layer.output_axis_setting:
                return self.set_setting(layer.output_axis_setting, layer.setting_for_last_axis(size), j)
            scale = self._scale(j)
            if scale is None:
                return None
            size *= scale
        return None


def _checked_fixes(layers, i, input_shape, shape, problem, names, reports, max_layers: int) -> tuple[Fix, ...]:
    """The kind's fixes, then a general one for the wrong number of axes, then "remove": those that work."""
    context = FixContext(layers, i, input_shape, shape, names, list(reports))
    kept, seen = [], set()
    for fix in layers[i].suggest_fixes(shape, problem, context):
        if fix is None or (fix.action, fix.layer_index, repr(fix.value)) in seen:
            continue
        seen.add((fix.action, fix.layer_index, repr(fix.value)))
        if _fix_works(layers, i, input_shape, fix, max_layers):
            kept.append(fix)
    if not any(fix.action == "set_input_shape" for fix in kept):
        for wanted in context.rank_input_shapes():  # a general rule for the wrong number of axes: the first that works
            fix = _set_input(wanted)
            if _fix_works(layers, i, input_shape, fix, max_layers):
                kept.append(fix)
                break
    remove = _remove(names, i)
    if len(layers) > 1 and _fix_works(
        layers, i, input_shape, remove, max_layers
    ):  # never an empty model: Keras cannot build one
        kept = [fix for fix in kept if fix != remove] + [remove]
    return tuple(kept)


def _set_input(shape) -> Fix:
    """Set the model's per-sample input shape."""
    return Fix("set_input_shape", f"set the input shape to {format_shape(tuple(shape))}", None, tuple(shape))


def _remove(names, i: int) -> Fix:
    """The fix offered last for any failing layer: take it away."""
    return Fix("remove_layer", f"remove {names[i]}", i)


def _fix_works(layers, i, input_shape, fix: Fix, max_layers: int) -> bool:
    """Whether the model `fix` gives passes the checks every edit of the app passes (a valid input shape, at
    most `max_layers` layers, within the structural limits and the current budget) and the layer at `i` then fits: the
    first problem (if any) lies past it. "remove" of that layer itself needs only the checks."""
    try:
        new_layers, new_input, target = apply_fix(layers, input_shape, fix, i)
        analysis = _walk(new_layers, new_input, layer_names(new_layers), with_fixes=False, max_layers=max_layers)
    except (
        ValueError,
        TypeError,
    ):  # the fix itself is invalid (a setting out of range, an input shape over a limit...)
        return False
    if budget_issue(analysis) is not None:
        return False
    if analysis.issue is None:
        return True
    if analysis.issue.category == "limit":
        return False
    return (fix.action == "remove_layer" and fix.layer_index == i) or analysis.issue.layer_index > target


def apply_fix(layers: list[Layer], input_shape: tuple, fix: Fix, failing: int) -> tuple[list[Layer], tuple, int]:
    """New layers and input shape with `fix` carried out, and where the failing layer is then."""
    layers = [_copy(layer) for layer in layers]
    target = failing
    if fix.action == "insert_layer":
        kind, settings = fix.value
        layers.insert(fix.layer_index, kind_class(kind)(**settings))
        target += fix.layer_index <= failing
    elif fix.action == "set_setting":
        setting, value = fix.value
        old = layers[fix.layer_index]
        layers[fix.layer_index] = _copy(old, **{setting: value})
    elif fix.action == "unbuild":
        layers[fix.layer_index].built_shape = None
    elif fix.action == "set_input_shape":
        input_shape = check_input_shape(fix.value)
    elif fix.action == "remove_layer":
        del layers[fix.layer_index]
        target -= fix.layer_index < failing
    else:
        raise LayerConfigError(f"unknown fix {fix.action!r}")
    return layers, input_shape, target


def _copy(layer: Layer, **changes) -> Layer:
    """An unbuilt copy of `layer` (same name and built-for shape), with some settings changed."""
    new = type(layer)(**{**layer.values, **changes}, name=None if layer._auto_named else layer.name)
    new.built_shape = layer.built_shape
    return new
