"""Keras 3 JSON both ways against real Keras 3.15: same document, loads on either side, equal outputs."""

import json
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb

# (per-sample input shape, [(layer kind, kwargs)]) covering every option the engine supports
MODELS = {
    "seed": ((3, 2), [("Dense", {"units": 16}), ("Activation", {"activation": "relu"}), ("Flatten", {}), ("Dense", {"units": 4})]),
    "options": (
        (2, 3, 2),
        [
            ("Flatten", {"data_format": "channels_first"}),
            ("Dense", {"units": 5, "activation": "swish", "use_bias": False}),
            ("Activation", {"activation": "hard_swish"}),
            ("Dense", {"units": 4, "activation": "glu"}),
        ],
    ),
    "rank0": ((), [("Flatten", {}), ("Dense", {"units": 3, "activation": "softmax"})]),
    "activation_only": ((4,), [("Activation", {"activation": "tanh"}), ("Activation", {"activation": "log_softmax"})]),
    "deep": ((2, 2), [("Dense", {"units": 3, "activation": "gelu"})] * 3 + [("Flatten", {}), ("Dense", {"units": 2})]),
}


def build(framework, name, seed=3):
    shape, specs = MODELS[name]
    if framework == "keras":
        keras.backend.clear_session()  # names as in a fresh session: dense, dense_1, ...
        return keras.Sequential([keras.Input(shape)] + [getattr(keras.layers, k)(**kw) for k, kw in specs])
    return nb.Sequential([nb.Input(shape)] + [getattr(nb, k)(**kw) for k, kw in specs], seed=seed)


def sample(model, n=4):
    return np.random.default_rng(0).normal(size=(n, *model.input_shape[1:])).astype(np.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_json_documents_equal(name):
    assert json.loads(build("netbuilder", name).to_json()) == json.loads(build("keras", name).to_json())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_get_config_equal(name):
    assert build("netbuilder", name).get_config() == build("keras", name).get_config()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_our_json_loads_in_keras(name):
    ours = build("netbuilder", name)
    keras.backend.clear_session()
    theirs = keras.models.model_from_json(ours.to_json())
    assert theirs.name == ours.name
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    assert theirs.count_params() == ours.count_params()
    theirs.set_weights(ours.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(theirs.predict(x, verbose=0), ours.predict(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_json_loads_in_netbuilder(name):
    theirs = build("keras", name)
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.input_shape == theirs.input_shape
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))
    assert json.loads(ours.to_json()) == json.loads(theirs.to_json())


def test_minimal_keras_json_loads_in_both():
    """The smallest document Keras accepts (reference §5.2) loads in netbuilder too."""
    doc = json.dumps(
        {
            "module": "keras",
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [
                    {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 2]}},
                    {"class_name": "Dense", "config": {"units": 16}},
                    {"class_name": "Activation", "config": {"activation": "relu"}},
                    {"class_name": "Flatten", "config": {}},
                    {"class_name": "Dense", "config": {"units": 4}},
                ],
            },
        }
    )
    theirs = keras.models.model_from_json(doc)
    ours = nb.model_from_json(doc, seed=0)
    assert ours.output_shape == theirs.output_shape == (None, 4)
    assert ours.count_params() == theirs.count_params() == 244
    ours.set_weights(theirs.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_keras_json_without_input_layer_uses_build_input_shape():
    keras.backend.clear_session()
    theirs = keras.Sequential([keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    theirs.build((None, 5))
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert ours.input_shape == (None, 5) and ours.output_shape == theirs.output_shape
    ours.set_weights(theirs.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


@pytest.mark.parametrize(
    "extra, listed",
    [
        (lambda: [keras.layers.Dropout(0.5)], ["dropout (Dropout)"]),
        (lambda: [keras.layers.Reshape((3, 4, 1)), keras.layers.Conv2D(2, 2)], ["reshape (Reshape)", "conv2d (Conv2D)"]),
    ],
)
def test_unsupported_keras_layers_are_listed_by_name(extra, listed):
    keras.backend.clear_session()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.Sequential([keras.Input((3, 4)), keras.layers.Dense(4), *extra(), keras.layers.Flatten()])
    with pytest.raises(nb.NetbuilderError, match="unsupported layers") as info:
        nb.model_from_json(theirs.to_json())
    for entry in listed:
        assert entry in str(info.value)
    assert "dense" not in str(info.value).split("netbuilder supports")[0].replace("unsupported", "")


def test_keras_functional_json_is_rejected_clearly():
    keras.backend.clear_session()
    x = keras.Input((10, 64))
    functional = keras.Model(x, keras.layers.Flatten()(x))
    with pytest.raises(nb.NetbuilderError, match="expected a Sequential model.*Functional"):
        nb.model_from_json(functional.to_json())
