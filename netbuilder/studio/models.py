"""Built models (with weights) for specs, made from the seed when shown and shared by content.

Specs hold no weights, so undo history costs next to nothing; a model's weights are drawn again
from its seed when it is shown. A small cache, bounded in bytes and shared by every session, keeps
recently shown models (a link opened by many visitors is built once). Built models are only read.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager

from ..engine.budget import PUBLIC_DEFAULTS
from ..engine.graph import connect
from ..engine.model import Functional, Input, Model, Sequential
from .spec import ModelSpec

CACHE_BYTES = 4 * PUBLIC_DEFAULTS.weight_bytes  # weights kept for recently shown models, all sessions together
HEAVY_BYTES = 8 * 2**20  # work that allocates more than this (weights, a run's tensors, exported text) ...
HEAVY_WORK = 2_000_000_000  # ... or does more than this much work waits for the one heavy slot
WAIT_POLL_SECONDS = 0.1  # how often a visitor waiting for the slot checks whether to stop waiting

_cache: OrderedDict[str, tuple[Sequential | Functional, int]] = OrderedDict()
_cached_bytes = 0
_cache_bound = CACHE_BYTES
_lock = threading.Lock()
_heavy = threading.RLock()  # one heavy job at a time in the whole server: light page runs and health checks stay quick


def is_heavy(nbytes: int, work: int) -> bool:
    """Whether work that allocates `nbytes` and does `work` is heavy: it waits for the heavy slot, or a worker."""
    return nbytes > HEAVY_BYTES or work > HEAVY_WORK


@contextmanager
def heavy_slot(
    nbytes: int = 0,
    work: int = 0,
    checkpoint: Callable[[], None] | None = None,
    waiting: Callable[[], None] | None = None,
):
    """Run a block in the server's one slot for heavy work when it is heavy (by its cost, known beforehand).

    The block holds the slot for one run only (the budgets bound a run to about a second). A heavy block that
    finds the slot taken calls `waiting` once (the page says it waits for another visitor's run) and calls
    `checkpoint` while it waits, so a visitor who leaves or starts another run stops waiting."""
    if not is_heavy(nbytes, work):
        yield
        return
    if not _heavy.acquire(blocking=False):
        if waiting is not None:
            waiting()
        while not _heavy.acquire(timeout=WAIT_POLL_SECONDS):
            if checkpoint is not None:
                checkpoint()
    try:
        yield
    finally:
        _heavy.release()


def content_key(spec: ModelSpec) -> str:
    """Equal for specs that make the same model (layer ids do not change weights)."""
    data = spec.to_dict()
    for layer, source in zip(data["layers"], spec.sources):
        layer.pop("id")
        if "inputs" in layer:
            layer["inputs"] = list(source)  # by position: ids differ between equal models
    data["weights"] = spec.weights.digest if spec.weights is not None else None
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def built(
    spec: ModelSpec, checkpoint: Callable[[], None] | None = None, waiting: Callable[[], None] | None = None
) -> Sequential | Functional:
    """The model of `spec` with weights from its seed; raises if the layers do not fit (`checkpoint` and
    `waiting` as for heavy_slot, when its weights are heavy)."""
    global _cached_bytes
    key = content_key(spec)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key][0]
    with heavy_slot(spec.analysis.cost.weight_bytes, checkpoint=checkpoint, waiting=waiting):
        model = fresh(spec)
    size = model.cost.weight_bytes
    with _lock:
        if key not in _cache and size <= _cache_bound:
            _cache[key] = (model, size)
            _cached_bytes += size
            _evict()
    return model


def bound_cache(nbytes: int) -> None:
    """Keep at most `nbytes` of weights from now on (a worker process keeps about one model's, not the server's)."""
    global _cache_bound
    with _lock:
        _cache_bound = nbytes
        _evict()


def _evict() -> None:
    """The least recently shown models dropped until the cache is within its bound (the lock held)."""
    global _cached_bytes
    while _cached_bytes > _cache_bound:
        _, (_, dropped) = _cache.popitem(last=False)
        _cached_bytes -= dropped


def fresh(spec: ModelSpec) -> Sequential | Functional:
    """A new model of `spec` of its own (to train, or change): a Sequential for a chain, else a Functional whose
    outputs are the layers no other takes; the seed's weights, or its trained ones."""
    if spec.is_graph:
        xs = [Input(shape) for shape in spec.input_shapes]
        made: list = []
        for layer, source in zip(spec.layer_objects(), spec.sources):
            made.append(connect(layer, [xs[-1 - k] if k < 0 else made[k] for k in source]))
        outputs = [made[k] for k in spec.output_positions] or xs  # a model of inputs alone gives them back
        model = Model(xs[0] if len(xs) == 1 else xs, outputs[0] if len(outputs) == 1 else outputs, seed=spec.seed)
    else:
        model = Sequential([Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    if spec.weights is not None:
        model.set_weights(spec.weights.arrays)
    return model


def main_output(model, x, checkpoint: Callable[[], None] | None = None):
    """What predict gives for `x`: of a graph with several open ends (outputs), the last layer's, the one shown."""
    y = model.predict(x, checkpoint=checkpoint)
    return y[-1] if isinstance(y, list) else y


def cached_bytes() -> int:
    """Weight bytes the cache holds now."""
    return _cached_bytes
