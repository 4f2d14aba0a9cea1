"""A Keras 3 model JSON (`model.to_json()`) as an editable ModelSpec."""

from __future__ import annotations

from ..engine.errors import LayerConfigError
from ..engine.serialization import layers_from_json
from .spec import LayerSpec, ModelSpec


def spec_from_keras_json(text, seed: int = 0) -> ModelSpec:
    """Read the JSON with the engine's bounded parser; layers keep their settings (and the shape they were
    built for), weights come from `seed`. Nothing is built before the spec's budgets are checked.

    Layer names are not kept: the app names layers as Keras does in a fresh session.
    """
    document = layers_from_json(text)
    input_shape, layers = document.input_shape, document.layers
    if input_shape is None:
        raise LayerConfigError(
            "the JSON has no input shape (no InputLayer and no build_input_shape); "
            "build the Keras model on an input before calling to_json()"
        )
    specs = tuple(
        LayerSpec.make(i, layer.kind, layer.built_shape[1:] if layer.built_shape is not None else None, **layer.values)
        for i, layer in enumerate(layers)
    )
    return ModelSpec(input_shape=input_shape, layers=specs, seed=seed).validate()
