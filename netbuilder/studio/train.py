"""A training run of the model being edited, as the app drives it: settings, data, advice, and pieces of work.

The engine trains (engine/model.py's `trainer`); this keeps what the page needs between pieces: the
model being trained (a copy: the spec's own weights never change), its run, the loss curve (bounded,
whatever the run's length), and what the weights were before. Each piece trains for a bounded time,
so other visitors are not kept waiting, and a stopped run keeps what it has learned so far. A run that
fails (data the loss cannot take, a loss that stops being a finite number) stops with its reason and
keeps the last weights that gave finite numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields

import numpy as np

from ..engine.errors import InputDataError, LayerConfigError, NetbuilderError
from ..engine.optimizers import OPTIMIZERS
from ..engine.shapes import format_shape
from ..engine.training import CROSSENTROPIES, Loss
from . import datasets
from .models import fresh, heavy_slot
from .spec import LayerSpec, ModelSpec

LOSSES = ("mean_squared_error", "mean_absolute_error", "huber", *CROSSENTROPIES)
DEFAULT_RATES = {
    name: cls().learning_rate for name, cls in OPTIMIZERS.items()
}  # Keras's defaults: sgd 0.01, others 0.001
SOURCES = (*datasets.DATASETS, "typed", "csv")  # where training data comes from
PIECE_SECONDS = 0.25  # training per piece; the page redraws between pieces
GRID = 64  # points per side of the decision-boundary picture
# points of the batch-by-batch loss curve, whatever the run's length (the page sends them every piece)
CURVE_POINTS = 400
MAX_EPOCHS, MAX_BATCH_SIZE = 10_000, 4096


@dataclass(frozen=True)
class Settings:
    """What the Train page gives compile and fit, and which data it trains on. The defaults are a learner's start
    (Keras's own — mean_squared_error, rmsprop at 0.001, one epoch — leave XOR's boundary untrained)."""

    loss: str = "binary_crossentropy"
    optimizer: str = "adam"
    learning_rate: float = 0.01
    epochs: int = 100
    batch_size: int = 32
    validation_split: float = 0.0
    from_logits: bool = False  # the cross-entropies only (kept, unused, while another loss is chosen)
    delta: float = 1.0  # huber only
    data: str = "xor"  # a data set of studio.datasets, "typed" or "csv"

    def compiled_loss(self) -> Loss:
        """The loss compile gets, with from_logits and delta where Keras has them."""
        return Loss(
            self.loss,
            from_logits=self.from_logits and self.loss in CROSSENTROPIES,
            delta=self.delta if self.loss == "huber" else 1.0,
        )

    def check(self) -> Settings:
        if self.loss not in LOSSES:
            raise LayerConfigError(f"loss must be one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise LayerConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.data not in SOURCES:
            raise LayerConfigError(f"data must be one of {', '.join(SOURCES)}")
        rate = self.learning_rate
        if isinstance(rate, bool) or not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 < rate <= 10):
            raise LayerConfigError("learning rate must be a number above 0 and at most 10")
        for name, value, high in (("epochs", self.epochs, MAX_EPOCHS), ("batch size", self.batch_size, MAX_BATCH_SIZE)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise LayerConfigError(f"{name} must be an integer from 1 to {high:,}")
        split = self.validation_split
        if isinstance(split, bool) or not (isinstance(split, (int, float)) and 0 <= split < 1):
            raise LayerConfigError("validation split must be from 0 (no validation) to below 1")
        if not isinstance(self.from_logits, bool):
            raise LayerConfigError("from_logits must be true or false")
        self.compiled_loss()  # huber's delta checked as Keras's loss takes it
        return self

    @property
    def metrics(self) -> list[str]:
        return ["accuracy"] if "crossentropy" in self.loss else ["mae"]

    # --- plain data (share links) ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """The settings that differ from the defaults."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}

    @classmethod
    def from_dict(cls, data) -> Settings:
        """Checked settings from plain data (a share link); LayerConfigError saying what is wrong otherwise."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not set(data) <= names:
            raise LayerConfigError(f"training settings must be an object with some of {', '.join(sorted(names))}")
        return cls(**data).check()


# --- advice: what does not fit between data, model and loss, and the one-click ways out -----------------------
@dataclass(frozen=True)
class Advice:
    """Why this data cannot train this model with this loss, and what would: a loss, an input shape, a model."""

    problem: str
    loss: str | None = None  # a loss that fits the targets and the model's output
    input_shape: tuple[int, ...] | None = None  # the data's sample shape, when the model's layers still fit it
    model: ModelSpec | None = None  # a small model made for this data (with `model_loss`)
    model_loss: str | None = None


def suggested_loss(y: np.ndarray, output_shape: tuple) -> str | None:
    """The loss Keras users train these targets with, for a model with `output_shape`, or None when none fits."""
    per_output, per_target = tuple(output_shape[1:]), tuple(y.shape[1:])
    if not per_output or not y.size or not np.all(np.isfinite(y)):
        return None
    classes = per_output[-1]
    whole = bool(np.all(y == np.round(y)))
    binary = bool(np.all((y == 0) | (y == 1)))
    if (
        classes > 1
        and whole
        and per_target in (per_output[:-1], (*per_output[:-1], 1))
        and 0 <= y.min()
        and y.max() < classes
    ):
        return "sparse_categorical_crossentropy"
    if per_target == per_output or (per_output == (1,) and per_target == ()):
        if binary and classes > 1 and np.all(y.reshape(-1, classes).sum(axis=1) == 1):
            return "categorical_crossentropy"
        return "binary_crossentropy" if binary else "mean_squared_error"
    return None


def model_for(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[ModelSpec, str] | None:
    """A small MLP for this data and the loss it trains with: Flatten if a sample has axes, two Dense(16, relu), and
    an output layer sized and activated for the targets (None for targets with axes of their own)."""
    per_target = tuple(y.shape[1:])
    if len(per_target) > 1 or not y.size or not np.all(np.isfinite(y)):
        return None
    whole = bool(np.all(y == np.round(y)))
    if whole and per_target in ((), (1,)) and y.min() >= 0 and 2 <= y.max() < 1024:
        units, activation, loss = int(y.max()) + 1, "softmax", "sparse_categorical_crossentropy"
    elif np.all((y == 0) | (y == 1)) and per_target in ((), (1,)):
        units, activation, loss = 1, "sigmoid", "binary_crossentropy"
    else:
        units, activation, loss = (per_target or (1,))[0], "linear", "mean_squared_error"
    layers = [("Flatten", {})] if x.ndim > 2 else []
    layers += [
        ("Dense", {"units": 16, "activation": "relu"}),
        ("Dense", {"units": 16, "activation": "relu"}),
        ("Dense", {"units": units, "activation": activation}),
    ]
    spec = ModelSpec(
        tuple(x.shape[1:]), tuple(LayerSpec.make(i, kind, **kw) for i, (kind, kw) in enumerate(layers)), seed
    )
    return spec.validate(), loss


def sample_shape(spec: ModelSpec) -> tuple[int, ...]:
    """The shape a data sample has for this model: its input's, or for several inputs all their values in a row."""
    return spec.input_shape if not spec.more_inputs else (sum(math.prod(shape) for shape in spec.input_shapes),)


def inputs_of(spec: ModelSpec, x: np.ndarray):
    """The data's samples as the model takes them: as they are for one input; for several, each sample's values in
    order fill input 1, then input 2, ... (advise says so when their sizes differ)."""
    if not spec.more_inputs:
        return x
    flat, at, out = x.reshape(len(x), -1), 0, []
    for shape in spec.input_shapes:
        size = math.prod(shape)
        out.append(flat[:, at : at + size].reshape(len(x), *shape))
        at += size
    return out


def targets_of(spec: ModelSpec, y: np.ndarray):
    """The targets as the model's outputs take them: the same targets for every output (Keras's fit(x, [y, y]), each
    output's loss added), as auxiliary heads and deep supervision train."""
    outputs = len(spec.output_positions)
    return y if outputs == 1 else [y] * outputs


def feeding(spec: ModelSpec) -> str:
    """How the data reaches a model of several inputs or outputs, in words ("" for one of each)."""
    words = []
    if spec.more_inputs:
        sizes = ", then ".join(f"input {k + 1} ({math.prod(shape):,})" for k, shape in enumerate(spec.input_shapes))
        words.append(f"Each sample's values fill {sizes}.")
    if len(ends := spec.output_positions) > 1:
        names = ", ".join(spec.analysis.names[k] for k in ends)
        words.append(
            f"Every output ({names}) learns the same targets; the loss is the sum of theirs, as Keras adds them."
        )
    return " ".join(words)


def compile_for(model, spec: ModelSpec, settings: Settings) -> None:
    """Keras's compile with the page's settings: one loss for every output, and of several outputs the metrics of
    each (Keras takes them as a list per output)."""
    outputs = len(spec.output_positions)
    optimizer = OPTIMIZERS[settings.optimizer](learning_rate=settings.learning_rate)
    metrics = settings.metrics if outputs == 1 else [settings.metrics] * outputs
    model.compile(optimizer=optimizer, loss=settings.compiled_loss(), metrics=metrics)


def advise(spec: ModelSpec, settings: Settings, x: np.ndarray, y: np.ndarray) -> Advice | None:
    """What keeps this data from training this model with this loss, said before training, with the ways out;
    None when it fits. The model must fit together (its own problems are the Build page's)."""
    suggestion = model_for(x, y, spec.seed)
    made, made_loss = suggestion if suggestion else (None, None)
    sample = tuple(x.shape[1:])
    sizes = [math.prod(shape) for shape in spec.input_shapes]
    if spec.more_inputs and math.prod(sample) != sum(sizes):
        return Advice(
            f"the data's samples have {math.prod(sample):,} values each, but the model's {len(sizes)} inputs take "
            f"{' + '.join(f'{n:,}' for n in sizes)} = {sum(sizes):,} (each sample's values fill the inputs in order)",
            model=made,
            model_loss=made_loss,
        )
    if not spec.more_inputs and sample != spec.input_shape:
        reshaped = spec.with_input_shape(sample) if sample else None
        fits = reshaped is not None and reshaped.analysis.ok and _fits(settings, y, reshaped.analysis.output_shape)
        return Advice(
            f"the data's samples have shape {format_shape(sample)}, but the model's input is "
            f"{format_shape(spec.input_shape)}",
            input_shape=sample if fits else None,
            model=made,
            model_loss=made_loss,
        )
    ends = spec.output_positions
    output_shape = spec.analysis.layers[ends[-1]].output_shape if ends else spec.analysis.output_shape
    try:
        for k in ends[:-1]:  # every output learns the same targets: each must fit them
            try:
                settings.compiled_loss().check_targets(y, spec.analysis.layers[k].output_shape)
            except InputDataError as e:
                raise InputDataError(
                    f"every output learns the same targets, and output {spec.analysis.names[k]!r} does not fit them: "
                    f"{e}"
                ) from None
        settings.compiled_loss().check_targets(y, output_shape)
        if settings.loss == "binary_crossentropy" and y.size and (y.min() < 0 or y.max() > 1):
            raise InputDataError(
                f"binary_crossentropy needs targets from 0 to 1; these run from {y.min():g} to {y.max():g}"
            )
        return None
    except InputDataError as e:
        loss = suggested_loss(y, output_shape)
        return Advice(
            str(e),
            loss=loss if loss != settings.loss else None,
            model=None if loss else made,
            model_loss=None if loss else made_loss,
        )


def _fits(settings: Settings, y: np.ndarray, output_shape: tuple) -> bool:
    """Whether the targets fit a model's output under the settings' loss, or under a loss that suits them."""
    try:
        settings.compiled_loss().check_targets(y, output_shape)
        return True
    except InputDataError:
        return suggested_loss(y, output_shape) is not None


# --- a run ------------------------------------------------------------------------------------------------
@dataclass
class LossCurve:
    """Every batch's loss in at most `size` points: when full, neighbouring points are averaged in pairs, so a run of
    any length keeps its curve's shape and the page sends a bounded chart."""

    size: int = CURVE_POINTS
    width: int = 1  # batches per point
    means: list = field(default_factory=list)
    _sum: float = 0.0
    _count: int = 0

    def add(self, loss: float) -> None:
        self._sum, self._count = self._sum + loss, self._count + 1
        if self._count == self.width:
            self.means.append(self._sum / self._count)
            self._sum, self._count = 0.0, 0
            if len(self.means) == self.size:
                self.means = [(a + b) / 2 for a, b in zip(self.means[::2], self.means[1::2])]
                self.width *= 2

    def points(self) -> tuple[list[int], list[float]]:
        """(the first batch of each point, counted from 1; its mean loss), the batches since the last full point too."""
        means = self.means + ([self._sum / self._count] if self._count else [])
        return [1 + k * self.width for k in range(len(means))], means

    def __len__(self) -> int:
        return len(self.means) + (1 if self._count else 0)


@dataclass
class TrainingRun:
    """One run of fit on the model of `spec`, advanced piece by piece.

    Memory (what cost.training_bytes counts), besides the run's tensors and the optimizer's state: the model trained
    (its own copy of every weight, P parameters: 4·P bytes), `before` (a second copy, 4·P, for the weights-before-and-
    after table), and at the end the trained spec's copy (4·P, which undo then keeps). Pieces of a big run take the
    server's heavy slot."""

    spec: ModelSpec
    settings: Settings
    x: np.ndarray
    y: np.ndarray
    model: object = None
    run: object = None
    before: list = field(default_factory=list)  # copies of the weights at the start
    curve: LossCurve = field(default_factory=LossCurve)  # the loss batch by batch, bounded
    stopped: bool = False
    failure: str = ""  # why the run stopped on its own before its last epoch ("" when it did not)
    heavy: tuple = (
        0,
        0,
    )  # (bytes, work) that heavy_slot weighs: the run's memory (weight copies included), its whole work

    @classmethod
    def start(cls, spec: ModelSpec, settings: Settings, x: np.ndarray, y: np.ndarray) -> TrainingRun:
        """A new run; the data, settings and budgets are checked here, before any training."""
        settings.check()
        if not spec.analysis.ok:
            raise LayerConfigError("the model does not fit together yet, so it cannot be trained (see the Build page)")
        if not spec.layers:
            raise LayerConfigError("add a layer first: a model without layers has nothing to train")
        advice = advise(spec, settings, x, y)
        if advice is not None:
            raise InputDataError(advice.problem)
        cost = spec.analysis.cost
        with heavy_slot(
            2 * cost.weight_bytes + cost.build_bytes, cost.build_work
        ):  # the seed's weights, then a trained copy
            model = fresh(spec)
        compile_for(model, spec, settings)
        run = model.trainer(
            inputs_of(spec, x),
            targets_of(spec, y),
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            validation_split=settings.validation_split,
            halt_on_divergence=True,
        )
        batch, step = min(settings.batch_size, run.samples), model.step_cost()
        heavy = (cost.training_bytes(batch, step.slots), cost.training_work(len(x), settings.epochs, batch, step))
        with heavy_slot(cost.weight_bytes):
            before = model.get_weights()  # copies: training changes the model's arrays in place
        return cls(spec, settings, x, y, model, run, before, heavy=heavy)

    @property
    def done(self) -> bool:
        return self.run.done or self.stopped

    @property
    def epoch(self) -> int:
        """The epoch being trained (or the last one), counted from 1."""
        return min(self.run.epoch + 1, self.settings.epochs)

    def piece(self, seconds: float = PIECE_SECONDS, checkpoint=None, waiting=None) -> None:
        """Train for about `seconds` (whole batches), recording each batch's loss; a piece of a heavy run waits for the
        server's heavy slot (`checkpoint` and `waiting` as for heavy_slot). A step the engine refuses stops the run."""
        with heavy_slot(*self.heavy, checkpoint=checkpoint, waiting=waiting):
            end = time.perf_counter() + seconds
            while not self.done and time.perf_counter() < end:
                try:
                    self.run.run(max_batches=1, checkpoint=checkpoint)
                except NetbuilderError as e:
                    self.fail(str(e))
                    return
                self.curve.add(self.run.last_loss)

    def fail(self, why: str) -> None:
        """Stop the run for good, saying why (the weights keep what the steps before learned)."""
        self.failure, self.stopped = why, True

    def trained_spec(self) -> ModelSpec:
        """The spec with the weights learned so far (what becomes the current model); the spec copies them once."""
        with heavy_slot(self.spec.analysis.cost.weight_bytes):
            return self.spec.with_weights([w for layer in self.model.layers for w in layer.weights])

    def boundary(self) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
        """For a model of one input of 2 values and one output: its prediction on a GRID × GRID square around the
        data."""
        if not self._one_to_one((2,)):
            return None
        low, high = self.x.min(axis=0), self.x.max(axis=0)
        pad = (high - low) * 0.1 + 1e-3
        (x0, y0), (x1, y1) = low - pad, high + pad
        gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y1, y0, GRID))
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
        out = self._predict(grid).reshape(GRID, GRID)
        if self.settings.compiled_loss().from_logits:  # logits drawn as the probabilities they stand for
            out = 1 / (1 + np.exp(-out))
        return out, (float(x0), float(x1), float(y0), float(y1))

    def _one_to_one(self, sample: tuple) -> bool:
        """Whether the model takes one input of `sample`'s shape and gives one output of one value."""
        one_output = len(self.spec.output_positions) == 1
        return one_output and self.spec.input_shapes == (sample,) and self.spec.analysis.output_shape[1:] == (1,)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        cost = self.spec.analysis.cost
        with heavy_slot(cost.predict_bytes(len(x)), cost.run_work(len(x))):
            return self.model.predict(x)

    def curve_of_model(self) -> tuple[np.ndarray, np.ndarray] | None:
        """For a model of one input of 1 value and one output: its prediction along the data's range (a regression
        curve)."""
        if not self._one_to_one((1,)):
            return None
        xs = np.linspace(float(self.x.min()), float(self.x.max()), 200, dtype=np.float32)[:, None]
        return xs[:, 0], self._predict(xs)[:, 0]
