"""DepthwiseConv2D, SeparableConv1D and SeparableConv2D through the kind harness (tests/kind_harness.py) against real
Keras, plus their problems and fixes, Keras's other arguments, gradients (finite differences and JAX), exports (Keras
and PyTorch), costs (predict's and a training step's memory), and a short training against Keras on JAX."""

import json
import tracemalloc

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
from netbuilder.engine.cost import FLOAT32
from netbuilder.engine.layer import kind_class
from test_cost import backprop_peak
from test_kinds_convolution import Proposals, keras_error
from training_oracle import run_jobs

DEPTHWISE = {"depthwise_initializer": "GlorotUniform"}
SEPARABLE = {"depthwise_initializer": "GlorotUniform", "pointwise_initializer": "GlorotUniform"}
WIDE = {"rtol": 1e-5, "atol": 1e-5}  # sums of many products: XLA adds them in another order
GLU = "Keras reports the un-halved shape for glu; use an Activation('glu') layer"
REGULARIZER = "netbuilder trains without regularizers and constraints: other values than None are refused by name"

CASES = [
    # DepthwiseConv2D: shapes, strides, padding, dilation, depth_multiplier, both layouts, odd sizes, few and many
    # channels
    Case("DepthwiseConv2D", {"kernel_size": 3}, (9, 9, 3), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (9, 8, 3), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "padding": "same"}, (11, 10, 2), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": 4, "padding": "same", "depth_multiplier": 3}, (7, 7, 2)),
    Case("DepthwiseConv2D", {"kernel_size": 2, "strides": (3, 2), "padding": "same"}, (8, 10, 1), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": (3, 2), "dilation_rate": (2, 3)}, (10, 11, 2)),
    Case(
        "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2}, (11, 9, 3), DEPTHWISE
    ),  # Keras allows both
    Case(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "dilation_rate": 2, "padding": "same"},
        (10, 9, 12),
    ),
    Case("DepthwiseConv2D", {"kernel_size": 3}, (9, 9, 20), DEPTHWISE, **WIDE),  # more channels: the einsum path
    Case(
        "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3, "padding": "same"}, (6, 7, 16), DEPTHWISE, **WIDE
    ),
    Case("DepthwiseConv2D", {"kernel_size": 3, "data_format": "channels_first"}, (3, 7, 8), DEPTHWISE),
    Case(
        "DepthwiseConv2D",
        {
            "kernel_size": (2, 3),
            "depth_multiplier": 2,
            "strides": (2, 1),
            "padding": "same",
            "data_format": "channels_first",
        },
        (2, 9, 6),
    ),
    Case(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "dilation_rate": 2, "data_format": "channels_first"},
        (12, 9, 8),
        DEPTHWISE,
        **WIDE,
    ),
    Case("DepthwiseConv2D", {"kernel_size": 1}, (5, 6, 4), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": 1, "strides": 2, "depth_multiplier": 2}, (5, 6, 4)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "activation": "relu"}, (28, 28, 1), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": 3, "activation": "tanh", "use_bias": False}, (6, 7, 2), DEPTHWISE),
    Case("DepthwiseConv2D", {"kernel_size": 2, "activation": "softmax", "data_format": "channels_first"}, (2, 5, 6)),
    Case("DepthwiseConv2D", {"kernel_size": 2, "activation": "gelu", "depth_multiplier": 2}, (5, 5, 2)),
    Case(
        "DepthwiseConv2D",
        {"kernel_size": [2, 2], "strides": [1, 2], "padding": "SAME", "data_format": "Channels_Last"},
        (5, 5, 1),
    ),
    Case("DepthwiseConv2D", {"kernel_size": 5, "padding": "same"}, (2, 2, 3)),  # same: any kernel fits
    Case("DepthwiseConv2D", {"kernel_size": 3, "strides": 10}, (8, 8, 2)),  # one window
    Case(
        "DepthwiseConv2D",
        {
            "kernel_size": 3,
            "depthwise_initializer": "glorot_uniform",
            "bias_initializer": "zeros",
            "depthwise_regularizer": None,
            "depthwise_constraint": None,
        },
        (6, 6, 2),
    ),
    # DepthwiseConv2D: refused by both
    Case("DepthwiseConv2D", {"kernel_size": 3}, (2, 2, 1)),  # kernel larger than the input under valid
    Case("DepthwiseConv2D", {"kernel_size": 3, "data_format": "channels_first"}, (1, 2, 5)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 4}, (8, 8, 1)),  # a dilated kernel spanning 9
    Case("DepthwiseConv2D", {"kernel_size": 3}, (28, 28)),  # no channels axis
    Case("DepthwiseConv2D", {"kernel_size": 3}, (6, 6, 1, 1)),  # an axis too many
    Case("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 0}, (9, 9, 1)),
    Case("DepthwiseConv2D", {"kernel_size": 0}, (9, 9, 1)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "strides": 0}, (9, 9, 1)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "padding": "causal"}, (9, 9, 1)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "padding": "full"}, (9, 9, 1)),
    Case("DepthwiseConv2D", {"kernel_size": 3, "data_format": "channels_middle"}, (9, 9, 1)),
    # DepthwiseConv2D: deliberate differences
    Case("DepthwiseConv2D", {"kernel_size": 3, "activation": "glu"}, (9, 9, 4), keras_accepts_we_reject=GLU),
    Case(
        "DepthwiseConv2D", {"kernel_size": 3, "bias_regularizer": "l2"}, (9, 9, 4), keras_accepts_we_reject=REGULARIZER
    ),
    # DepthwiseConv2D: Keras's other initializers, drawn bit for bit
    Case(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depthwise_initializer": "he_normal"},
        (9, 9, 4),
        {"depthwise_initializer": "HeNormal"},
    ),
    Case(
        "DepthwiseConv2D",
        {"kernel_size": 3, "depthwise_initializer": "lecun_uniform", "bias_initializer": "ones"},
        (7, 7, 2),
        {"depthwise_initializer": "LecunUniform"},
    ),
    # SeparableConv2D
    Case("SeparableConv2D", {"filters": 5, "kernel_size": 3}, (9, 9, 3), SEPARABLE),
    Case(
        "SeparableConv2D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2, "strides": 2}, (11, 10, 2), SEPARABLE
    ),
    Case("SeparableConv2D", {"filters": 3, "kernel_size": 4, "padding": "same"}, (7, 7, 2)),
    Case(
        "SeparableConv2D",
        {"filters": 5, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same", "depth_multiplier": 3},
        (7, 8, 2),
    ),
    Case("SeparableConv2D", {"filters": 4, "kernel_size": (3, 2), "dilation_rate": (2, 3)}, (10, 11, 2)),
    Case(
        "SeparableConv2D",
        {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"},
        (9, 9, 3),
    ),
    Case("SeparableConv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, (6, 7, 16), SEPARABLE, **WIDE),
    Case(
        "SeparableConv2D",
        {
            "filters": 5,
            "kernel_size": (3, 2),
            "padding": "same",
            "dilation_rate": (2, 3),
            "data_format": "channels_first",
        },
        (3, 7, 8),
        SEPARABLE,
    ),
    Case(
        "SeparableConv2D",
        {"filters": 4, "kernel_size": 3, "strides": (2, 3), "depth_multiplier": 2, "data_format": "channels_first"},
        (12, 11, 13),
        **WIDE,
    ),
    Case("SeparableConv2D", {"filters": 6, "kernel_size": 1}, (5, 6, 4), SEPARABLE),
    Case(
        "SeparableConv2D",
        {"filters": 3, "kernel_size": 3, "activation": "tanh", "use_bias": False},
        (6, 7, 2),
        SEPARABLE,
    ),
    Case(
        "SeparableConv2D",
        {"filters": 3, "kernel_size": 2, "activation": "softmax", "data_format": "channels_first"},
        (2, 5, 6),
    ),
    Case("SeparableConv2D", {"filters": 16, "kernel_size": 3, "activation": "relu"}, (14, 14, 8), SEPARABLE, **WIDE),
    Case("SeparableConv2D", {"filters": 4, "kernel_size": 5, "padding": "same"}, (2, 2, 1)),
    # SeparableConv2D: refused by both, and on purpose
    Case("SeparableConv2D", {"filters": 8, "kernel_size": 3}, (2, 2, 1)),
    Case("SeparableConv2D", {"filters": 8, "kernel_size": 3}, (28, 28)),
    Case("SeparableConv2D", {"filters": 8, "kernel_size": 3}, (6, 6, 1, 1)),
    Case("SeparableConv2D", {"filters": 0, "kernel_size": 3}, (9, 9, 1)),
    Case("SeparableConv2D", {"filters": 2, "kernel_size": 3, "depth_multiplier": 0}, (9, 9, 1)),
    Case("SeparableConv2D", {"filters": 2, "kernel_size": 3, "padding": "causal"}, (9, 9, 1)),
    Case(
        "SeparableConv2D", {"filters": 2, "kernel_size": 3, "activation": "glu"}, (9, 9, 4), keras_accepts_we_reject=GLU
    ),
    Case("SeparableConv2D", {"filters": 2, "kernel_size": 3, "pointwise_initializer": "ones"}, (9, 9, 4), DEPTHWISE),
    Case(
        "SeparableConv2D",
        {
            "filters": 3,
            "kernel_size": 3,
            "depthwise_initializer": "orthogonal",
            "pointwise_initializer": "he_uniform",
            "bias_initializer": "random_normal",
        },
        (8, 8, 2),
        {
            "depthwise_initializer": "Orthogonal",
            "pointwise_initializer": "HeUniform",
            "bias_initializer": "RandomNormal",
        },
    ),
    Case(
        "SeparableConv2D", {"filters": 2, "kernel_size": 3, "depthwise_initializer": "identity"}, (9, 9, 4)
    ),  # 2 axes only
    # SeparableConv1D
    Case("SeparableConv1D", {"filters": 4, "kernel_size": 3}, (10, 3), SEPARABLE),
    Case(
        "SeparableConv1D",
        {"filters": 4, "kernel_size": 3, "depth_multiplier": 2, "dilation_rate": 2},
        (10, 3),
        SEPARABLE,
    ),
    Case("SeparableConv1D", {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same"}, (9, 2)),
    Case("SeparableConv1D", {"filters": 3, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (11, 2)),
    Case(
        "SeparableConv1D",
        {
            "filters": 4,
            "kernel_size": 4,
            "strides": 3,
            "padding": "same",
            "data_format": "channels_first",
            "activation": "softmax",
        },
        (3, 11),
    ),
    Case(
        "SeparableConv1D",
        {"filters": 4, "kernel_size": 5, "strides": 2, "activation": "relu", "use_bias": False},
        (12, 3),
        SEPARABLE,
    ),
    Case("SeparableConv1D", {"filters": 8, "kernel_size": 1}, (6, 5)),
    Case(
        "SeparableConv1D",
        {"filters": 16, "kernel_size": 5, "depth_multiplier": 2, "activation": "elu"},
        (40, 12),
        SEPARABLE,
        **WIDE,
    ),
    Case("SeparableConv1D", {"filters": 4, "kernel_size": 6}, (5, 3)),  # refused by both
    Case("SeparableConv1D", {"filters": 4, "kernel_size": 3}, (28, 28, 1)),
    Case("SeparableConv1D", {"filters": 4, "kernel_size": 3}, (10,)),
    Case(
        "SeparableConv1D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (10, 3)
    ),  # Keras: valid or same only
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_depthwise_kind_matches_keras(case):
    check_case(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.initializers], ids=lambda c: c.id)
def test_depthwise_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in batches_to_check(model, 1024):
        check_cost(model, sample(case, batch))


@pytest.mark.parametrize(
    "kind,settings,shape",
    [
        (
            "DepthwiseConv2D",
            {"kernel_size": 3, "padding": "same", "activation": "sigmoid", "depth_multiplier": 2},
            (20, 21, 4),
        ),
        (
            "DepthwiseConv2D",
            {"kernel_size": 5, "strides": 2, "padding": "same", "data_format": "channels_first"},
            (16, 30, 31),
        ),
        ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3, "padding": "same"}, (14, 14, 32)),
        (
            "DepthwiseConv2D",
            {"kernel_size": 3, "depth_multiplier": 2, "data_format": "channels_first", "activation": "relu"},
            (24, 20, 21),
        ),
        (
            "SeparableConv2D",
            {"filters": 8, "kernel_size": 3, "depth_multiplier": 2, "padding": "same", "activation": "softmax"},
            (14, 14, 32),
        ),
        ("SeparableConv1D", {"filters": 16, "kernel_size": 5, "padding": "same", "activation": "elu"}, (100, 8)),
        (
            "SeparableConv1D",
            {"filters": 16, "kernel_size": 5, "data_format": "channels_first", "depth_multiplier": 2},
            (20, 100),
        ),
    ],
)
def test_depthwise_cost_covers_padding_multipliers_and_activations(kind, settings, shape):
    """The scratch of each phase (padding, patches, the einsum's per-multiplier results, the depthwise result beside the
    pointwise one, a separate activation output) is what predict allocates."""
    case = Case(kind, settings, shape)
    model = ours_model(case)
    for batch in batches_to_check(model, 1024):
        check_cost(model, sample(case, batch))


@pytest.mark.parametrize(
    "kind,settings,shape",
    [
        ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same", "depth_multiplier": 2}, (7, 6, 5)),
        (
            "DepthwiseConv2D",
            {"kernel_size": 5, "padding": "same", "strides": 3},
            (2, 4, 3),
        ),  # cells wholly in the padding
        (
            "DepthwiseConv2D",
            {
                "kernel_size": (3, 2),
                "strides": (2, 3),
                "dilation_rate": (2, 1),
                "padding": "same",
                "depth_multiplier": 3,
                "data_format": "channels_first",
            },
            (4, 9, 8),
        ),
        ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2}, (11, 9, 12)),
        (
            "SeparableConv1D",
            {
                "filters": 3,
                "kernel_size": 4,
                "strides": 2,
                "padding": "same",
                "depth_multiplier": 2,
                "data_format": "channels_first",
            },
            (3, 11),
        ),
    ],
)
def test_predict_s_loop_over_cells_equals_training_s_patches(kind, settings, shape):
    """Predict (a loop over kernel cells, padding skipped) and forward_train (the patch matrix) give the same
    numbers."""
    layer = built_layer(kind, settings, shape)
    layer._weights = [w.astype(np.float64) for w in layer.weights]
    x = np.random.default_rng(2).normal(size=(3, *shape))
    np.testing.assert_allclose(layer.call(x), layer.forward_train(x, None)[0], rtol=1e-12, atol=1e-12)


def test_predict_allocates_one_output_sized_temporary_not_patches():
    """MobileNetV2's block_2_depthwise, (56, 56, 144) 3×3 same: beside the output, one output-sized temporary and
    NumPy's capped ufunc buffers, not the 9-times-the-input patch matrix."""
    layer = built_layer("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, (56, 56, 144))
    x = np.random.default_rng(0).normal(size=(1, 56, 56, 144)).astype(np.float32)
    layer.call(x)
    tracemalloc.start()
    try:
        y = layer.call(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 2 * y.nbytes + 96 * 1024, f"{peak:,} bytes for a {y.nbytes:,}-byte output"


# --- a training step's memory, per kind (held as test_cost holds every kind's) -------------------------------------
TRAIN_MEMORY_CASES = [
    ("DepthwiseConv2D relu", (28, 28, 8), lambda: [nb.DepthwiseConv2D(3, activation="relu"), nb.Flatten()], 32),
    ("DepthwiseConv2D 1 channel", (28, 28, 1), lambda: [nb.DepthwiseConv2D(3), nb.Flatten()], 64),
    (
        "DepthwiseConv2D x3 same",
        (14, 14, 32),
        lambda: [nb.DepthwiseConv2D(3, depth_multiplier=3, padding="same"), nb.Flatten()],
        32,
    ),
    (
        "DepthwiseConv2D channels_first",
        (16, 30, 31),
        lambda: [nb.DepthwiseConv2D(5, strides=2, padding="same", data_format="channels_first"), nb.Flatten()],
        32,
    ),
    (
        "DepthwiseConv2D x2 channels_first sigmoid",
        (3, 30, 31),
        lambda: [
            nb.DepthwiseConv2D(3, depth_multiplier=2, data_format="channels_first", activation="sigmoid"),
            nb.Flatten(),
        ],
        32,
    ),
    ("SeparableConv2D relu", (28, 28, 8), lambda: [nb.SeparableConv2D(16, 3, activation="relu"), nb.Flatten()], 32),
    (
        "SeparableConv2D x2 same",
        (14, 14, 32),
        lambda: [nb.SeparableConv2D(8, 3, depth_multiplier=2, padding="same"), nb.Flatten()],
        32,
    ),
    (
        "SeparableConv1D elu",
        (100, 8),
        lambda: [nb.SeparableConv1D(16, 5, activation="elu", padding="same"), nb.Flatten()],
        32,
    ),
    (
        "SeparableConv1D channels_first",
        (8, 100),
        lambda: [nb.SeparableConv1D(16, 5, data_format="channels_first"), nb.Flatten()],
        32,
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


def test_work_counts_the_products_and_the_loops_over_kernel_cells():
    """By hand, DepthwiseConv2D(3) on (28, 28, 8): 26 × 26 positions × 9 cells × 8 channels = 48,672 products; predict
    zeroes the 5,408 outputs, makes each cell's products and adds them (2 operations a product), adds the bias, and
    loops over 9 cells (5 µs each). A training step makes the patches (48,672 values) and multiplies them by the
    block-diagonal kernel (8 times the products: 7/8 of them counted as elementwise time, at 25 multiply-adds each),
    then builds the patches again, their gradient (1 operation a value) and the cell-by-cell add (2 + 20 // 8 = 4 a
    value), and 9 cells × 4 µs of loop."""
    cost = analyze([nb.DepthwiseConv2D(3)], (28, 28, 8)).cost
    products, patches, out = 26 * 26 * 9 * 8, 26 * 26 * 9 * 8, 26 * 26 * 8
    slow = -(-products * 7 // 25)
    assert cost.mult_adds == products
    assert cost.elementwise == out + 2 * products + out
    assert cost.overhead == 9 * 5 * 40_000
    assert cost.train_elementwise == patches + slow + (1 + 4) * patches
    assert cost.train_overhead == 9 * 4 * 40_000 + 2 * 2 * 40_000
    separable = analyze([nb.SeparableConv2D(16, 3)], (28, 28, 8)).cost
    assert separable.mult_adds == products + 26 * 26 * 8 * 16  # + the pointwise matmul's
    many = analyze(
        [nb.DepthwiseConv2D(3, depth_multiplier=2)], (14, 14, 32)
    ).cost  # 32 channels: the einsum, per multiplier
    products = 12 * 12 * 9 * 32 * 2
    assert many.mult_adds == products and many.elementwise == 12 * 12 * 64 + 2 * products + 12 * 12 * 64


# --- problems and fixes --------------------------------------------------------------------------------------------
def keras_refusal(kind, settings, input_shape) -> str:
    """Keras's message refusing its layer `kind` on `input_shape`, the layer made in a fresh session (its name as
    ours)."""
    keras.backend.clear_session(free_memory=False)
    return keras_error([getattr(keras.layers, kind)(**settings)], input_shape)


def fixes_proposed(layers, input_shape):
    issue = analyze(layers, input_shape).issue
    return layers[issue.layer_index].suggest_fixes(issue.received, None, Proposals(issue.layer_name)), issue


@pytest.mark.parametrize(
    "kind,settings,shape",
    [
        ("DepthwiseConv2D", {"kernel_size": 3}, (2, 2, 1)),
        ("DepthwiseConv2D", {"kernel_size": (3, 5), "strides": 2, "depth_multiplier": 2}, (4, 4, 3)),
        ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 4}, (8, 8, 1)),
        ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "data_format": "channels_first"}, (1, 2, 5)),
        ("SeparableConv1D", {"filters": 4, "kernel_size": 6}, (5, 3)),
    ],
)
def test_kernel_larger_than_input_explained_and_fixed(kind, settings, shape):
    _, issue = fixes_proposed([kind_class(kind)(**settings)], shape)
    assert issue.keras_message == keras_refusal(kind, settings, shape)
    assert "padding='same'" in issue.explanation and "smaller kernel" in issue.explanation
    assert "pool" not in issue.message + issue.explanation  # a kernel, not a pooling window
    settings_fixed = {f.value[0]: f.value[1] for f in issue.fixes if f.action == "set_setting"}
    assert settings_fixed["padding"] == "same"
    assert "kernel_size" in settings_fixed or "dilation_rate" in settings_fixed
    for name, value in settings_fixed.items():  # every fix offered makes Keras accept the layer too
        keras.backend.clear_session(free_memory=False)
        keras.Sequential([keras.Input(shape), getattr(keras.layers, kind)(**{**settings, name: value})])


def test_rank_problems_explained_with_keras_s_message_and_reshape_fixes():
    proposed, issue = fixes_proposed([nb.DepthwiseConv2D(3)], (28, 28))
    assert issue.keras_message == keras_refusal("DepthwiseConv2D", {"kernel_size": 3}, (28, 28))
    assert "one small kernel over each channel" in issue.explanation and "size 1" in issue.explanation
    assert proposed[0].value == ("Reshape", {"target_shape": (28, 28, 1)})
    _, issue = fixes_proposed([nb.SeparableConv2D(4, 3)], (6, 6, 1, 1))
    assert issue.keras_message == keras_refusal("SeparableConv2D", {"filters": 4, "kernel_size": 3}, (6, 6, 1, 1))
    proposed, issue = fixes_proposed([nb.SeparableConv1D(8, 3)], (100,))
    assert issue.keras_message == keras_refusal("SeparableConv1D", {"filters": 8, "kernel_size": 3}, (100,))
    assert proposed[0].value == ("Reshape", {"target_shape": (100, 1)})
    issue = analyze([nb.LSTM(4), nb.SeparableConv1D(8, 3)], (10, 3)).issue  # a recurrent layer's last step only
    assert (issue.fixes[0].action, issue.fixes[0].layer_index, issue.fixes[0].value) == (
        "set_setting",
        0,
        ("return_sequences", True),
    )


def test_channels_mismatch_of_a_built_depthwise():
    layer = nb.DepthwiseConv2D(3, depth_multiplier=2)
    layer.built_shape = (None, 9, 9, 3)
    _, issue = fixes_proposed([nb.Conv2D(4, 1), layer], (9, 9, 2))
    keras.backend.clear_session(free_memory=False)
    theirs = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    theirs.build((None, 9, 9, 3))
    with pytest.raises(ValueError) as refused:
        keras.Sequential([keras.Input((9, 9, 2)), keras.layers.Conv2D(4, 1), theirs])
    assert issue.keras_message == str(refused.value)
    assert "3 input channels" in issue.explanation and "3×3×3×2" in issue.explanation
    assert ("set_setting", 0, ("filters", 3)) in {(f.action, f.layer_index, f.value) for f in issue.fixes}


# --- Keras's other arguments: defaults only ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,arguments",
    [
        ("DepthwiseConv2D", {"depthwise_regularizer": "l2"}),
        ("DepthwiseConv2D", {"activity_regularizer": "l1"}),
        ("DepthwiseConv2D", {"depthwise_constraint": "non_neg"}),
        ("SeparableConv1D", {"pointwise_regularizer": "l2"}),
        ("SeparableConv2D", {"bias_constraint": "max_norm"}),
    ],
)
def test_non_default_keras_arguments_are_refused_by_name(kind, arguments):
    ((name, value),) = arguments.items()
    first = (3,) if kind == "DepthwiseConv2D" else (4, 3)
    with pytest.raises(nb.LayerConfigError, match=f"supports {name} only at its default"):
        kind_class(kind)(*first, **arguments)
    if value is None:
        return
    keras.backend.clear_session(free_memory=False)
    shape = (9, 3) if kind == "SeparableConv1D" else (9, 9, 3)
    theirs = keras.Sequential([keras.Input(shape), getattr(keras.layers, kind)(*first, **arguments)])
    with pytest.raises(nb.NetbuilderError, match=name):  # Keras's own JSON with that argument: refused clearly too
        nb.model_from_json(theirs.to_json(), seed=0)


def test_default_keras_arguments_are_accepted_by_keyword_position_and_json():
    # Keras's positional order: kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
    # use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, ...
    layer = nb.DepthwiseConv2D(3, 1, "valid", 2, None, 1, "relu", False, "glorot_uniform", "zeros", None, None, None)
    assert layer.values == nb.DepthwiseConv2D(3, depth_multiplier=2, activation="relu", use_bias=False).values
    separable = nb.SeparableConv1D(4, 3, 1, "same", None, 1, 2, None, True, "GlorotUniform", "glorot_uniform", "Zeros")
    assert separable.values == nb.SeparableConv1D(4, 3, padding="same", depth_multiplier=2).values
    with pytest.raises(nb.LayerConfigError, match="at most 19 positional arguments"):
        nb.SeparableConv2D(*([1] * 20))
    seeded = keras.initializers.serialize(keras.initializers.GlorotUniform(seed=3))  # a seed changes no default
    assert nb.SeparableConv2D(3, 3, pointwise_initializer=seeded).values == nb.SeparableConv2D(3, 3).values
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [
            keras.Input((9, 9, 3)),
            keras.layers.SeparableConv2D(
                4,
                3,
                depthwise_initializer=keras.initializers.GlorotUniform(seed=9),
                pointwise_initializer="glorot_uniform",
            ),
        ]
    )
    assert nb.model_from_json(theirs.to_json(), seed=0).count_params() == theirs.count_params()
    with pytest.raises(nb.LayerConfigError, match="received 'kernel_size' twice"):
        nb.DepthwiseConv2D(3, kernel_size=3)


def test_keras_writes_the_same_config():
    """Our get_config has Keras's keys and values (name aside), for each kind."""
    for ours, theirs, shape in [
        (
            nb.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            (9, 9, 3),
        ),
        (
            nb.SeparableConv2D(4, (3, 2), strides=2, activation="relu"),
            keras.layers.SeparableConv2D(4, (3, 2), strides=2, activation="relu"),
            (9, 9, 3),
        ),
        (
            nb.SeparableConv1D(4, 3, data_format="channels_first", use_bias=False),
            keras.layers.SeparableConv1D(4, 3, data_format="channels_first", use_bias=False),
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
    assert nb.DepthwiseConv2D(3).formula((None, 28, 28, 8)) == "3×3×8×1 + 8 = 80"
    assert nb.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False).formula((None, 28, 28, 8)) == "3×3×8×2 = 144"
    assert nb.SeparableConv2D(16, 3).formula((None, 28, 28, 8)) == "3×3×8×1 + 1×1×8×16 + 16 = 216"
    assert nb.SeparableConv1D(4, 5, depth_multiplier=2, use_bias=False).formula((None, 100, 3)) == "5×3×2 + 1×6×4 = 54"
    assert nb.DepthwiseConv2D(3, padding="same", activation="relu").label() == "3×3 depthwise same relu"
    assert (
        nb.DepthwiseConv2D(3, depth_multiplier=2, strides=2).label() == "3×3 depthwise stride 2×2 ×2 per channel valid"
    )
    assert (
        nb.SeparableConv2D(32, 3, data_format="channels_first", use_bias=False).label()
        == "32 3×3 separable valid channels_first no bias"
    )
    assert nb.SeparableConv1D(8, 5, dilation_rate=2).label() == "8 5-wide separable dilation 2 valid"
    text = nb.DepthwiseConv2D(3, depth_multiplier=2).explain_shape((None, 28, 28, 8), (None, 26, 26, 16))
    assert "(28 − 3)/1 + 1 = 26" in text and "8 × 2 = 16 output channels" in text and "never mixed" in text
    same = nb.SeparableConv2D(16, 3, strides=2, padding="same")
    text = same.explain_shape((None, 28, 28, 8), same.compute_output_shape((None, 28, 28, 8)))
    assert "ceil(28/2) = 14" in text and "padded 0 before and 1 after" in text and "into 16 filters" in text
    dilated = nb.SeparableConv1D(4, 3, dilation_rate=2).explain_shape((None, 12, 3), (None, 8, 4))
    assert "(12 − 5)/1 + 1 = 8" in dilated and "dilation 2 spreads the 3-cell kernel over 5" in dilated
    for kind in ("DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"):
        assert kind_class(kind).group == "Convolution" and kind_class(kind).description
    assert (
        nb.DepthwiseConv2D(3).output_axis_setting is None and nb.SeparableConv2D(4, 3).output_axis_setting == "filters"
    )


# --- gradients -------------------------------------------------------------------------------------------------------
def built_layer(kind, settings, shape, seed=5):
    model = nb.Sequential([nb.Input(shape), kind_class(kind)(**settings)], seed=seed)
    layer = model.layers[0]
    rng = np.random.default_rng(seed)
    layer._weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in layer.weights]  # a nonzero bias
    return layer


GRADIENT_CASES = [
    ("DepthwiseConv2D", {"kernel_size": 3}, (5, 5, 2)),
    (
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "padding": "same", "strides": 2, "activation": "tanh"},
        (5, 5, 3),
    ),
    (
        "DepthwiseConv2D",
        {"kernel_size": (2, 3), "depth_multiplier": 2, "padding": "same", "data_format": "channels_first"},
        (3, 5, 4),
    ),
    ("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2}, (4, 4, 10)),  # the einsum path
    ("DepthwiseConv2D", {"kernel_size": 2, "activation": "relu"}, (4, 4, 10)),
    (
        "DepthwiseConv2D",
        {"kernel_size": 2, "depth_multiplier": 2, "strides": 2, "dilation_rate": 2, "data_format": "channels_first"},
        (10, 5, 6),
    ),
    ("DepthwiseConv2D", {"kernel_size": 2, "data_format": "channels_first", "use_bias": False}, (9, 4, 5)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 2, "depth_multiplier": 2, "activation": "sigmoid"}, (4, 5, 3)),
    (
        "SeparableConv2D",
        {"filters": 2, "kernel_size": 3, "padding": "same", "data_format": "channels_first", "activation": "softmax"},
        (10, 4, 4),
    ),
    (
        "SeparableConv1D",
        {"filters": 3, "kernel_size": 3, "depth_multiplier": 2, "data_format": "channels_first", "padding": "same"},
        (10, 6),
    ),
    ("SeparableConv1D", {"filters": 3, "kernel_size": 3, "strides": 2, "use_bias": False}, (7, 2)),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 1, "depth_multiplier": 3}, (4, 2)),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}{sh}" for k, s, sh in GRADIENT_CASES])
def test_depthwise_backward_matches_finite_differences(kind, settings, shape):
    layer = built_layer(kind, settings, shape)
    check_gradients(layer, np.random.default_rng(1).normal(size=(2, *shape)))


def test_depthwise_backward_matches_jax():
    """The same gradients as JAX's grouped conv_general_dilated (what Keras's JAX backend trains with)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for channels, data_format in [(3, "channels_last"), (12, "channels_first"), (12, "channels_last")]:
        settings = {
            "kernel_size": (3, 2),
            "strides": (2, 1),
            "padding": "same",
            "depth_multiplier": 2,
            "data_format": data_format,
        }
        shape = (7, 6, channels) if data_format == "channels_last" else (channels, 7, 6)
        layer = built_layer("DepthwiseConv2D", settings, shape)
        layer._weights = [w.astype(np.float64) for w in layer.weights]
        x = np.random.default_rng(3).normal(size=(2, *shape))
        y, cache = layer.forward_train(x, None)
        dy = np.random.default_rng(4).normal(size=y.shape)
        dx, (dk, db) = layer.backward(cache, dy)
        spec = ("NHWC", "HWIO", "NHWC") if data_format == "channels_last" else ("NCHW", "HWIO", "NCHW")

        def f(x, k, b):
            out = jax.lax.conv_general_dilated(
                x,
                k.reshape(3, 2, 1, channels * 2),
                (2, 1),
                "SAME",
                dimension_numbers=spec,
                feature_group_count=channels,
            )
            return out + (b if data_format == "channels_last" else b[:, None, None])

        out, vjp = jax.vjp(f, x, layer.kernel, layer.bias)
        np.testing.assert_allclose(y, out, rtol=1e-10, atol=1e-10)
        for mine, theirs in zip((dx, dk, db), vjp(dy)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10)


# --- exports, JSON ---------------------------------------------------------------------------------------------------
EXPORT_SPECS = [
    [
        (28, 28, 3),
        ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "activation": "relu"}),
        ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"}),
        ("MaxPooling2D", {}),
        ("Flatten", {}),
        ("Dense", {"units": 10, "activation": "softmax"}),
    ],
    [
        (12, 9, 8),
        ("DepthwiseConv2D", {"kernel_size": 4, "strides": 2, "padding": "same", "data_format": "channels_first"}),
        (
            "SeparableConv2D",
            {
                "filters": 3,
                "kernel_size": (3, 2),
                "dilation_rate": (2, 1),
                "padding": "same",
                "data_format": "channels_first",
                "activation": "softmax",
                "depth_multiplier": 2,
            },
        ),
        ("Flatten", {"data_format": "channels_first"}),
        ("Dense", {"units": 3}),
    ],
    [
        (12, 3),
        (
            "SeparableConv1D",
            {"filters": 4, "kernel_size": 3, "padding": "same", "dilation_rate": 2, "activation": "tanh"},
        ),
        (
            "SeparableConv1D",
            {"filters": 5, "kernel_size": 4, "strides": 3, "padding": "same", "use_bias": False, "depth_multiplier": 2},
        ),
        ("SeparableConv1D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}),
        ("Flatten", {}),
    ],
    [
        (7, 7, 20),
        ("DepthwiseConv2D", {"kernel_size": 2, "strides": (1, 2), "padding": "same", "activation": "gelu"}),
        ("DepthwiseConv2D", {"kernel_size": 1, "strides": 2, "use_bias": False}),
        ("Activation", {"activation": "sigmoid"}),
    ],
    [(9, 9, 2), ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2, "depth_multiplier": 3})],
]


@pytest.mark.parametrize("layers", EXPORT_SPECS, ids=lambda s: "-".join(k for k, _ in s[1:]))
def test_depthwise_exports_reproduce_outputs(layers):
    spec = spec_of(*layers)
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_keras_code_names_every_setting_that_is_not_a_default():
    code = nb.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2, name="d").keras_code().code
    assert code == (
        "keras.layers.DepthwiseConv2D(kernel_size=(3, 2), strides=(2, 2), padding='same', depth_multiplier=2, "
        "data_format='channels_last', name='d')"
    )
    code = nb.SeparableConv1D(8, 3, activation="relu", name="s").keras_code().code
    assert code == (
        "keras.layers.SeparableConv1D(filters=8, kernel_size=(3,), activation='relu', "
        "data_format='channels_last', name='s')"
    )


def test_torch_code_is_a_grouped_convolution_then_a_pointwise_one():
    layer = nb.Sequential(
        [nb.Input((9, 9, 4)), nb.SeparableConv2D(6, 3, depth_multiplier=2, strides=2, padding="same")], seed=0
    ).layers[0]
    code = [part.code for part in layer.torch_code((None, 9, 9, 4))]
    # 'same' at stride 2 on 9 cells: 2 cells of padding in all, 1 before and 1 after, which torch's padding says
    assert code == [
        "ChannelsLastToFirst()",
        "nn.Conv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=4, bias=False)",
        "nn.Conv2d(8, 6, kernel_size=1, bias=True)",
        "ChannelsFirstToLast()",
    ]
    depthwise = nb.Sequential([nb.Input((8, 8, 4)), nb.DepthwiseConv2D(4, padding="same")], seed=0).layers[0]
    code = [part.code for part in depthwise.torch_code((None, 8, 8, 4))]
    assert code[1:3] == [
        "nn.ZeroPad2d((1, 2, 1, 2))",  # Keras puts the odd cell at the end; torch pads both sides alike
        "nn.Conv2d(4, 4, kernel_size=(4, 4), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=4, bias=True)",
    ]


# --- training against Keras on JAX ------------------------------------------------------------------------------------
def test_training_equals_keras_on_jax():
    """A small model of all three kinds, trained for 3 epochs (Adam, shuffle off) here and by Keras on JAX from the same
    initial weights: equal per-epoch loss and accuracy and final weights within 1e-3."""
    spec = spec_of(
        (8, 8, 3),
        ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "activation": "relu"}),
        ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "tanh"}),
        ("Reshape", {"target_shape": (36, 4)}),
        (
            "SeparableConv1D",
            {"filters": 3, "kernel_size": 4, "strides": 2, "data_format": "channels_first", "depth_multiplier": 2},
        ),
        ("Flatten", {}),
        ("Dense", {"units": 3, "activation": "softmax"}),
        seed=5,
    )
    ours = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    start = ours.get_weights()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=40).astype(np.float32)
    ours.compile(optimizer=nb.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = ours.fit(x, y, batch_size=8, epochs=3, shuffle=False)
    (theirs,) = run_jobs(
        [
            {
                "model_json": ours.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": ("Adam", {"learning_rate": 0.01}),
                "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"],
                "batch_size": 8,
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
