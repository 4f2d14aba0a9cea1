"""A Keras 3 model JSON (`model.to_json()`) as an editable ModelSpec."""

from __future__ import annotations

from .errors import LayerConfigError
from .layers import Activation, Dense
from .serialization import model_from_json
from .spec import LayerSpec, ModelSpec


def spec_from_keras_json(text, seed: int = 0) -> ModelSpec:
    """Read the JSON with the engine's bounded parser; layers keep their settings, weights come from `seed`.

    Layer names are not kept: the app names layers as Keras does in a fresh session.
    """
    model = model_from_json(text, seed=seed)
    if not model.built:
        raise LayerConfigError("the JSON has no input shape (no InputLayer and no build_input_shape); "
                               "build the Keras model on an input before calling to_json()")
    layers = []
    for i, layer in enumerate(model.layers):
        if isinstance(layer, Dense):
            layers.append(LayerSpec(i, "Dense", units=layer.units, activation=layer.activation, use_bias=layer.use_bias))
        elif isinstance(layer, Activation):
            layers.append(LayerSpec(i, "Activation", activation=layer.activation))
        else:
            layers.append(LayerSpec(i, "Flatten", data_format=layer.data_format))
    return ModelSpec(input_shape=model.input_shape[1:], layers=tuple(layers), seed=seed).validate()
