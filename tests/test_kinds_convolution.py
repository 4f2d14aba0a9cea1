"""Conv1D and Conv2D through the kind harness (tests/kind_harness.py) against real Keras, plus their
problems and fixes, gradients (finite differences and JAX), exports, costs and random chains."""

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
from netbuilder.engine.cost import FLOAT32
from netbuilder.engine.errors import Fix
from test_cost import backprop_peak
from training_oracle import run_jobs

GLOROT = {"kernel_initializer": "GlorotUniform"}
WIDE = {"rtol": 1e-5, "atol": 1e-5}  # sums of hundreds of products: XLA adds them in another order

CASES = [
    # Conv2D: shapes, strides, padding, dilation, both layouts, odd sizes
    Case("Conv2D", {"filters": 8, "kernel_size": 3}, (9, 9, 3), GLOROT),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2}, (11, 10, 2), GLOROT),
    Case("Conv2D", {"filters": 3, "kernel_size": 4, "padding": "same"}, (7, 7, 2), GLOROT),
    Case("Conv2D", {"filters": 5, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same"}, (7, 8, 2)),
    Case("Conv2D", {"filters": 2, "kernel_size": 2, "strides": 3, "padding": "same"}, (8, 10, 1)),
    Case("Conv2D", {"filters": 3, "kernel_size": 3, "strides": (3, 2), "padding": "same"}, (10, 9, 2)),
    Case("Conv2D", {"filters": 4, "kernel_size": (3, 2), "dilation_rate": (2, 3)}, (10, 11, 2)),
    Case(
        "Conv2D",
        {
            "filters": 5,
            "kernel_size": (3, 2),
            "padding": "same",
            "dilation_rate": (2, 3),
            "data_format": "channels_first",
        },
        (3, 7, 8),
        GLOROT,
    ),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "strides": (2, 3), "data_format": "channels_first"}, (2, 11, 13)),
    Case(
        "Conv2D",
        {"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same", "data_format": "channels_first"},
        (2, 9, 6),
    ),
    Case("Conv2D", {"filters": 6, "kernel_size": 1}, (5, 6, 4), GLOROT),
    Case("Conv2D", {"filters": 6, "kernel_size": 1, "strides": 2}, (5, 6, 4)),
    Case("Conv2D", {"filters": 6, "kernel_size": 1, "data_format": "channels_first"}, (4, 5, 6)),
    Case("Conv2D", {"filters": 3, "kernel_size": 3, "activation": "tanh", "use_bias": False}, (6, 7, 2), GLOROT),
    Case(
        "Conv2D", {"filters": 3, "kernel_size": 2, "activation": "softmax", "data_format": "channels_first"}, (2, 5, 6)
    ),
    Case("Conv2D", {"filters": 3, "kernel_size": 2, "activation": "gelu"}, (5, 5, 2)),
    Case("Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu"}, (28, 28, 1), GLOROT, **WIDE),
    Case("Conv2D", {"filters": 64, "kernel_size": 3, "activation": "relu"}, (13, 13, 32), GLOROT, **WIDE),
    Case(
        "Conv2D",
        {"filters": 2, "kernel_size": [2, 2], "strides": [1, 2], "padding": "SAME", "data_format": "Channels_Last"},
        (5, 5, 1),
    ),
    Case("Conv2D", {"filters": 4, "kernel_size": 5, "padding": "same"}, (2, 2, 1)),  # same: any kernel fits
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "strides": 10}, (8, 8, 1)),  # one window
    Case("Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 4, "padding": "same"}, (8, 8, 1)),
    # Conv2D: refused by both
    Case("Conv2D", {"filters": 8, "kernel_size": 3}, (2, 2, 1)),  # kernel larger than the input under valid
    Case("Conv2D", {"filters": 8, "kernel_size": 3, "data_format": "channels_first"}, (1, 2, 5)),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 4}, (8, 8, 1)),  # dilated kernel spans 9
    Case("Conv2D", {"filters": 8, "kernel_size": 3}, (28, 28)),  # no channels axis
    Case("Conv2D", {"filters": 8, "kernel_size": 3}, (6, 6, 1, 1)),  # an axis too many
    Case("Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (9, 9, 1)),
    Case("Conv2D", {"filters": 8, "kernel_size": 3, "strides": (1, 2), "dilation_rate": (2, 1)}, (9, 9, 1)),
    Case("Conv2D", {"filters": 0, "kernel_size": 3}, (9, 9, 1)),
    Case("Conv2D", {"filters": 2, "kernel_size": 0}, (9, 9, 1)),
    Case("Conv2D", {"filters": 2, "kernel_size": 3, "strides": 0}, (9, 9, 1)),
    Case("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "causal"}, (9, 9, 1)),
    Case("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "full"}, (9, 9, 1)),
    Case("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 3}, (9, 9, 4)),  # filters not a multiple of groups
    Case("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3}, (9, 9, 4)),  # channels not a multiple of groups
    Case("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "data_format": "channels_first"}, (4, 9, 9)),
    Case("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3}, (9, 9, 3, 1)),  # Keras checks the groups first
    Case("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 0}, (9, 9, 6)),
    Case("Conv2D", {"filters": 6, "kernel_size": 3, "groups": -2}, (9, 9, 6)),
    Case("Conv2D", {"filters": 6, "kernel_size": 5, "groups": 2}, (4, 4, 6)),  # grouped, kernel larger than the input
    # Conv2D grouped (each filter sees its group's C/G channels), ConvNeXt's depthwise 7×7 (groups = channels) too
    Case("Conv2D", {"filters": 8, "kernel_size": 3, "groups": 2}, (9, 9, 4), GLOROT),
    Case(
        "Conv2D",
        {"filters": 6, "kernel_size": 3, "groups": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
        (6, 9, 8),
        GLOROT,
    ),
    Case("Conv2D", {"filters": 12, "kernel_size": 7, "groups": 12, "padding": "same"}, (9, 9, 12), GLOROT, **WIDE),
    Case(
        "Conv2D",
        {"filters": 24, "kernel_size": 7, "groups": 12, "padding": "same", "activation": "gelu"},
        (8, 8, 12),
        **WIDE,
    ),
    Case("Conv2D", {"filters": 4, "kernel_size": 1, "groups": 2, "use_bias": False}, (5, 6, 8), GLOROT),
    Case(
        "Conv2D",
        {
            "filters": 4,
            "kernel_size": (2, 3),
            "groups": 4,
            "dilation_rate": (2, 1),
            "activation": "relu",
            "data_format": "channels_first",
        },
        (4, 7, 6),
    ),
    Case(
        "Conv2D",
        {"filters": 6, "kernel_size": 3, "groups": 2, "kernel_initializer": "he_normal", "bias_initializer": "ones"},
        (7, 7, 4),
        {"kernel_initializer": "HeNormal"},
    ),  # fan_in from (3, 3, 2, 6)
    Case(
        "Conv2D",
        {"filters": 6, "kernel_size": 3, "groups": 3, "kernel_initializer": "lecun_uniform", "activation": "softmax"},
        (6, 6, 3),
        {"kernel_initializer": "LecunUniform"},
    ),
    # deliberate differences
    Case(
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "activation": "glu"},
        (9, 9, 4),
        keras_accepts_we_reject="Keras reports the un-halved shape for glu; use an Activation('glu') layer",
    ),
    # Conv1D
    Case("Conv1D", {"filters": 4, "kernel_size": 3}, (10, 3), GLOROT),
    Case("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (10, 3), GLOROT),
    Case("Conv1D", {"filters": 3, "kernel_size": 4, "padding": "causal", "strides": 2}, (9, 2)),
    Case("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 1)),
    Case("Conv1D", {"filters": 3, "kernel_size": 3, "padding": "CAUSAL", "data_format": "channels_first"}, (2, 7)),
    Case(
        "Conv1D",
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
    Case("Conv1D", {"filters": 4, "kernel_size": 2, "dilation_rate": 3}, (11, 2)),
    Case(
        "Conv1D",
        {"filters": 4, "kernel_size": 5, "strides": 2, "activation": "relu", "use_bias": False},
        (12, 3),
        GLOROT,
    ),
    Case("Conv1D", {"filters": 8, "kernel_size": 1}, (6, 5)),
    Case("Conv1D", {"filters": 64, "kernel_size": 5, "activation": "relu"}, (100, 16), GLOROT, **WIDE),
    Case("Conv1D", {"filters": 4, "kernel_size": 6}, (5, 3)),  # refused by both
    Case("Conv1D", {"filters": 4, "kernel_size": 3}, (28, 28, 1)),
    Case("Conv1D", {"filters": 4, "kernel_size": 3}, (10,)),
    Case("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (10, 3)),
    Case(
        "Conv1D", {"filters": 6, "kernel_size": 3, "groups": 2, "padding": "causal", "dilation_rate": 2}, (9, 4), GLOROT
    ),
    Case("Conv1D", {"filters": 4, "kernel_size": 1, "groups": 2, "data_format": "channels_first"}, (4, 9), GLOROT),
    Case(
        "Conv1D",
        {"filters": 8, "kernel_size": 5, "groups": 8, "strides": 2, "padding": "same", "activation": "tanh"},
        (20, 8),
        GLOROT,
    ),
    Case("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 3, "data_format": "channels_first"}, (6, 11), **WIDE),
    Case("Conv1D", {"filters": 4, "kernel_size": 3, "groups": 2, "data_format": "channels_first"}, (3, 9)),  # refused
    Case("Conv1D", {"filters": 5, "kernel_size": 3, "groups": 5}, (9, 10)),  # 2 channels a group, 1 filter each
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conv_kind_matches_keras(case):
    check_case(case)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.initializers and c.settings.get("filters", 0) <= 8], ids=lambda c: c.id
)
def test_conv_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in batches_to_check(model, 2048):
        check_cost(model, sample(case, batch))


def test_conv_cost_covers_padding_and_activations():
    """The scratch of each phase (padding, patches, a separate activation output) is what predict allocates."""
    for settings, shape in [
        ({"filters": 3, "kernel_size": 3, "padding": "same", "activation": "sigmoid"}, (20, 21, 4)),
        (
            {"filters": 16, "kernel_size": 5, "strides": 2, "padding": "same", "data_format": "channels_first"},
            (3, 30, 31),
        ),
        ({"filters": 4, "kernel_size": 1, "activation": "softmax"}, (30, 30, 8)),
        ({"filters": 2, "kernel_size": 3, "padding": "causal", "activation": "elu"}, (200, 6)),
        # grouped: the group-major patches, the batched matmul writing into the output (ConvNeXt's 7×7 depthwise first)
        ({"filters": 96, "kernel_size": 7, "groups": 96, "padding": "same"}, (14, 14, 96)),
        ({"filters": 8, "kernel_size": 3, "groups": 2, "padding": "same", "activation": "sigmoid"}, (20, 21, 4)),
        (
            {
                "filters": 16,
                "kernel_size": 5,
                "groups": 4,
                "strides": 2,
                "padding": "same",
                "data_format": "channels_first",
            },
            (8, 30, 31),
        ),
        ({"filters": 4, "kernel_size": 1, "groups": 2, "activation": "softmax"}, (30, 30, 8)),
        ({"filters": 6, "kernel_size": 3, "groups": 3, "padding": "causal", "activation": "elu"}, (200, 6)),
    ]:
        kind = "Conv1D" if len(shape) == 2 else "Conv2D"
        case = Case(kind, settings, shape)
        model = ours_model(case)
        for batch in batches_to_check(model, 1024):
            check_cost(model, sample(case, batch))


# --- problems and fixes --------------------------------------------------------------------------
def keras_error(layers, input_shape) -> str:
    """Keras's message when it refuses a Sequential of `layers` on `input_shape`."""
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


def fixes_proposed(layers, input_shape):
    """What the failing layer proposes (before verification) and the analysis issue with verified fixes."""
    issue = analyze(layers, input_shape).issue
    return layers[issue.layer_index].suggest_fixes(issue.received, None, Proposals(issue.layer_name)), issue


def test_conv2d_on_a_grayscale_image_without_channels_axis():
    proposed, issue = fixes_proposed([nb.Conv2D(8, 3)], (28, 28))
    assert issue.keras_message == keras_error([keras.layers.Conv2D(8, 3)], (28, 28))
    assert "channels axis" in issue.explanation and "size 1" in issue.explanation
    inserts = [f for f in proposed if f.action == "insert_layer"]
    assert inserts[0].value == ("Reshape", {"target_shape": (28, 28, 1)})
    assert "Reshape((28, 28, 1))" in inserts[0].description
    actions = {(f.action, f.value if f.action != "insert_layer" else f.value[0]) for f in issue.fixes}
    assert ("set_input_shape", (28, 28, 1)) in actions
    if "Reshape" in nb.KINDS:  # verified only once the Reshape kind exists
        assert ("insert_layer", "Reshape") in actions


def test_conv_rank_fixes_for_other_layouts():
    proposed, _ = fixes_proposed([nb.Conv2D(8, 3, data_format="channels_first")], (28, 28))
    assert proposed[0].value == ("Reshape", {"target_shape": (1, 28, 28)})
    proposed, _ = fixes_proposed([nb.Conv2D(8, 3)], (784,))
    assert proposed[0].value == ("Reshape", {"target_shape": (28, 28, 1)})
    proposed, _ = fixes_proposed([nb.Conv1D(8, 3)], (100,))
    assert proposed[0].value == ("Reshape", {"target_shape": (100, 1)})
    proposed, issue = fixes_proposed([nb.Conv1D(8, 3)], (28, 28, 1))
    assert proposed[0].value == ("Reshape", {"target_shape": (784, 1)})
    assert issue.keras_message == keras_error([keras.layers.Conv1D(8, 3)], (28, 28, 1))
    _, issue = fixes_proposed([nb.Conv2D(8, 3)], (6, 6, 1, 1))
    assert issue.keras_message == keras_error([keras.layers.Conv2D(8, 3)], (6, 6, 1, 1))


@pytest.mark.parametrize(
    "settings,shape",
    [
        ({"filters": 8, "kernel_size": 3}, (2, 2, 1)),
        ({"filters": 8, "kernel_size": (3, 5), "strides": 2}, (4, 4, 3)),
        ({"filters": 8, "kernel_size": 3, "data_format": "channels_first"}, (1, 2, 5)),
        ({"filters": 4, "kernel_size": 3, "dilation_rate": 4}, (8, 8, 1)),
    ],
)
def test_kernel_larger_than_input_explained_and_fixed(settings, shape):
    _, issue = fixes_proposed([nb.Conv2D(**settings)], shape)
    assert issue.keras_message == keras_error([keras.layers.Conv2D(**settings)], shape)
    assert "padding='same'" in issue.explanation and "smaller" in issue.explanation
    settings_fixed = {f.value[0]: f.value[1] for f in issue.fixes if f.action == "set_setting"}
    assert settings_fixed["padding"] == "same"
    assert "kernel_size" in settings_fixed or "dilation_rate" in settings_fixed
    for name, value in settings_fixed.items():  # every fix offered makes Keras accept the layer too
        keras.backend.clear_session(free_memory=False)
        keras.Sequential([keras.Input(shape), keras.layers.Conv2D(**{**settings, name: value})])


def test_conv1d_kernel_larger_than_sequence():
    _, issue = fixes_proposed([nb.Conv1D(4, 6)], (5, 3))
    assert issue.keras_message == keras_error([keras.layers.Conv1D(4, 6)], (5, 3))
    assert {f.value for f in issue.fixes if f.action == "set_setting"} >= {("padding", "same"), ("kernel_size", (5,))}


def test_channels_mismatch_of_a_built_conv():
    layer = nb.Conv2D(8, 3)
    layer.built_shape = (None, 9, 9, 3)
    upstream = nb.Conv2D(4, 1)
    _, issue = fixes_proposed([upstream, layer], (9, 9, 2))
    keras.backend.clear_session(free_memory=False)
    first = keras.layers.Conv2D(4, 1)
    theirs = keras.layers.Conv2D(8, 3)
    theirs.build((None, 9, 9, 3))
    with pytest.raises(ValueError) as refused:
        keras.Sequential([keras.Input((9, 9, 2)), first, theirs])
    assert issue.keras_message == str(refused.value)
    assert "3 input channels" in issue.explanation
    assert ("set_setting", 0, ("filters", 3)) in {(f.action, f.layer_index, f.value) for f in issue.fixes}


def test_grouped_channels_not_a_multiple_explained_and_fixed():
    """Keras's build refuses channels that groups does not divide; the fixes: a groups value dividing channels and
    filters, or a multiple of groups channels."""
    for settings, shape in [
        ({"filters": 6, "kernel_size": 3, "groups": 3}, (9, 9, 4)),
        ({"filters": 8, "kernel_size": 3, "groups": 4, "data_format": "channels_first"}, (6, 9, 9)),
        ({"filters": 6, "kernel_size": 3, "groups": 3}, (9, 9, 4, 1)),
    ]:
        _, issue = fixes_proposed([nb.Conv2D(**settings)], shape)
        assert issue.keras_message == keras_error([keras.layers.Conv2D(**settings)], shape)
        assert f"groups={settings['groups']}" in issue.message and "equal groups" in issue.explanation
        if len(shape) != 3:
            continue
        values = {f.value[1] for f in issue.fixes if f.action == "set_setting" and f.value[0] == "groups"}
        assert values == {2, 1}
        for value in values:  # every groups offered makes Keras accept the layer
            keras.backend.clear_session(free_memory=False)
            keras.Sequential([keras.Input(shape), keras.layers.Conv2D(**{**settings, "groups": value})])
        shapes = {f.value for f in issue.fixes if f.action == "set_input_shape"}
        assert shapes == {(9, 9, 6)} if settings.get("data_format") is None else {(8, 9, 9)}


def test_grouped_channels_mismatch_of_a_built_conv():
    layer = nb.Conv2D(8, 3, groups=4)
    layer.built_shape = (None, 9, 9, 8)
    _, issue = fixes_proposed([nb.Conv2D(4, 1), layer], (9, 9, 2))
    assert "8 input channels" in issue.explanation and "3×3×2×8" in issue.explanation


def test_settings_refused_with_clear_messages():
    with pytest.raises(
        nb.LayerConfigError, match=r"The number of groups must be a positive integer. Received: groups=0."
    ):
        nb.Conv2D(8, 3, groups=0)
    with pytest.raises(
        nb.LayerConfigError, match=r"evenly divisible by the number of groups. Received: groups=3, filters=8."
    ):
        nb.Conv2D(8, 3, groups=3)
    with pytest.raises(nb.LayerConfigError):
        nb.Conv1D(8, 3, groups=1.5)
    assert nb.Conv2D(8, 3, groups=4).groups == 4
    with pytest.raises(nb.LayerConfigError, match="only for 1D"):
        nb.Conv2D(8, 3, padding="causal")
    with pytest.raises(nb.LayerConfigError, match="dilation_rate > 1"):
        nb.Conv1D(8, 3, strides=2, dilation_rate=2)
    with pytest.raises(nb.LayerConfigError, match="Activation\\('glu'\\)"):
        nb.Conv2D(8, 3, activation="glu")
    with pytest.raises(nb.LayerConfigError, match="missing required argument: 'kernel_size'"):
        nb.Conv2D(8)
    assert nb.Conv2D(8, 3, padding="Same").padding == "same"


def test_descriptions():
    layer = nb.Conv2D(8, 3)
    assert layer.formula((None, 28, 28, 1)) == "3×3×1×8 + 8 = 80"
    assert nb.Conv2D(8, 3, use_bias=False).formula((None, 28, 28, 1)) == "3×3×1×8 = 72"
    assert nb.Conv1D(32, 5).formula((None, 100, 16)) == "5×16×32 + 32 = 2,592"
    assert nb.Conv2D(32, 3, padding="same", activation="relu").label() == "32 3×3 same relu"
    assert nb.Conv2D(8, 3, strides=2, data_format="channels_first").label() == "8 3×3 stride 2×2 valid channels_first"
    assert "(28 − 3)/1 + 1 = 26" in layer.explain_shape((None, 28, 28, 1), (None, 26, 26, 8))
    same = nb.Conv2D(8, 3, strides=2, padding="same")
    assert "ceil(28/2) = 14" in same.explain_shape((None, 28, 28, 1), same.compute_output_shape((None, 28, 28, 1)))
    assert "floor((28 − 3)/2) + 1 = 13" in nb.Conv2D(8, 3, strides=2).explain_shape(
        (None, 28, 28, 1), (None, 13, 13, 8)
    )
    assert nb.Conv1D(4, 3, padding="causal", dilation_rate=2).label() == "4 3-wide dilation 2 causal"
    causal = nb.Conv1D(4, 3, padding="causal", dilation_rate=2).explain_shape((None, 12, 3), (None, 12, 4))
    assert "ceil(12/1) = 12" in causal and "padded 4 before and 0 after" in causal
    assert nb.Conv2D.group == nb.Conv1D.group == "Convolution" and nb.Conv2D.description
    depthwise = nb.Conv2D(96, 7, padding="same", groups=96)
    assert depthwise.formula((None, 56, 56, 96)) == "7×7×1×96 + 96 = 4,800"
    assert nb.Conv1D(8, 3, groups=2).formula((None, 10, 4)) == "3×2×8 + 8 = 56"
    assert depthwise.label() == "96 7×7 96 groups same"
    text = nb.Conv2D(8, 3, groups=2).explain_shape((None, 9, 9, 4), (None, 7, 7, 8))
    assert "into 2 groups" in text and "only the 2 input channels of its group" in text


# --- gradients -----------------------------------------------------------------------------------
def built_layer(kind, settings, shape, seed=5):
    model = nb.Sequential([nb.Input(shape), nb.KINDS[kind](**settings)], seed=seed)
    layer = model.layers[0]
    rng = np.random.default_rng(seed)
    layer._weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in layer.weights]  # a nonzero bias
    return layer


GRADIENT_CASES = [
    ("Conv2D", {"filters": 3, "kernel_size": 3}, (5, 5, 2)),
    (
        "Conv2D",
        {"filters": 2, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same", "activation": "tanh"},
        (5, 6, 2),
    ),
    (
        "Conv2D",
        {"filters": 2, "kernel_size": 2, "dilation_rate": (2, 1), "padding": "same", "data_format": "channels_first"},
        (2, 5, 4),
    ),
    (
        "Conv2D",
        {
            "filters": 3,
            "kernel_size": 3,
            "strides": 2,
            "data_format": "channels_first",
            "use_bias": False,
            "activation": "softmax",
        },
        (2, 7, 6),
    ),
    (
        "Conv1D",
        {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "sigmoid"},
        (7, 2),
    ),
    (
        "Conv1D",
        {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same", "data_format": "channels_first"},
        (3, 10),
    ),
    ("Conv2D", {"filters": 2, "kernel_size": 1, "activation": "relu"}, (3, 4, 3)),
    # grouped: each group's kernel and input channels, both layouts, groups = channels (depthwise) too
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, (5, 5, 4)),
    (
        "Conv2D",
        {
            "filters": 6,
            "kernel_size": (2, 3),
            "groups": 3,
            "strides": (2, 1),
            "padding": "same",
            "activation": "tanh",
            "data_format": "channels_first",
        },
        (3, 5, 6),
    ),
    ("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3, "padding": "same"}, (4, 4, 3)),
    (
        "Conv2D",
        {
            "filters": 2,
            "kernel_size": 2,
            "groups": 2,
            "dilation_rate": 2,
            "data_format": "channels_first",
            "use_bias": False,
        },
        (4, 5, 5),
    ),
    (
        "Conv1D",
        {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "causal", "dilation_rate": 2, "activation": "sigmoid"},
        (7, 2),
    ),
    ("Conv1D", {"filters": 4, "kernel_size": 1, "groups": 4, "data_format": "channels_first"}, (4, 5)),
]


@pytest.mark.parametrize("kind,settings,shape", GRADIENT_CASES, ids=[f"{k}{s}{sh}" for k, s, sh in GRADIENT_CASES])
def test_conv_backward_matches_finite_differences(kind, settings, shape):
    layer = built_layer(kind, settings, shape)
    check_gradients(layer, np.random.default_rng(1).normal(size=(2, *shape)))


@pytest.mark.parametrize("activation", sorted(set(nb.ACTIVATION_NAMES) - {"glu", "swish", "hard_swish"}))
def test_every_activation_backward(activation):
    layer = built_layer("Conv1D", {"filters": 4, "kernel_size": 2, "activation": activation}, (4, 2))
    x = np.random.default_rng(2).normal(size=(2, 4, 2)) * 1.5
    check_gradients(layer, x, rtol=1e-4, atol=1e-6)


def test_conv_backward_matches_jax():
    """The same gradients as JAX's conv_general_dilated (what Keras's JAX backend trains with)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    for data_format, padding, strides, dilation, groups in [
        ("channels_last", "SAME", (2, 2), (1, 1), 1),
        ("channels_first", "VALID", (1, 1), (2, 1), 1),
        ("channels_last", "SAME", (1, 2), (1, 1), 2),
        ("channels_first", "SAME", (1, 1), (1, 2), 2),
    ]:
        settings = {
            "filters": 3 * groups,
            "kernel_size": (3, 2),
            "strides": strides,
            "dilation_rate": dilation,
            "padding": padding.lower(),
            "data_format": data_format,
            "groups": groups,
        }
        shape = (7, 6, 2 * groups) if data_format == "channels_last" else (2 * groups, 7, 6)
        layer = built_layer("Conv2D", settings, shape)
        x = np.random.default_rng(3).normal(size=(2, *shape))
        layer._weights = [w.astype(np.float64) for w in layer.weights]
        y, cache = layer.forward_train(x, None)
        dy = np.random.default_rng(4).normal(size=y.shape)
        dx, (dk, db) = layer.backward(cache, dy)
        spec = ("NHWC", "HWIO", "NHWC") if data_format == "channels_last" else ("NCHW", "HWIO", "NCHW")

        def f(x, k, b):
            out = jax.lax.conv_general_dilated(
                x, k, strides, padding, rhs_dilation=dilation, dimension_numbers=spec, feature_group_count=groups
            )
            return out + (b if data_format == "channels_last" else b[:, None, None])

        out, vjp = jax.vjp(f, x, layer.kernel, layer.bias)
        np.testing.assert_allclose(y, out, rtol=1e-10, atol=1e-10)
        for mine, theirs in zip((dx, dk, db), vjp(dy)):
            np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10)


# --- exports, JSON, chains -----------------------------------------------------------------------
EXPORT_SPECS = [
    [
        (28, 28, 1),
        ("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
        ("MaxPooling2D", {}),
        ("Conv2D", {"filters": 16, "kernel_size": 3, "activation": "relu"}),
        ("MaxPooling2D", {}),
        ("Flatten", {}),
        ("Dense", {"units": 10, "activation": "softmax"}),
    ],
    [
        (3, 9, 8),
        ("Conv2D", {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same", "data_format": "channels_first"}),
        (
            "Conv2D",
            {
                "filters": 3,
                "kernel_size": (3, 2),
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
        (12, 3),
        ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "tanh"}),
        ("Conv1D", {"filters": 5, "kernel_size": 4, "strides": 3, "padding": "same", "use_bias": False}),
        ("Conv1D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}),
        ("Flatten", {}),
    ],
    [
        (7, 7, 2),
        ("Conv2D", {"filters": 3, "kernel_size": 2, "strides": (1, 2), "padding": "same", "activation": "gelu"}),
        ("Conv2D", {"filters": 2, "kernel_size": 1, "strides": 2}),
        ("Activation", {"activation": "sigmoid"}),
    ],
    # grouped: torch's nn.Conv2d(groups=G) with its (F, C/G, *window) weight; ConvNeXt's depthwise 7×7 first
    [
        (9, 9, 6),
        ("Conv2D", {"filters": 6, "kernel_size": 7, "groups": 6, "padding": "same"}),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "strides": 2, "activation": "relu"}),
        ("Conv2D", {"filters": 4, "kernel_size": 2, "groups": 4, "padding": "same", "data_format": "channels_first"}),
        ("Flatten", {}),
    ],
    [
        (12, 4),
        ("Conv1D", {"filters": 6, "kernel_size": 3, "groups": 2, "padding": "causal", "dilation_rate": 2}),
        ("Conv1D", {"filters": 6, "kernel_size": 2, "groups": 3, "data_format": "channels_first", "use_bias": False}),
    ],
]


@pytest.mark.parametrize("layers", EXPORT_SPECS, ids=lambda s: "-".join(k for k, _ in s[1:]))
def test_conv_exports_reproduce_outputs(layers):
    spec = spec_of(*layers)
    check_exports(spec)
    json_roundtrip_equal(spec)


def test_keras_code_names_the_data_format():
    code = nb.Conv2D(8, (3, 2), strides=2, padding="same", activation="relu", name="c").keras_code().code
    assert code == (
        "keras.layers.Conv2D(8, kernel_size=(3, 2), strides=(2, 2), padding='same', activation='relu', "
        "data_format='channels_last', name='c')"
    )


def test_grouped_code_names_the_groups():
    layer = nb.Conv2D(8, 3, groups=4, name="g")
    assert layer.keras_code().code == (
        "keras.layers.Conv2D(8, kernel_size=(3, 3), groups=4, data_format='channels_last', name='g')"
    )
    model = nb.Sequential([nb.Input((9, 9, 4)), layer], seed=0)
    part = model.layers[0].torch_code((None, 9, 9, 4))[1]
    assert (
        part.code
        == "nn.Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=4, bias=True)"
    )
    assert part.weights["weight"].shape == (8, 1, 3, 3)


# --- a training step's memory, and training against Keras on JAX -------------------------------------------------
TRAIN_MEMORY_CASES = [
    ("grouped relu", (14, 14, 8), lambda: [nb.Conv2D(8, 3, groups=2, activation="relu"), nb.Flatten()], 32),
    ("depthwise 7x7 same", (14, 14, 96), lambda: [nb.Conv2D(96, 7, groups=96, padding="same"), nb.Flatten()], 8),
    (
        "grouped channels_first sigmoid",
        (6, 20, 21),
        lambda: [nb.Conv2D(6, 3, groups=3, data_format="channels_first", activation="sigmoid"), nb.Flatten()],
        32,
    ),
    ("grouped Conv1D causal", (100, 8), lambda: [nb.Conv1D(16, 5, groups=4, padding="causal"), nb.Flatten()], 32),
]


@pytest.mark.parametrize(
    "name, shape, layers, batch", TRAIN_MEMORY_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_grouped_training_steps_memory_is_what_it_declares(name, shape, layers, batch):
    """As tests/test_cost.py holds every kind: a step's peak is at least what tracemalloc measures, and at most half as
    much again (plus 64 KB)."""
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


def test_grouped_training_equals_keras_on_jax():
    """Grouped convolutions (a depthwise 7×7 as ConvNeXt's, groups of 2 channels, channels_first, Conv1D) trained for 3
    epochs (Adam, shuffle off) here and by Keras on JAX from the same weights: equal history and weights within 1e-3."""
    spec = spec_of(
        (8, 8, 4),
        ("Conv2D", {"filters": 4, "kernel_size": 7, "groups": 4, "padding": "same"}),
        ("Conv2D", {"filters": 6, "kernel_size": 3, "groups": 2, "activation": "relu"}),
        (
            "Conv2D",
            {
                "filters": 6,
                "kernel_size": 2,
                "groups": 3,
                "strides": 2,
                "data_format": "channels_first",
                "activation": "tanh",
            },
        ),
        ("Reshape", {"target_shape": (27, 2)}),
        ("Conv1D", {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "causal"}),
        ("Flatten", {}),
        ("Dense", {"units": 3, "activation": "softmax"}),
        seed=5,
    )
    ours = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    start = ours.get_weights()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 8, 4)).astype(np.float32)
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


def test_depthwise_groups_run_as_one_batched_matmul(monkeypatch):
    """groups = channels (ConvNeXt's case) is no Python loop over channels: one matmul call forward, two backward."""
    layer = built_layer("Conv2D", {"filters": 32, "kernel_size": 7, "groups": 32, "padding": "same"}, (8, 8, 32))
    calls = []
    real = np.matmul
    monkeypatch.setattr(np, "matmul", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 32)).astype(np.float32)
    y, cache = layer.forward_train(x, None)
    assert len(calls) == 1
    layer.backward(cache, np.ones_like(y))
    assert len(calls) == 3


def random_layer(rng, shape):
    """A random layer that usually fits `shape` (a per-sample shape), mixing convolutions with
    Dense/Flatten/Activation."""
    rank = len(shape)
    choice = rng.choice(["conv", "dense", "flatten", "activation"], p=[0.55, 0.15, 0.15, 0.15])
    if choice == "conv" and rank in (2, 3):
        kind = "Conv1D" if rank == 2 else "Conv2D"
        settings = {
            "filters": int(rng.integers(1, 6)),
            "kernel_size": tuple(int(k) for k in rng.integers(1, 6, size=rank - 1)),
            "padding": str(rng.choice(["valid", "same"] + (["causal"] if rank == 2 else []))),
            "data_format": str(rng.choice(["channels_last", "channels_first"])),
            "activation": str(rng.choice(["linear", "relu", "tanh", "softmax", "elu"])),
        }
        if rng.random() < 0.5:
            settings["strides"] = tuple(int(s) for s in rng.integers(1, 4, size=rank - 1))
        elif rng.random() < 0.5:
            settings["dilation_rate"] = tuple(int(d) for d in rng.integers(1, 3, size=rank - 1))
        return kind, settings
    if choice == "dense":
        return "Dense", {"units": int(rng.integers(1, 6)), "activation": str(rng.choice(["linear", "relu"]))}
    if choice == "flatten":
        return "Flatten", {}
    return "Activation", {"activation": str(rng.choice(["relu", "tanh", "softmax"]))}


def test_random_chains_match_keras():
    rng = np.random.default_rng(2024)
    accepted = refused = 0
    for trial in range(40):
        shape = tuple(int(d) for d in rng.integers(3, 10, size=int(rng.integers(2, 4))))
        layers, current = [], shape
        for _ in range(int(rng.integers(1, 5))):
            layers.append(random_layer(rng, current))
            try:
                current = nb.Sequential([nb.Input(shape), *[nb.KINDS[k](**s) for k, s in layers]]).output_shape[1:]
            except nb.NetbuilderError:
                break
        keras.backend.clear_session(free_memory=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = keras.Sequential([keras.Input(shape), *[getattr(keras.layers, k)(**s) for k, s in layers]])
                x = sample(Case("Dense", {}, shape), 3, seed=trial)
                theirs.predict(x, verbose=0)
        except Exception:
            with pytest.raises(nb.NetbuilderError):
                nb.Sequential([nb.Input(shape), *[nb.KINDS[k](**s) for k, s in layers]])
            refused += 1
            continue
        ours = nb.Sequential([nb.Input(shape), *[nb.KINDS[k](**s) for k, s in layers]], seed=trial)
        assert ours.output_shape == tuple(theirs.output_shape), layers
        assert ours.count_params() == theirs.count_params(), layers
        theirs.set_weights(ours.get_weights())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = theirs.predict(x, verbose=0)
        np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-5, atol=1e-5, err_msg=str(layers))
        accepted += 1
    assert accepted >= 20 and refused >= 3, (accepted, refused)
