"""Keras 3 JSON: `to_json` writes what keras.models.model_from_json loads, and back again."""

from __future__ import annotations

import json

from .errors import InputDataError, NetbuilderError
from .initializers import layer_seed, resolve_seed
from .layers import Activation, Dense, Flatten, Layer, check_input_shape
from .limits import MAX_JSON_CHARS, MAX_LAYERS, MAX_PARAMS

SUPPORTED = ("InputLayer", "Dense", "Flatten", "Activation")


def _entry(class_name: str, config: dict, build_shape=None) -> dict:
    entry = {"module": "keras.layers", "class_name": class_name, "config": config, "registered_name": None}
    if build_shape is not None:
        entry["build_config"] = {"input_shape": tuple(build_shape)}
    return entry


def model_config(model) -> dict:
    """Keras's `model.get_config()` for a Sequential: name, trainable, dtype, layers, build_input_shape.

    Shapes are tuples, as in Keras's get_config (json.dumps writes them as lists)."""
    input_shape = tuple(model.input_shape)
    layers = [
        _entry(
            "InputLayer",
            {"batch_shape": input_shape, "dtype": "float32", "sparse": False, "ragged": False,
             "name": "input_layer", "optional": False},
        )
    ]
    for layer in model.layers:
        build = None if isinstance(layer, Activation) else layer.input_shape  # Keras builds Activation at init
        layers.append(_entry(type(layer).__name__, layer.get_config(), build))
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    return {"name": model.name, "trainable": True, "dtype": dtype, "layers": layers, "build_input_shape": input_shape}


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
    if not isinstance(value, list) or not value:
        _fail(f"{what} must be a list such as [null, 3, 2]")
    if any(d is None for d in value[1:]):
        _fail(f"{what} {value} has an unknown (null) dimension; netbuilder needs every dimension known")
    return check_input_shape(value[1:])


def _layer_from(entry: dict) -> Layer:
    name, config = entry["class_name"], entry["config"]
    kwargs = {"name": config.get("name")}
    if name == "Dense":
        if "units" not in config:
            _fail(f"Dense {config.get('name')!r} has no 'units'")
        activation = config.get("activation", "linear")
        if not (activation is None or isinstance(activation, str)):
            _fail(f"Dense {config.get('name')!r} uses a custom activation object; only activation names are supported")
        return Dense(config["units"], activation=activation, use_bias=config.get("use_bias", True), **kwargs)
    if name == "Flatten":
        return Flatten(data_format=config.get("data_format"), **kwargs)
    if "activation" not in config or not isinstance(config["activation"], str):
        _fail(f"Activation {config.get('name')!r} needs an activation name")
    return Activation(config["activation"], **kwargs)


def model_from_json(text, seed=None, custom_objects=None):
    """A Sequential from Keras 3 JSON of InputLayer, Dense, Flatten and Activation layers.

    Dense layers with a `build_config` keep the input size they were built for, as in Keras, so
    an inconsistent document fails the same way. Weights are drawn from `seed` (JSON has none).
    """
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        _fail("expected a JSON string")
    if len(text) > MAX_JSON_CHARS:
        _fail(f"it has {len(text):,} characters; at most {MAX_JSON_CHARS:,} are allowed")
    try:
        doc = json.loads(text)
    except RecursionError:
        _fail("it is nested too deeply")
    except ValueError as e:
        _fail(f"it is not valid JSON ({e})")
    try:
        return _model_from_doc(doc, seed)
    except NetbuilderError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError) as e:
        _fail(f"unexpected structure ({type(e).__name__}: {str(e)[:120]})")


def _model_from_doc(doc, seed):
    from .model import KerasTensor, Sequential

    if not isinstance(doc, dict) or doc.get("class_name") != "Sequential" or not isinstance(doc.get("config"), dict):
        kind = doc.get("class_name") if isinstance(doc, dict) else type(doc).__name__
        _fail(f"expected a Sequential model (from model.to_json()); found {str(kind)[:60]!r}")
    config = doc["config"]
    entries = config.get("layers")
    if not isinstance(entries, list):
        _fail("config.layers must be a list")
    if len(entries) > MAX_LAYERS + 1:
        _fail(f"it has {len(entries):,} layers; at most {MAX_LAYERS} are allowed")
    if not all(isinstance(e, dict) and isinstance(e.get("config"), dict) for e in entries):
        _fail("every layer needs a 'class_name' and a 'config' object")
    unsupported = [f"{e['config'].get('name', '?')} ({e.get('class_name')})" for e in entries if e.get("class_name") not in SUPPORTED]
    if unsupported:
        _fail(f"unsupported layers: {', '.join(str(u)[:80] for u in unsupported[:20])}. netbuilder supports {', '.join(SUPPORTED)}.")
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
    model_seed = resolve_seed(seed)
    layers = [_layer_from(e) for e in entries]
    for i, (layer, entry) in enumerate(zip(layers, entries)):
        build = (entry.get("build_config") or {}).get("input_shape")
        if isinstance(layer, Dense) and build:
            built_dim = build[-1]
            if isinstance(built_dim, bool) or not isinstance(built_dim, int) or not 1 <= built_dim * layer.units <= MAX_PARAMS:
                _fail(f"Dense {layer.name!r} has an invalid or oversized build_config input_shape {str(build)[:60]}")
            layer.build((None, built_dim), layer_seed(model_seed, i))
    head = [KerasTensor(input_shape)] if input_shape is not None else []
    return Sequential(head + layers, seed=model_seed, name=config.get("name"))

