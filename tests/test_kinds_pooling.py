"""Max, average and global pooling through the kind harness (tests/kind_harness.py) against real Keras, plus their
problems and fixes, gradients (finite differences, and ties routed as JAX routes them), exports and costs."""

import warnings

import keras
import numpy as np
import pytest

import netbuilder as nb
from kind_harness import (
    batches_to_check,
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
from netbuilder.engine.analysis import analyze
from netbuilder.engine.errors import Fix

CASES = [
    # MaxPooling2D
    Case("MaxPooling2D", {}, (8, 8, 3)),
    Case("MaxPooling2D", {}, (7, 9, 2)),  # odd sizes: the last row and column are dropped
    Case("MaxPooling2D", {"pool_size": 3, "strides": 1}, (6, 7, 2)),
    Case("MaxPooling2D", {"pool_size": 2, "padding": "same"}, (7, 9, 2)),  # odd pad cell at the end
    Case("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (8, 7, 2)),
    Case("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (5, 6, 2)),  # symmetric padding
    Case("MaxPooling2D", {"pool_size": 2, "strides": 3, "padding": "same"}, (5, 7, 1)),  # stride > pool
    Case("MaxPooling2D", {"pool_size": (3, 2), "strides": (1, 3)}, (6, 8, 2)),
    Case(
        "MaxPooling2D",
        {"pool_size": (3, 2), "strides": (2, 3), "padding": "same", "data_format": "channels_first"},
        (2, 8, 7),
    ),
    Case("MaxPooling2D", {"data_format": "channels_first"}, (3, 6, 5)),
    Case("MaxPooling2D", {"pool_size": 4, "padding": "same"}, (2, 3, 1)),  # same: any window fits
    Case("MaxPooling2D", {"pool_size": 3}, (2, 2, 1)),  # refused by both: window larger than the input
    Case("MaxPooling2D", {"data_format": "channels_first"}, (3, 5, 1)),
    Case("MaxPooling2D", {}, (28, 28)),
    Case("MaxPooling2D", {}, (4, 4, 1, 1)),
    Case("MaxPooling2D", {"strides": 0}, (5, 5, 1)),
    Case("MaxPooling2D", {"pool_size": 0}, (5, 5, 1)),
    Case("MaxPooling2D", {"padding": "SAME"}, (5, 5, 1)),  # Keras's pooling padding is case-sensitive
    # MaxPooling1D
    Case("MaxPooling1D", {}, (9, 3)),
    Case("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (10, 2)),
    Case("MaxPooling1D", {"pool_size": 4, "strides": 1, "padding": "same", "data_format": "channels_first"}, (2, 7)),
    Case("MaxPooling1D", {"pool_size": 5}, (4, 2)),
    Case("MaxPooling1D", {"padding": "causal"}, (6, 2)),
    Case("MaxPooling1D", {}, (6, 6, 2)),
    # AveragePooling: valid divides by the window, same by the real cells of each window
    Case("AveragePooling2D", {"pool_size": 2}, (8, 9, 3)),
    Case(
        "AveragePooling2D",
        {"pool_size": (3, 2), "strides": (2, 3), "padding": "same", "data_format": "channels_first"},
        (2, 8, 7),
    ),
    Case("AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (5, 6, 2)),
    Case("AveragePooling2D", {"pool_size": 2, "padding": "same"}, (7, 7, 1)),
    Case("AveragePooling2D", {"pool_size": 4, "strides": 3, "padding": "same"}, (9, 11, 2)),
    Case("AveragePooling2D", {"pool_size": 3, "padding": "same"}, (2, 2, 2)),
    Case("AveragePooling2D", {"pool_size": 3, "strides": 2, "data_format": "channels_first"}, (3, 7, 9)),
    Case("AveragePooling2D", {}, (8, 8, 1)),  # pool_size is required
    Case("AveragePooling2D", {"pool_size": 9}, (8, 8, 1)),
    Case("AveragePooling1D", {"pool_size": 4, "strides": 3, "padding": "same"}, (11, 2)),
    Case("AveragePooling1D", {"pool_size": 2}, (9, 3)),
    Case(
        "AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same", "data_format": "channels_first"}, (2, 6)
    ),
    Case("AveragePooling1D", {}, (8, 1)),
    # global pooling
    Case("GlobalMaxPooling2D", {}, (5, 6, 3)),
    Case("GlobalMaxPooling2D", {"data_format": "channels_first", "keepdims": True}, (3, 5, 6)),
    Case("GlobalAveragePooling2D", {"keepdims": True}, (5, 6, 3)),
    Case("GlobalAveragePooling2D", {"data_format": "channels_first"}, (3, 5, 6)),
    Case("GlobalMaxPooling1D", {}, (7, 4)),
    Case("GlobalMaxPooling1D", {"data_format": "channels_first"}, (3, 6)),
    Case("GlobalAveragePooling1D", {"keepdims": True}, (7, 4)),
    Case("GlobalAveragePooling1D", {"data_format": "channels_first", "keepdims": True}, (4, 7)),
    Case("GlobalAveragePooling1D", {}, (5, 5, 1)),  # refused by both
    Case("GlobalMaxPooling2D", {}, (5, 1)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_pooling_kind_matches_keras(case):
    check_case(case)


def _accepted(case):
    try:
        ours_model(case)
        return True
    except nb.NetbuilderError:
        return False


@pytest.mark.parametrize("case", [c for c in CASES if _accepted(c)], ids=lambda c: c.id)
def test_pooling_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))


def test_pooling_cost_on_larger_maps():
    for kind, settings, shape in [
        ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (57, 56, 16)),
        ("AveragePooling2D", {"pool_size": 2, "padding": "same", "data_format": "channels_first"}, (8, 33, 31)),
        ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (500, 8)),
        ("GlobalAveragePooling2D", {}, (32, 32, 16)),
    ]:
        case = Case(kind, settings, shape)
        model = ours_model(case)
        for batch in batches_to_check(model, 512):
            check_cost(model, sample(case, batch))


# --- problems and fixes --------------------------------------------------------------------------
def keras_error(layers, input_shape) -> str:
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            keras.Sequential([keras.Input(input_shape), *layers])
        except ValueError as e:
            return str(e)
    raise AssertionError("Keras accepted the model")


class Proposals:
    """A stand-in for analysis.FixContext that records what a kind proposes; verifying them is analysis's job."""

    def __init__(self, name):
        self.name = name
        self.index, self.layers = 0, []  # the failing layer first: nothing before it to change

    def insert(self, kind, settings, description, before=None):
        return Fix("insert_layer", description, before, (kind, dict(settings)))

    def set_setting(self, setting, value, index=None, description=None):
        return Fix("set_setting", description or "", index, (setting, value))

    def input_shape_fix(self, shape):
        return Fix("set_input_shape", "", None, tuple(shape))

    def upstream_fix(self, size):
        return Fix("upstream", "", None, size)

    def unbuild(self, description):
        return Fix("unbuild", description)


def issue_and_proposals(layers, input_shape):
    issue = analyze(layers, input_shape).issue
    return issue, layers[issue.layer_index].suggest_fixes(issue.received, None, Proposals(issue.layer_name))


def test_pool_larger_than_input():
    issue, _ = issue_and_proposals([nb.MaxPooling2D(3)], (2, 2, 1))
    assert issue.keras_message in keras_error([keras.layers.MaxPooling2D(3)], (2, 2, 1))
    assert issue.keras_message.startswith("Computed output size would be zero or negative.")
    assert "padding='same'" in issue.explanation
    fixes = {f.value for f in issue.fixes if f.action == "set_setting"}
    assert fixes >= {("padding", "same"), ("pool_size", (2, 2))}
    issue, _ = issue_and_proposals([nb.AveragePooling1D(5, strides=2)], (4, 2))
    assert issue.keras_message in keras_error([keras.layers.AveragePooling1D(5, strides=2)], (4, 2))


def test_pooling_rank_problems():
    issue, proposed = issue_and_proposals([nb.MaxPooling2D()], (28, 28))
    assert issue.keras_message == keras_error([keras.layers.MaxPooling2D()], (28, 28))
    assert proposed[0].value == ("Reshape", {"target_shape": (28, 28, 1)})
    assert ("set_input_shape", (28, 28, 1)) in [(f.action, f.value) for f in issue.fixes]
    issue, proposed = issue_and_proposals([nb.GlobalMaxPooling1D()], (5, 6, 3))
    assert issue.keras_message == keras_error([keras.layers.GlobalMaxPooling1D()], (5, 6, 3))
    assert proposed[0].value == ("Reshape", {"target_shape": (30, 3)})
    assert "exactly the same cells" in issue.explanation
    issue, proposed = issue_and_proposals([nb.GlobalAveragePooling2D(data_format="channels_first")], (3, 5))
    assert proposed[0].value == ("Reshape", {"target_shape": (1, 3, 5)})


def test_descriptions_and_config():
    layer = nb.MaxPooling2D()
    assert layer.label() == "2×2 valid"
    assert nb.MaxPooling2D(3, strides=2, padding="same").label() == "3×3 stride 2×2 same"
    assert "floor((26 − 2)/2) + 1 = 13" in layer.explain_shape((None, 26, 26, 32), (None, 13, 13, 32))
    same = nb.AveragePooling2D(2, padding="same")
    text = same.explain_shape((None, 7, 7, 1), same.compute_output_shape((None, 7, 7, 1)))
    assert "ceil(7/2) = 4" in text and "padded 0 before and 1 after" in text and "real cells" in text
    assert layer.get_config()["strides"] == [2, 2]  # the strides in effect, as Keras writes them
    assert (
        nb.GlobalAveragePooling2D()
        .explain_shape((None, 7, 7, 64), (None, 64))
        .startswith("The mean over all 7×7 positions")
    )
    for kind in (
        "MaxPooling1D",
        "MaxPooling2D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
    ):
        assert nb.KINDS[kind].group == "Pooling" and nb.KINDS[kind].description


def test_global_average_is_bit_equal_to_keras():
    """Keras's NumPy backend calls np.mean; ours sums and divides without its buffer, with the same bits."""
    for shape, settings in [((5, 6, 3), {}), ((3, 40, 50), {"data_format": "channels_first"}), ((700, 4), {})]:
        kind = "GlobalAveragePooling1D" if len(shape) == 2 else "GlobalAveragePooling2D"
        x = np.random.default_rng(1).normal(size=(8, *shape)).astype(np.float32)
        keras.backend.clear_session(free_memory=False)
        expected = keras.Sequential([keras.Input(shape), getattr(keras.layers, kind)(**settings)]).predict(x, verbose=0)
        np.testing.assert_array_equal(nb.Sequential([nb.Input(shape), nb.KINDS[kind](**settings)]).predict(x), expected)


def test_average_pooling_same_divides_by_real_cells():
    """Hand-computed: 1D input 1..5, window 2, stride 2, same → windows [1,2] [3,4] [5, pad] → 1.5, 3.5, 5."""
    model = nb.Sequential([nb.Input((5, 1)), nb.AveragePooling1D(2, padding="same")])
    np.testing.assert_array_equal(
        model.predict(np.arange(1, 6, dtype=np.float32).reshape(1, 5, 1)).ravel(), [1.5, 3.5, 5.0]
    )


# --- gradients -----------------------------------------------------------------------------------
GRADIENT_CASES = [
    ("MaxPooling2D", {}, (5, 4, 2)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (4, 5, 2)),  # overlapping windows
    (
        "MaxPooling2D",
        {"pool_size": (2, 3), "strides": (3, 2), "padding": "same", "data_format": "channels_first"},
        (2, 5, 6),
    ),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (8, 2)),
    ("AveragePooling2D", {"pool_size": 2}, (5, 4, 2)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}, (2, 6, 5)),
    ("AveragePooling1D", {"pool_size": 4, "strides": 1, "padding": "same"}, (7, 2)),
    ("GlobalMaxPooling2D", {}, (3, 4, 2)),
    ("GlobalMaxPooling1D", {"data_format": "channels_first", "keepdims": True}, (2, 5)),
    ("GlobalAveragePooling2D", {"data_format": "channels_first"}, (2, 3, 4)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (5, 3)),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}{sh}" for k, s, sh in GRADIENT_CASES])
def test_pooling_backward_matches_finite_differences(kind, settings, shape):
    layer = nb.Sequential([nb.Input(shape), nb.KINDS[kind](**settings)]).layers[0]
    check_gradients(layer, np.random.default_rng(1).normal(size=(2, *shape)))


def test_ties_route_the_gradient_as_jax_does():
    """Max pooling gives a window's gradient to its first maximum (XLA's select-and-scatter); a global max shares it
    equally among tied maxima (JAX's reduce_max) — what Keras's JAX backend trains with."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(2, 6, 5, 2)).astype(np.float64)  # many ties
    for padding in ("valid", "same"):
        layer = nb.Sequential([nb.Input((6, 5, 2)), nb.MaxPooling2D(3, strides=2, padding=padding)]).layers[0]
        y, cache = layer.forward_train(x, None)
        dy = rng.normal(size=y.shape)
        dx, _ = layer.backward(cache, dy)

        def pool(v, padding=padding):
            return jax.lax.reduce_window(v, -np.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), padding.upper())

        out, vjp = jax.vjp(pool, x)
        np.testing.assert_array_equal(y, out)
        np.testing.assert_allclose(dx, vjp(dy)[0], rtol=1e-12, atol=1e-12)
    layer = nb.Sequential([nb.Input((6, 5, 2)), nb.GlobalMaxPooling2D()]).layers[0]
    y, cache = layer.forward_train(x, None)
    dy = rng.normal(size=y.shape)
    out, vjp = jax.vjp(lambda v: jax.numpy.max(v, axis=(1, 2)), x)
    np.testing.assert_allclose(layer.backward(cache, dy)[0], vjp(dy)[0], rtol=1e-12, atol=1e-12)


# --- exports and chains --------------------------------------------------------------------------
EXPORT_SPECS = [
    [
        (9, 8, 2),
        ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}),  # asymmetric: explicit -inf pad
        ("AveragePooling2D", {"pool_size": 2, "padding": "same"}),  # asymmetric average
        ("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}),  # symmetric: torch's own padding
        ("AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}),
        ("GlobalAveragePooling2D", {"keepdims": True}),
        ("Flatten", {}),
    ],
    [
        (3, 9, 8),
        (
            "AveragePooling2D",
            {"pool_size": (3, 2), "strides": (2, 3), "padding": "same", "data_format": "channels_first"},
        ),
        ("MaxPooling2D", {"pool_size": 2, "data_format": "channels_first"}),
        ("GlobalMaxPooling2D", {"data_format": "channels_first"}),
        ("Dense", {"units": 4}),
    ],
    [
        (11, 3),
        ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "activation": "relu"}),
        ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}),
        ("AveragePooling1D", {"pool_size": 2, "padding": "same"}),
        ("AveragePooling1D", {"pool_size": 2, "strides": 1}),
        ("GlobalMaxPooling1D", {}),
        ("Dense", {"units": 2}),
    ],
    [
        (4, 10),
        ("MaxPooling1D", {"pool_size": 2, "data_format": "channels_first"}),
        ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same", "data_format": "channels_first"}),
        ("GlobalAveragePooling1D", {"data_format": "channels_first", "keepdims": True}),
        ("Flatten", {}),
    ],
]


@pytest.mark.parametrize("layers", EXPORT_SPECS, ids=lambda s: "-".join(k for k, _ in s[1:]))
def test_pooling_exports_reproduce_outputs(layers):
    spec = spec_of(*layers)
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_text_classifier_chain_matches_keras():
    """Embedding-free text model shape: Conv1D → GlobalMaxPooling1D → Dense, and a VGG-style block, against Keras."""
    for input_shape, layers in [
        (
            (50, 8),
            [
                ("Conv1D", {"filters": 16, "kernel_size": 5, "activation": "relu"}),
                ("GlobalMaxPooling1D", {}),
                ("Dense", {"units": 1, "activation": "sigmoid"}),
            ],
        ),
        (
            (16, 16, 3),
            [
                ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}),
                ("Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"}),
                ("MaxPooling2D", {}),
                ("AveragePooling2D", {"pool_size": 2}),
                ("GlobalAveragePooling2D", {}),
                ("Dense", {"units": 3, "activation": "softmax"}),
            ],
        ),
    ]:
        ours = nb.Sequential([nb.Input(input_shape), *[nb.KINDS[k](**s) for k, s in layers]], seed=4)
        keras.backend.clear_session(free_memory=False)
        theirs = keras.Sequential([keras.Input(input_shape), *[getattr(keras.layers, k)(**s) for k, s in layers]])
        theirs.set_weights(ours.get_weights())
        x = np.random.default_rng(0).normal(size=(4, *input_shape)).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs.predict(x, verbose=0)
        assert ours.output_shape == tuple(theirs.output_shape)
        np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-5, atol=1e-6)
