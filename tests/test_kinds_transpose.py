"""Conv1DTranspose and Conv2DTranspose through the kind harness (tests/kind_harness.py) against real Keras, plus Keras's
output-size rules over a grid, problems and fixes, Keras's other arguments, gradients (finite differences and JAX),
exports (Keras and PyTorch, torch's padding against Keras's), costs (predict's and a training step's memory), and a
short training against Keras on JAX."""

import itertools
import json

import keras
import numpy as np
import pytest
from keras.src.backend.common.backend_utils import compute_conv_transpose_output_shape

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
    run_torch_code,
    sample,
    spec_of,
)
from netbuilder.engine.analysis import analyze
from netbuilder.engine.cost import FLOAT32
from netbuilder.engine.layer import kind_class
from netbuilder.studio.models import built
from test_cost import backprop_peak
from test_kinds_convolution import Proposals, keras_error
from training_oracle import run_jobs

GLOROT = {"kernel_initializer": "GlorotUniform"}
WIDE = {"rtol": 1e-5, "atol": 1e-5}  # sums of many products: XLA adds them in another order
GLU = "Keras reports the un-halved shape for glu; use an Activation('glu') layer"
REGULARIZER = "netbuilder trains without regularizers and constraints: other values than None are refused by name"
EMPTY = "Keras returns an empty tensor (an axis of 0); netbuilder refuses a layer whose output has no values"

CASES = [
    # Conv2DTranspose: valid and same, output_padding, strides below, at and above the kernel, dilation, both layouts
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (5, 5, 3), GLOROT),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2}, (5, 4, 3), GLOROT),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (5, 4, 3), GLOROT),
    Case("Conv2DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"}, (4, 5, 2)),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
        (5, 4, 3),
    ),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0},
        (5, 4, 3),
    ),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": (2, 4), "strides": (3, 2), "padding": "same", "output_padding": (0, 1)},
        (5, 4, 3),
    ),
    Case(
        "Conv2DTranspose", {"filters": 4, "kernel_size": (2, 4), "strides": (3, 2), "output_padding": (2, 0)}, (5, 4, 3)
    ),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 1, "strides": 3, "padding": "same"}, (5, 4, 3)),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 3}, (5, 4, 3)),  # stride > kernel: gaps
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 5, "strides": 3, "padding": "same"}, (3, 2, 2)),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "dilation_rate": (2, 3), "padding": "same"},
        (5, 4, 3),
        GLOROT,
    ),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 4, "dilation_rate": (2, 1), "padding": "same"}, (5, 4, 3)),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": (3, 2), "dilation_rate": 2}, (4, 3, 2)),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "data_format": "channels_first", "padding": "same"},
        (3, 5, 4),
        GLOROT,
    ),
    Case(
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": (4, 3), "strides": (2, 3), "output_padding": 1, "data_format": "channels_first"},
        (2, 4, 3),
    ),
    Case(
        "Conv2DTranspose",
        {
            "filters": 3,
            "kernel_size": 3,
            "dilation_rate": 2,
            "padding": "same",
            "data_format": "channels_first",
            "activation": "softmax",
        },
        (2, 4, 5),
    ),
    Case(
        "Conv2DTranspose", {"filters": 3, "kernel_size": 3, "activation": "tanh", "use_bias": False}, (6, 7, 2), GLOROT
    ),
    Case("Conv2DTranspose", {"filters": 3, "kernel_size": 2, "strides": 2, "activation": "gelu"}, (5, 5, 2)),
    Case(
        "Conv2DTranspose",
        {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
        (7, 7, 32),
        GLOROT,
        **WIDE,
    ),
    Case(
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": [2, 2], "strides": [1, 2], "padding": "SAME", "data_format": "Channels_Last"},
        (5, 5, 1),
    ),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "padding": "same"}, (1, 1, 3)),  # one pixel in
    Case(
        "Conv2DTranspose",
        {
            "filters": 2,
            "kernel_size": 3,
            "kernel_initializer": "glorot_uniform",
            "bias_initializer": "zeros",
            "kernel_regularizer": None,
        },
        (4, 4, 3),
    ),
    # Conv2DTranspose: refused by both
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (5, 5)),  # no channels axis
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (5, 5, 1, 1)),  # an axis too many
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 2}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "output_padding": 1}, (5, 5, 1)),  # not below stride 1
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "output_padding": -1}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 0, "kernel_size": 3}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 0}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 0}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "padding": "causal"}, (5, 5, 1)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "padding": "full"}, (5, 5, 1)),
    # Conv2DTranspose: deliberate differences
    Case(
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 0},
        (1, 3, 2),
        keras_accepts_we_reject=EMPTY,
    ),
    Case(
        "Conv2DTranspose", {"filters": 4, "kernel_size": 3, "activation": "glu"}, (5, 5, 4), keras_accepts_we_reject=GLU
    ),
    Case(
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "kernel_initializer": "he_uniform"},
        (5, 5, 4),
        {"kernel_initializer": "HeUniform"},
    ),  # fans of a transposed kernel (…, filters, channels), as Keras counts them
    Case(
        "Conv1DTranspose",
        {"filters": 3, "kernel_size": 2, "kernel_initializer": "glorot_normal", "bias_initializer": "truncated_normal"},
        (6, 5),
        {"kernel_initializer": "GlorotNormal", "bias_initializer": "TruncatedNormal"},
    ),
    # Conv1DTranspose
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 3}, (7, 3), GLOROT),
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same"}, (7, 3), GLOROT),
    Case(
        "Conv1DTranspose",
        {"filters": 4, "kernel_size": 5, "strides": 3, "padding": "same", "output_padding": 2, "activation": "tanh"},
        (7, 3),
    ),
    Case(
        "Conv1DTranspose", {"filters": 4, "kernel_size": 4, "padding": "same", "output_padding": 0}, (3, 2)
    ),  # shrinks
    Case(
        "Conv1DTranspose",
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first", "strides": 4, "use_bias": False},
        (3, 5),
        GLOROT,
    ),
    Case("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 3}, (4, 2)),
    Case(
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same", "output_padding": 0},
        (4, 2),
    ),
    Case(
        "Conv1DTranspose",
        {"filters": 3, "kernel_size": 1, "strides": 2, "output_padding": 1, "activation": "softmax"},
        (6, 4),
    ),
    Case(
        "Conv1DTranspose",
        {"filters": 32, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu"},
        (50, 16),
        GLOROT,
        **WIDE,
    ),
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 3}, (28, 28, 1)),  # refused by both
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 3}, (10,)),
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (10, 3)),
    Case("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (10, 3)),
    Case(
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 3, "padding": "same", "output_padding": 0},
        (1, 2),
        keras_accepts_we_reject=EMPTY,
    ),
    Case(
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 2, "bias_constraint": "non_neg"},
        (4, 2),
        keras_accepts_we_reject=REGULARIZER,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_transpose_kind_matches_keras(case):
    check_case(case)


def test_output_shapes_are_keras_s_over_a_grid():
    """Keras's own compute_conv_transpose_output_shape for every small combination of input length, kernel, stride,
    padding, output_padding and dilation that Keras accepts."""
    checked = 0
    for n, k, s, padding, d in itertools.product(range(1, 6), range(1, 6), range(1, 5), ("valid", "same"), range(1, 4)):
        if s > 1 and d > 1:
            continue
        for o in (None, *range(s)):
            expected = compute_conv_transpose_output_shape(
                (None, n, 2), (k,), 3, (s,), padding, o, "channels_last", (d,)
            )
            layer = nb.Conv1DTranspose(3, k, strides=s, padding=padding, output_padding=o, dilation_rate=d)
            if expected[1] < 1:
                assert analyze([layer], (n, 2)).issue is not None  # refused on purpose (see EMPTY)
                continue
            assert layer.compute_output_shape((None, n, 2)) == tuple(expected), (n, k, s, padding, o, d)
            checked += 1
    assert checked > 850


@pytest.mark.parametrize("case", [c for c in CASES if c.initializers], ids=lambda c: c.id)
def test_transpose_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in batches_to_check(model, 1024):
        check_cost(model, sample(case, batch))


@pytest.mark.parametrize(
    "kind,settings,shape",
    [
        (
            "Conv2DTranspose",
            {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "sigmoid"},
            (14, 14, 16),
        ),
        (
            "Conv2DTranspose",
            {"filters": 8, "kernel_size": 4, "strides": 2, "data_format": "channels_first", "activation": "tanh"},
            (16, 14, 14),
        ),
        ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 3, "output_padding": 2}, (10, 10, 8)),
        (
            "Conv1DTranspose",
            {"filters": 16, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "softmax"},
            (50, 8),
        ),
        ("Conv1DTranspose", {"filters": 1, "kernel_size": 7, "dilation_rate": 2, "activation": "gelu"}, (200, 4)),
    ],
)
def test_transpose_cost_covers_strides_and_activations(kind, settings, shape):
    """The matmul's result beside the output while the slabs are added (with NumPy's buffers of a strided add), and a
    separate activation output, are what predict allocates."""
    case = Case(kind, settings, shape)
    model = ours_model(case)
    for batch in batches_to_check(model, 1024):
        check_cost(model, sample(case, batch))


# --- a training step's memory, per kind (held as test_cost holds every kind's) -------------------------------------
TRAIN_MEMORY_CASES = [
    (
        "Conv2DTranspose stride 2 same relu",
        (14, 14, 16),
        lambda: [nb.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"), nb.Flatten()],
        32,
    ),
    ("Conv2DTranspose valid", (14, 14, 8), lambda: [nb.Conv2DTranspose(4, 3), nb.Flatten()], 32),
    (
        "Conv2DTranspose channels_first tanh",
        (16, 14, 14),
        lambda: [nb.Conv2DTranspose(8, 4, strides=2, data_format="channels_first", activation="tanh"), nb.Flatten()],
        32,
    ),
    (
        "Conv2DTranspose output_padding",
        (10, 10, 8),
        lambda: [nb.Conv2DTranspose(4, 2, strides=3, output_padding=2), nb.Flatten()],
        32,
    ),
    (
        "Conv1DTranspose softmax",
        (50, 8),
        lambda: [nb.Conv1DTranspose(16, 5, strides=2, padding="same", activation="softmax"), nb.Flatten()],
        64,
    ),
    (
        "Conv1DTranspose channels_first",
        (8, 50),
        lambda: [nb.Conv1DTranspose(16, 4, strides=2, padding="same", data_format="channels_first"), nb.Flatten()],
        64,
    ),
]


@pytest.mark.parametrize(
    "name, shape, layers, batch", TRAIN_MEMORY_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_training_steps_memory_is_what_each_kind_declares(name, shape, layers, batch):
    """As tests/test_cost.py holds every kind: a step's peak (caches, the loss's gradient, the gradients flowing back
    and the weights' gradients) is at least what tracemalloc measures, and at most half as much again (plus 64 KB)."""
    model = nb.Sequential([nb.Input(shape), *layers()], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    for size in (batch, 3):
        x = rng.normal(size=(size, *shape)).astype(np.float32)
        y = rng.normal(size=(size, *model.output_shape[1:])).astype(np.float32)
        measured = backprop_peak(model, x, y)
        predicted = model.cost.backprop_bytes(size) + FLOAT32 * model.cost.trainable_params
        assert measured <= predicted + 64 * 1024, (
            f"a step allocated {measured:,} bytes; the cost model said {predicted:,}"
        )
        assert predicted <= measured + measured // 2 + 64 * 1024, (
            f"the cost model said {predicted:,}; a step allocated {measured:,}"
        )


def test_work_counts_the_matmul_the_slabs_and_the_loop_over_kernel_cells():
    """By hand, Conv2DTranspose(8, 3, strides=2, padding='same') on (7, 7, 16): 7 × 7 positions × 16 channels × 9 cells
    × 8 filters multiply-adds; the output (14 × 14 × 8) zeroed and its bias added; the slabs added cell by cell (with
    'same' at stride 2 Keras keeps the first 14 of the full 15 cells of each axis: a cell at offset 0 or 1 reaches all 7
    inputs, at offset 2 inputs 0..5), each value at 2 + 20 // 8 = 4 operations' time; 9 cells × 5 µs of loop a call."""
    cost = analyze([nb.Conv2DTranspose(8, 3, strides=2, padding="same")], (7, 7, 16)).cost
    out = 14 * 14 * 8
    slabs = sum(a * b for a in (7, 7, 6) for b in (7, 7, 6)) * 8
    assert cost.mult_adds == 7 * 7 * 16 * 9 * 8
    assert cost.elementwise == out + 4 * slabs + out
    assert cost.overhead == 9 * 5 * 40_000
    full = 15 * 15 * 8  # (7 − 1) × 2 + 3 on each axis: backward pads the gradient back to it, and copies its windows
    assert cost.train_elementwise == full + 7 * 7 * 9 * 8


# --- problems and fixes --------------------------------------------------------------------------------------------
def keras_refusal(kind, settings, input_shape) -> str:
    """Keras's message refusing its layer `kind` on `input_shape`, the layer made in a fresh session (its name as
    ours)."""
    keras.backend.clear_session(free_memory=False)
    return keras_error([getattr(keras.layers, kind)(**settings)], input_shape)


def fixes_proposed(layers, input_shape):
    issue = analyze(layers, input_shape).issue
    return layers[issue.layer_index].suggest_fixes(issue.received, None, Proposals(issue.layer_name)), issue


def test_an_empty_output_is_explained_and_fixed():
    settings = {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same", "output_padding": 0}
    _, issue = fixes_proposed([nb.Conv2DTranspose(**settings)], (1, 3, 2))
    assert "empty output" in issue.message and "along height: (1 − 1)×2 + 2 mod 2 + 0 = 0" in issue.message
    assert "output_padding" in issue.explanation and issue.keras_message == ""
    fixes = {f.value for f in issue.fixes if f.action == "set_setting"}
    assert fixes == {("output_padding", None), ("padding", "valid")}
    for name, value in fixes:  # each fix gives Keras a non-empty output too
        keras.backend.clear_session(free_memory=False)
        theirs = keras.Sequential([keras.Input((1, 3, 2)), keras.layers.Conv2DTranspose(**{**settings, name: value})])
        assert min(theirs.output_shape[1:]) > 0


def test_rank_problems_explained_with_keras_s_message_and_reshape_fixes():
    proposed, issue = fixes_proposed([nb.Conv2DTranspose(4, 3)], (28, 28))
    assert issue.keras_message == keras_refusal("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (28, 28))
    assert "spreads each input position" in issue.explanation and "size 1" in issue.explanation
    assert proposed[0].value == ("Reshape", {"target_shape": (28, 28, 1)})
    proposed, issue = fixes_proposed([nb.Conv1DTranspose(8, 3)], (100,))
    assert issue.keras_message == keras_refusal("Conv1DTranspose", {"filters": 8, "kernel_size": 3}, (100,))
    assert proposed[0].value == ("Reshape", {"target_shape": (100, 1)})
    _, issue = fixes_proposed([nb.Conv2DTranspose(4, 3)], (6, 6, 1, 1))  # Keras fails in call with an IndexError
    assert "axis too many" in issue.explanation and "tuple index out of range" in issue.keras_message


def test_channels_mismatch_of_a_built_transpose():
    layer = nb.Conv2DTranspose(8, 3)
    layer.built_shape = (None, 9, 9, 3)
    _, issue = fixes_proposed([nb.Conv2D(4, 1), layer], (9, 9, 2))
    keras.backend.clear_session(free_memory=False)
    theirs = keras.layers.Conv2DTranspose(8, 3)
    theirs.build((None, 9, 9, 3))
    with pytest.raises(ValueError) as refused:
        keras.Sequential([keras.Input((9, 9, 2)), keras.layers.Conv2D(4, 1), theirs])
    assert issue.keras_message == str(refused.value)
    assert "3 input channels" in issue.explanation and "3×3×8×3" in issue.explanation
    assert ("set_setting", 0, ("filters", 3)) in {(f.action, f.layer_index, f.value) for f in issue.fixes}


def test_settings_refused_with_keras_s_messages():
    with pytest.raises(nb.LayerConfigError, match="`output_padding` must be strictly less than `strides`"):
        nb.Conv2DTranspose(4, 3, strides=(2, 1), output_padding=(1, 1))
    with pytest.raises(nb.LayerConfigError, match="dilation_rate > 1"):
        nb.Conv1DTranspose(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(nb.LayerConfigError, match="value >= 0"):
        nb.Conv1DTranspose(4, 3, output_padding=-1)
    with pytest.raises(nb.LayerConfigError, match="'causal' exists only for Conv1D"):
        nb.Conv1DTranspose(4, 3, padding="causal")
    with pytest.raises(nb.LayerConfigError, match="supports kernel_regularizer only at its default"):
        nb.Conv2DTranspose(4, 3, kernel_regularizer="l2")
    assert nb.Conv2DTranspose(4, 3, strides=2, output_padding=1).output_padding == (1, 1)
    # Keras's positional order: filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate, ...
    layer = nb.Conv1DTranspose(4, 3, 2, "same", 1, None, 1, "relu", False, "glorot_uniform", "zeros", None)
    assert (
        layer.values
        == nb.Conv1DTranspose(
            4, 3, strides=2, padding="same", output_padding=1, activation="relu", use_bias=False
        ).values
    )
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((5, 5, 3)), keras.layers.Conv2DTranspose(4, 3, kernel_regularizer="l2")])
    with pytest.raises(nb.NetbuilderError, match="kernel_regularizer"):
        nb.model_from_json(theirs.to_json(), seed=0)


def test_keras_writes_the_same_config():
    for ours, theirs, shape in [
        (
            nb.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
            keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
            (5, 5, 3),
        ),
        (
            nb.Conv1DTranspose(4, 3, data_format="channels_first", activation="tanh"),
            keras.layers.Conv1DTranspose(4, 3, data_format="channels_first", activation="tanh"),
            (3, 9),
        ),
    ]:
        keras.backend.clear_session(free_memory=False)
        keras.Sequential([keras.Input(shape), theirs])
        mine = nb.Sequential([nb.Input(shape), ours]).layers[0].get_config()
        expected = json.loads(json.dumps(theirs.get_config()))
        assert json.loads(json.dumps({**mine, "name": None})) == {**expected, "name": None}


# --- descriptions ---------------------------------------------------------------------------------------------------
def test_descriptions():
    assert nb.Conv2DTranspose(8, 3).formula((None, 7, 7, 4)) == "3×3×8×4 + 8 = 296"
    assert nb.Conv1DTranspose(2, 5, use_bias=False).formula((None, 10, 3)) == "5×2×3 = 30"
    assert (
        nb.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu").label()
        == "16 3×3 transposed stride 2×2 same relu"
    )
    assert (
        nb.Conv1DTranspose(4, 4, strides=2, output_padding=1, use_bias=False).label()
        == "4 4-wide transposed stride 2 output_padding 1 valid no bias"
    )
    layer = nb.Conv2DTranspose(8, 3, strides=2, padding="same")
    text = layer.explain_shape((None, 7, 7, 4), layer.compute_output_shape((None, 7, 7, 4)))
    assert "height: 7×2 = 14" in text and "stride times the input" in text and "(None, 14, 14, 8)" in text
    valid = nb.Conv2DTranspose(8, 3, strides=2).explain_shape((None, 7, 7, 4), (None, 15, 15, 8))
    assert "(7 − 1)×2 + 3 = 15" in valid
    gaps = nb.Conv1DTranspose(2, 2, strides=3).explain_shape((None, 5, 1), (None, 15, 2))
    assert "(5 − 1)×3 + max(2, 3) = 15" in gaps
    padded = nb.Conv1DTranspose(2, 5, strides=3, padding="same", output_padding=2)
    assert "(7 − 1)×3 + 5 mod 2 + 2 = 21" in padded.explain_shape(
        (None, 7, 3), padded.compute_output_shape((None, 7, 3))
    )
    dilated = nb.Conv1DTranspose(2, 3, dilation_rate=2, output_padding=0).explain_shape((None, 4, 1), (None, 8, 2))
    assert "(4 − 1)×1 + 5 + 0 = 8" in dilated and "dilation 2 spreads the 3-cell kernel over 5" in dilated
    for kind in ("Conv1DTranspose", "Conv2DTranspose"):
        assert kind_class(kind).group == "Convolution" and kind_class(kind).description
    assert nb.Conv2DTranspose(4, 3).output_axis_setting == "filters"


# --- gradients -------------------------------------------------------------------------------------------------------
def built_layer(kind, settings, shape, seed=5):
    model = nb.Sequential([nb.Input(shape), kind_class(kind)(**settings)], seed=seed)
    layer = model.layers[0]
    rng = np.random.default_rng(seed)
    layer._weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in layer.weights]  # a nonzero bias
    return layer


GRADIENT_CASES = [
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3}, (3, 3, 2)),
    (
        "Conv2DTranspose",
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "tanh"},
        (3, 4, 2),
    ),
    (
        "Conv2DTranspose",
        {
            "filters": 3,
            "kernel_size": (2, 4),
            "strides": (3, 2),
            "padding": "same",
            "output_padding": (0, 1),
            "data_format": "channels_first",
        },
        (2, 3, 4),
    ),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 2, "strides": 3, "output_padding": 2, "activation": "softmax"},
        (3, 2, 2),
    ),
    (
        "Conv2DTranspose",
        {"filters": 2, "kernel_size": 3, "dilation_rate": (2, 1), "padding": "same", "use_bias": False},
        (3, 4, 2),
    ),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 2, "strides": 3}, (4, 2)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 4, "padding": "same", "output_padding": 0}, (4, 2)),
    (
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "activation": "relu"},
        (4, 2),
    ),
    (
        "Conv1DTranspose",
        {"filters": 2, "kernel_size": 5, "strides": 2, "padding": "same", "data_format": "channels_first"},
        (3, 4),
    ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 1, "strides": 2, "padding": "same"}, (4, 3)),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}{sh}" for k, s, sh in GRADIENT_CASES])
def test_transpose_backward_matches_finite_differences(kind, settings, shape):
    layer = built_layer(kind, settings, shape)
    check_gradients(layer, np.random.default_rng(1).normal(size=(2, *shape)))


def test_transpose_backward_matches_jax():
    """The same outputs and gradients as JAX's conv_transpose with Keras's padding (what Keras's JAX backend trains)."""
    jax = pytest.importorskip("jax")
    from keras.src.backend.common.backend_utils import compute_conv_transpose_padding_args_for_jax

    jax.config.update("jax_enable_x64", True)
    for data_format, padding, strides, output_padding, dilation in [
        ("channels_last", "same", (2, 2), None, (1, 1)),
        ("channels_first", "valid", (3, 2), (1, 0), (1, 1)),
        ("channels_last", "same", (1, 1), (0, 0), (2, 1)),
    ]:
        settings = {
            "filters": 3,
            "kernel_size": (3, 2),
            "strides": strides,
            "padding": padding,
            "output_padding": output_padding,
            "dilation_rate": dilation,
            "data_format": data_format,
        }
        shape = (4, 5, 2) if data_format == "channels_last" else (2, 4, 5)
        layer = built_layer("Conv2DTranspose", settings, shape)
        layer._weights = [w.astype(np.float64) for w in layer.weights]
        x = np.random.default_rng(3).normal(size=(2, *shape))
        y, cache = layer.forward_train(x, None)
        dy = np.random.default_rng(4).normal(size=y.shape)
        dx, (dk, db) = layer.backward(cache, dy)
        spec = ("NHWC", "HWIO", "NHWC") if data_format == "channels_last" else ("NCHW", "HWIO", "NCHW")
        pads = compute_conv_transpose_padding_args_for_jax(
            (2, *shape), layer.kernel.shape, strides, padding, output_padding, dilation
        )

        def f(x, k, b):
            out = jax.lax.conv_transpose(
                x, k, strides, pads, rhs_dilation=dilation, dimension_numbers=spec, transpose_kernel=True
            )
            return out + (b if data_format == "channels_last" else b[:, None, None])

        out, vjp = jax.vjp(f, x, layer.kernel, layer.bias)
        np.testing.assert_allclose(y, out, rtol=1e-10, atol=1e-10)
        for mine, theirs in zip((dx, dk, db), vjp(dy)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10)


# --- exports, JSON ---------------------------------------------------------------------------------------------------
EXPORT_SPECS = [
    [
        (7, 7, 4),
        ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}),
        ("Conv2DTranspose", {"filters": 3, "kernel_size": 4, "strides": 2, "output_padding": 1}),
        ("Flatten", {}),
        ("Dense", {"units": 4, "activation": "softmax"}),
    ],
    [
        (3, 4, 5),
        (
            "Conv2DTranspose",
            {
                "filters": 4,
                "kernel_size": (3, 2),
                "strides": (2, 3),
                "padding": "same",
                "output_padding": (1, 0),
                "data_format": "channels_first",
            },
        ),
        (
            "Conv2DTranspose",
            {
                "filters": 2,
                "kernel_size": 3,
                "dilation_rate": (2, 1),
                "padding": "same",
                "data_format": "channels_first",
                "activation": "softmax",
            },
        ),
        ("Flatten", {"data_format": "channels_first"}),
        ("Dense", {"units": 3}),
    ],
    [
        (6, 3),
        (
            "Conv1DTranspose",
            {
                "filters": 4,
                "kernel_size": 5,
                "strides": 3,
                "padding": "same",
                "output_padding": 2,
                "activation": "tanh",
            },
        ),
        ("Conv1DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3, "use_bias": False}),
        (
            "Conv1DTranspose",
            {"filters": 3, "kernel_size": 4, "padding": "same", "output_padding": 0, "data_format": "channels_first"},
        ),
        ("Flatten", {}),
    ],
    [
        (5, 5, 2),
        ("Conv2DTranspose", {"filters": 3, "kernel_size": 1, "strides": 3, "padding": "same", "activation": "gelu"}),
        ("Conv2D", {"filters": 2, "kernel_size": 3, "strides": 2}),
        ("Conv2DTranspose", {"filters": 2, "kernel_size": 3}),
    ],
]


@pytest.mark.parametrize("layers", EXPORT_SPECS, ids=lambda s: "-".join(k for k, _ in s[1:]))
def test_transpose_exports_reproduce_outputs(layers):
    spec = spec_of(*layers)
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_torch_code_expresses_keras_s_crops_over_a_grid():
    """torch's ConvTranspose1d removes `padding` cells from both ends and gives back `output_padding` at the end; Keras
    crops where its (JAX's) padding says, and can leave a bias-only cell at the end: for every small combination the
    exported module (with a crop where torch cannot say it) computes what netbuilder computes."""
    x = np.random.default_rng(2).normal(size=(2, 4, 2)).astype(np.float32)
    for k, s, padding, d in itertools.product(range(1, 5), range(1, 4), ("valid", "same"), (1, 2)):
        if s > 1 and d > 1:
            continue
        for o in (None, *range(s)):
            spec = spec_of(
                (4, 2),
                (
                    "Conv1DTranspose",
                    {
                        "filters": 2,
                        "kernel_size": k,
                        "strides": s,
                        "padding": padding,
                        "output_padding": o,
                        "dilation_rate": d,
                    },
                ),
            )
            if not spec.analysis.ok:
                continue
            model = built(spec)
            np.testing.assert_allclose(
                run_torch_code(model, x), model.predict(x), rtol=1e-5, atol=1e-5, err_msg=str((k, s, padding, o, d))
            )


def test_torch_code_crops_the_cell_keras_drops_at_the_end():
    layer = nb.Sequential([nb.Input((7, 7, 4)), nb.Conv2DTranspose(8, 3, strides=2, padding="same")], seed=0).layers[0]
    code = [part.code for part in layer.torch_code((None, 7, 7, 4))]
    # Keras (JAX's padding (2, 1)) keeps the first 14 of the full 15 cells of each axis: torch crops both ends alike,
    # so padding 0, then a negative pad crops the last cell
    assert code == [
        "ChannelsLastToFirst()",
        "nn.ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(0, 0), output_padding=(0, 0), "
        "dilation=(1, 1), bias=True)",
        "nn.ZeroPad2d((0, -1, 0, -1))",
        "ChannelsFirstToLast()",
    ]


def test_keras_code_names_output_padding():
    code = nb.Conv2DTranspose(8, 3, strides=2, padding="same", output_padding=1, name="t").keras_code().code
    assert code == (
        "keras.layers.Conv2DTranspose(filters=8, kernel_size=(3, 3), strides=(2, 2), padding='same', "
        "output_padding=(1, 1), data_format='channels_last', name='t')"
    )


# --- training against Keras on JAX ------------------------------------------------------------------------------------
def test_training_equals_keras_on_jax():
    """A small decoder of both kinds, trained for 3 epochs (Adam, shuffle off) here and by Keras on JAX from the same
    initial weights: equal per-epoch loss and final weights within 1e-3."""
    spec = spec_of(
        (4, 4, 3),
        ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}),
        (
            "Conv2DTranspose",
            {
                "filters": 2,
                "kernel_size": (2, 3),
                "strides": (1, 2),
                "output_padding": (0, 1),
                "data_format": "channels_first",
                "activation": "tanh",
            },
        ),
        ("Reshape", {"target_shape": (18, 10)}),
        ("Conv1DTranspose", {"filters": 2, "kernel_size": 4, "padding": "same", "output_padding": 0}),
        ("Flatten", {}),
        ("Dense", {"units": 1}),
        seed=5,
    )
    ours = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    start = ours.get_weights()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4, 4, 3)).astype(np.float32)
    y = np.tanh(x.reshape(30, -1).sum(axis=1, keepdims=True) / 4).astype(np.float32)
    ours.compile(optimizer=nb.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    history = ours.fit(x, y, batch_size=7, epochs=3, shuffle=False)
    (theirs,) = run_jobs(
        [
            {
                "model_json": ours.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": ("Adam", {"learning_rate": 0.01}),
                "loss": "mse",
                "metrics": ["mae"],
                "batch_size": 7,
                "epochs": 3,
                "validation_split": 0.0,
            }
        ]
    )
    assert set(history.history) == set(theirs["history"])
    for key, values in theirs["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-3, atol=1e-6, err_msg=key)
    for mine, keras_w in zip(ours.get_weights(), theirs["weights"], strict=True):
        np.testing.assert_allclose(mine, keras_w, rtol=1e-3, atol=1e-5)
