"""Running a spec on input data, with typed outcomes: what the app shows for the forward pass.

A model that does not fit still runs up to its failing layer; a run over a budget is refused
before anything is allocated; tensors beyond the memory budget are not kept (and the run says so).
A run hands back what the page draws of the sample shown (studio.samples), not its tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engine.budget import current, readable_bytes, using
from ..engine.errors import NetbuilderError
from ..engine.graph import input_name
from . import workers
from .data import Fill, batch_of, fill
from .models import bound_cache, built, fresh, is_heavy, main_output
from .samples import Cut, Shown, as_matrix, shown
from .spec import ModelSpec


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class ForwardRun:
    """The input and each layer's output (None where not kept), as the page draws the sample shown, titled, and what
    to say about them."""

    tensors: list  # the input first; Shown or None
    titles: list[str]  # "Input", "dense (Dense)", ...
    complete: bool  # False: the model stops at a failing layer, and these are the layers before it
    note: str = ""  # e.g. which tensors were not kept within the memory budget


@dataclass(frozen=True, eq=False)
class Output:
    """The model's output for a batch (or, for a model that does not fit, of the layers before the failing one), as
    the page draws the sample shown."""

    shown: Shown
    complete: bool


@dataclass(frozen=True, eq=False)
class ShownWeight:
    """A weight as the Forward page shows it: its name, shape, whether it trains, and its matrix (one row per position
    of the leading axes, one column per feature of the last) cut to what is drawn."""

    name: str
    shape: tuple[int, ...]
    trainable: bool
    matrix: np.ndarray


@dataclass(frozen=True)
class ShownLayer:
    """A layer's weights as the Forward page shows them."""

    name: str
    kind: str
    weights: tuple[ShownWeight, ...]


@dataclass(frozen=True)
class NoRun:
    """Why there is no forward pass to show."""

    reason: str


def too_large(part: ModelSpec) -> NoRun | None:
    """The whole model's reason to refuse a run (not the first layer's past a budget, as building it would say)."""
    why = part.analysis.cost.budget_problem()
    return None if why is None else NoRun(f"this model is too large to run on this server: {why}")


def runnable_part(spec: ModelSpec) -> ModelSpec:
    """`spec` itself, or its layers before the first failing one (which run as they are)."""
    issue = spec.analysis.issue
    if issue is None:
        return spec
    return ModelSpec(spec.input_shape, spec.layers[: issue.layer_index], spec.seed, more_inputs=spec.more_inputs)


FED = (
    "Input 1 takes the input data; the output and the forward pass give each other input k random normal values "
    "of its shape, drawn from seed k."
)


def fed(spec: ModelSpec, x: np.ndarray):
    """What the model is given for the first input's batch `x`: `x` itself, or, for a model of several inputs, `x` and
    for each further input k a random normal batch of its shape drawn from seed k (FED says so on the page)."""
    if not spec.more_inputs:
        return x
    return [x, *(fill("random", shape, len(x), seed=k) for k, shape in enumerate(spec.more_inputs, 1))]


def output(
    spec: ModelSpec,
    x: np.ndarray | Fill,
    sample: int,
    cut: Cut,
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[..., None] | None = None,
    visitor: object = None,
) -> Output | NoRun:
    """What `predict` gives for the batch `x` (it keeps no tensor but the one it works on), within the run budgets, as
    `cut` of its sample `sample`; a Fill is made where the run runs.

    A heavy run (its weights and tensors or its work past models.is_heavy, known from shapes) runs in a worker
    process (studio.workers), after the runs queued before it and one at a time for `visitor`; a light one here.
    `checkpoint` is called while it waits or runs (raising there stops it); `waiting(ahead)` when it waits."""
    return _run(_output, spec, x, (sample, cut), lambda cost: cost.predict_bytes(len(x)), checkpoint, waiting, visitor)


def forward(
    spec: ModelSpec,
    x: np.ndarray | Fill,
    sample: int,
    cut: Cut,
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[..., None] | None = None,
    visitor: object = None,
) -> ForwardRun | NoRun:
    """Every tensor of `spec` on `x`, as far as the model fits, within the run budgets, as `cut` of sample `sample`
    (a heavy run in a worker; `checkpoint`, `waiting` and `visitor` as for `output`)."""
    return _run(_forward, spec, x, (sample, cut), lambda cost: cost.forward_bytes(len(x)), checkpoint, waiting, visitor)


def _run(run, spec: ModelSpec, x, shown_as: tuple, tensor_bytes, checkpoint, waiting, visitor):
    """`run(part, x, complete, *shown_as)` on the part of `spec` that fits: here, or when heavy in a worker (a failed
    worker's words as NoRun)."""
    part = runnable_part(spec)
    if (refused := too_large(part)) is not None:
        return refused
    cost = part.analysis.cost
    made = x.nbytes if isinstance(x, Fill) else 0  # a fill is made by the run; an array is here already
    nbytes = cost.weight_bytes + cost.build_bytes + tensor_bytes(cost) + made
    work = cost.build_work + cost.run_work(len(x))
    return _placed(run, part, (x, part is spec, *shown_as), nbytes, work, checkpoint, waiting, visitor)


def _placed(fn, spec: ModelSpec, args: tuple, nbytes: int, work: int, checkpoint, waiting, visitor):
    """`fn(spec, *args)` here when it is light (with `checkpoint`), else in a worker (a failed worker's words as
    NoRun)."""
    if not is_heavy(nbytes, work):
        return fn(spec, *args, checkpoint=checkpoint)
    try:
        return in_worker(fn, spec, args, checkpoint, waiting, visitor)
    except NetbuilderError as e:
        return NoRun(str(e))


def shown_weights(
    spec: ModelSpec,
    cut: Cut,
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[..., None] | None = None,
    visitor: object = None,
) -> list[ShownLayer] | NoRun:
    """Each weighted layer of `spec` (a model that fits) with its weights as `cut` (rows and columns of their matrix):
    made here for light weights, in a worker when making them is heavy, so only what is drawn reaches the server."""
    if (refused := too_large(spec)) is not None:
        return refused
    cost = spec.analysis.cost
    nbytes, work = cost.weight_bytes + cost.build_bytes, cost.build_work
    return _placed(_shown_weights, spec, (cut,), nbytes, work, checkpoint, waiting, visitor)


# layers that only act in training, and the setting that makes them the identity inference is (their gradient is then
# inference's); BatchNormalization's training step uses the batch's statistics, which one sample's gradient cannot
TRAINING_ONLY = {"Dropout": "rate", "MultiHeadAttention": "dropout"}
BATCH_STATISTICS = ("BatchNormalization",)


def saliency(
    spec: ModelSpec,
    x: np.ndarray | Fill,
    sample: int,
    unit: int,
    cut: Cut,
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[..., None] | None = None,
    visitor: object = None,
) -> Shown | NoRun:
    """∂ output[unit] / ∂ input for sample `sample` of `x`, in inference mode, as `cut`: which input values move the
    chosen output unit (of the output flattened per sample), for a model of one input and one output that fits."""
    if spec.more_inputs or len(spec.output_positions) != 1 or not spec.analysis.ok:
        return NoRun("saliency needs a model of one input and one output that fits together")
    if any(layer.kind in BATCH_STATISTICS for layer in spec.layers):
        return NoRun(
            "saliency is not computed for a model with BatchNormalization: its training step, whose backward pass it "
            "would use, normalises with the batch's statistics, not the moving ones inference uses"
        )
    units = math.prod(spec.analysis.output_shape[1:])
    if not 0 <= unit < units:
        return NoRun(f"the output has units 0 to {units - 1}; received {unit}")
    if (refused := too_large(spec)) is not None:
        return refused
    cost = spec.analysis.cost
    nbytes = 2 * cost.weight_bytes + cost.build_bytes + cost.backprop_bytes(1)  # its own copy of the weights
    work = cost.build_work + 3 * cost.run_work(1)
    return _placed(_saliency, spec, (x, sample, unit, cut), nbytes, work, checkpoint, waiting, visitor)


def _saliency(spec: ModelSpec, x: np.ndarray | Fill, sample: int, unit: int, cut: Cut, checkpoint=None):
    for layer in spec.layers:  # the layers that act only in training, as inference has them
        if layer.kind in TRAINING_ONLY and layer.values.get(TRAINING_ONLY[layer.kind]):
            spec = spec.update(layer.id, **{TRAINING_ONLY[layer.kind]: 0.0})
    try:
        model = fresh(spec)  # its own: nothing shown or cached is touched
        y, cache = model.forward_train(batch_of(x)[sample : sample + 1], np.random.default_rng(0))
        dy = np.zeros_like(y)
        dy.reshape(1, -1)[0, unit] = 1
        return shown(model.backward(cache, dy)[0], 0, cut)
    except NetbuilderError as e:  # a layer netbuilder cannot train as it is set (a recurrent layer's own dropout)
        return NoRun(str(e))


def in_worker(
    fn: Callable,
    spec: ModelSpec,
    args: tuple = (),
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[..., None] | None = None,
    visitor: object = None,
):
    """`fn(spec, *args)` in a worker process (studio.workers), under this caller's budgets: its result, or a
    NetbuilderError saying why not (the worker failed, or a newer run of this visitor replaced this one)."""
    job = (fn, *packed(spec), args, current())
    return workers.pool().run(_job, job, visitor, checkpoint, waiting)


def packed(spec: ModelSpec) -> tuple:
    """`spec` as a worker is sent it: its plain data, and its trained weights (None for the seed's)."""
    return spec.to_dict(), spec.weights.arrays if spec.weights is not None else None


def unpacked(data: dict, weights) -> ModelSpec:
    """In a worker: the spec `packed` sent."""
    spec = ModelSpec.from_dict(data)
    return spec if weights is None else spec.with_weights(weights)


def _job(fn, data: dict, weights, args: tuple, budget):
    """In a worker: `fn` on the spec sent, under the caller's budget. A worker keeps one model's weights at most
    between jobs: a visitor's next click often asks for the same."""
    bound_cache(budget.weight_bytes or 0)
    with using(budget):
        return fn(unpacked(data, weights), *args)


def _output(part: ModelSpec, x: np.ndarray | Fill, complete: bool, sample: int, cut: Cut, checkpoint=None):
    try:
        y = main_output(built(part, checkpoint), fed(part, batch_of(x)), checkpoint)
        return Output(shown(y, sample, cut), complete)
    except NetbuilderError as e:
        return NoRun(str(e))


def _forward(part: ModelSpec, x: np.ndarray | Fill, complete: bool, sample: int, cut: Cut, checkpoint=None):
    try:
        tensors = built(part, checkpoint).forward(
            fed(part, batch_of(x)), checkpoint=checkpoint
        )  # kept as the budget allows
    except NetbuilderError as e:
        return NoRun(str(e))
    inputs = len(part.input_shapes)
    tensors = [*tensors[:inputs], *part.in_list_order(tensors[inputs:])]  # a graph ran in Keras's order
    titles = ["Input"] if inputs == 1 else [f"{input_name(k)} (Input)" for k in range(inputs)]
    titles += [f"{r.name} ({r.kind})" for r in part.analysis.layers]
    dropped = [title for title, t in zip(titles, tensors) if t is None]
    note = ""
    if dropped:
        note = (
            f"{len(dropped)} tensor(s), from {dropped[0]} on, are not kept: together they would "
            f"exceed the {readable_bytes(current().run_bytes)} memory budget of a run. The output is still computed; "
            "a smaller batch shows them all."
        )
    return ForwardRun([None if t is None else shown(t, sample, cut) for t in tensors], titles, complete, note)


def _shown_weights(spec: ModelSpec, cut: Cut, checkpoint=None) -> list[ShownLayer]:
    layers = []
    for layer in (layer for layer in built(spec, checkpoint).layers if layer.weights):
        weights = tuple(
            ShownWeight(s.name, tuple(w.shape), s.trainable, as_matrix(w)[: cut.rows, : cut.columns].copy())
            for s, w in zip(layer.weight_specs(layer.built_shape), layer.weights)
        )
        layers.append(ShownLayer(layer.name, layer.kind, weights))
    return layers
