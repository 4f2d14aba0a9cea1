"""The inside of a network as it learns: epoch by epoch, each layer's gradient norm and the spread of its activations
and weights — from the very gradients and weights the run trains with, bounded in size whatever the run's length.

A learner sees a deep sigmoid chain's gradients vanish layer by layer toward the input, and its activations pile up
at 0 and 1, instead of reading about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..engine.budget import MICROSECOND
from ..engine.layer import ELEMENTWISE_WEIGHT
from .samples import finite_range

BINS = 16  # bars of each histogram
PROBE_SAMPLES = 64  # the training samples (the first ones) whose activations the histograms show
MOST_VALUES = 1_000  # layer-epochs kept in all, however many layers and epochs: the page is sent them every piece
MOST_SNAPSHOTS = 50  # epochs kept, evenly spread, for a small model
BARS = "▁▂▃▄▅▆▇█"
# A histogram's cost, measured on the server and rounded up by half: elementwise operations per value, microseconds a
# call; a step's gradient norms read each gradient once (np.vdot)
HISTOGRAM_OPERATIONS, HISTOGRAM_MICROSECONDS = 24, 60
NORM_OPERATIONS = 1


@dataclass(frozen=True)
class Histogram:
    """How a tensor's finite values spread: BINS counts between `low` and `high`."""

    low: float
    high: float
    counts: tuple[int, ...]

    @classmethod
    def of(cls, *arrays: np.ndarray) -> Histogram | None:
        """One histogram of the finite values of `arrays` together (None when none is finite), none of them copied."""
        ranges = [r for r in map(_finite_span, arrays) if r is not None]
        if not ranges:
            return None
        low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        span = (low, high) if high > low else (low - 0.5, high + 0.5)
        counts = sum(np.histogram(a, BINS, range=span)[0] for a in arrays)  # NaN and ±inf fall outside the span
        return cls(low, high, tuple(int(c) for c in counts))

    def bars(self) -> str:
        """The counts as a line of block characters, the fullest bin the tallest."""
        most = max(self.counts) or 1
        return "".join(BARS[min(len(BARS) - 1, math.ceil(c / most * len(BARS)) - 1)] if c else " " for c in self.counts)


def _finite_span(values: np.ndarray) -> tuple[float, float] | None:
    """The smallest and largest finite value: read in float32 at once when all are finite (the usual case, twice as
    quick), else in chunks."""
    if values.size and np.all(np.isfinite(values)):
        return float(values.min()), float(values.max())
    return finite_range(values)


@dataclass(frozen=True)
class LayerInside:
    """A layer at one epoch's end: its gradient norm over the epoch, and its activations' and weights' histograms."""

    gradient_norm: float | None  # the mean over the epoch's steps of √Σg² over its trainable weights; None: none
    activations: Histogram | None  # of its output on the probe samples (None: not kept within the run's budget)
    weights: Histogram | None  # of all its weights together (None: it has none)


@dataclass(frozen=True)
class Snapshot:
    """The network at the end of epoch `epoch` (0: before training): its inputs' histograms, and each layer's, in the
    model's list order, on its first `samples` training samples."""

    epoch: int
    samples: int
    inputs: tuple[Histogram | None, ...]
    layers: tuple[LayerInside, ...]


def kept_epochs(epochs: int, layers: int) -> list[int]:
    """The epochs a run keeps a snapshot of: 0 and the last, and evenly between them, at most MOST_SNAPSHOTS and
    MOST_VALUES layer-epochs in all."""
    most = max(2, min(MOST_SNAPSHOTS, MOST_VALUES // max(1, layers)))
    return sorted({round(k * epochs / (most - 1)) for k in range(most)}) if epochs >= most else list(range(epochs + 1))


def probe_samples(batch: int) -> int:
    """The probe's samples for a run in batches of `batch`: at most one batch, so a snapshot's forward pass needs no
    more memory or work than a step's."""
    return min(PROBE_SAMPLES, batch)


def watch_work(cost, epochs: int, layers: int, probe: int) -> int:
    """The work of a run's snapshots (cost: the model's ModelCost): each a forward pass of the probe samples and a
    histogram of every tensor and every layer's weights."""
    values = probe * (cost.input_elements + sum(cost.outputs)) + cost.params
    one = cost.run_work(probe) + ELEMENTWISE_WEIGHT * HISTOGRAM_OPERATIONS * values
    one += MICROSECOND * HISTOGRAM_MICROSECONDS * (2 * layers + 1)
    return len(kept_epochs(epochs, layers)) * one


@dataclass
class Watch:
    """What a run keeps of the inside of its model: `step` after each training step with its gradients' norms (one
    per trainable weight, the trainer's order), `epoch_end` after each epoch; `snapshots` so far."""

    model: object
    probe: list  # the probe samples of each model input
    owners: list[int]  # for each trainable weight, the list position of the layer it belongs to
    weighted: list[tuple[int, object]]  # each layer with weights, and its list position
    spec: object  # the ModelSpec watched: its list's order
    keep: set[int]  # the epochs kept
    count: int  # layers in the list
    snapshots: list[Snapshot] = field(default_factory=list)
    _norm_sums: np.ndarray | None = None  # per layer, the sum over the epoch's steps of √Σg²
    _steps: int = 0

    @classmethod
    def start(cls, spec, model, xs: list, epochs: int, batch: int) -> Watch:
        """A watch of `model` (built from `spec`) trained on the inputs `xs` for `epochs` in batches of `batch`; its
        snapshot of epoch 0."""
        position = {name: k for k, name in enumerate(spec.analysis.names)}
        owners, weighted = [], []
        for layer in (layer for layer in model.layers if layer.weights):
            weighted.append((position[layer.name], layer))
            owners += [position[layer.name] for s in layer.weight_specs(layer.built_shape) if s.trainable]
        probe = [x[: probe_samples(batch)] for x in xs]
        count = len(spec.layers)
        watch = cls(model, probe, owners, weighted, spec, set(kept_epochs(epochs, count)), count)
        watch.epoch_end(0)
        return watch

    def step(self, norms: list[float]) -> None:
        """One training step's gradient norms, one per trainable weight."""
        squares = np.zeros(self.count)
        for k, norm in zip(self.owners, norms):
            squares[k] += norm * norm
        self._norm_sums = np.sqrt(squares) + (0 if self._norm_sums is None else self._norm_sums)
        self._steps += 1

    def epoch_end(self, epoch: int) -> None:
        """Epoch `epoch` is over (counted from 1; 0 before training): a snapshot when it is one kept."""
        if epoch in self.keep:
            self.snapshots.append(self._snapshot(epoch))
        self._norm_sums, self._steps = None, 0

    def _snapshot(self, epoch: int) -> Snapshot:
        tensors = self.model.forward(self.probe if len(self.probe) > 1 else self.probe[0])
        inputs, outputs = tensors[: len(self.probe)], self.spec.in_list_order(tensors[len(self.probe) :])
        weights = {k: Histogram.of(*layer.weights) for k, layer in self.weighted}
        trained = set(self.owners)
        layers = tuple(
            LayerInside(
                float(self._norm_sums[k] / self._steps) if self._steps and k in trained else None,
                Histogram.of(out) if out is not None else None,
                weights.get(k),
            )
            for k, out in enumerate(outputs)
        )
        return Snapshot(epoch, len(self.probe[0]), tuple(Histogram.of(x) for x in inputs), layers)
