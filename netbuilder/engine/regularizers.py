"""Keras 3's weight regularizers (keras/src/regularizers): the penalty a weight adds to the training loss, and its
gradient as Keras on JAX differentiates it (JAX's derivative of |x| is 1 at 0, so an L1 penalty pushes a zero weight
down).

A layer's `kernel_regularizer` and `bias_regularizer` settings hold one (or None). Training adds every penalty,
computed from the weights before the step's update, to the loss (the History's "loss" too, not an output's own), and
its gradient to the weight's; evaluate adds them as well, as Keras's compute_loss does.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from .errors import LayerConfigError
from .literals import NotACall, call_arguments, split_call
from .literals import literal as _literal
from .literals import short as _short

EPSILON = np.float32(1e-7)  # Keras's backend.epsilon(): the normalisation's bound on 1/‖row‖
MAX_TEXT_CHARS = 200
ACCEPTED = (
    "a Keras regularizer: l1, l2, l1_l2 or orthogonal_regularizer (the class names L1, L2, L1L2 and "
    "OrthogonalRegularizer too), one with its arguments such as L2(0.01), L1L2(l1=0.01, l2=0.01) or "
    'OrthogonalRegularizer(factor=0.01, mode="columns"), a Keras config dict, or none'
)


@dataclass(frozen=True, repr=False)
class Regularizer:
    """A penalty on a weight: `penalty(w)` (a float32 number) and `gradient(w)` (float32, w's shape). Its fields are
    its Keras constructor's arguments, in Keras's order; `keras_name` is its Keras class name."""

    keras_name: ClassVar[str] = ""

    def penalty(self, w: np.ndarray) -> np.float32:
        raise NotImplementedError

    def gradient(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cost(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(multiply-adds, elementwise operations, float32 temporaries) of one penalty and its gradient on a weight
        of `shape`."""
        n = math.prod(shape)
        return 0, 8 * n, 2 * n

    def rank_problem(self, ndim: int) -> str | None:
        """Why it cannot weigh a weight of `ndim` axes (Keras fails when the loss is first computed), else None."""
        return None

    def arguments(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_keras(self) -> dict:
        """Keras's serialized form, as a layer's config holds it."""
        return {
            "module": "keras.regularizers",
            "class_name": self.keras_name,
            "config": self.arguments(),
            "registered_name": None,
        }

    def text(self) -> str:
        """How an editor shows it: `L2(l2=0.01)`."""
        return f"{self.keras_name}({', '.join(f'{k}={_literal(v)}' for k, v in self.arguments().items())})"

    def keras_code(self) -> str:
        return f"keras.regularizers.{self.text()}"

    __repr__ = keras_code  # a layer's generic keras_code writes a setting's value with repr


def _abs_gradient(w: np.ndarray) -> np.ndarray:
    """JAX's derivative of |w|: 1 where w ≥ 0 (at 0 too), −1 below."""
    return np.where(w >= 0, np.float32(1), np.float32(-1))


@dataclass(frozen=True, repr=False)
class L1(Regularizer):
    """`l1 · Σ|w|`."""

    l1: float = 0.01
    keras_name = "L1"

    def penalty(self, w):
        return np.float32(self.l1) * np.sum(np.abs(w), dtype=np.float32)

    def gradient(self, w):
        return np.float32(self.l1) * _abs_gradient(w)


@dataclass(frozen=True, repr=False)
class L2(Regularizer):
    """`l2 · Σw²`."""

    l2: float = 0.01
    keras_name = "L2"

    def penalty(self, w):
        return np.float32(self.l2) * np.sum(np.square(w), dtype=np.float32)

    def gradient(self, w):
        return np.float32(self.l2) * (2 * w)


@dataclass(frozen=True, repr=False)
class L1L2(Regularizer):
    """`l1 · Σ|w| + l2 · Σw²`, each term only when its factor is not 0 (Keras's string "l1_l2" has both 0)."""

    l1: float = 0.0
    l2: float = 0.0
    keras_name = "L1L2"

    def _terms(self) -> list[Regularizer]:
        return [term for term, factor in ((L1(self.l1), self.l1), (L2(self.l2), self.l2)) if factor != 0]

    def penalty(self, w):
        total = np.float32(0)
        for term in self._terms():
            total = total + term.penalty(w)
        return total

    def gradient(self, w):
        total = np.zeros_like(w, dtype=np.float32)
        for term in self._terms():
            total += term.gradient(w)
        return total


@dataclass(frozen=True, repr=False)
class OrthogonalRegularizer(Regularizer):
    """`factor · ½ Σ_{i≠j} |u_i · u_j| / pairs` over the L2-normalised rows u (mode "rows") or columns ("columns") of
    a matrix: how far they are from orthogonal to each other."""

    factor: float = 0.01
    mode: str = "rows"
    keras_name = "OrthogonalRegularizer"

    def __post_init__(self):
        if self.mode not in ("rows", "columns"):
            raise LayerConfigError(f'OrthogonalRegularizer\'s mode must be "rows" or "columns"; received {self.mode!r}')

    def rank_problem(self, ndim):
        if ndim != 2:
            return f"OrthogonalRegularizer weighs matrices only (2 axes), and this weight has {ndim}"
        return None

    def _vectors(self, w: np.ndarray) -> np.ndarray:
        """The rows (or columns) as rows."""
        return w if self.mode == "rows" else w.T

    def _normalised(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, 1/‖row‖ bounded by 1/ε as Keras's normalize bounds it, whether the bound held it)."""
        inverse = 1 / np.sqrt(np.sum(np.square(v), axis=1, keepdims=True, dtype=np.float32))
        bounded = inverse >= 1 / EPSILON
        inverse = np.minimum(inverse, 1 / EPSILON)
        return v * inverse, inverse, bounded

    def penalty(self, w):
        u, _, _ = self._normalised(self._vectors(w))
        product = (u @ u.T) * (1 - np.eye(len(u), dtype=np.float32))
        pairs = np.float32(len(u) * (len(u) - 1.0) / 2.0)  # 0 for one vector: the penalty is NaN, as Keras's is
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.float32(self.factor) * np.float32(0.5) * np.sum(np.abs(product), dtype=np.float32) / pairs

    def gradient(self, w):
        v = self._vectors(w)
        u, inverse, bounded = self._normalised(v)
        mask = 1 - np.eye(len(u), dtype=np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):  # one vector: NaN, as JAX's ∞ · 0 gives
            scale = np.float32(self.factor) * np.float32(0.5) / np.float32(len(u) * (len(u) - 1.0) / 2.0)
            signs = scale * _abs_gradient((u @ u.T) * mask) * mask
        du = (signs + signs.T) @ u
        # through u = v / ‖v‖ (a constant 1/ε where the bound held): (du − u (u · du)) / ‖v‖
        along = np.where(bounded, 0, np.sum(u * du, axis=1, keepdims=True))
        dv = (du - u * along) * inverse
        return dv if self.mode == "rows" else dv.T

    def cost(self, shape):
        if len(shape) != 2:
            return super().cost(shape)
        rows, columns = shape if self.mode == "rows" else shape[::-1]
        return 2 * rows * rows * columns, 12 * rows * columns + 6 * rows * rows, 2 * rows * rows + 3 * rows * columns


CLASSES = {cls.keras_name: cls for cls in (L1, L2, L1L2, OrthogonalRegularizer)}
ALIASES = {**CLASSES, "l1": L1, "l2": L2, "l1_l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}


def get(identifier, what: str = "a regularizer") -> Regularizer | None:
    """The Regularizer `identifier` names, as keras.regularizers.get reads it (None for none); a LayerConfigError
    saying what is accepted otherwise."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return _class_named(identifier, what)()
    if isinstance(identifier, dict):
        name, config = identifier.get("class_name"), identifier.get("config", {})
        if not isinstance(name, str) or not isinstance(config, dict):
            raise LayerConfigError(f'{what}: a config dict needs a class_name such as "L2" and a config dict')
        return _made(_class_named(name, what), config, what)
    keras_like = type(identifier).__name__
    if keras_like in CLASSES and callable(getattr(identifier, "get_config", None)):  # a Keras regularizer object
        return _made(CLASSES[keras_like], identifier.get_config(), what)
    raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(identifier)}")


def from_text(text, what: str = "a regularizer") -> Regularizer | None:
    """A Regularizer from an editor's text: empty or none for none, a name (`l2`), a class with literal arguments
    (`L2(0.01)`, `keras.regularizers.L1L2(l1=0.01)`), or a Keras config as JSON; read, never evaluated."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise LayerConfigError(f"{what} must be text of at most {MAX_TEXT_CHARS} characters, such as L2(0.01)")
    text = text.strip()
    if text.lower() in ("", "none"):
        return None
    if text.startswith("{"):
        try:
            return get(json.loads(text), what)
        except (ValueError, RecursionError):
            raise LayerConfigError(f"{what}: {_short(text)} is not a valid JSON config") from None
    try:
        name, call = split_call(text, "regularizers")
        cls = _class_named(name, what)
        positional, keywords = call_arguments(call) if call is not None else ([], {})
    except NotACall:
        raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(text)}") from None
    order = [f.name for f in fields(cls)]
    if len(positional) > len(order) or None in keywords:
        raise LayerConfigError(f"{what}: {cls.keras_name} takes {', '.join(order)}; received {_short(text)}")
    return _made(cls, {**dict(zip(order, positional)), **keywords}, what)


def _class_named(name: str, what: str) -> type[Regularizer]:
    if name not in ALIASES:
        raise LayerConfigError(f"{what} must be {ACCEPTED}; received {_short(name)}")
    return ALIASES[name]


def _made(cls: type[Regularizer], config: dict, what: str) -> Regularizer:
    """`cls` from Keras's config: its factors finite numbers (None meaning Keras's default, as Keras reads it)."""
    known = {f.name: f.default for f in fields(cls)}
    unknown = set(config) - set(known)
    if unknown:
        raise LayerConfigError(f"{what}: {cls.keras_name} has no argument {', '.join(sorted(map(str, unknown)))[:60]}")
    values = {}
    for name, default in known.items():
        value = config.get(name, default)
        if name == "mode":
            values[name] = value
            continue
        value = default if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise LayerConfigError(
                f"{what}: {cls.keras_name}'s {name} must be a number of at least 0; received {_short(value)}"
            )
        values[name] = float(value)
    return cls(**values)
