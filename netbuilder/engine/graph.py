"""The graph of a functional model: its Input layers, the calls between them, and Keras's order of its layers.

`Input(shape)` makes an InputLayer and the tensor it gives; calling layers on tensors records each call (a `Node`,
engine/tensors.py). `Graph(inputs, outputs)` walks back from the outputs as Keras's `map_graph` does: the calls that
matter, each call's depth (the longest path from it to an output), the layers deepest first (ties in the order the
walk first met them — Keras's `model.layers`, summary rows and weights order), the calls in an order that runs, and
Keras's refusals (an output not computed from the inputs, one name used twice). Every walk is iterative: a graph
read from a visitor's JSON may be thousands of calls deep.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .errors import LayerConfigError
from .layer import Layer, check_name, snake_case
from .shapes import Shape, check_input_shape
from .tensors import KerasTensor, Node, flatten


class InputLayer(Layer):
    """The model's input: no weights, no computation; the tensor it makes stands for the data given to predict."""

    kind = "InputLayer"
    keeps_values = True

    def __init__(self, shape: Shape, name=None):
        super().__init__(name=name)
        self.batch_shape = (None, *check_input_shape(shape))
        self.built_shape = self.input_shape = self.output_shape = self.batch_shape
        node = Node(self, (), {}, ())
        node.outputs = (KerasTensor(self.batch_shape, node, 0, integers=True),)
        self._inbound_nodes.append(node)

    @property
    def output(self) -> KerasTensor:
        return self._inbound_nodes[0].outputs[0]

    def call(self, x: np.ndarray) -> np.ndarray:
        return x


def Input(
    shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None, optional=False
):
    """A model input, as keras.Input: `shape` excludes the batch axis (Input((3, 2)) is (None, 3, 2))."""
    for argument, value, default in (
        ("batch_size", batch_size, None),
        ("sparse", sparse, None),
        ("tensor", tensor, None),
        ("optional", optional, False),
    ):
        if value is not default and value != default:
            raise LayerConfigError(
                f"Input({argument}=...) is not supported by netbuilder: every batch size is taken and "
                "inputs are dense float32 tensors"
            )
    if dtype not in (None, "float32"):
        raise LayerConfigError(f"Input(dtype=...) must be float32 in netbuilder; received {str(dtype)[:20]!r}")
    if shape is None and batch_shape is None:
        raise LayerConfigError("You must pass a `shape` argument to Input (the shape of one sample, e.g. (28, 28, 1))")
    if shape is None:
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise LayerConfigError("Input's batch_shape must be a tuple such as (None, 28, 28, 1)")
        shape = tuple(batch_shape)[1:]
    return InputLayer(shape, check_name(name)).output


def input_name(k: int) -> str:
    """A model's input k as Keras names it in a fresh session: input_layer, input_layer_1, ..."""
    return "input_layer" if k == 0 else f"input_layer_{k}"


def connect(layer: Layer, tensors: list[KerasTensor]) -> KerasTensor:
    """`layer` called on `tensors` as a list of layers with inputs describes it: a merge on the list, attention on
    separate arguments (one tensor attends to itself, `mha(x, x)`), any other kind on its one tensor."""
    if layer.separate_arguments:
        return layer(*(tensors * 2 if len(tensors) == 1 else tensors))
    if layer.takes_list:
        return layer(list(tensors))
    if len(tensors) != 1:
        raise LayerConfigError(f"{layer.kind} takes one tensor; it was given {len(tensors)}")
    return layer(tensors[0])


class Graph:
    """The calls from `inputs` to `outputs` (structures of KerasTensors: one, a list, or a dict), as Keras orders
    them."""

    def __init__(self, inputs, outputs):
        self.input_structure, self.output_structure = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        for role, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not tensors or len(tensors) != len(_leaves(inputs if role == "inputs" else outputs)):
                raise LayerConfigError(
                    f"Model({role}=...) takes tensors made by Input(...) and layers (one, a list or a dict of them)"
                )
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise LayerConfigError("Model(inputs=...) takes the tensors returned by Input(...)")
        walked, first_seen = _walk_back(self.outputs)
        depth = _depths(walked)
        used = {id(t.node) for t in self.inputs}
        for node in walked:
            if node.is_input and id(node) not in used:
                raise LayerConfigError(
                    f"Output with path `{self.output_names()[0]}` is not connected to `inputs`: it needs "
                    f"the input {node.layer.name or 'input_layer'!r}, which is not among the model's inputs"
                )
        for t in self.inputs:  # an input no output needs is kept (Keras keeps it, at depth 0)
            if id(t.node) not in depth:
                depth[id(t.node)] = 0
                first_seen.setdefault(id(t.node.layer), -1)
                walked.insert(0, t.node)
        layer_depth: dict[int, int] = {}
        for node in walked:
            layer_depth[id(node.layer)] = max(layer_depth.get(id(node.layer), 0), depth[id(node)])
        layers = {id(node.layer): node.layer for node in walked}
        self.layers: list[Layer] = sorted(
            layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)])
        )
        self.nodes: list[Node] = sorted(walked, key=lambda node: -depth[id(node)])  # every call after those it needs
        self.depth = depth  # each call's depth (by id): Keras's summary asks whether there is one call at each
        self.node_ids = {id(node) for node in self.nodes}
        self._name_layers()

    def _name_layers(self) -> None:
        """Each layer's name as a fresh Keras session gives it: explicit names kept, the others counted per kind in the
        order the layers were made (input_layer, input_layer_1; dense, dense_1, ...), the layers inside a model used as
        a layer counted too; one name used twice among this model's layers is refused."""
        counters: dict[str, int] = {}
        for layer in sorted(_with_nested(self.layers), key=lambda layer: layer._created):
            if layer._auto_named:
                prefix = "input_layer" if isinstance(layer, InputLayer) else snake_case(layer.kind)
                n = counters.get(prefix, 0)
                counters[prefix] = n + 1
                layer.name = prefix if n == 0 else f"{prefix}_{n}"
        names = [layer.name for layer in self.layers]
        counts = Counter(names)
        for name in names:
            if counts[name] > 1:
                raise LayerConfigError(
                    f'The name "{name}" is used {counts[name]} times in the model. All operation '
                    "names should be unique."
                )

    def output_names(self) -> list[str]:
        return [t.node.layer.name or "output" for t in self.outputs]

    def calls(self, layer: Layer) -> list[Node]:
        """The calls of `layer` that belong to this graph (a shared layer may have calls outside it)."""
        return [node for node in layer._inbound_nodes if id(node) in self.node_ids]

    @property
    def is_chain(self) -> bool:
        """One input, and each call takes one tensor, the one made just before (Keras's sequential-like summary)."""
        calls = [node for node in self.nodes if not node.is_input]
        if len(self.inputs) != 1 or len(self.outputs) != 1 or len({id(n.layer) for n in calls}) != len(calls):
            return False
        previous = self.inputs[0]
        for node in calls:
            if node.inputs != [previous]:
                return False
            previous = node.outputs[0]
        return previous is self.outputs[0]


def _with_nested(layers: list[Layer]) -> list[Layer]:
    """`layers` and, inside each model among them, its own layers (however deep), each once."""
    found: dict[int, Layer] = {}
    stack = list(layers)
    while stack:
        layer = stack.pop()
        if id(layer) not in found:
            found[id(layer)] = layer
            if layer.is_model:
                stack.extend(layer.named_layers())
    return list(found.values())


def _leaves(structure) -> list:
    """Every leaf of a nest of lists, tuples and dicts (to tell a structure of tensors from one holding other
    things)."""
    found, stack = [], [structure]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            found.append(item)
    return found


def _walk_back(outputs: list[KerasTensor]) -> tuple[list[Node], dict[int, int]]:
    """Keras's _build_map, iteratively: the calls the outputs need, each after those it needs (a depth-first walk from
    each output in turn, a call's inputs in order), and the order in which the walk first met each layer."""
    finished: dict[int, Node] = {}
    order: list[Node] = []
    first_seen: dict[int, int] = {}
    for output in outputs:
        stack = [(output.node, False)]
        in_progress: set[int] = set()
        while stack:
            node, expanded = stack.pop()
            if id(node) in finished:
                continue
            if expanded:
                in_progress.discard(id(node))
                finished[id(node)] = node
                order.append(node)
                continue
            if id(node) in in_progress:
                raise LayerConfigError(f"Tensor from layer '{node.layer.name}' is part of a cycle.")
            first_seen.setdefault(id(node.layer), len(first_seen))
            in_progress.add(id(node))
            stack.append((node, True))
            for tensor in reversed(node.inputs):  # the first input is walked first
                if id(tensor.node) not in finished:
                    stack.append((tensor.node, False))
    return order, first_seen


def _depths(nodes: list[Node]) -> dict[int, int]:
    """Each call's depth: 0 for the last ones, else one more than the deepest call that takes what it makes (Keras)."""
    depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(nodes):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = d
        depth[id(node)] = d
        for tensor in node.inputs:
            depth[id(tensor.node)] = max(depth.get(id(tensor.node), 0), d + 1)
    return depth
