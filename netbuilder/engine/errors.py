"""The engine's error types: every one is a ValueError, so callers can catch one thing."""

from __future__ import annotations

from dataclasses import dataclass, field


class NetbuilderError(ValueError):
    """Base of every error the engine raises on purpose (bad arguments, shapes, limits, input)."""

    def __init__(self, message: str, issue: ShapeIssue | None = None):
        super().__init__(message)
        self.issue = issue  # the structured details, when the error is about a layer of a model


class LayerConfigError(NetbuilderError):
    """A layer argument is invalid (units ≤ 0, an unknown activation, a bad data_format...)."""


class LimitError(NetbuilderError):
    """A documented bound or budget (netbuilder.limits) would be exceeded."""


class InputDataError(NetbuilderError):
    """Input data is malformed: not numeric, ragged, too large, or unparseable text."""


class TrainingError(NetbuilderError):
    """A training run cannot go on: its loss or gradients are no longer finite numbers."""


@dataclass(frozen=True)
class Fix:
    """A suggested repair: `action` is machine-readable, `description` is for people.

    Actions: "insert_layer" (at `layer_index`; value = (kind, settings dict)), "set_setting" (of layer
    `layer_index`; value = (name, new value)), "set_input_shape" (value = the shape), "remove_layer".
    """

    action: str
    description: str
    layer_index: int | None = None
    value: object = None


@dataclass(frozen=True)
class ShapeIssue:
    """Why a layer cannot accept the tensor it receives, in plain language, with fixes."""

    layer_index: int  # position in model.layers; -1 for the model input itself
    layer_name: str
    kind: str  # the layer's kind (its Keras class name), e.g. "Dense"
    expected: str  # e.g. "last axis of size 48" or "shape (3, 2) per sample"
    received: tuple  # the full shape received, batch axis included (None when symbolic)
    message: str  # one sentence naming the layer and both shapes
    explanation: str  # why, for a learner
    fixes: tuple[Fix, ...] = field(default_factory=tuple)
    keras_message: str = ""  # what Keras 3 says in the same situation ("" where Keras accepts it)
    category: str = "shape"  # "shape", or "limit" when a documented bound or budget is exceeded


class IncompatibleShapeError(NetbuilderError):
    """A layer cannot take the shape it receives; `.issue` holds the structured details."""


def issue_error(issue: ShapeIssue) -> NetbuilderError:
    """The exception to raise for `issue`: LimitError for a bound, else IncompatibleShapeError."""
    return (LimitError if issue.category == "limit" else IncompatibleShapeError)(issue.message, issue)
