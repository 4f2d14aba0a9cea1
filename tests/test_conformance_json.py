"""Keras 3 JSON both ways against real Keras 3.15: same document, loads on either side, equal outputs."""

import json
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.studio.keras_import import spec_from_keras_json

# (per-sample input shape, [(layer kind, kwargs)]) covering every option the engine supports
MODELS = {
    "seed": (
        (3, 2),
        [("Dense", {"units": 16}), ("Activation", {"activation": "relu"}), ("Flatten", {}), ("Dense", {"units": 4})],
    ),
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
        keras.backend.clear_session(free_memory=False)  # names as in a fresh session: dense, dense_1, ...
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
    keras.backend.clear_session(free_memory=False)
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
    keras.backend.clear_session(free_memory=False)
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
        (lambda: [keras.layers.GaussianNoise(0.1)], ["gaussian_noise (GaussianNoise)"]),
        (
            lambda: [keras.layers.GaussianNoise(0.1), keras.layers.GaussianDropout(0.5)],
            ["gaussian_noise (GaussianNoise)", "gaussian_dropout (GaussianDropout)"],
        ),
    ],
)
def test_unsupported_keras_layers_are_listed_by_name(extra, listed):
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = keras.Sequential([keras.Input((3, 4)), keras.layers.Dense(4), *extra(), keras.layers.Flatten()])
    assert not {layer.__class__.__name__ for layer in extra()} & set(nb.KINDS)  # still kinds netbuilder lacks
    with pytest.raises(nb.NetbuilderError, match="unsupported layers") as info:
        nb.model_from_json(theirs.to_json())
    for entry in listed:
        assert entry in str(info.value)
    assert "dense" not in str(info.value).split("netbuilder supports")[0].replace("unsupported", "")


# --- Functional models: a chain of layers is read; a branch is refused -----------------------------------
def keras_chain(input_shape, *layers):
    """keras.Model(inputs, outputs) of layers called one after the other (a fresh session: dense, dense_1, ...)."""
    keras.backend.clear_session(free_memory=False)
    x = keras.Input(input_shape)
    y = x
    for layer in layers:
        y = layer(y)
    return keras.Model(x, y)


CHAINS = {
    "flatten": lambda: keras_chain((10, 64), keras.layers.Flatten()),
    "dense-flatten-dense": lambda: keras_chain(
        (3, 2),
        keras.layers.Dense(16),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ),
    "named-options": lambda: keras_chain(
        (2, 3, 2),
        keras.layers.Flatten(data_format="channels_first", name="flat"),
        keras.layers.Dense(5, activation="tanh", use_bias=False, name="hidden"),
        keras.layers.Dense(3, name="out"),
    ),
    "rank0": lambda: keras_chain((), keras.layers.Flatten(), keras.layers.Dense(3, activation="sigmoid")),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_keras_functional_chain_imports(name):
    theirs = CHAINS[name]()
    doc = json.loads(theirs.to_json())
    assert doc["class_name"] == "Functional"  # what we are reading is really Keras's functional JSON
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert ours.name == theirs.name == "functional"
    assert [layer.name for layer in ours.layers] == [
        layer.name for layer in theirs.layers
    ]  # its InputLayer first, as Keras
    assert ours.input_shape == tuple(theirs.input_shape) and ours.output_shape == tuple(theirs.output_shape)
    assert [layer.output_shape for layer in ours.layers] == [tuple(layer.output.shape) for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(x, verbose=0))


def test_functional_chain_imported_then_written_loads_back_in_keras():
    theirs = CHAINS["dense-flatten-dense"]()
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    keras.backend.clear_session(free_memory=False)
    again = keras.models.model_from_json(ours.to_json())
    assert tuple(again.output_shape) == tuple(theirs.output_shape) and again.count_params() == theirs.count_params()
    again.set_weights(theirs.get_weights())
    x = sample(ours)
    np.testing.assert_array_equal(again.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_functional_chain_with_an_inconsistent_build_config_fails_as_in_keras():
    """A layer's build_config is the size its weights were made for: a document that contradicts it fails in both."""
    doc = json.loads(CHAINS["dense-flatten-dense"]().to_json())
    last = doc["config"]["layers"][-1]
    assert last["class_name"] == "Dense" and last["build_config"]["input_shape"] == [None, 48]
    last["build_config"]["input_shape"] = [None, 50]
    text = json.dumps(doc)
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings(), pytest.raises(ValueError):
        warnings.simplefilter("ignore")
        keras.models.model_from_json(text)
    with pytest.raises(nb.IncompatibleShapeError, match="last axis has size 50"):
        nb.model_from_json(text)


def branch_add():
    """Two Dense on one input, added: a real branch."""
    keras.backend.clear_session(free_memory=False)
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Add()([keras.layers.Dense(3)(x), keras.layers.Dense(3)(x)]))


def shared_layer():
    """One Dense applied twice: its weights are used at two places, which a chain of layers cannot say."""
    keras.backend.clear_session(free_memory=False)
    x = keras.Input((4,))
    dense = keras.layers.Dense(4)
    return keras.Model(x, dense(dense(x)))


def two_outputs():
    keras.backend.clear_session(free_memory=False)
    x = keras.Input((4,))
    hidden = keras.layers.Dense(3)(x)
    return keras.Model(x, [hidden, keras.layers.Dense(2)(hidden)])


def two_dict_inputs():
    keras.backend.clear_session(free_memory=False)
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model({"a": a, "b": b}, keras.layers.Dense(2)(keras.layers.Add()([a, b])))


def functional_inner():
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Dense(3)(x), name="inner")


def nested(inner):
    """A model used as one layer of another: its layers are not a chain of the outer model's layers."""
    keras.backend.clear_session(free_memory=False)
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Dense(2)(inner(x)))


def predict_any(model, x):
    two = isinstance(model, keras.Model) and not isinstance(model, keras.Sequential) and isinstance(model.input, dict)
    return model.predict({"a": x, "b": x} if two and len(model.input) == 2 else x, verbose=0)


@pytest.mark.parametrize(
    "make",
    [branch_add, shared_layer, two_outputs, two_dict_inputs],
    ids=["branch-add", "shared-layer", "two-outputs", "two-dict-inputs"],
)
def test_keras_functional_graphs_are_read_as_keras_reads_them(make):
    """Branches, a shared layer, several outputs, inputs in a dict: the engine reads each graph (the app's editor
    holds the branches, and refuses by name what it cannot hold)."""
    theirs = make()
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    ours.set_weights(theirs.get_weights())
    feed = {"a": x, "b": x} if isinstance(theirs.input, dict) else x
    expected, mine = predict_any(theirs, x), ours.predict(feed)
    for a, b in zip(mine if isinstance(mine, list) else [mine], expected if isinstance(expected, list) else [expected]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    if make in (branch_add, two_dict_inputs):  # the editor holds them: each layer taking what its call took
        spec = spec_from_keras_json(theirs.to_json())
        assert spec.analysis.total_params == theirs.count_params()
        assert spec.analysis.output_shape == tuple(theirs.output.shape)
        assert spec.input_shapes == tuple(tuple(t.shape[1:]) for t in keras.tree.flatten(theirs.input))
        return
    with pytest.raises(
        nb.InputDataError, match="netbuilder's editor holds up to 16 inputs and layers each called once"
    ):
        spec_from_keras_json(theirs.to_json())


def sequential_in_a_sequential():
    keras.backend.clear_session(free_memory=False)
    model = keras.Sequential(
        [keras.Input((4,)), keras.Sequential([keras.layers.Dense(3)], name="inner"), keras.layers.Dense(2)]
    )
    model.predict(np.ones((1, 4), np.float32), verbose=0)  # called once: Keras then knows its input
    return model


@pytest.mark.parametrize(
    "make, words",
    [
        (
            lambda: nested(keras.Sequential([keras.layers.Dense(3)], name="inner")),
            "layer 'inner' is a whole Sequential model",
        ),
        (lambda: nested(functional_inner()), "layer 'inner' is a whole Functional model"),
        (sequential_in_a_sequential, "layer 'inner' is a whole Sequential model"),
    ],
    ids=["nested-sequential", "nested-functional", "sequential-in-a-sequential"],
)
def test_a_model_inside_a_model_is_read_as_keras_reads_it(make, words):
    """The engine reads a model used as a layer (its weights in their place, Keras's JSON back); the app's editor, a
    chain of layers, refuses it by name."""
    theirs = make()
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    expected = predict_any(theirs, x)
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-6, atol=1e-6)
    assert json.loads(ours.to_json())["config"]["layers"] == json.loads(theirs.to_json())["config"]["layers"]
    with pytest.raises(nb.InputDataError) as info:
        spec_from_keras_json(theirs.to_json())
    assert str(info.value).startswith("Cannot read this Keras JSON: ") and words in str(info.value)


# --- single-input chains Keras writes in other spellings ----------------------------------------------------
def _chain_spelled(spelling):
    keras.backend.clear_session(free_memory=False)
    x = keras.Input((3, 4), name="x")
    if spelling == "kwargs":  # the input tensor passed by keyword: Keras writes it in the node's kwargs, args empty
        return keras.Model(x, keras.layers.Dense(5, activation="relu")(inputs=keras.layers.Flatten()(inputs=x)))
    if spelling == "rnn-kwargs":
        return keras.Model(x, keras.layers.Dense(2)(keras.layers.LSTM(3)(sequences=x)))
    if spelling == "mixed-kwargs":  # a keyword that is not a tensor beside the input
        return keras.Model(
            x, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Dropout(0.5)(x, training=False)))
        )
    hidden = keras.layers.Dense(5, activation="relu")(keras.layers.Flatten()(x))
    y = keras.layers.Dense(2)(hidden)
    return {
        "dict-inputs": lambda: keras.Model({"x": x}, y),
        "list-io": lambda: keras.Model([x], [y]),
        "dict-outputs": lambda: keras.Model(x, {"y": y}),
        "dict-io": lambda: keras.Model({"x": x}, {"y": y}),
    }[spelling]()


@pytest.mark.parametrize(
    "spelling", ["kwargs", "rnn-kwargs", "mixed-kwargs", "dict-inputs", "list-io", "dict-outputs", "dict-io"]
)
def test_keras_functional_chains_in_every_spelling_import(spelling):
    """Keras reads each of these documents back; so does netbuilder, as the chain it is."""
    theirs = _chain_spelled(spelling)
    text = theirs.to_json()
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = keras.models.model_from_json(text)  # Keras reads it back
    ours = nb.model_from_json(text, seed=0)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.input_shape == (None, 3, 4) and ours.count_params() == theirs.count_params() == again.count_params()
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    feed = {"x": x} if isinstance(theirs.input, dict) else x
    expected, mine = theirs.predict(feed, verbose=0), ours.predict(feed)
    if isinstance(expected, dict):  # outputs in a dict come back in one, by name
        assert list(mine) == list(expected)
        expected, mine = next(iter(expected.values())), next(iter(mine.values()))
    np.testing.assert_allclose(mine, expected[0] if isinstance(expected, list) else expected, rtol=1e-5, atol=1e-6)
    spec = spec_from_keras_json(text)  # the app's import
    assert [layer.kind for layer in spec.layers] == [
        type(layer).__name__ for layer in theirs.layers[1:]
    ] and spec.analysis.ok
