"""A training run of the model being edited, as the app drives it: settings, data, advice, and the run itself.

The engine trains (engine/model.py's `trainer`). Every run trains in a worker process (studio.workers), so no
visitor's training holds the server's Python lock: `_train` drives it there piece by piece, on a copy of the model
(the spec's own weights never change), and reports after each piece what the page shows (Progress: the History, a
bounded loss curve, the picture, the weights' change). `Training` is the page's handle on it. What refuses a run
(`check`) is said before it is queued, from shapes. A stopped run keeps what it learned so far; a run that fails
(data the loss cannot take, a loss that stops being a finite number) stops with its reason and keeps the last
weights that gave finite numbers.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..engine.budget import current, using
from ..engine.callbacks import EarlyStopping
from ..engine.errors import InputDataError, LayerConfigError, NetbuilderError
from ..engine.fitting import compiled
from ..engine.losses import KINDS
from ..engine.optimizers import OPTIMIZERS
from ..engine.schedules import CosineDecay, ExponentialDecay, InverseTimeDecay
from ..engine.shapes import format_shape
from ..engine.training import Loss
from . import datasets, workers
from .inside import NORM_OPERATIONS, Watch, probe_samples, watch_work
from .models import fresh
from .run import packed, unpacked
from .spec import LayerSpec, ModelSpec

# every Keras loss by its function name, but those whose targets are not one per output (CTC's label sequences,
# Circle's labels of embeddings): the page trains every output on the same targets
LOSSES = tuple(name for name in KINDS if name not in ("circle", "ctc"))
CLASSIFYING = ("crossentropy", "cross_entropy", "hinge")  # losses of classes: accuracy is their metric
DEFAULT_RATES = {
    name: cls().learning_rate for name, cls in OPTIMIZERS.items()
}  # Keras's defaults: sgd 0.01, others 0.001
DEFAULT_DECAYS = {name: cls().weight_decay or 0.0 for name, cls in OPTIMIZERS.items()}  # adamw's 0.004, others none
CLIPS = ("none", "clipnorm", "clipvalue", "global_clipnorm")
SCHEDULES = {  # the learning-rate schedules the page offers, made from its fields
    "constant": None,
    "ExponentialDecay": lambda s: ExponentialDecay(s.learning_rate, s.decay_steps, s.decay_rate),
    "InverseTimeDecay": lambda s: InverseTimeDecay(s.learning_rate, s.decay_steps, s.decay_rate),
    "CosineDecay": lambda s: CosineDecay(s.learning_rate, s.decay_steps, alpha=s.alpha),
}
MOMENTUM = ("sgd", "rmsprop")  # the optimizers with a momentum
RANGES = {  # the optimizer fields' bounds: checked here, and the bounds of their widgets
    "momentum": (0.0, 1.0),
    "weight_decay": (0.0, 1.0),
    "clip_at": (1e-6, 1e6),
    "decay_steps": (1, 10_000_000),
    "decay_rate": (1e-6, 1e3),
    "alpha": (0.0, 1.0),
    "patience": (0, 10_000),
}
# a loss's own arguments the page offers beside its own fields (from_logits, delta): numbers and switches
LOSS_OPTION_TYPES = (bool, int, float)
NOT_OFFERED = ("from_logits", "delta", "axis", "reduction", "ignore_class", "mask_token")
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
    from_logits: bool = False  # the losses that take logits only (kept, unused, while another loss is chosen)
    delta: float = 1.0  # huber only
    data: str = "xor"  # a data set of studio.datasets, "typed" or "csv"
    loss_options: tuple = ()  # (argument, value) of the loss's other arguments changed from Keras's defaults
    momentum: float = 0.0  # sgd and rmsprop
    nesterov: bool = False  # sgd
    weight_decay: float = 0.0  # 0: none
    clip: str = "none"  # one of CLIPS
    clip_at: float = 1.0  # the clip's norm or value
    schedule: str = "constant"  # one of SCHEDULES
    decay_steps: int = 100  # steps over which the schedule decays
    decay_rate: float = 0.5  # ExponentialDecay's and InverseTimeDecay's
    alpha: float = 0.0  # CosineDecay's last rate, as a fraction of the first
    early_stopping: bool = False  # Keras's EarlyStopping on the validation loss (the loss without validation)
    patience: int = 5  # epochs without improvement before it stops

    def compiled_loss(self) -> Loss:
        """The loss compile gets, with from_logits, delta and its other arguments where Keras has them."""
        defaults = _keras_defaults(self.loss)
        return Loss(
            self.loss,
            from_logits=self.from_logits and "from_logits" in defaults,
            delta=self.delta if "delta" in defaults else 1.0,
            **{key: value for key, value in self.loss_options if key in defaults},
        )

    def callbacks(self) -> list:
        """fit's callbacks: EarlyStopping on the validation loss (the loss when nothing is kept for validation), the
        best epoch's weights restored at the end."""
        if not self.early_stopping:
            return []
        monitor = "val_loss" if self.validation_split else "loss"
        return [EarlyStopping(monitor=monitor, patience=self.patience, restore_best_weights=True)]

    def compiled_optimizer(self):
        """The optimizer compile gets: the chosen one at the rate (or its schedule), with its page settings."""
        make = SCHEDULES.get(self.schedule)
        settings = {"learning_rate": make(self) if make else self.learning_rate}
        if self.optimizer in MOMENTUM:
            settings["momentum"] = self.momentum
        if self.optimizer == "sgd":
            settings["nesterov"] = self.nesterov
        if self.weight_decay or self.optimizer == "adamw":
            settings["weight_decay"] = self.weight_decay
        if self.clip != "none":
            settings[self.clip] = self.clip_at
        return OPTIMIZERS[self.optimizer](**settings)

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
        for name, (low, high) in RANGES.items():
            value, whole = getattr(self, name), isinstance(low, int)
            kinds = (int,) if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not (low <= value <= high):
                raise LayerConfigError(f"{name} must be {'a whole' if whole else 'a'} number from {low:g} to {high:g}")
        if not isinstance(self.nesterov, bool) or not isinstance(self.early_stopping, bool):
            raise LayerConfigError("nesterov and early_stopping must be true or false")
        if self.clip not in CLIPS or self.schedule not in SCHEDULES:
            raise LayerConfigError(f"clip must be one of {', '.join(CLIPS)} and schedule one of {', '.join(SCHEDULES)}")
        if not (isinstance(self.loss_options, tuple) and all(_option(o) for o in self.loss_options)):
            raise LayerConfigError("loss options must be pairs of an argument name and a number or true/false")
        self.compiled_loss()  # the loss's arguments checked as Keras's loss takes them
        self.compiled_optimizer()  # and the optimizer's, schedule included
        return self

    @property
    def metrics(self) -> list[str]:
        return ["accuracy"] if any(word in self.loss for word in CLASSIFYING) else ["mae"]

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
        options = data.get("loss_options", ())
        if isinstance(options, list):  # JSON has no tuples
            data = {**data, "loss_options": tuple(tuple(o) if isinstance(o, list) else o for o in options)}
        return cls(**data).check()


def loss_options(loss: str) -> dict:
    """The arguments of `loss` the page offers as fields of their own, with Keras's defaults."""
    return {k: v for k, v in _keras_defaults(loss).items() if k not in NOT_OFFERED and type(v) in LOSS_OPTION_TYPES}


def _keras_defaults(loss: str) -> dict:
    """Keras's arguments of `loss` and their defaults (none for a name the page does not know: check() says so)."""
    return KINDS[loss].defaults if loss in KINDS else {}


def _option(option) -> bool:
    return (
        isinstance(option, tuple)
        and len(option) == 2
        and isinstance(option[0], str)
        and len(option[0]) <= 40
        and type(option[1]) in LOSS_OPTION_TYPES
    )


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


def compile_arguments(spec: ModelSpec, settings: Settings) -> tuple:
    """Keras's compile arguments for the page's settings (optimizer, loss, metrics): one loss for every output, and of
    several outputs the metrics of each (Keras takes them as a list per output)."""
    outputs = len(spec.output_positions)
    metrics = settings.metrics if outputs == 1 else [settings.metrics] * outputs
    return settings.compiled_optimizer(), settings.compiled_loss(), metrics


def compile_for(model, spec: ModelSpec, settings: Settings) -> None:
    """Keras's compile of `model` with the page's settings."""
    optimizer, loss, metrics = compile_arguments(spec, settings)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def check(spec: ModelSpec, settings: Settings, x: np.ndarray, y: np.ndarray) -> int:
    """What refuses a run, said before it starts and from shapes alone (nothing is built): the settings, the model,
    the data (`advise`), and the budgets of the run's memory and work. The run's whole work, as the budget counts
    it."""
    settings.check()
    if not spec.analysis.ok:
        raise LayerConfigError("the model does not fit together yet, so it cannot be trained (see the Build page)")
    if not spec.layers:
        raise LayerConfigError("add a layer first: a model without layers has nothing to train")
    kept = [f"{name}: {key}" for name, layer in zip(spec.analysis.names, spec.layers) for key, _ in layer.kept]
    if kept:
        raise LayerConfigError(
            f"the Keras JSON this model came from sets arguments netbuilder keeps but does not apply in training "
            f"({', '.join(kept[:5])}{', …' if len(kept) > 5 else ''}), so training here would differ from Keras's; "
            "import the JSON without them to train here"
        )
    advice = advise(spec, settings, x, y)
    if advice is not None:
        raise InputDataError(advice.problem)
    trained = int(len(x) * (1 - settings.validation_split))  # Keras keeps the last samples for validation
    if trained == 0:
        raise InputDataError("there are no samples left to train on")
    optimizer, loss, metrics = compile_arguments(spec, settings)
    step = compiled(loss, None, metrics, [spec.analysis.names[k] for k in spec.output_positions]).step_cost(optimizer)
    step = replace(step, update_operations=step.update_operations + NORM_OPERATIONS)  # the watch's gradient norms
    if settings.early_stopping:  # restore_best_weights keeps a copy of the weights, counted as one more slot
        step = replace(step, slots=step.slots + 1)
    batch, cost = min(settings.batch_size, trained), spec.analysis.cost
    watching = watch_work(cost, settings.epochs, len(spec.layers), probe_samples(batch))
    cost.check_training(len(x), settings.epochs, batch, step, watching)
    return cost.training_work(len(x), settings.epochs, batch, step) + watching


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


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class Progress:
    """What the page shows of a run, as its worker last reported it (sent after every piece, so small)."""

    epochs: int = 0
    epoch: int = 0  # the epoch being trained (or the last one), counted from 1
    complete: int = 0  # epochs complete
    fraction: float = 0.0  # of the run's batches
    done: bool = False  # it reached its end, or stopped
    stopped_early: bool = False  # EarlyStopping ended it before its last epoch (the best epoch's weights kept)
    stopped: bool = False  # it stopped before its last epoch
    failure: str = ""  # why it stopped on its own before its last epoch ("" when it did not)
    history: dict = field(default_factory=dict)  # Keras's History.history so far
    curve: tuple = ((), (), 1)  # the batch-by-batch loss: (first batches, mean losses, batches per point)
    picture: tuple | None = None  # ("boundary", probabilities, extent) or ("curve", xs, ys), for small inputs
    weights: tuple = ()  # per weight: (name, shape, mean |w| before, mean |w| now, largest change)
    steps: int = 0  # updates taken: a run that took none has nothing to keep
    inside: tuple = ()  # studio.inside Snapshots of the epochs kept so far: gradient norms, histograms


@dataclass
class TrainingRun:
    """One run of fit on the model of `spec`, advanced piece by piece, in a worker (`_train` drives it).

    Memory (what cost.training_bytes counts), besides the run's tensors and the optimizer's state: the model trained
    (its own copy of every weight, P parameters: 4·P bytes), `before` (a second copy, 4·P, for the weights-before-and-
    after table), and at the end the trained weights sent back (4·P, which the spec then keeps)."""

    spec: ModelSpec
    settings: Settings
    x: np.ndarray
    y: np.ndarray
    model: object = None
    run: object = None
    before: list = field(default_factory=list)  # copies of the weights at the start
    curve: LossCurve = field(default_factory=LossCurve)  # the loss batch by batch, bounded
    inside: Watch | None = None  # gradient norms and histograms, epoch by epoch
    stopped: bool = False
    failure: str = ""  # why the run stopped on its own before its last epoch ("" when it did not)

    @classmethod
    def start(cls, spec: ModelSpec, settings: Settings, x: np.ndarray, y: np.ndarray) -> TrainingRun:
        """A new run; the data, settings and budgets are checked first (`check`), before any training."""
        check(spec, settings, x, y)
        model = fresh(spec)
        compile_for(model, spec, settings)
        run = model.trainer(
            inputs_of(spec, x),
            targets_of(spec, y),
            batch_size=settings.batch_size,
            epochs=settings.epochs,
            validation_split=settings.validation_split,
            halt_on_divergence=True,
            watch_gradients=True,
            callbacks=settings.callbacks(),
            verbose=0,
        )
        inside = Watch.start(spec, model, _listed(inputs_of(spec, x)), settings.epochs, settings.batch_size)
        return cls(
            spec, settings, x, y, model, run, model.get_weights(), inside=inside
        )  # copies: training changes them

    @property
    def done(self) -> bool:
        return self.run.done or self.stopped

    def piece(self, seconds: float = PIECE_SECONDS) -> None:
        """Train for about `seconds` (whole batches), recording each batch's loss. A step the engine refuses stops
        the run."""
        end = time.perf_counter() + seconds
        while not self.done and time.perf_counter() < end:
            epoch = self.run.epoch
            try:
                self.run.run(max_batches=1)
            except NetbuilderError as e:
                self.fail(str(e))
                return
            self.curve.add(self.run.last_loss)
            self.inside.step(self.run.gradient_norms)
            if self.run.epoch > epoch:
                self.inside.epoch_end(self.run.epoch)

    def fail(self, why: str) -> None:
        """Stop the run for good, saying why (the weights keep what the steps before learned)."""
        self.failure, self.stopped = why, True

    def progress(self) -> Progress:
        run = self.run
        return Progress(
            epochs=self.settings.epochs,
            epoch=run.epoch if run.done else min(run.epoch + 1, self.settings.epochs),
            complete=run.epoch,
            fraction=run.progress,
            done=self.done,
            stopped_early=run.stopped_early,
            stopped=self.stopped and not run.done,
            failure=self.failure,
            history={key: list(values) for key, values in run.history.history.items()},
            curve=(*self.curve.points(), self.curve.width),
            picture=self.picture(),
            weights=self.weights_change(),
            steps=int(self.model.optimizer.iterations),
            inside=tuple(self.inside.snapshots),
        )

    def weights_change(self) -> tuple:
        rows, k = [], 0
        for layer in self.model.layers:
            for weight_spec, after in zip(layer.weight_specs(layer.built_shape), layer.weights):
                before = self.before[k]
                k += 1
                change = float(np.max(np.abs(after - before))) if after.size else 0.0
                rows.append(
                    (f"{layer.name}.{weight_spec.name}", after.shape, _mean_abs(before), _mean_abs(after), change)
                )
        return tuple(rows)

    def picture(self) -> tuple | None:
        """For a model of one input of 2 values and one output of one: its prediction on a GRID × GRID square around
        the data (a decision boundary); of one input of 1 value: its prediction along the data's range (a curve)."""
        if self._one_to_one((2,)):
            low, high = self.x.min(axis=0), self.x.max(axis=0)
            pad = (high - low) * 0.1 + 1e-3
            (x0, y0), (x1, y1) = low - pad, high + pad
            gx, gy = np.meshgrid(np.linspace(x0, x1, GRID), np.linspace(y1, y0, GRID))
            grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
            out = self.model.predict(grid).reshape(GRID, GRID)
            if self.settings.compiled_loss().from_logits:  # logits drawn as the probabilities they stand for
                out = 1 / (1 + np.exp(-out))
            return "boundary", out, (float(x0), float(x1), float(y0), float(y1))
        if self._one_to_one((1,)):
            xs = np.linspace(float(self.x.min()), float(self.x.max()), 200, dtype=np.float32)[:, None]
            return "curve", xs[:, 0], self.model.predict(xs)[:, 0]
        return None

    def _one_to_one(self, sample: tuple) -> bool:
        """Whether the model takes one input of `sample`'s shape and gives one output of one value."""
        one_output = len(self.spec.output_positions) == 1
        return one_output and self.spec.input_shapes == (sample,) and self.spec.analysis.output_shape[1:] == (1,)


def _listed(xs) -> list:
    return xs if isinstance(xs, list) else [xs]


def _mean_abs(w: np.ndarray) -> float:
    return float(np.mean(np.abs(w))) if w.size else 0.0


def _train(channel, data: dict, weights, settings: Settings, x: np.ndarray, y: np.ndarray, budget):
    """In a worker: a run from its start to its end, under the caller's budget, its progress reported after each
    piece. Asked to stop, it stops there. Its last progress, and the trained weights when it took a step."""
    with using(budget):
        try:
            run = TrainingRun.start(unpacked(data, weights), settings, x, y)
        except NetbuilderError as e:
            return Progress(epochs=settings.epochs, done=True, failure=str(e)), None
        while not run.done:
            try:
                run.piece()
            except Exception:  # noqa: BLE001 — a bug of ours in a step: the run stops and keeps what it learned
                logging.getLogger("netbuilder").exception("training step failed")
                run.fail("something went wrong in a training step")
            if channel.stop_asked():
                run.stopped = True
            if not run.done:
                channel.report(run.progress())
        learned = run.model.get_weights() if run.model.optimizer.iterations else None
        return run.progress(), learned


STOPPED = "you stopped it"  # a Stop of the visitor's own: its run ends without a reason to show


@dataclass(eq=False)
class Training:
    """A run in a worker, as the page follows it: what it trains, and its job (studio.workers)."""

    spec: ModelSpec
    settings: Settings
    x: np.ndarray
    y: np.ndarray
    job: workers.Job

    @classmethod
    def start(
        cls,
        spec: ModelSpec,
        settings: Settings,
        x: np.ndarray,
        y: np.ndarray,
        visitor: object = None,
        alive: Callable[[], bool] | None = None,
        pool: workers.Pool | None = None,
    ) -> Training:
        """A run of `spec` submitted to a worker (the server's pool, unless `pool`), after the runs queued before it;
        what refuses it (`check`) raises here, before it is queued. `visitor`'s older run is stopped; `alive()`
        False (the visitor left) cancels it."""
        check(spec, settings, x, y)
        args = (*packed(spec), settings, x, y, current())
        job = (pool or workers.pool()).submit(_train, args, visitor, streaming=True, alive=alive)
        return cls(spec, settings, x, y, job)

    @property
    def done(self) -> bool:
        return self.job.done

    @property
    def stopping(self) -> bool:
        return bool(self.job.stop_reason or self.job.cancelled)

    def stop(self) -> None:
        """End the run after its current batch: it keeps what it learned (a waiting run just goes)."""
        self.job.stop(STOPPED)

    def cancel(self, why: str) -> None:
        """End the run now, keeping nothing (`why` is what the page then says)."""
        self.job.cancel(why)

    @property
    def progress(self) -> Progress | None:
        """The run as last reported (None before its first piece); at its end, the last of it, with why it ended
        early if it did not end of itself."""
        if not self.job.done:
            return self.job.progress
        try:
            last, _ = self.job.result()
        except NetbuilderError as e:
            last = self.job.progress or Progress(epochs=self.settings.epochs)
            return replace(last, done=True, stopped=True, failure=str(e))
        reason = self.job.stop_reason
        if last.stopped and not last.failure and reason and reason != STOPPED:
            return replace(last, failure=reason)
        return last

    def trained_spec(self) -> ModelSpec | None:
        """The spec with the weights the run learned (what becomes the current model); None when it learned none."""
        try:
            _, learned = self.job.result()
        except NetbuilderError:
            return None
        return None if learned is None else self.spec.with_weights(learned)
