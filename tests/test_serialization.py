"""netbuilder.engine.serialization: to_json structure, model_from_json round trips (Sequential and Functional
chains, Keras as the oracle) and clear errors."""

import gc
import json
import re
import tempfile
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.studio.keras_import import spec_from_keras_json
from netbuilder.engine.layer import KINDS
from netbuilder.engine.limits import MAX_JSON_DEPTH, MAX_LAYERS
from netbuilder.engine.serialization import json_too_deep, layers_from_json


def seed_model(seed=0):
    return nb.Sequential([nb.Input((3, 2)), nb.Dense(16), nb.Activation("relu"), nb.Flatten(), nb.Dense(4)], seed=seed)


def doc_of(model):
    return json.loads(model.to_json())


def test_to_json_structure():
    doc = doc_of(seed_model())
    assert (doc["module"], doc["class_name"], doc["registered_name"]) == ("keras", "Sequential", None)
    assert doc["build_config"] == {"input_shape": [None, 3, 2]} and doc["compile_config"] == {}
    config = doc["config"]
    assert list(config) == ["name", "trainable", "dtype", "layers", "build_input_shape"]
    assert [(e["class_name"], e["config"]["name"]) for e in config["layers"]] == [
        ("InputLayer", "input_layer"),
        ("Dense", "dense"),
        ("Activation", "activation"),
        ("Flatten", "flatten"),
        ("Dense", "dense_1"),
    ]
    assert config["layers"][0]["config"]["batch_shape"] == [None, 3, 2]
    assert [e.get("build_config") for e in config["layers"]] == [
        None,
        {"input_shape": [None, 3, 2]},
        None,
        {"input_shape": [None, 3, 16]},
        {"input_shape": [None, 48]},
    ]


def test_to_json_is_compact_keras_style():
    text = seed_model().to_json()
    assert text.startswith('{"module": "keras", "class_name": "Sequential", "config": {"name": "sequential"')


def test_round_trip_keeps_architecture():
    model = nb.Sequential(
        [
            nb.Input((2, 3)),
            nb.Flatten(data_format="channels_first"),
            nb.Dense(5, activation="swish", use_bias=False, name="h"),
            nb.Dense(4, activation="glu"),
        ],
        name="net",
    )
    loaded = nb.model_from_json(model.to_json(), seed=1)
    assert doc_of(loaded) == doc_of(model)
    assert loaded.name == "net" and [layer.name for layer in loaded.layers] == ["flatten", "h", "dense"]
    loaded.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 2, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_weights_come_from_seed():
    a = nb.model_from_json(seed_model().to_json(), seed=5).get_weights()
    b = seed_model(seed=5).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_bytes_accepted():
    assert nb.model_from_json(seed_model().to_json().encode(), seed=0).count_params() == 244


def test_dense_build_config_mismatch_fails_like_keras():
    doc = doc_of(seed_model())
    doc["config"]["layers"][4]["build_config"]["input_shape"] = [None, 50]
    with pytest.raises(nb.IncompatibleShapeError, match="'dense_1'.*last axis has size 50"):
        nb.model_from_json(json.dumps(doc))
    keras.backend.clear_session(free_memory=False)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 50"):  # the oracle
        keras.models.model_from_json(json.dumps(doc))


def test_build_config_becomes_the_built_shape_without_weights():
    name, input_shape, layers, functional, _ = layers_from_json(seed_model().to_json())
    assert not functional
    assert (name, input_shape) == ("sequential", (3, 2))
    assert [layer.kind for layer in layers] == ["Dense", "Activation", "Flatten", "Dense"]
    # kept where weights have the size (Flatten's is irrelevant), and nothing is allocated while reading
    assert [layer.built_shape for layer in layers] == [(None, 3, 2), None, None, (None, 48)]
    assert all(layer.weights == [] for layer in layers)


def _keras_chain(functional: bool):
    keras.backend.clear_session(free_memory=False)
    layers = [
        keras.layers.Dense(16),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="tanh"),
    ]
    if not functional:
        return keras.Sequential([keras.Input((3, 2)), *layers])
    x = inputs = keras.Input((3, 2))
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("functional", [False, True], ids=["Sequential", "Functional"])
def test_keras_json_of_a_chain_is_read_and_computes_what_keras_computes(functional):
    theirs = _keras_chain(functional)
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    assert ours.output_shape == tuple(theirs.output_shape) and ours.count_params() == theirs.count_params()
    assert [layer.name for layer in ours.layers] == [
        layer.name for layer in theirs.layers
    ]  # a Functional lists its InputLayer
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 3, 2)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-6, atol=1e-6)


def _functional(build):
    keras.backend.clear_session(free_memory=False)
    return build().to_json()


def _two_branches():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Add()([keras.layers.Dense(2)(inputs), keras.layers.Dense(2)(inputs)]))


def _two_outputs():
    inputs = keras.Input((3,))
    return keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(2)(inputs)])


def _two_inputs():
    a, b = keras.Input((3,)), keras.Input((3,))
    return keras.Model([a, b], keras.layers.Add()([a, b]))


def _shared_layer():
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(3)
    return keras.Model(inputs, dense(dense(inputs)))


def test_functional_graphs_are_read_and_the_editors_import_refuses_what_it_cannot_hold_clearly():
    text = _functional(_shared_layer)
    assert nb.model_from_json(text).count_params() == keras.models.model_from_json(text).count_params()
    match = "layer 'dense' is used several times (a shared layer: one set of weights at several places)"
    with pytest.raises(nb.InputDataError, match=re.escape(match) + ".*netbuilder's editor holds up to 16 inputs and"):
        spec_from_keras_json(text)


def test_the_editor_imports_a_functional_model_of_two_inputs_each_taken_where_its_call_took_it():
    text = _functional(_two_inputs)
    spec = spec_from_keras_json(text)
    assert spec.input_shapes == ((3,), (3,)) and spec.layers[0].inputs == (-1, -2)
    assert spec.analysis.output_shape == keras.models.model_from_json(text).output_shape


@pytest.mark.parametrize("build", [_two_branches, _two_outputs], ids=["branches", "two-outputs"])
def test_the_editor_imports_a_functional_graph_with_each_layer_taking_what_its_call_took(build):
    text = _functional(build)
    spec = spec_from_keras_json(text)
    theirs = keras.models.model_from_json(text)
    assert spec.is_graph and spec.analysis.total_params == theirs.count_params()
    assert [layer.inputs for layer in spec.layers][:2] == [None, (-1,)]  # both Dense take the input
    assert len(spec.output_positions) == len(theirs.outputs)


def test_without_input_layer_or_build_shape_loads_unbuilt():
    doc = doc_of(seed_model())
    del doc["config"]["layers"][0], doc["config"]["build_input_shape"]
    for entry in doc["config"]["layers"]:
        entry.pop("build_config", None)
    model = nb.model_from_json(json.dumps(doc), seed=0)
    assert not model.built
    assert model.predict(np.ones((1, 3, 2))).shape == (1, 4)


def _with_layers(layers, **config):
    return json.dumps(
        {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": layers, **config}}
    )


INPUT = {"class_name": "InputLayer", "config": {"batch_shape": [None, 3]}}


@pytest.mark.parametrize(
    "text, match",
    [
        ("not json", "not valid JSON"),
        (json.dumps([1, 2]), "expected a model \\(from model.to_json\\(\\)\\); found list"),
        (
            json.dumps({"class_name": "Bogus", "config": {"layers": []}}),
            "expected a Sequential or Functional model.*found 'Bogus'",
        ),
        (json.dumps({"class_name": "Functional", "config": {}}), "config.layers must be a list"),
        (_with_layers("x"), "config.layers must be a list"),
        (_with_layers([{"class_name": "Dense"}]), "every layer needs a 'class_name' and a 'config'"),
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"name": "d"}}]),
            "Dense\\(\\) missing required argument: 'units'",
        ),
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"units": 2, "activation": {"class_name": "X"}}}]),
            "activation must be a name",
        ),
        (
            _with_layers([INPUT, {"class_name": "Activation", "config": {}}]),
            "Activation\\(\\) missing required argument: 'activation'",
        ),
        (_with_layers([INPUT, INPUT]), "InputLayer can only come first"),
        (
            _with_layers([{"class_name": "InputLayer", "config": {"batch_shape": [None, None]}}]),
            "unknown \\(null\\) dimension",
        ),
        (_with_layers([{"class_name": "InputLayer", "config": {}}]), "InputLayer needs batch_shape or shape"),
        (
            _with_layers(
                [
                    INPUT,
                    {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
                    {"class_name": "Conv7D", "config": {"name": "conv"}},
                    {"class_name": "Conv9D", "config": {"name": "conv9"}},
                ]
            ),
            r"unsupported layers: conv \(Conv7D\), conv9 \(Conv9D\)\. netbuilder supports .*Dense",
        ),
        ("[" * 100_000 + "]" * 100_000, "it is nested more than 64 levels deep"),
        (" " * 2_000_001, "at most 2,000,000"),
        (
            _with_layers([INPUT] + [{"class_name": "Flatten", "config": {}}] * (MAX_LAYERS + 2)),
            f"at most {MAX_LAYERS:,}",
        ),
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"units": 0}}]),
            "units must be an integer from 1 to 65,536; received 0",
        ),
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"units": 2, "colour": "red"}}]),
            None,
        ),  # other keys are ignored
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"units": 2, "activation": "threshold"}}]),
            "threshold",
        ),
        (
            _with_layers(
                [INPUT, {"class_name": "Dense", "config": {"units": 2}, "build_config": {"input_shape": [None, "3"]}}]
            ),
            "must hold positive integers",
        ),
        (
            _with_layers(
                [
                    INPUT,
                    {"class_name": "Dense", "config": {"units": 2}, "build_config": {"input_shape": [None, 10**10]}},
                ]
            ),
            "at most 2,147,483,648",
        ),
        (
            _with_layers([INPUT, {"class_name": "Dense", "config": {"units": 2}, "build_config": 5}]),
            "unexpected structure",
        ),
    ],
)
def test_garbage_rejected_with_netbuilder_error(text, match):
    if match is None:
        assert nb.model_from_json(text).output_shape == (None, 2)
        return
    with pytest.raises(nb.NetbuilderError, match=match):
        nb.model_from_json(text)


def test_input_layer_shape_and_legacy_batch_input_shape():
    for cfg in ({"shape": [3]}, {"batch_input_shape": [None, 3]}):
        model = nb.model_from_json(
            _with_layers(
                [{"class_name": "InputLayer", "config": cfg}, {"class_name": "Dense", "config": {"units": 2}}]
            ),
            seed=0,
        )
        assert model.input_shape == (None, 3) and model.output_shape == (None, 2)


def test_not_a_string():
    with pytest.raises(nb.InputDataError, match="expected a JSON string"):
        nb.model_from_json(42)


# --- nesting: bounded before json.loads, which recurses -------------------------------------------------
def _units_nested(depth: int) -> str:
    return _with_layers([INPUT, {"class_name": "Dense", "config": {"units": "X"}}]).replace(
        '"X"', "[" * depth + "1" + "]" * depth
    )


@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
def test_a_setting_nested_deep_is_refused_before_parsing(depth):
    text = _units_nested(depth)  # 500 deep was a RecursionError in the settings; 100,000 deep is about 200 KB
    start = time.perf_counter()
    with pytest.raises(nb.InputDataError) as e:
        nb.model_from_json(text)
    assert str(e.value) == (
        "Cannot read this Keras JSON: it is nested more than 64 levels deep; a model from Keras's "
        "to_json() nests fewer than 20."
    )
    assert time.perf_counter() - start < 0.5


def test_nesting_within_the_bound_reaches_the_settings_check():
    with pytest.raises(
        nb.LayerConfigError, match="units must be a number, text or lists of them nested at most 8 deep"
    ):
        nb.model_from_json(_units_nested(MAX_JSON_DEPTH - 6))  # the document's own 6 levels, then the setting's
    with pytest.raises(
        nb.LayerConfigError, match=re.escape("units must be an integer from 1 to 65,536; received ((((")
    ):
        nb.model_from_json(_units_nested(4))


def test_real_keras_json_nests_well_within_the_bound():
    keras.backend.clear_session(free_memory=False)
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    x = keras.Input((8,))
    model = keras.Model(x, keras.layers.Dense(2)(inner(x)))
    for _ in range(2):  # models nested 3 deep: Keras writes 16 levels
        x = keras.Input((8,))
        model = keras.Model(x, model(x))
    text = model.to_json()
    assert json_too_deep(text, 15) and not json_too_deep(text, 16) and 4 * 16 == MAX_JSON_DEPTH
    ours = nb.model_from_json(text)  # models inside models inside models: read as Keras reads them
    ours.set_weights(model.get_weights())
    x = np.ones((2, 8), np.float32)
    np.testing.assert_allclose(ours.predict(x), model.predict(x, verbose=0), rtol=1e-6)
    assert json.loads(ours.to_json())["config"]["layers"] == json.loads(text)["config"]["layers"]


@pytest.mark.parametrize(
    "text, limit, deeper",
    [
        ("[[1]]", 2, False),
        ("[[[1]]]", 2, True),
        ('{"a": {"b": [1]}}', 2, True),
        ('["[[[[", "{{{{"]', 1, False),  # brackets inside strings don't count
        ('["é[[日本[", {"ü": [1]}]', 2, True),  # characters of several bytes never read as brackets or quotes
        ('["é[[日本[", {"ü": [1]}]', 3, False),
        ('["\\"[[[", 1]', 1, False),  # an escaped quote does not end a string
        ('["\\\\", [[1]]]', 2, True),  # an escaped backslash does
        ('[[["' + "[" * 1000, 2, True),  # deep before a string that never ends
        ('["' + "[" * 1000, 2, False),  # a string that never ends: json.loads says it is invalid
    ],
)
def test_json_too_deep_counts_only_brackets_outside_strings(text, limit, deeper):
    assert json_too_deep(text, limit) is deeper


def test_a_string_that_never_ends_is_invalid_json_not_a_slow_scan():
    start = time.perf_counter()
    with pytest.raises(nb.InputDataError, match="not valid JSON"):
        nb.model_from_json('"\\"' * 300_000)
    assert time.perf_counter() - start < 0.5


def test_settings_from_python_data_nested_deep_are_refused_without_recursion():
    deep = 1
    for _ in range(100_000):
        deep = [deep]
    for setting in KINDS["ZeroPadding2D"].settings + KINDS["Dense"].settings:
        with pytest.raises(nb.LayerConfigError):
            setting.from_json(deep)


def test_regularizers_and_constraints_are_kept_in_json_and_refused_for_training():
    """Keras's JSON with a regularizer netbuilder does not apply (an activity regularizer, a recurrent layer's) or a
    constraint reads with Keras's shapes and JSON text; training, which they change in Keras, is refused by name
    rather than run without them (Dense's and the convolutions' regularizers are applied: test_regularizers.py)."""
    inputs = keras.Input((4,))
    hidden = keras.layers.BatchNormalization(gamma_constraint=keras.constraints.NonNeg(), name="hidden")(inputs)
    outputs = keras.layers.Dense(2, bias_constraint=keras.constraints.NonNeg(), name="out")(hidden)
    text = keras.Model(inputs, outputs).to_json()
    model = nb.model_from_json(text)
    assert model.to_json() == text and model.count_params() == 4 * 4 + 4 * 2 + 2
    with pytest.raises(
        nb.LayerConfigError, match=r"regularizers or constraints.*\(hidden: gamma_constraint, out: bias_constraint\)"
    ):
        model.compile("sgd", "mse")
    text = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activity_regularizer="l2")]).to_json()
    chain = nb.model_from_json(text)
    assert chain.to_json() == text  # Keras's base Layer writes a set activity_regularizer right after dtype
    with pytest.raises(nb.LayerConfigError, match="activity_regularizer"):
        chain.compile("sgd", "mse")


def test_keras_s_default_values_of_arguments_netbuilder_keeps_are_no_reason_to_refuse_training():
    """BatchNormalization's JSON writes renorm=False, synchronized=False: Keras's defaults, which change nothing (they
    were kept, and every BatchNormalization read from Keras JSON was refused training)."""
    text = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)]).to_json()
    model = nb.model_from_json(text)
    assert model.layers[0].keras_kept == {} and model.to_json() == text
    model.compile("sgd", "mse")


@pytest.mark.parametrize("collector_on", [True, False])
def test_reading_leaves_the_garbage_collector_as_it_found_it(collector_on):
    """model_from_json pauses the cyclic collector while it reads (its objects all stay alive), and gives it back as
    it was, after a model and after a refusal alike."""
    text = nb.Sequential([nb.Input((3,)), nb.Dense(2)]).to_json()
    was = gc.isenabled()
    (gc.enable if collector_on else gc.disable)()
    try:
        nb.model_from_json(text)
        assert gc.isenabled() is collector_on
        with pytest.raises(nb.InputDataError):
            nb.model_from_json("{")
        assert gc.isenabled() is collector_on
    finally:
        (gc.enable if was else gc.disable)()


LAMBDA_RAN = Path(tempfile.gettempdir()) / "netbuilder-lambda-ran"  # a global: Keras serialises no closure


def test_a_lambda_layer_is_refused_by_name_and_its_code_never_run():
    """Keras writes a Lambda's function into its JSON as bytecode; reading that JSON says why it is refused, and the
    function (which would write a file) has not run."""
    inputs = keras.Input((3,))
    outputs = keras.layers.Lambda(lambda x: (LAMBDA_RAN.write_text("ran"), x)[1], name="fn")(
        keras.layers.Dense(2)(inputs)
    )
    text = keras.Model(inputs, outputs).to_json()
    assert LAMBDA_RAN.exists() and "fn" in text  # Keras ran it once, to build the model
    LAMBDA_RAN.unlink()
    with pytest.raises(nb.InputDataError, match="layer 'fn': a Lambda layer holds Python code .* never runs"):
        nb.model_from_json(text)
    assert not LAMBDA_RAN.exists()
