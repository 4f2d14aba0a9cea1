"""The editor's ModelSpec built in real Keras (a fresh session, so automatic names match): a Sequential for a chain,
a Functional for a graph; each kind is the Keras class of that name, its settings that class's arguments."""

from __future__ import annotations

import keras

from netbuilder.engine.layer import kind_class


def keras_model(spec):
    """`spec` in Keras, or the exception Keras raises at the first layer that does not fit. In a graph every layer no
    other takes is an output, a merge takes its list, attention its tensors one by one (one tensor: itself twice)."""
    keras.backend.clear_session(free_memory=False)
    layers = []
    for layer in spec.layers:
        config = layer.layer.get_config()  # Keras's own config of the layer (its initializers as Keras writes them)
        if layer.name is None:
            config.pop("name", None)
        keras_layer = getattr(keras.layers, layer.kind).from_config(config)
        if layer.built_for is not None:  # a layer built elsewhere, e.g. loaded
            keras_layer.build((None, *layer.built_for))
        layers.append(keras_layer)
    if not spec.is_graph:
        return keras.Sequential([keras.Input(spec.input_shape), *layers])
    xs = [keras.Input(shape) for shape in spec.input_shapes]  # input k is -1 - k in the sources
    made = []
    for keras_layer, layer, source in zip(layers, spec.layers, spec.sources):
        given = [xs[-1 - k] if k < 0 else made[k] for k in source]
        cls = kind_class(layer.kind)
        if cls.separate_arguments:
            made.append(keras_layer(*(given * 2 if len(given) == 1 else given)))
        else:
            made.append(keras_layer(given if cls.takes_list else given[0]))
    outputs = [made[k] for k in spec.output_positions]
    return keras.Model(xs[0] if len(xs) == 1 else xs, outputs[0] if len(outputs) == 1 else outputs)
