"""A training run of the model being edited, as the app drives it: settings, data, and pieces of work.

The engine trains (engine/model.py's `trainer`); this keeps what the page needs between pieces: the
model being trained (a copy: the spec's own weights never change), its run, the loss curve per batch,
and what the weights were before. Each piece trains for a bounded time, so other visitors are not kept
waiting, and a stopped run keeps what it has learned so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..engine.errors import InputDataError, LayerConfigError
from ..engine.optimizers import OPTIMIZERS
from ..engine.training import CROSSENTROPIES, Loss
from .models import fresh, heavy_slot
from .spec import ModelSpec

LOSSES = ("mean_squared_error", "mean_absolute_error", "huber", *CROSSENTROPIES)
DEFAULT_RATES = {name: cls().learning_rate for name, cls in OPTIMIZERS.items()}  # Keras's defaults: sgd 0.01, others 0.001
PIECE_SECONDS = 0.25  # training per piece; the page redraws between pieces
GRID = 64  # points per side of the decision-boundary picture


@dataclass(frozen=True)
class Settings:
    """What compile and fit are given (Keras's defaults)."""

    loss: str = "mean_squared_error"
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    epochs: int = 1
    batch_size: int = 32
    validation_split: float = 0.0
    from_logits: bool = False  # the cross-entropies only (kept, unused, while another loss is chosen)
    delta: float = 1.0  # huber only

    def compiled_loss(self) -> Loss:
        """The loss compile gets, with from_logits and delta where Keras has them."""
        return Loss(self.loss, from_logits=self.from_logits and self.loss in CROSSENTROPIES,
                    delta=self.delta if self.loss == "huber" else 1.0)

    def check(self) -> Settings:
        if self.loss not in LOSSES:
            raise LayerConfigError(f"loss must be one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise LayerConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 10 and math.isfinite(self.learning_rate)):
            raise LayerConfigError("learning rate must be a number above 0 and at most 10")
        for name, value, high in (("epochs", self.epochs, 10_000), ("batch size", self.batch_size, 4096)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise LayerConfigError(f"{name} must be an integer from 1 to {high:,}")
        if not (isinstance(self.validation_split, (int, float)) and 0 <= self.validation_split < 1):
            raise LayerConfigError("validation split must be from 0 (no validation) to below 1")
        self.compiled_loss()  # from_logits and huber's delta checked as Keras's losses take them
        return self

    @property
    def metrics(self) -> list[str]:
        return ["accuracy"] if "crossentropy" in self.loss else ["mae"]


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
    batch_losses: list = field(default_factory=list)  # every batch's loss, for the live curve
    stopped: bool = False
    heavy: tuple = (0, 0)  # (bytes, work) that heavy_slot weighs: the run's memory (weight copies included), its whole work

    @classmethod
    def start(cls, spec: ModelSpec, settings: Settings, x: np.ndarray, y: np.ndarray) -> TrainingRun:
        """A new run; the data, settings and budgets are checked here, before any training."""
        settings.check()
        if not spec.analysis.ok:
            raise LayerConfigError("the model does not fit together yet, so it cannot be trained (see the Build page)")
        if not spec.layers:
            raise LayerConfigError("add a layer first: a model without layers has nothing to train")
        cost = spec.analysis.cost
        with heavy_slot(2 * cost.weight_bytes):  # the seed's weights, then a trained spec's copied in
            model = fresh(spec)
        optimizer = OPTIMIZERS[settings.optimizer](learning_rate=settings.learning_rate)
        model.compile(optimizer=optimizer, loss=settings.compiled_loss(), metrics=settings.metrics)
        run = model.trainer(x, y, batch_size=settings.batch_size, epochs=settings.epochs,
                            validation_split=settings.validation_split)
        batch = min(settings.batch_size, len(run.x))
        work = cost.step_work(batch) * math.ceil(len(run.x) / batch) * settings.epochs
        heavy = (cost.training_bytes(batch, optimizer.slot_count()), work)
        with heavy_slot(cost.weight_bytes):
            before = model.get_weights()  # copies: training changes the model's arrays in place
        return cls(spec, settings, x, y, model, run, before, heavy=heavy)

    @property
    def done(self) -> bool:
        return self.run.done or self.stopped

    def piece(self, seconds: float = PIECE_SECONDS, checkpoint=None, waiting=None) -> None:
        """Train for about `seconds` (whole batches), recording each batch's loss; a piece of a heavy run waits for the
        server's heavy slot (`checkpoint` and `waiting` as for heavy_slot)."""
        with heavy_slot(*self.heavy, checkpoint=checkpoint, waiting=waiting):
            end = time.perf_counter() + seconds
            while not self.done and time.perf_counter() < end:
                self.run.run(max_batches=1, checkpoint=checkpoint)
                self.batch_losses.append(self.run.last_loss)

    def trained_spec(self) -> ModelSpec:
        """The spec with the weights learned so far (what becomes the current model); the spec copies them once."""
        with heavy_slot(self.spec.analysis.cost.weight_bytes):
            return self.spec.with_weights([w for layer in self.model.layers for w in layer.weights])

    def boundary(self) -> tuple[np.ndarray, tuple[float, float, float, float]] | None:
        """For a model with 2 inputs and one output: its prediction on a GRID × GRID square around the data."""
        if self.spec.input_shape != (2,) or self.model.output_shape[-1] != 1:
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

    def _predict(self, x: np.ndarray) -> np.ndarray:
        cost = self.spec.analysis.cost
        with heavy_slot(cost.predict_bytes(len(x)), cost.run_work(len(x))):
            return self.model.predict(x)

    def curve(self) -> tuple[np.ndarray, np.ndarray] | None:
        """For a model with 1 input and 1 output: its prediction along the data's range (a regression curve)."""
        if self.spec.input_shape != (1,) or self.model.output_shape[-1] != 1:
            return None
        xs = np.linspace(float(self.x.min()), float(self.x.max()), 200, dtype=np.float32)[:, None]
        return xs[:, 0], self._predict(xs)[:, 0]


def check_data(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> None:
    """A clear message when the data does not fit the model's input, before training starts."""
    if tuple(x.shape[1:]) != spec.input_shape:
        raise InputDataError(f"the data's samples have shape {tuple(x.shape[1:])}, but the model's input is "
                             f"{spec.input_shape}: change the input shape on the Build page or pick other data")
