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
from typing import NamedTuple

from .errors import InputDataError, NetbuilderError
from .initializers import resolve_seed
from .layer import DTYPE_POLICY, KINDS, Layer
from .limits import MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_LAYERS
from .shapes import check_input_shape


def _entry(layer: Layer, build_shape=None) -> dict:
    entry = {"module": "keras.layers", "class_name": layer.kind, "config": layer.get_config(), "registered_name": None}
    if build_shape is not None:
        entry["build_config"] = {"input_shape": tuple(build_shape)}
    return entry


def model_config(model) -> dict:
    """Keras's `model.get_config()` for a Sequential: name, trainable, dtype, layers, build_input_shape.

    Shapes are tuples, as in Keras's get_config (json.dumps writes them as lists)."""
    input_shape = tuple(model.input_shape)
    layers = [{
        "module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
        "config": {"batch_shape": input_shape, "dtype": "float32", "sparse": False, "ragged": False,
                   "name": "input_layer", "optional": False},
    }]
    for layer in model.layers:
        layers.append(_entry(layer, None if layer.builds_at_init else layer.input_shape))
    return {"name": model.name, "trainable": True, "dtype": DTYPE_POLICY, "layers": layers, "build_input_shape": input_shape}


def to_json(model) -> str:
    """The model's architecture as Keras 3 writes it (weights are not part of Keras JSON)."""
    doc = {
        "module": "keras",
        "class_name": "Sequential",
        "config": model_config(model),
        "registered_name": None,
        "build_config": {"input_shape": list(model.input_shape)},
        "compile_config": {},
    }
    return json.dumps(doc)


def _fail(message: str):
    raise InputDataError(f"Cannot read this Keras JSON: {message}")


def _shape_from(value, what: str) -> tuple[int, ...]:
    """A per-sample shape from a Keras batch shape such as [null, 3, 2]."""
    if not isinstance(value, list) or not value:
        _fail(f"{what} must be a list such as [null, 3, 2]")
    if any(d is None for d in value[1:]):
        _fail(f"{what} {str(value)[:60]} has an unknown (null) dimension; netbuilder needs every dimension known")
    return check_input_shape(value[1:])


def _layer_from(entry: dict) -> Layer:
    cls, config = KINDS[entry["class_name"]], entry["config"]
    layer = cls(**cls.settings_from_config(config), name=config.get("name"))
    build = (entry.get("build_config") or {}).get("input_shape")
    if build and not cls.builds_at_init:
        shape = (None, *_shape_from(build, f"{cls.kind} {config.get('name')!r} build_config input_shape"))
        if layer.weight_specs(shape):  # the size it was built for matters only where weights have it
            layer.built_shape = shape
    return layer


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|["\[\]{}]')  # whole strings (skipped), a lone quote, brackets


def json_too_deep(text: str, limit: int) -> bool:
    """Whether JSON `text` nests arrays and objects more than `limit` deep, found without parsing or recursing
    (json.loads recurses; brackets inside strings don't count)."""
    depth = 0
    for m in _JSON_TOKEN.finditer(text):
        c = m.group()
        if c == '"':  # a string that never ends: json.loads fails there, and scanning on could take quadratic time
            return False
        if c in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif c in ("]", "}"):
            depth -= 1
    return False


def read_json(text) -> dict:
    """The parsed document of a Keras JSON text, within MAX_JSON_CHARS and MAX_JSON_DEPTH; InputDataError otherwise."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        _fail("expected a JSON string")
    if len(text) > MAX_JSON_CHARS:
        _fail(f"it has {len(text):,} characters; at most {MAX_JSON_CHARS:,} are allowed")
    if json_too_deep(text, MAX_JSON_DEPTH):
        _fail(f"it is nested more than {MAX_JSON_DEPTH} levels deep; a model from Keras's to_json() nests fewer than 20.")
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


def layers_from_json(text) -> KerasDocument:
    """The model name, per-sample input shape (or None) and layers of a Keras 3 model JSON."""
    doc = read_json(text)
    try:
        return _read(doc)
    except NetbuilderError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        _fail(f"unexpected structure ({type(e).__name__}: {str(e)[:120]})")


def model_from_json(text, seed=None, custom_objects=None):
    """A Sequential from Keras 3 JSON (a Sequential, or a Functional chain) of the kinds netbuilder has.

    Layers with a `build_config` keep the input shape they were built for, as in Keras, so an
    inconsistent document fails the same way. Weights are drawn from `seed` (JSON has none).
    """
    from .model import KerasTensor, Sequential

    document = layers_from_json(text)
    head = [KerasTensor(document.input_shape)] if document.input_shape is not None else []
    model = Sequential(head + document.layers, seed=resolve_seed(seed), name=document.name)
    model._summary_input_row = document.functional  # Keras's summary of a Functional model lists its InputLayer
    return model


def _read(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        _fail(f"expected a model (from model.to_json()); found {type(doc).__name__}")
    model_class, config = doc.get("class_name"), doc["config"]  # Sequential or Functional (a layer's class is its kind)
    entries = config.get("layers")
    if not isinstance(entries, list):
        _fail("config.layers must be a list")
    if len(entries) > MAX_LAYERS + 1:
        _fail(f"it has {len(entries):,} layers; at most {MAX_LAYERS} are allowed")
    if not all(isinstance(e, dict) and isinstance(e.get("config"), dict) for e in entries):
        _fail("every layer needs a 'class_name' and a 'config' object")
    if model_class in _FUNCTIONAL:
        entries = _chain(config, entries)
    elif model_class != "Sequential":
        _fail(f"expected a Sequential or Functional model (from model.to_json()); found {str(model_class)[:60]!r}")
    nested = [e for e in entries if e.get("class_name") in _MODEL_CLASSES]
    if nested:
        _fail(f"layer {str(nested[0]['config'].get('name'))[:40]!r} is a whole {nested[0]['class_name']} model inside this "
              f"one (a nested model); {_CHAIN}: put its layers in line instead")
    unsupported = [f"{e['config'].get('name', '?')} ({e.get('class_name')})" for e in entries
                   if e.get("class_name") != "InputLayer" and e.get("class_name") not in KINDS]
    if unsupported:
        _fail(f"unsupported layers: {', '.join(str(u)[:80] for u in unsupported[:20])}. "
              f"netbuilder supports {', '.join(sorted(KINDS))}.")
    input_shape = None
    if entries and entries[0]["class_name"] == "InputLayer":
        cfg = entries.pop(0)["config"]
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
    return KerasDocument(name if isinstance(name, str) else None, input_shape, [_layer_from(e) for e in entries],
                         model_class in _FUNCTIONAL)


_CHAIN = "netbuilder reads a single chain of layers"
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
            _fail(f"{where} is used several times (a shared layer: one set of weights at {len(nodes)} places); {_CHAIN}")
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
