"""Keras 3 JSON: `to_json` writes what keras.models.model_from_json loads, and back again.

Reading is bounded and trusts nothing: the text's size first, its nesting, then its structure; layers are made
from their class names through the kind registry, and a layer's `build_config` is kept as the shape
it was built for (so an inconsistent document fails as in Keras) without allocating any weight.
Sequential models and Functional models that are a chain of layers are read (each layer called once on
the one before, by position or by keyword; one input and one output, also in a list or a dict); branches,
shared layers, several inputs or outputs and nested models are refused, each with its reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .errors import InputDataError, NetbuilderError
from .graph import InputLayer
from .layer import DTYPE_POLICY, KINDS, OPERATIONS, REFUSED_KINDS, Layer
from .limits import MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_LAYERS
from .shapes import check_input_shape
from .tensors import KerasTensor


def _entry(layer: Layer, build_shape=None) -> dict:
    entry = {
        "module": layer.keras_module,
        "class_name": layer.kind,
        "config": layer.keras_config(),
        "registered_name": layer.keras_registered_name,
    }
    if layer.is_model:  # a model inside another: its own build_config, and an empty compile_config (as Keras writes it)
        entry["build_config"], entry["compile_config"] = layer.build_config(), {}
    elif build_shape is not None:
        entry["build_config"] = layer.keras_build_config(build_shape)
    return entry


def _input_entry(batch_shape: tuple, name: str) -> dict:
    """An InputLayer's entry, its keys in Keras's order."""
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape,
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
            "optional": False,
        },
        "registered_name": None,
    }


def model_config(model) -> dict:
    """Keras's `model.get_config()` for a Sequential: name, trainable, dtype, layers, build_input_shape.

    Shapes are tuples, as in Keras's get_config (json.dumps writes them as lists)."""
    input_shape = tuple(model.input_shape)
    layers = [_input_entry(input_shape, getattr(model._input_layer, "name", None) or "input_layer")]
    for layer in model.layers:
        layers.append(_entry(layer, None if layer.builds_at_init else layer.input_shape))
    return {
        "name": model.name,
        "trainable": True,
        "dtype": DTYPE_POLICY,
        "layers": layers,
        "build_input_shape": input_shape,
    }


def to_json(model) -> str:
    """The model's architecture as Keras 3 writes it (weights are not part of Keras JSON)."""
    doc = {
        "module": "keras",
        "class_name": "Sequential",
        "config": model_config(model),
        "registered_name": None,
        "build_config": model.build_config(),
        "compile_config": {},
    }
    return json.dumps(doc)


def functional_config(model) -> dict:
    """Keras's `get_config()` of a Functional model: every layer in model.layers with its calls (`inbound_nodes`, each
    tensor as `[layer name, node index, tensor index]` among the calls of this model), and the inputs and outputs in
    the structure the model was given them."""
    graph = model.graph
    layers = []
    for layer in graph.layers:
        if isinstance(layer, InputLayer):
            layers.append({**_input_entry(layer.batch_shape, layer.name), "name": layer.name, "inbound_nodes": []})
            continue
        entry = _entry(layer, None if layer.builds_at_init else layer.built_shape)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [
            {"args": _args_config(node.args, graph), "kwargs": _args_config(node.kwargs, graph)}
            for node in graph.calls(layer)
        ]
        layers.append(entry)
    return {
        "name": model.name,
        "trainable": True,
        "layers": layers,
        "input_layers": _history_config(graph.input_structure, graph),
        "output_layers": _history_config(graph.output_structure, graph),
    }


def functional_json(model) -> str:
    """A Functional model as Keras 3 writes it (weights are not part of Keras JSON)."""
    return json.dumps(
        {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": functional_config(model),
            "registered_name": "Functional",
            "build_config": model.build_config(),
            "compile_config": {},
        }
    )


def _history(tensor: KerasTensor, graph, first: int = 0) -> list:
    """[layer name, index of the call among the layer's calls in this graph (after `first`), output index] (Keras's
    keras_history)."""
    calls = graph.calls(tensor.node.layer)
    return [tensor.node.layer.name, first + calls.index(tensor.node), tensor.index]


def _history_config(structure, graph):
    """The model's inputs or outputs: Keras counts a Functional's calls there from 1 (its own graph is node 0)."""
    if isinstance(structure, KerasTensor):
        return _history(structure, graph, structure.node.layer.keras_first_node)
    if isinstance(structure, dict):
        return {k: _history_config(v, graph) for k, v in structure.items()}
    return [_history_config(v, graph) for v in structure]


def _args_config(value, graph):
    """A call's arguments as Keras serializes them: each tensor a `__keras_tensor__` with its shape and history."""
    if isinstance(value, KerasTensor):
        return {
            "class_name": "__keras_tensor__",
            "config": {"shape": list(value.shape), "dtype": "float32", "keras_history": _history(value, graph)},
        }
    if isinstance(value, dict):
        return {k: _args_config(v, graph) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_args_config(v, graph) for v in value]
    return value


def _fail(message: str):
    raise InputDataError(f"Cannot read this Keras JSON: {message}")


def _shape_from(value, what: str) -> tuple[int, ...]:
    """A per-sample shape from a Keras batch shape such as [null, 3, 2]."""
    if not isinstance(value, list) or not value:
        _fail(f"{what} must be a list such as [null, 3, 2]")
    if any(d is None for d in value[1:]):
        _fail(f"{what} {str(value)[:60]} has an unknown (null) dimension; netbuilder needs every dimension known")
    return check_input_shape(value[1:])


def _class_of(entry: dict) -> type[Layer] | None:
    """The kind (or keras.ops operation) a JSON entry names, or None when netbuilder has none."""
    module, name = entry.get("module"), entry.get("class_name")
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        return OPERATIONS.get((module, name))
    return KINDS.get(name)


def _refuse_models(entries: list, nested, why: str) -> None:
    """Refuse a model among `entries` when there is no `nested` to make it."""
    models = [e for e in entries if e.get("class_name") in _MODEL_CLASSES]
    if models and nested is None:
        _fail(
            f"layer {str(models[0]['config'].get('name'))[:40]!r} is a whole {models[0]['class_name']} model inside "
            f"this one (a nested model); {why}: put its layers in line instead"
        )


def _layer_from(entry: dict, nested=None) -> Layer:
    if entry.get("class_name") in _MODEL_CLASSES:
        return nested(entry)
    cls, config = _class_of(entry), entry["config"]
    layer = cls.from_config(config)
    build = (entry.get("build_config") or {}).get("input_shape")
    if (
        build and not cls.builds_at_init and not cls.takes_list
    ):  # a merge's build_config lists shapes, and no weight needs them
        shape = (None, *_shape_from(build, f"{cls.kind} {config.get('name')!r} build_config input_shape"))
        if layer.weight_specs(shape):  # the size it was built for matters only where weights have it
            layer.built_shape = shape
    return layer


# a whole string (brackets inside it don't count), or one that never ends and all after it: json.loads fails there
_STRING_OR_REST = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|"[\s\S]*')
_DEPTH_STEP = np.zeros(256, np.int8)  # each byte's change of depth: +1 for an opening bracket, -1 for a closing one
_DEPTH_STEP[[ord("["), ord("{")]], _DEPTH_STEP[[ord("]"), ord("}")]] = 1, -1
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"')))  # every byte but brackets and quotes


def json_too_deep(text: str, limit: int) -> bool:
    """Whether JSON `text` nests arrays and objects more than `limit` deep, found without parsing or recursing
    (json.loads recurses; brackets inside strings don't count), in C: bytes.translate keeps the brackets and quotes
    (a sixth of a model's JSON), NumPy follows them."""
    if "\\" in text:  # escaped quotes: the strings found by a regular expression, and taken out
        text = _STRING_OR_REST.sub("", text)
    structure = text.encode("utf-8", "surrogatepass").translate(None, _NOT_STRUCTURE)
    codes = np.frombuffer(structure, np.uint8)
    # a bracket is inside a string after an odd number of quotes (one never closed runs to the end; with escapes, the
    # strings are gone already); the count's parity survives its wrapping
    codes = codes[np.cumsum(codes == ord('"'), dtype=np.uint8) % 2 == 0]
    steps = _DEPTH_STEP[codes]
    steps = steps[steps != 0]
    return steps.size > limit and bool(np.cumsum(steps, dtype=np.int64).max() > limit)


def read_json(text) -> dict:
    """The parsed document of a Keras JSON text, within MAX_JSON_CHARS and MAX_JSON_DEPTH; InputDataError otherwise."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        _fail("expected a JSON string")
    if len(text) > MAX_JSON_CHARS:
        _fail(f"it has {len(text):,} characters; at most {MAX_JSON_CHARS:,} are allowed")
    if json_too_deep(text, MAX_JSON_DEPTH):
        _fail(
            f"it is nested more than {MAX_JSON_DEPTH} levels deep; a model from Keras's to_json() nests fewer than 20."
        )
    try:
        return json.loads(text)
    except RecursionError:  # cannot happen after json_too_deep; kept as a backstop
        _fail("it is nested too deeply")
    except ValueError as e:
        _fail(f"it is not valid JSON ({e})")


class KerasDocument(NamedTuple):
    """What a Keras model JSON describes; nothing is built."""

    name: str | None
    input_shape: tuple[int, ...] | None  # per sample
    layers: list[Layer]
    functional: bool  # a Functional model (its summary lists the InputLayer)
    input_name: str | None = None  # its InputLayer's name


def layers_from_json(text) -> KerasDocument:
    """The model name, per-sample input shape (or None) and layers of a Keras 3 model JSON of a chain (a Sequential, or
    a Functional model whose layers form one chain)."""
    return chain_document(read_json(text))


def chain_document(doc, nested: Callable[[dict], Layer] | None = None) -> KerasDocument:
    """`layers_from_json` of a parsed document; a model among its layers is made by `nested` (refused without it)."""
    try:
        return _read(doc, nested)
    except NetbuilderError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        _fail(f"unexpected structure ({type(e).__name__}: {str(e)[:120]})")


def functional_from_json(doc: dict, nested: Callable[[dict], Layer] | None = None) -> tuple[str | None, object, object]:
    """(name, inputs, outputs) of a Functional model's parsed JSON, rebuilt as Keras rebuilds it: each layer made from
    its class (a model among them by `nested`, refused without it), then called on the tensors its `inbound_nodes`
    name, a call waiting until every tensor it takes has been made, each layer's calls in their order. A layer that
    cannot take what it is called on fails as in Keras."""
    try:
        return _rebuild_functional(doc["config"], nested)
    except NetbuilderError:  # a layer that cannot take what it is called on says so itself, as in Keras
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        _fail(f"unexpected structure ({type(e).__name__}: {str(e)[:120]})")


def _rebuild_functional(config: dict, nested):
    entries = _layer_entries(config, nested)
    made: dict[str, Layer] = {}
    queues: list[tuple[Layer, list]] = []
    for entry in entries:
        name = entry.get("name", entry["config"].get("name"))
        if not isinstance(name, str) or name in made:
            _fail(f"every layer needs a name of its own; {str(name)[:40]!r} is missing or used twice")
        if entry["class_name"] == "InputLayer":
            layer = InputLayer(_input_shape(entry["config"]), name)
        else:
            layer = _layer_from(entry, nested)
            layer.name, layer._auto_named = name, False
        made[name] = layer
        nodes = entry.get("inbound_nodes") or []
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            _fail(f"layer {name[:40]!r} has inbound_nodes that are not a list of calls")
        queues.append((layer, list(nodes)))
    waiting = sum(len(nodes) for _, nodes in queues)
    while waiting:
        progressed = False
        for layer, nodes in queues:
            while nodes and (args := _call_arguments(nodes[0], made)) is not None:
                layer(*args[0], **args[1])
                nodes.pop(0)
                waiting -= 1
                progressed = True
        if not progressed:
            stuck = next(layer.name for layer, nodes in queues if nodes)
            _fail(f"layer {stuck[:40]!r} is called on a tensor no layer of the model makes")
    return (
        config.get("name"),
        _tensors_of(config.get("input_layers"), made),
        _tensors_of(config.get("output_layers"), made),
    )


def _layer_entries(config: dict, nested) -> list[dict]:
    """The layer entries of a model config, checked (a nested model refused by name when there is no `nested`)."""
    return _supported(_entries(config), nested, "netbuilder reads a model inside another only as part of a whole model")


def _entries(config: dict) -> list[dict]:
    """A model config's layer entries: a list of bounded size, each with a config."""
    entries = config.get("layers")
    if not isinstance(entries, list):
        _fail("config.layers must be a list")
    if len(entries) > MAX_LAYERS + 1:
        _fail(f"it has {len(entries):,} layers; at most {MAX_LAYERS:,} are allowed")
    if not all(isinstance(e, dict) and isinstance(e.get("config"), dict) for e in entries):
        _fail("every layer needs a 'class_name' and a 'config' object")
    return entries


def _supported(entries: list[dict], nested, why: str) -> list[dict]:
    """The entries, each of a kind netbuilder has (models refused, saying `why`, when there is no `nested`)."""
    _refuse_models(entries, nested, why)
    for e in entries:
        if e.get("class_name") in REFUSED_KINDS:
            _fail(f"layer {str(e['config'].get('name', '?'))[:40]!r}: {REFUSED_KINDS[e['class_name']]}")
    unsupported = [
        f"{e['config'].get('name', '?')} ({e.get('class_name')})"
        for e in entries
        if e.get("class_name") not in ("InputLayer", *_MODEL_CLASSES) and _class_of(e) is None
    ]
    if unsupported:
        _fail(
            f"unsupported layers: {', '.join(str(u)[:80] for u in unsupported[:20])}. "
            f"netbuilder supports {', '.join(sorted(KINDS))}."
        )
    return entries


def _input_shape(cfg: dict) -> tuple[int, ...]:
    """An InputLayer's per-sample shape from its config (Keras 3's batch_shape, or older names)."""
    if "batch_shape" in cfg or "batch_input_shape" in cfg:
        return _shape_from(cfg.get("batch_shape", cfg.get("batch_input_shape")), "InputLayer batch_shape")
    if "shape" in cfg:
        return _shape_from([None, *cfg["shape"]], "InputLayer shape")
    _fail("InputLayer needs batch_shape or shape")


def _tensor(history, made: dict, first: bool = False) -> KerasTensor | None:
    """The tensor [layer name, call index, output index] names, once that call has been made (else None); with `first`,
    a Functional's calls count from its keras_first_node (as in a model's input_layers and output_layers)."""
    if not (
        isinstance(history, list)
        and len(history) == 3
        and isinstance(history[0], str)
        and all(isinstance(k, int) and not isinstance(k, bool) for k in history[1:])
    ):
        _fail(f"a tensor must be named as [layer name, node index, tensor index]; found {str(history)[:60]}")
    layer = made.get(history[0])
    if layer is None:
        _fail(f"a call takes a tensor of layer {history[0][:40]!r}, which the model does not have")
    nodes, index = layer._inbound_nodes, history[1] - (layer.keras_first_node if first else 0)
    if index < 0:
        _fail(f"a call takes the tensor {str(history)[:60]}, which no call of the model makes")
    if index >= len(nodes) or history[2] >= len(nodes[index].outputs):
        return None
    return nodes[index].outputs[history[2]]


def _call_arguments(node_data: dict, made: dict) -> tuple[list, dict] | None:
    """A call's (args, kwargs) with its tensors, or None while one of them has not been made yet."""
    missing = []

    def convert(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            tensor = _tensor((value.get("config") or {}).get("keras_history"), made)
            if tensor is None:
                missing.append(1)
            return tensor
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    args, kwargs = convert(node_data.get("args", [])), convert(node_data.get("kwargs", {}))
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        _fail("a call's args must be a list and its kwargs an object")
    return None if missing else (args, kwargs)


def _tensors_of(value, made: dict):
    """A model's inputs or outputs from input_layers/output_layers: one [name, node, tensor], a list or a dict of
    them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        tensor = _tensor(value, made, first=True)
        if tensor is None:
            _fail(f"the model names the tensor {str(value)[:60]}, which no call makes")
        return tensor
    if isinstance(value, dict) and value:
        return {str(k): _tensors_of(v, made) for k, v in value.items()}
    if isinstance(value, list) and value:
        return [_tensors_of(v, made) for v in value]
    _fail(
        "input_layers and output_layers must name tensors as [layer name, node index, tensor index]; "
        f"found {str(value)[:60]}"
    )


def _read(doc, nested):
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        _fail(f"expected a model (from model.to_json()); found {type(doc).__name__}")
    model_class, config = doc.get("class_name"), doc["config"]  # Sequential or Functional (a layer's class is its kind)
    entries = _entries(config)
    if model_class in _FUNCTIONAL:
        entries = _chain(config, entries)
    elif model_class != "Sequential":
        _fail(f"expected a Sequential or Functional model (from model.to_json()); found {str(model_class)[:60]!r}")
    _supported(entries, nested, _CHAIN)
    input_shape = input_name = None
    if entries and entries[0]["class_name"] == "InputLayer":
        cfg = entries.pop(0)["config"]
        input_name = cfg.get("name")
        if "batch_shape" in cfg or "batch_input_shape" in cfg:
            input_shape = _shape_from(cfg.get("batch_shape", cfg.get("batch_input_shape")), "InputLayer batch_shape")
        elif "shape" in cfg:
            input_shape = _shape_from([None, *cfg["shape"]], "InputLayer shape")
        else:
            _fail("InputLayer needs batch_shape or shape")
    if any(e["class_name"] == "InputLayer" for e in entries):
        _fail("an InputLayer can only come first")
    if input_shape is None and config.get("build_input_shape") is not None:
        input_shape = _shape_from(config["build_input_shape"], "build_input_shape")
    name = config.get("name")
    return KerasDocument(
        name if isinstance(name, str) else None,
        input_shape,
        [_layer_from(e, nested) for e in entries],
        model_class in _FUNCTIONAL,
        input_name if isinstance(input_name, str) else None,
    )


_CHAIN = "netbuilder's editor reads a single chain of layers"
_FUNCTIONAL = ("Functional", "Model")  # what Keras 3 names a keras.Model(inputs, outputs) (Model: older files)
_MODEL_CLASSES = ("Sequential", *_FUNCTIONAL)


def _one_ref(value, what: str) -> str:
    """The layer name of Keras's ["name", 0, 0]; also of the only one in a list or dict of them (Keras writes
    `keras.Model([x], [y])` as [["x", 0, 0]] and `keras.Model({"x": x}, y)` as {"x": ["x", 0, 0]})."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)):
        _fail(f"this Functional model has several {what}s; {_CHAIN}")
    return value[0]


def _tensors(node: dict) -> list:
    """The Keras tensors a call takes, in its args or its kwargs (`Dense(2)(inputs=x)`), however nested."""
    found, stack, seen = [], [node.get("args"), node.get("kwargs")], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > 10_000:
            _fail("a layer's call holds too many values")
        if isinstance(value, dict):
            config = value.get("config")
            if isinstance(config, dict) and "keras_history" in config:
                found.append(config["keras_history"])
            else:
                stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _chain(config: dict, entries: list) -> list:
    """A Functional model's layers in order, when they form one chain from its input to its output."""
    first, last = _one_ref(config.get("input_layers"), "input"), _one_ref(config.get("output_layers"), "output")
    by_name, parent = {}, {}
    for e in entries:
        layer_name = e.get("name", e["config"].get("name"))
        by_name[layer_name] = e
        if e.get("class_name") == "InputLayer":
            continue
        where = f"layer {str(layer_name)[:40]!r}"
        nodes = e.get("inbound_nodes") or []
        if not isinstance(nodes, list) or not all(isinstance(node, dict) for node in nodes):
            _fail(f"{where} has inbound_nodes that are not a list of calls")
        if len(nodes) > 1:
            _fail(
                f"{where} is used several times (a shared layer: one set of weights at {len(nodes)} places); {_CHAIN}"
            )
        tensors = _tensors(nodes[0]) if nodes else []
        if len(tensors) != 1:
            _fail(f"{where} takes {'several inputs (a branch)' if tensors else 'no input'}; {_CHAIN}")
        history = tensors[0]
        if not (isinstance(history, list) and history and isinstance(history[0], str)):
            _fail(f"{where} is called on a tensor without a layer name (keras_history)")
        parent[layer_name] = history[0]
    chain, at = [], last
    while at != first:
        if at not in parent or len(chain) > len(entries):
            _fail("its output is not reached from its input through one chain of layers")
        chain.append(by_name[at])
        at = parent[at]
    if len(chain) + 1 != len(entries):
        _fail(f"it has layers outside the chain from input to output (a branch); {_CHAIN}")
    return [by_name[first], *reversed(chain)]
