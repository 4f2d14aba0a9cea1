"""SimpleRNN, LSTM and GRU through the kind harness (tests/kind_harness.py) and against real Keras and PyTorch."""

import json
import re
import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from kind_harness import (
    Case,
    check_case,
    check_cost,
    check_exports,
    check_gradients,
    json_roundtrip_equal,
    ours_model,
    sample,
    spec_of,
)
from netbuilder.engine.activations import ACTIVATIONS
from netbuilder.engine.analysis import FixContext, analyze, layer_names
from netbuilder.engine import initializers as nb_init
from netbuilder.engine.initializers import orthogonal
from netbuilder.engine.layer import KINDS, kind_class
from netbuilder.studio.models import built
from netbuilder.views import export

SEEDED = {"kernel_initializer": "GlorotUniform", "recurrent_initializer": "Orthogonal"}
GLU_REASON = "glu halves the units; Keras runs it only for units=2, by broadcasting a half-size gate"

CASES = [
    # SimpleRNN
    Case("SimpleRNN", {"units": 4}, (5, 3), SEEDED),
    Case("SimpleRNN", {"units": 3, "use_bias": False}, (4, 5), SEEDED),
    Case("SimpleRNN", {"units": 4, "activation": "relu", "return_sequences": True}, (6, 2)),
    Case("SimpleRNN", {"units": 4, "go_backwards": True}, (6, 2)),
    Case("SimpleRNN", {"units": 5, "return_sequences": True, "go_backwards": True, "activation": "softmax"}, (3, 4)),
    Case("SimpleRNN", {"units": 1, "activation": None}, (7, 1)),
    # LSTM
    Case("LSTM", {"units": 4}, (5, 3), SEEDED),
    Case("LSTM", {"units": 6, "use_bias": False}, (5, 3), SEEDED),
    Case("LSTM", {"units": 4, "return_sequences": True}, (5, 3)),
    Case("LSTM", {"units": 4, "go_backwards": True}, (5, 3)),
    Case("LSTM", {"units": 5, "return_sequences": True, "go_backwards": True}, (7, 2)),
    Case("LSTM", {"units": 4, "activation": "relu", "recurrent_activation": "hard_sigmoid"}, (5, 3)),
    Case(
        "LSTM",
        {"units": 4, "activation": "softmax", "recurrent_activation": "softmax", "return_sequences": True},
        (4, 3),
    ),
    Case("LSTM", {"units": 3, "activation": "gelu", "recurrent_activation": "linear"}, (4, 3)),
    Case("LSTM", {"units": 2, "activation": "selu", "recurrent_activation": "sparsemax", "go_backwards": True}, (4, 2)),
    Case("LSTM", {"units": 8}, (1, 1)),
    # GRU
    Case("GRU", {"units": 4}, (5, 3), SEEDED),
    Case("GRU", {"units": 4, "reset_after": False}, (5, 3), SEEDED),
    Case("GRU", {"units": 3, "use_bias": False}, (5, 3), SEEDED),
    Case("GRU", {"units": 3, "use_bias": False, "reset_after": False}, (5, 3)),
    Case("GRU", {"units": 4, "return_sequences": True, "go_backwards": True}, (6, 2)),
    Case("GRU", {"units": 4, "return_sequences": True, "go_backwards": True, "reset_after": False}, (6, 2)),
    Case(
        "GRU",
        {"units": 4, "activation": "relu", "recurrent_activation": "hard_sigmoid", "return_sequences": True},
        (5, 3),
    ),
    Case(
        "GRU", {"units": 3, "activation": "softsign", "recurrent_activation": "softmax", "reset_after": False}, (5, 3)
    ),
    # Keras arguments that change nothing at inference, and LSTM's forget bias started at zeros
    Case("LSTM", {"units": 4, "unit_forget_bias": False}, (5, 3), SEEDED),
    Case("LSTM", {"units": 4, "dropout": 0.3, "recurrent_dropout": 0.2, "unroll": True}, (5, 3), SEEDED),
    Case("GRU", {"units": 4, "dropout": 0.5, "unroll": True, "return_sequences": True}, (5, 3), SEEDED),
    Case("GRU", {"units": 3, "recurrent_dropout": 0.25, "reset_after": False}, (4, 2), SEEDED),
    Case("SimpleRNN", {"units": 3, "recurrent_dropout": 0.4, "unroll": True}, (4, 2), SEEDED),
    # Keras's other initializers, drawn bit for bit; LSTM's forget bias around a bias_initializer as Keras joins it
    Case(
        "SimpleRNN",
        {
            "units": 3,
            "kernel_initializer": "he_normal",
            "recurrent_initializer": "glorot_uniform",
            "bias_initializer": "random_uniform",
        },
        (4, 2),
        {
            "kernel_initializer": "HeNormal",
            "recurrent_initializer": "GlorotUniform",
            "bias_initializer": "RandomUniform",
        },
    ),
    Case(
        "LSTM",
        {"units": 3, "bias_initializer": "random_normal"},
        (4, 2),
        {**SEEDED, "bias_initializer": "RandomNormal"},
    ),
    Case(
        "LSTM",
        {"units": 3, "bias_initializer": "he_uniform", "unit_forget_bias": False},
        (4, 2),
        {**SEEDED, "bias_initializer": "HeUniform"},
    ),
    Case(
        "LSTM",
        {"units": 5, "bias_initializer": "lecun_normal", "recurrent_initializer": "identity"},
        (3, 2),
        {"kernel_initializer": "GlorotUniform", "bias_initializer": "LecunNormal"},
    ),  # fans of (5,) and (10,) differ
    Case("GRU", {"units": 3, "bias_initializer": "orthogonal"}, (4, 2), {**SEEDED, "bias_initializer": "Orthogonal"}),
    Case(
        "SimpleRNN",
        {
            "units": 3,
            "kernel_initializer": "identity",
            "recurrent_initializer": "Identity",
            "bias_initializer": "normal",
        },
        (4, 2),
        {"bias_initializer": "RandomNormal"},
    ),
    Case(
        "GRU",
        {"units": 3, "bias_initializer": "glorot_normal", "reset_after": False, "kernel_initializer": "ones"},
        (4, 2),
        {"recurrent_initializer": "Orthogonal", "bias_initializer": "GlorotNormal"},
    ),
    Case("SimpleRNN", {"units": 3, "bias_initializer": "ones"}, (4, 2), SEEDED),
    # refused by both
    Case("LSTM", {"units": 4}, (5,)),  # rank 2: expected ndim=3
    Case("GRU", {"units": 4}, (2, 3, 4)),  # rank 4
    Case("SimpleRNN", {"units": 4}, ()),
    Case("LSTM", {"units": 0}, (5, 3)),
    Case("GRU", {"units": -1}, (5, 3)),
    Case("LSTM", {"units": 4, "activation": "glu"}, (5, 3)),
    Case("SimpleRNN", {"units": 2, "activation": "glu"}, (5, 3)),
    # accepted by Keras, refused on purpose
    Case("LSTM", {"units": 2, "activation": "glu"}, (5, 3), keras_accepts_we_reject=GLU_REASON),
    Case("GRU", {"units": 2, "recurrent_activation": "glu"}, (5, 3), keras_accepts_we_reject=GLU_REASON),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_recurrent_kind_matches_keras(case):
    check_case(case)


@pytest.mark.parametrize(
    "case",
    [
        Case("GRU", {"units": 3, "bias_initializer": "orthogonal", "reset_after": False}, (4, 2)),  # a 1-axis bias
        Case(
            "LSTM", {"units": 3, "bias_initializer": "identity"}, (4, 2)
        ),  # LSTM's biases have 1 axis, forget bias or not
        Case("SimpleRNN", {"units": 3, "bias_initializer": "orthogonal"}, (4, 2)),
    ],
    ids=lambda c: c.id,
)
def test_initializers_keras_cannot_draw_are_refused_by_both(case):
    check_case(case)
    with pytest.raises(nb.LayerConfigError, match="bias_initializer: .* draws only weights of"):
        ours_model(case)


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in CASES
        if len(c.input_shape) == 2
        and c.settings["units"] > 0
        and "glu" not in c.settings.values()
        and "linear" not in c.settings.values()
        and not c.settings.get("unroll")
    ],
    ids=lambda c: c.id,
)
def test_recurrent_outputs_bit_equal_to_keras(case):
    """Keras's order of operations step by step: float32 outputs equal to the last bit, on larger sizes too. (Keras's
    unroll=True computes the same steps in a graph of its own and differs from its own loop in the last bits, ~2e-7;
    netbuilder computes it as the loop: check_case holds it within 1e-6.)"""
    big = Case(case.kind, {**case.settings, "units": 16}, (20, 7))
    ours, theirs = ours_model(big), _keras(big.kind, big.settings, big.input_shape)
    rng = np.random.default_rng(2)
    weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = sample(big, 33)
    got = ours.predict(x)
    assert np.isfinite(got).all()  # equal infinities would prove little
    np.testing.assert_array_equal(got, theirs.predict(x, verbose=0))


def _keras(kind, settings, input_shape, **initializers):
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.Sequential([keras.Input(input_shape), getattr(keras.layers, kind)(**settings, **initializers)])


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (3, 3), (4, 12), (4, 16), (16, 64), (64, 256), (7, 21), (5, 15)])
@pytest.mark.parametrize("seed", [0, 3000, 3001, 999_999_017])
def test_orthogonal_is_bit_exact(shape, seed):
    """Recurrent kernels (units, gates·units) drawn by engine.initializers.orthogonal equal Keras's Orthogonal(seed)."""
    np.testing.assert_array_equal(orthogonal(shape, seed), np.asarray(keras.initializers.Orthogonal(seed=seed)(shape)))


# --- random chains with Dense, Flatten and Activation -----------------------------------------------------------
def _random_chain(rng):
    """(input shape, [(kind, settings)]) of a valid model mixing recurrent layers with Dense/Activation/Flatten."""
    layers = []
    for _ in range(rng.integers(1, 4)):
        kind = str(rng.choice(["SimpleRNN", "LSTM", "GRU"]))
        settings = {
            "units": int(rng.integers(1, 7)),
            "return_sequences": True,
            "go_backwards": bool(rng.integers(2)),
            "use_bias": bool(rng.integers(4)),
        }
        if rng.integers(3) == 0:
            settings["activation"] = str(rng.choice(["relu", "sigmoid", "softmax", "elu", "linear"]))
        if kind == "GRU":
            settings["reset_after"] = bool(rng.integers(2))
        layers.append((kind, settings))
        if rng.integers(2):
            layers.append(
                ("Dense", {"units": int(rng.integers(1, 6)), "activation": str(rng.choice(["linear", "tanh", "relu"]))})
            )
        if rng.integers(3) == 0:
            layers.append(("Activation", {"activation": str(rng.choice(["relu", "softmax", "gelu"]))}))
    last = max(i for i, (kind, _) in enumerate(layers) if kind in ("SimpleRNN", "LSTM", "GRU"))
    layers[last][1]["return_sequences"] = bool(rng.integers(2))  # earlier ones must pass on every step
    layers += [("Flatten", {}), ("Dense", {"units": int(rng.integers(1, 4))})]
    return (int(rng.integers(1, 6)), int(rng.integers(1, 5))), layers


def _keras_seeded(layers, input_shape, seed):
    """The chain in Keras, every initializer seeded as netbuilder seeds layer i."""
    made = []
    for i, (kind, settings) in enumerate(layers):
        s = nb.layer_seed(seed, i)
        init = {}
        if kind in ("SimpleRNN", "LSTM", "GRU"):
            init = {
                "kernel_initializer": keras.initializers.GlorotUniform(seed=s),
                "recurrent_initializer": keras.initializers.Orthogonal(seed=s),
            }
        elif kind == "Dense":
            init = {"kernel_initializer": keras.initializers.GlorotUniform(seed=s)}
        made.append(getattr(keras.layers, kind)(**settings, **init))
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.Sequential([keras.Input(input_shape), *made])


@pytest.mark.parametrize("chain", range(14))
def test_random_chains_match_keras(chain):
    rng = np.random.default_rng(100 + chain)
    input_shape, layers = _random_chain(rng)
    ours = nb.Sequential([nb.Input(input_shape), *(kind_class(k)(**s) for k, s in layers)], seed=5)
    theirs = _keras_seeded([(k, dict(s)) for k, s in layers], input_shape, 5)
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, np.asarray(keras_w))  # initial weights, bit for bit
    weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.2 for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (rng.normal(size=(6, *input_shape)) * 2).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-6, atol=1e-6)
    if chain < 5:
        spec = spec_of(input_shape, *layers, seed=5)
        check_exports(spec)
        json_roundtrip_equal(spec)


# --- exports ------------------------------------------------------------------------------------------------------
EXPORTS = [
    ((6, 3), [("LSTM", {"units": 5})]),
    (
        (6, 3),
        [
            ("LSTM", {"units": 5, "return_sequences": True, "go_backwards": True}),
            ("LSTM", {"units": 4, "use_bias": False}),
        ],
    ),
    (
        (6, 3),
        [
            ("GRU", {"units": 5, "return_sequences": True}),
            ("GRU", {"units": 2, "go_backwards": True, "use_bias": False}),
        ],
    ),
    (
        (6, 3),
        [
            ("GRU", {"units": 5, "reset_after": False, "return_sequences": True, "go_backwards": True}),
            ("Flatten", {}),
            ("Dense", {"units": 2}),
        ],
    ),
    (
        (6, 3),
        [("SimpleRNN", {"units": 5, "activation": "relu", "return_sequences": True}), ("SimpleRNN", {"units": 3})],
    ),
    (
        (6, 3),
        [
            ("SimpleRNN", {"units": 5, "activation": "gelu", "go_backwards": True, "return_sequences": True}),
            ("SimpleRNN", {"units": 2, "use_bias": False, "activation": "sparse_plus"}),
        ],
    ),
    (
        (6, 3),
        [("LSTM", {"units": 5, "activation": "softmax", "recurrent_activation": "hard_sigmoid", "go_backwards": True})],
    ),
    (
        (6, 3),
        [
            ("LSTM", {"units": 3, "use_bias": False, "activation": "relu", "return_sequences": True}),
            ("GRU", {"units": 4, "activation": "elu", "recurrent_activation": "softsign", "reset_after": False}),
        ],
    ),
    (
        (4, 2),
        [
            (
                "GRU",
                {
                    "units": 3,
                    "recurrent_activation": "sigmoid",
                    "activation": "linear",
                    "use_bias": False,
                    "return_sequences": True,
                },
            ),
            ("Activation", {"activation": "tanh"}),
            ("Dense", {"units": 2}),
        ],
    ),
]


@pytest.mark.parametrize("input_shape,layers", EXPORTS, ids=[str(i) for i in range(len(EXPORTS))])
def test_exports_reproduce_outputs(input_shape, layers):
    """Keras and PyTorch scripts (torch's own RNN modules where they compute Keras's layer) equal our outputs."""
    spec = spec_of(input_shape, *layers)
    model = built(spec)
    rng = np.random.default_rng(4)
    model.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in model.get_weights()])
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_torch_export_uses_torch_modules_where_they_fit():
    model = built(
        spec_of(
            (4, 3),
            ("LSTM", {"units": 2, "return_sequences": True}),
            ("GRU", {"units": 2, "return_sequences": True}),
            ("SimpleRNN", {"units": 2, "activation": "relu", "return_sequences": True}),
            ("GRU", {"units": 2, "reset_after": False, "return_sequences": True}),
            ("LSTM", {"units": 2, "recurrent_activation": "hard_sigmoid"}),
        )
    )
    code = export.pytorch_code(model)
    assert "nn.LSTM(3, 2, bias=True, batch_first=True)" in code
    assert "nn.GRU(2, 2, bias=True, batch_first=True)" in code
    assert "nn.RNN(2, 2, nonlinearity='relu', bias=True, batch_first=True)" in code
    assert "KerasGRULoop(features=2, units=2, gates=3, bias_shape=(6,), activation=nn.Tanh(), " in code
    assert "reset_after=False" in code
    assert "KerasLSTMLoop(" in code and "recurrent_activation=nn.Hardsigmoid()" in code


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_positional_arguments_follow_keras(kind):
    """Keras's constructor order, so LSTM(4, "relu", "sigmoid", False) means what it means in Keras."""
    import inspect

    parameters = [
        p.name
        for p in inspect.signature(getattr(keras.layers, kind)).parameters.values()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name != "self"
    ]
    assert list(kind_class(kind).keras_args) == parameters
    ours = [s.name for s in kind_class(kind).settings]
    assert ours == [p for p in parameters if p in ours]  # our settings in Keras's order


# --- shapes, fixes and messages --------------------------------------------------------------------------------------
def _keras_error(layers, input_shape) -> str:
    try:
        keras.backend.clear_session(free_memory=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.Sequential([keras.Input(input_shape), *layers])
            model.predict(np.zeros((2, *input_shape), np.float32), verbose=0)
    except Exception as e:  # Keras raises many types
        return re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    raise AssertionError("Keras accepted the model")


def test_lstm_after_lstm_without_return_sequences():
    layers = [nb.LSTM(8), nb.Activation("linear"), nb.LSTM(4)]  # through a layer that keeps the shape
    analysis = analyze(layers, (10, 3))
    issue = analysis.issue
    assert issue.layer_index == 2 and issue.received == (None, 8)
    assert "return_sequences" in issue.explanation
    expected = _keras_error([keras.layers.LSTM(8), keras.layers.Activation("linear"), keras.layers.LSTM(4)], (10, 3))
    assert issue.keras_message == expected
    fix = issue.fixes[0]
    assert (fix.action, fix.layer_index, fix.value) == ("set_setting", 0, ("return_sequences", True))
    assert "return_sequences=True on lstm" in fix.description
    inserted = [
        f.value for f in issue.fixes if f.action == "insert_layer"
    ]  # no Reshape: the cause is the earlier layer
    assert inserted == ([("RepeatVector", {"n": 10})] if "RepeatVector" in KINDS else [])  # kept only if it works
    layers[0] = nb.LSTM(8, return_sequences=True)
    assert analyze(layers, (10, 3)).ok


def test_vector_input_gets_a_steps_axis():
    """(None, 64) into an LSTM: Reshape((64, 1)) (kept once the Reshape kind exists) or an input of (64, 1)."""
    issue = analyze([nb.LSTM(4)], (64,)).issue
    # named as ours: Keras numbers its automatic names per process, so the name would depend on the tests run before
    assert issue.keras_message == _keras_error([keras.layers.LSTM(4, name=issue.layer_name)], (64,))
    actions = {(f.action, repr(f.value)) for f in issue.fixes}
    assert ("set_input_shape", "(64, 1)") in actions
    reshape = ("insert_layer", repr(("Reshape", {"target_shape": (64, 1)})))
    assert (reshape in actions) == ("Reshape" in KINDS)
    # the proposal itself is made whatever the registry holds; analysis keeps it only when it works
    layers = [nb.Dense(64), nb.GRU(4)]
    context = FixContext(layers, 1, (3,), (None, 64), layer_names(layers), list(analyze(layers[:1], (3,)).layers))
    proposed = [f for f in layers[1].suggest_fixes((None, 64), None, context) if f is not None]
    assert [(f.action, f.layer_index, f.value) for f in proposed] == [
        ("insert_layer", 1, ("Reshape", {"target_shape": (64, 1)}))
    ]


def test_image_input_proposes_rows_as_steps():
    layers = [nb.SimpleRNN(4)]
    context = FixContext(layers, 0, (28, 28, 1), (None, 28, 28, 1), layer_names(layers))
    fixes = layers[0].suggest_fixes((None, 28, 28, 1), None, context)
    assert fixes[0].value == ("Reshape", {"target_shape": (28, 28)})
    issue = analyze(layers, (28, 28, 1)).issue
    assert "expected ndim=3, found ndim=4" in issue.keras_message


def test_features_differ_from_the_built_shape():
    """A layer built for 3 features per step (Keras JSON's build_config) given 4: refused with Keras's message."""
    theirs = _keras("LSTM", {"units": 4}, (5, 3))
    doc = json.loads(theirs.to_json())
    doc["config"]["layers"][0]["config"]["batch_shape"] = [None, 5, 4]
    with pytest.raises(nb.NetbuilderError) as error:
        nb.model_from_json(json.dumps(doc), seed=0)
    issue = error.value.issue
    assert issue.expected == "last axis of size 3"
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.models.model_from_json(json.dumps(doc))  # Keras loads it, and fails when it runs
        with pytest.raises(ValueError) as keras_error:
            loaded.predict(np.zeros((2, 5, 4), np.float32), verbose=0)
    keras_lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(keras_error.value)).splitlines()]
    assert all(line in keras_lines for line in issue.keras_message.splitlines())
    assert {f.action for f in issue.fixes} >= {"unbuild", "set_input_shape"}  # not "remove": it is the only layer


# --- Keras's other arguments: defaults only ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,arguments",
    [
        ("SimpleRNN", {"return_state": True}),
        ("LSTM", {"stateful": True}),
        ("GRU", {"recurrent_regularizer": "l1"}),
        ("SimpleRNN", {"kernel_regularizer": "l2"}),
        ("LSTM", {"use_cudnn": True}),
    ],
)
def test_non_default_keras_arguments_are_refused(kind, arguments):
    ((name, value),) = arguments.items()
    with pytest.raises(nb.LayerConfigError, match=f"supports {name} only at its default"):
        kind_class(kind)(4, **arguments)
    theirs = (
        _keras(kind, {"units": 4, **arguments}, (5, 3))
        if name not in ("stateful", "use_cudnn", "return_state")
        else None
    )
    if theirs is not None:  # Keras's own JSON with that argument: refused clearly too
        with pytest.raises(nb.NetbuilderError, match=name):
            nb.model_from_json(theirs.to_json(), seed=0)


def test_default_keras_arguments_are_accepted():
    layer = nb.LSTM(
        4,
        "tanh",
        "sigmoid",
        True,
        "glorot_uniform",
        "orthogonal",
        "zeros",
        True,
        dropout=0.0,
        recurrent_dropout=0,
        seed=7,
        return_state=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
    )
    assert layer.values == nb.LSTM(4).values
    seeded = keras.initializers.serialize(keras.initializers.GlorotUniform(seed=3))  # a seed changes no default
    assert nb.GRU(3, kernel_initializer=seeded).values == nb.GRU(3).values
    theirs = _keras(
        "GRU",
        {"units": 4},
        (5, 3),
        kernel_initializer=keras.initializers.GlorotUniform(seed=9),
        recurrent_initializer=keras.initializers.Orthogonal(seed=9),
    )
    assert nb.model_from_json(theirs.to_json(), seed=0).count_params() == theirs.count_params()
    assert nb.SimpleRNN(2, "relu", False).values == {
        "units": 2,
        "activation": "relu",
        "use_bias": False,
        "kernel_initializer": nb_init.GlorotUniform(),
        "recurrent_initializer": nb_init.Orthogonal(),
        "bias_initializer": nb_init.Zeros(),
        "return_sequences": False,
        "go_backwards": False,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "unroll": False,
    }


@pytest.mark.parametrize(
    "kind,arguments",
    [
        ("LSTM", {"dropout": 0.2}),
        ("GRU", {"recurrent_dropout": 0.1, "unroll": True}),
        ("SimpleRNN", {"dropout": 1.5}),
        ("LSTM", {"unit_forget_bias": False, "unroll": True}),
    ],
)
def test_keras_arguments_for_training_only_are_kept_through_json_and_export(kind, arguments):
    """dropout, recurrent_dropout and unroll change nothing at inference (and unit_forget_bias only the initial
    bias): Keras's JSON with them loads, keeps them, writes them back and exports them; rates are clipped to [0, 1] as
    Keras clips them."""
    theirs = _keras(kind, {"units": 4, **arguments}, (5, 3))
    ours = nb.model_from_json(theirs.to_json(), seed=0)
    clipped = {k: min(1.0, v) if isinstance(v, float) else v for k, v in arguments.items()}
    assert {k: ours.layers[0].values[k] for k in arguments} == clipped
    config = json.loads(ours.to_json())["config"]["layers"][-1]["config"]
    assert {k: config[k] for k in arguments} == {k: theirs.layers[-1].get_config()[k] for k in arguments}
    again = keras.models.model_from_json(ours.to_json())
    assert {k: again.layers[-1].get_config()[k] for k in arguments} == {k: config[k] for k in arguments}
    code = ours.layers[0].keras_code().code
    assert all(f"{k}={v!r}" in code for k, v in clipped.items())


def test_a_model_with_a_recurrent_layers_own_dropout_is_refused_training_before_it_starts():
    """netbuilder does not reproduce Keras's dropout masks inside the recurrent step: fit and train_on_batch refuse
    before any step, naming the layer and the argument; predict (where dropout does nothing) runs."""
    model = nb.Sequential([nb.Input((5, 3)), nb.GRU(4, name="encoder", recurrent_dropout=0.25), nb.Dense(1)], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 5, 3), np.float32), np.ones((4, 1), np.float32)
    before = model.get_weights()
    for train in (lambda: model.fit(x, y, verbose=0), lambda: model.train_on_batch(x, y)):
        with pytest.raises(
            nb.LayerConfigError,
            match=r"layer 'encoder' \(GRU\) has recurrent_dropout=0.25: .* set "
            r"recurrent_dropout to 0",
        ):
            train()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.predict(x).shape == (4, 1)
    with pytest.raises(nb.LayerConfigError, match="has dropout=0.5"):
        nb.LSTM(2, dropout=0.5).forward_train(x, np.random.default_rng(0))  # a layer on its own refuses too
    nb.Sequential([nb.Input((5, 3)), nb.LSTM(2, unroll=True, unit_forget_bias=False)]).compile("sgd", "mse")


# --- training ---------------------------------------------------------------------------------------------------------
def _small(kind, **settings):
    model = nb.Sequential([nb.Input((4, 3)), kind_class(kind)(**settings)], seed=1)
    layer = model.layers[0]
    rng = np.random.default_rng(0)
    layer.set_weights([w + rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in layer.get_weights()])
    return layer


GRADIENT_CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"return_sequences": True, "go_backwards": True}),
    ("SimpleRNN", {"use_bias": False}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True, "go_backwards": True}),
    ("LSTM", {"use_bias": False, "activation": "relu"}),
    ("LSTM", {"recurrent_activation": "softmax", "activation": "selu", "return_sequences": True}),
    ("GRU", {}),
    ("GRU", {"return_sequences": True, "go_backwards": True}),
    ("GRU", {"use_bias": False}),
    ("GRU", {"reset_after": False}),
    ("GRU", {"reset_after": False, "use_bias": False, "go_backwards": True}),
    (
        "GRU",
        {
            "reset_after": False,
            "return_sequences": True,
            "activation": "softmax",
            "recurrent_activation": "hard_sigmoid",
        },
    ),
]


@pytest.mark.parametrize("kind,settings", GRADIENT_CASES, ids=[f"{k}{s}" for k, s in GRADIENT_CASES])
def test_backpropagation_through_time(kind, settings):
    layer = _small(kind, units=3, **settings)
    x = np.random.default_rng(5).normal(size=(2, 4, 3))
    y, _ = layer.forward_train(x.astype(np.float32), np.random.default_rng(0))
    np.testing.assert_array_equal(y, layer.call(x.astype(np.float32)))  # training computes what inference does
    check_gradients(layer, x)


@pytest.mark.parametrize("activation", sorted(a for a in ACTIVATIONS if a != "glu"))
def test_gradients_of_every_activation(activation):
    """Each activation's derivative (SimpleRNN's activation, GRU's gates, LSTM's cell)."""
    x = np.random.default_rng(6).normal(size=(2, 3, 3))
    check_gradients(_small("SimpleRNN", units=3, activation=activation, return_sequences=True), x)
    check_gradients(_small("GRU", units=2, recurrent_activation=activation), x)
    check_gradients(_small("LSTM", units=2, activation=activation, go_backwards=True), x)


# --- cost -------------------------------------------------------------------------------------------------------------
COST_CASES = [
    c for c in CASES if len(c.input_shape) == 2 and c.settings["units"] > 0 and "glu" not in c.settings.values()
]
COST_CASES += [
    Case(kind, {"units": 33, "activation": a, "return_sequences": rs}, (7, 10))
    for kind in ("SimpleRNN", "LSTM", "GRU")
    for a, rs in (("tanh", False), ("gelu", False), ("softmax", True))
]


@pytest.mark.parametrize("case", COST_CASES, ids=lambda c: c.id)
def test_recurrent_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def test_cost_counts_the_matmuls():
    cost = nb.LSTM(64).cost((None, 100, 32), (None, 64))
    assert cost.mult_adds == 100 * (32 * 64 + 64 * 64) * 4  # every step: x·W and h·U for the four gates


# --- words ------------------------------------------------------------------------------------------------------------
def test_formulas_written_out():
    shape = (None, 100, 32)
    for layer, text, keras_params in [
        (nb.LSTM(64), "4×(32×64 + 64×64 + 64) = 24,832", _keras("LSTM", {"units": 64}, (100, 32)).count_params()),
        (nb.LSTM(64, use_bias=False), "4×(32×64 + 64×64) = 24,576", None),
        (nb.GRU(64), "3×(32×64 + 64×64 + 2×64) = 18,816", _keras("GRU", {"units": 64}, (100, 32)).count_params()),
        (
            nb.GRU(64, reset_after=False),
            "3×(32×64 + 64×64 + 64) = 18,624",
            _keras("GRU", {"units": 64, "reset_after": False}, (100, 32)).count_params(),
        ),
        (nb.SimpleRNN(64), "32×64 + 64×64 + 64 = 6,208", _keras("SimpleRNN", {"units": 64}, (100, 32)).count_params()),
    ]:
        assert layer.formula(shape) == text
        assert keras_params is None or text.endswith(f"{keras_params:,}")


def test_explain_label_and_description():
    lstm = nb.LSTM(64)
    text = lstm.explain_shape((None, 100, 32), (None, 64))
    assert "100 steps" in text and "return_sequences=False" in text and "(None, 100, 64)" in text
    seq = nb.GRU(8, return_sequences=True, go_backwards=True)
    text = seq.explain_shape((None, 5, 2), (None, 5, 8))
    assert "return_sequences=True" in text and "(None, 5, 8)" in text and "last input step's output first" in text
    assert lstm.label() == "64 units" and nb.SimpleRNN(1).label() == "1 unit"
    assert seq.label() == "8 units, sequences, backwards"
    assert (
        nb.GRU(4, reset_after=False, activation="relu", use_bias=False).label()
        == "4 units, relu, no bias, reset before"
    )
    for kind in ("SimpleRNN", "LSTM", "GRU"):
        assert kind_class(kind).group == "Recurrent" and kind_class(kind).description


def test_training_equals_keras_on_jax():
    """Backpropagation through time in a real fit: per-epoch losses and final weights as Keras (JAX backend) trains
    them."""
    from training_oracle import run_jobs

    rng = np.random.default_rng(3)
    x = rng.normal(size=(26, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.float32)[:, None]
    jobs, ours = [], []
    for layers in (
        [nb.LSTM(4, return_sequences=True, go_backwards=True), nb.GRU(3)],
        [nb.GRU(4, reset_after=False, return_sequences=True), nb.SimpleRNN(3, activation="relu", go_backwards=True)],
        [nb.LSTM(3, use_bias=False, activation="softsign", recurrent_activation="hard_sigmoid")],
    ):
        model = nb.Sequential([nb.Input((5, 3)), *layers, nb.Dense(1, activation="sigmoid")], seed=4)
        start = model.get_weights()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False)  # a last batch of 2
        ours.append((history.history["loss"], model.get_weights()))
        jobs.append(
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": ("Adam", {}),
                "loss": "binary_crossentropy",
                "metrics": [],
                "batch_size": 8,
                "epochs": 3,
            }
        )
    for (losses, weights), theirs in zip(ours, run_jobs(jobs), strict=True):
        np.testing.assert_allclose(losses, theirs["history"]["loss"], rtol=1e-3, atol=1e-6)
        for mine, keras_w in zip(weights, theirs["weights"], strict=True):
            np.testing.assert_allclose(mine, keras_w, rtol=1e-3, atol=1e-5)
