"""Symbolic tensors and the calls that make them: what Keras's functional API builds when a layer is called on a tensor.

A `KerasTensor` knows its shape (the batch axis as None) and its history: the `Node` (one call of a layer) that made
it and which of that call's outputs it is. A node keeps the call as it was made — its positional and keyword
arguments, where the tensors sit inside lists or dicts — because Keras's JSON writes calls that way. Nothing here
computes numbers; engine/graph.py orders the calls of a model, engine/model.py runs them.
"""

from __future__ import annotations

from typing import NamedTuple

from .shapes import format_shape

# keras.ops behind `+` and `*` on tensors ("add" → the operation's class), filled in by engine/kinds/numpy_ops.py (which
# builds on this module): `x + 3.0` is a call of keras.src.ops.numpy.Add, as in Keras.
OPERATORS: dict = {}


class KerasTensor:
    """A symbolic tensor: `shape` (batch axis None), made by output `index` of `node` (None: not made by a call yet)."""

    __slots__ = ("shape", "node", "index", "integers")

    def __init__(self, shape: tuple, node: Node | None = None, index: int = 0, integers: bool = False):
        self.shape = tuple(shape)
        self.node, self.index = node, index
        self.integers = integers  # its values are the model input's, moved around (Embedding may read them as ids)

    @property
    def history(self) -> History:
        """Keras's _keras_history: (layer, node index within the layer's calls, tensor index within the call's
        outputs)."""
        return History(self.node.layer, self.node.layer._inbound_nodes.index(self.node), self.index)

    @property
    def name(self) -> str | None:
        return self.node.layer.name if self.node is not None else None

    def __repr__(self):
        return f"<KerasTensor shape={format_shape(self.shape)}>"

    def __add__(self, other):
        return OPERATORS["add"]()(self, other)

    def __radd__(self, other):
        return OPERATORS["add"]()(other, self)

    def __mul__(self, other):
        return OPERATORS["multiply"]()(self, other)

    def __rmul__(self, other):
        return OPERATORS["multiply"]()(other, self)


class History(NamedTuple):
    layer: object
    node_index: int
    tensor_index: int


class Node:
    """One call of a layer: its arguments as given (tensors inside them) and the tensors it made."""

    __slots__ = ("layer", "args", "kwargs", "outputs")

    def __init__(self, layer, args: tuple, kwargs: dict, outputs: tuple[KerasTensor, ...]):
        self.layer, self.args, self.kwargs = layer, tuple(args), dict(kwargs)
        self.outputs = outputs

    @property
    def inputs(self) -> list[KerasTensor]:
        """The tensors the call took, in Keras's order: the positional arguments, then the keyword ones."""
        return call_tensors(self.args, self.kwargs)

    @property
    def is_input(self) -> bool:
        return not self.args and not self.kwargs


def flatten(structure) -> list[KerasTensor]:
    """The KerasTensors in a nest of lists, tuples and dicts, in order (dicts by their keys' order, as Keras's tree)."""
    found, stack = [], [structure]
    while stack:  # iterative: a structure is the visitor's, and must not recurse without bound
        item = stack.pop()
        if isinstance(item, KerasTensor):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item[k] for k in reversed(sorted(item)))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
    return found


def call_tensors(args: tuple, kwargs: dict) -> list[KerasTensor]:
    """flatten((args, kwargs)), quickly for the usual call: on one tensor, or on one list of tensors (Keras's JSON
    gives many calls `mask=None`, which holds no tensor)."""
    if len(args) == 1 and all(value is None for value in kwargs.values()):
        only = args[0]
        if isinstance(only, KerasTensor):
            return [only]
        if isinstance(only, (list, tuple)) and all(isinstance(t, KerasTensor) for t in only):
            return list(only)
    return flatten((args, kwargs))


def pack(structure, values: list):
    """`structure` with its KerasTensors replaced by `values`, in flatten's order (Keras's pack_sequence_as)."""
    values = iter(values)

    def fill(item):
        if isinstance(item, KerasTensor):
            return next(values)
        if isinstance(item, dict):  # filled in flatten's order (sorted keys), kept in the dict's own
            filled = {k: fill(item[k]) for k in sorted(item)}
            return {k: filled[k] for k in item}
        if isinstance(item, (list, tuple)):
            return type(item)(fill(x) for x in item)
        return item

    return fill(structure)
