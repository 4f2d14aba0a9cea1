"""Reshape, Permute, RepeatVector, ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D against real Keras
(tests/kind_harness.py)."""

import math
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
    keras_outcome,
    ours_model,
    sample,
    spec_of,
)
from netbuilder.engine.analysis import analyze
from netbuilder.engine.layer import kind_class

CF = {"data_format": "channels_first"}
NOT_BICUBIC = "netbuilder computes only nearest and bilinear interpolation"
RANK5 = "netbuilder's tensors have at most 4 axes per sample"

CASES = [
    # Reshape
    Case("Reshape", {"target_shape": (48,)}, (3, 16)),
    Case("Reshape", {"target_shape": (-1,)}, (3, 16)),
    Case("Reshape", {"target_shape": (4, 12)}, (3, 16)),
    Case("Reshape", {"target_shape": (4, -1)}, (3, 16)),
    Case("Reshape", {"target_shape": (-1, 2, 2)}, (12,)),
    Case("Reshape", {"target_shape": (2, -1, 2)}, (3, 2, 2)),
    Case("Reshape", {"target_shape": (28, 28, 1)}, (784,)),
    Case("Reshape", {"target_shape": (2, 3, 2, 2)}, (24,)),
    Case("Reshape", {"target_shape": (1,)}, ()),
    Case("Reshape", {"target_shape": ()}, (1,)),
    Case("Reshape", {"target_shape": (-1,)}, (1, 1, 1)),
    Case("Reshape", {"target_shape": (50,)}, (3, 16)),  # count differs: both refuse
    Case("Reshape", {"target_shape": (5, -1)}, (3, 16)),  # 48 not divisible by 5
    Case("Reshape", {"target_shape": (-1, -1)}, (3, 16)),
    Case("Reshape", {"target_shape": (-2, 24)}, (3, 16)),
    Case("Reshape", {"target_shape": (0, -1)}, (3, 16)),
    Case("Reshape", {"target_shape": (0, 48)}, (3, 16)),
    Case("Reshape", {"target_shape": 48}, (48,)),  # Keras needs a tuple
    Case("Reshape", {"target_shape": (2, 2, 2, 2, 3)}, (48,), keras_accepts_we_reject=RANK5),
    # Permute
    Case("Permute", {"dims": (2, 1)}, (10, 6)),
    Case("Permute", {"dims": (1, 2)}, (10, 6)),
    Case("Permute", {"dims": (1,)}, (5,)),
    Case("Permute", {"dims": ()}, ()),
    Case("Permute", {"dims": (3, 1, 2)}, (2, 3, 4)),
    Case("Permute", {"dims": (2, 3, 1)}, (2, 3, 4)),
    Case("Permute", {"dims": (1, 3, 2)}, (2, 3, 4)),
    Case("Permute", {"dims": (2, 1)}, (1, 5)),  # only a size-1 axis moves: a reshape
    Case("Permute", {"dims": (3, 1, 2)}, (2, 3, 1)),
    Case("Permute", {"dims": (2, 1, 4, 3)}, (2, 3, 4, 2)),
    Case("Permute", {"dims": (1, 3)}, (3, 16)),
    Case("Permute", {"dims": (2, 2)}, (3, 16)),
    Case("Permute", {"dims": (1, 2, 3)}, (3, 16)),
    Case("Permute", {"dims": (2, 1)}, (16,)),
    # RepeatVector
    Case("RepeatVector", {"n": 3}, (16,)),
    Case("RepeatVector", {"n": 1}, (5,)),
    Case("RepeatVector", {"n": 4}, (1,)),
    Case("RepeatVector", {"n": 3}, (3, 16)),
    Case("RepeatVector", {"n": 3}, ()),
    Case("RepeatVector", {"n": 0}, (16,)),
    Case("RepeatVector", {"n": 2.0}, (16,)),
    # ZeroPadding1D
    Case("ZeroPadding1D", {}, (5, 4)),
    Case("ZeroPadding1D", {"padding": 2}, (5, 4)),
    Case("ZeroPadding1D", {"padding": (0, 3)}, (1, 2)),
    Case("ZeroPadding1D", {"padding": (1, 2), **CF}, (5, 4)),
    Case("ZeroPadding1D", {"padding": 0}, (5, 4)),
    Case("ZeroPadding1D", {"padding": (1,)}, (5, 4)),
    Case("ZeroPadding1D", {"padding": ((1, 2),)}, (5, 4)),
    Case("ZeroPadding1D", {"padding": -1}, (5, 4)),
    Case("ZeroPadding1D", {}, (5, 4, 3)),
    Case("ZeroPadding1D", {}, (5,)),
    # ZeroPadding2D
    Case("ZeroPadding2D", {}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": 2}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": (1, 2)}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": ((1, 2), (3, 0))}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": ((1, 2), (3, 0)), **CF}, (3, 5, 4)),
    Case("ZeroPadding2D", {"padding": (1, (0, 2)), **CF}, (2, 1, 1)),
    Case("ZeroPadding2D", {"padding": 0}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": (1, 2, 3)}, (5, 4, 3)),
    Case("ZeroPadding2D", {"padding": ((1,), (0, 1))}, (5, 4, 3)),
    Case("ZeroPadding2D", {}, (5, 4)),
    # Cropping1D
    Case("Cropping1D", {}, (5, 3)),
    Case("Cropping1D", {"cropping": (3, 1)}, (5, 3)),
    Case("Cropping1D", {"cropping": (0, 2)}, (5, 3)),
    Case("Cropping1D", {"cropping": 0}, (5, 3)),
    Case("Cropping1D", {"cropping": (3, 2)}, (5, 3)),  # crops the whole axis: both refuse
    Case("Cropping1D", {"cropping": 3}, (5, 3)),
    Case("Cropping1D", {"cropping": (3,)}, (5, 3)),
    Case("Cropping1D", {"cropping": -1}, (5, 3)),
    Case("Cropping1D", {}, (5,)),
    # Cropping2D
    Case("Cropping2D", {}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": 1}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((1, 2), (2, 0))}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((1, 2), (2, 0)), **CF}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": (1, (0, 1))}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((0, 3), (1, 1)), **CF}, (2, 4, 3)),
    Case("Cropping2D", {"cropping": ((2, 3), (0, 0))}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((2, 2), (2, 2))}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((2, 2), (2, 2)), **CF}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": ((0, 0), (1, 1)), **CF}, (5, 4, 2)),
    Case("Cropping2D", {"cropping": -1}, (5, 4, 3)),
    Case("Cropping2D", {"cropping": (1, 2, 3)}, (5, 4, 3)),
    Case("Cropping2D", {}, (5, 4)),
    # UpSampling1D
    Case("UpSampling1D", {}, (5, 4)),
    Case("UpSampling1D", {"size": 3}, (1, 2)),
    Case("UpSampling1D", {"size": 1}, (5, 4)),
    Case("UpSampling1D", {"size": 0}, (5, 4)),
    Case("UpSampling1D", {"size": (2,)}, (5, 4)),
    Case("UpSampling1D", {}, (5, 4, 3)),
    # UpSampling2D
    Case("UpSampling2D", {}, (5, 4, 3)),
    Case("UpSampling2D", {"size": (2, 3), **CF}, (3, 5, 4)),
    Case("UpSampling2D", {"size": 1}, (5, 4, 3)),
    Case("UpSampling2D", {"size": (3, 1)}, (1, 4, 2)),
    Case("UpSampling2D", {"interpolation": "bilinear"}, (5, 4, 3)),
    Case("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (5, 4, 3)),
    Case("UpSampling2D", {"size": (3, 2), "interpolation": "bilinear", **CF}, (3, 4, 5)),
    Case("UpSampling2D", {"size": (1, 4), "interpolation": "bilinear"}, (3, 5, 2)),
    Case("UpSampling2D", {"size": (3, 1), "interpolation": "bilinear", **CF}, (2, 4, 3)),
    Case("UpSampling2D", {"size": 5, "interpolation": "bilinear"}, (1, 1, 2)),
    Case("UpSampling2D", {"size": (4, 7), "interpolation": "bilinear"}, (6, 2, 1)),
    Case("UpSampling2D", {"size": 1, "interpolation": "bilinear"}, (3, 3, 1)),
    Case("UpSampling2D", {"interpolation": "Bilinear", "data_format": "CHANNELS_FIRST"}, (2, 3, 3)),
    Case("UpSampling2D", {"interpolation": "bicubic"}, (5, 4, 3), keras_accepts_we_reject=NOT_BICUBIC),
    Case("UpSampling2D", {"interpolation": "lanczos3"}, (5, 4, 3), keras_accepts_we_reject=NOT_BICUBIC),
    Case("UpSampling2D", {"interpolation": "area"}, (5, 4, 3)),
    Case("UpSampling2D", {"size": 0}, (5, 4, 3)),
    Case("UpSampling2D", {}, (5, 4)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_reshaping_kind_matches_keras(case):
    check_case(case)


def _keras_error(case):
    model, error = keras_outcome(case)
    return error


def _constructs(case) -> bool:
    try:
        kind_class(case.kind)(**case.settings)
        return True
    except nb.NetbuilderError:
        return False


@pytest.mark.parametrize("case", [c for c in CASES if not c.keras_accepts_we_reject], ids=lambda c: c.id)
def test_shape_refusals_carry_keras_message(case):
    """Where our analysis refuses a shape, its keras_message is the text Keras raises in the same situation."""
    if not _constructs(case):
        return
    issue = analyze([kind_class(case.kind)(**case.settings)], case.input_shape).issue
    error = _keras_error(case)
    assert (issue is None) == (error is None), (issue, error)
    if issue is not None:
        assert issue.keras_message and issue.keras_message in str(error), (issue.keras_message, str(error))
        assert issue.message and issue.explanation


@pytest.mark.parametrize("case", [c for c in CASES if not c.keras_accepts_we_reject], ids=lambda c: c.id)
def test_constructor_refusals_match_keras(case):
    """A setting Keras refuses when the layer is made is refused when ours is made (Keras's wording where it has
    one)."""
    try:
        getattr(keras.layers, case.kind)(**case.settings)
        keras_error = None
    except Exception as e:  # noqa: BLE001 Keras raises ValueError or TypeError
        keras_error = e
    if keras_error is None:
        return
    with pytest.raises(nb.NetbuilderError) as ours:
        kind_class(case.kind)(**case.settings)
    if isinstance(keras_error, ValueError) and (
        case.kind in ("Reshape", "Permute") or "`cropping`" in str(keras_error) or "`padding`" in str(keras_error)
    ):
        assert str(ours.value) == str(keras_error), (str(ours.value), str(keras_error))


def _builds(case) -> bool:
    try:
        ours_model(case)
        return True
    except nb.NetbuilderError:
        return False


# the cases both build (test_reshaping_kind_matches_keras proves we refuse exactly where Keras does)
ACCEPTED = [c for c in CASES if _builds(c)]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_reshaping_cost_holds_what_predict_allocates(case):
    model = ours_model(case)
    for batch in (1, 64, 2048):
        check_cost(model, sample(case, batch))


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_reshaping_gradients(case):
    layer = ours_model(case).layers[0]
    check_gradients(layer, sample(case, 3))


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_outputs_are_contiguous_and_views_are_declared(case):
    """Every output is C-contiguous (so a Reshape or Flatten after it is a view), and shares memory exactly when
    declared."""
    model = ours_model(case)
    x = sample(case, 4)
    y = model.predict(x)
    assert y.flags.c_contiguous
    assert np.shares_memory(x, y) == model.analysis.layers[0].cost.output_is_view


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_label_and_explanation(case):
    layer = ours_model(case).layers[0]
    report = analyze([layer], case.input_shape).layers[0]
    assert layer.label() and layer.explain_shape(report.input_shape, report.output_shape)
    assert layer.description and layer.group == "Reshaping"


# --- exports ------------------------------------------------------------------------------------------
EXPORTS = [
    (
        (3, 16),
        ("Reshape", {"target_shape": (-1,)}),
        ("Dense", {"units": 6}),
        ("RepeatVector", {"n": 3}),
        ("Permute", {"dims": (2, 1)}),
        ("Dense", {"units": 2}),
    ),
    (
        (12,),
        ("Reshape", {"target_shape": (3, 4)}),
        ("ZeroPadding1D", {"padding": (1, 2)}),
        ("Cropping1D", {"cropping": (2, 0)}),
        ("UpSampling1D", {"size": 3}),
        ("Flatten", {}),
        ("Dense", {"units": 3}),
    ),
    (
        (4, 6),
        ("ZeroPadding1D", {"padding": (2, 1), **CF}),
        ("Dense", {"units": 2}),
        ("Activation", {"activation": "tanh"}),
    ),
    (
        (5, 4, 3),
        ("ZeroPadding2D", {"padding": ((1, 2), (0, 3))}),
        ("Cropping2D", {"cropping": ((2, 0), (1, 1))}),
        ("UpSampling2D", {"size": (2, 3)}),
        ("Flatten", {}),
        ("Dense", {"units": 4}),
    ),
    (
        (3, 5, 4),
        ("ZeroPadding2D", {"padding": ((1, 2), (0, 3)), **CF}),
        ("Cropping2D", {"cropping": ((2, 0), (1, 1)), **CF}),
        ("UpSampling2D", {"size": (2, 3), **CF}),
        ("Flatten", {"data_format": "channels_first"}),
        ("Dense", {"units": 4}),
    ),
    ((4, 3, 2), ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}), ("Dense", {"units": 3})),
    ((2, 4, 3), ("UpSampling2D", {"size": (3, 2), "interpolation": "bilinear", **CF}), ("Dense", {"units": 3})),
    ((2, 3, 4), ("Permute", {"dims": (3, 1, 2)}), ("Reshape", {"target_shape": (4, -1)}), ("Dense", {"units": 5})),
    ((2, 1, 4), ("Permute", {"dims": (2, 3, 1)}), ("Flatten", {})),
    ((1,), ("Reshape", {"target_shape": ()}), ("Reshape", {"target_shape": (1, 1)})),
]


@pytest.mark.parametrize("layers", EXPORTS, ids=lambda layers: "-".join(k for k, _ in layers[1:]))
def test_reshaping_exports(layers):
    spec = spec_of(layers[0], *layers[1:])
    check_exports(spec)
    json_roundtrip_equal(spec)


# --- random chains against Keras -------------------------------------------------------------------------
def _crop(rng, size):
    """A (start, end) cropping that leaves at least one value, or now and then one that crops everything."""
    if rng.random() < 0.1:
        return (size, 0)
    a = int(rng.integers(0, size))
    return a, int(rng.integers(0, size - a))


def _random_layer(rng, shape):
    """A random (kind, settings) pair, usually one that fits `shape` (a per-sample shape), sometimes not."""
    rank = len(shape)
    fmt = {"data_format": "channels_first"} if rng.random() < 0.4 else {}
    fitting = {
        0: ["Reshape", "Dense", "Flatten", "Dropout"],
        1: ["Reshape", "Dense", "Activation", "RepeatVector", "Dropout"],
        2: ["Reshape", "Permute", "Dense", "Flatten", "ZeroPadding1D", "Cropping1D", "UpSampling1D", "Dropout"],
        3: ["Reshape", "Permute", "Flatten", "Dense", "ZeroPadding2D", "Cropping2D", "UpSampling2D"],
    }.get(rank, ["Reshape", "Flatten"])
    every = [
        "Reshape",
        "Permute",
        "Dense",
        "Flatten",
        "Activation",
        "RepeatVector",
        "ZeroPadding1D",
        "Cropping1D",
        "UpSampling1D",
        "ZeroPadding2D",
        "Cropping2D",
        "UpSampling2D",
        "Dropout",
    ]
    choices = every if rng.random() < 0.1 else fitting  # now and then a kind that may not fit, to compare refusals
    kind = choices[rng.integers(len(choices))]
    total = math.prod(shape)
    if kind == "Dropout":
        return kind, {"rate": float(rng.choice([0.0, 0.3, 1.0]))}
    if kind == "Reshape":
        divisors = [d for d in range(1, total + 1) if total % d == 0]
        a = int(rng.choice(divisors))
        options = [(-1,), (a, -1), (-1, a), (a, total // a), (a, -1, 1)]
        if rng.random() < 0.1:
            options.append((a + 1, total // a))  # a count that does not fit
        return kind, {"target_shape": options[rng.integers(len(options))]}
    if kind == "Permute":
        n = rank if rng.random() < 0.9 else rank + 1
        return kind, {"dims": tuple(int(d) for d in rng.permutation(n) + 1)}
    if kind == "Dense":
        return kind, {"units": int(rng.integers(1, 5))}
    if kind == "Activation":
        return kind, {"activation": ["relu", "tanh", "sigmoid"][rng.integers(3)]}
    if kind == "Flatten":
        return kind, dict(fmt)
    if kind == "RepeatVector":
        return kind, {"n": int(rng.integers(1, 4))}
    if kind.endswith("1D"):
        steps = shape[0] if rank >= 1 else 1
        if kind == "ZeroPadding1D":
            return kind, {"padding": (int(rng.integers(0, 3)), int(rng.integers(0, 3))), **fmt}
        if kind == "Cropping1D":
            return kind, {"cropping": _crop(rng, steps)}
        return kind, {"size": int(rng.integers(1, 4)) if total < 200 else 1}
    spatial = shape[1:3] if fmt else shape[0:2]
    spatial = tuple(spatial) + (1,) * (2 - len(spatial))
    if kind == "ZeroPadding2D":
        return kind, {"padding": tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2)), **fmt}
    if kind == "Cropping2D":
        return kind, {"cropping": tuple(_crop(rng, size) for size in spatial), **fmt}
    interpolation = "bilinear" if rng.random() < 0.5 else "nearest"
    size = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if total < 200 else (1, 2)
    return kind, {"size": size, "interpolation": interpolation, **fmt}


def _keras_chain(input_shape, layers):
    keras.backend.clear_session(free_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.Sequential([keras.Input(input_shape), *(getattr(keras.layers, k)(**s) for k, s in layers)])


@pytest.mark.parametrize("seed", range(100))
def test_random_chains_match_keras(seed):
    rng = np.random.default_rng(seed)
    shapes = [(12,), (3, 4), (4, 3, 2), (2, 3, 2, 2), (6, 5, 1)]
    shape = shapes[rng.integers(len(shapes))]
    layers, current = [], shape
    for _ in range(int(rng.integers(2, 9))):
        kind, settings = _random_layer(rng, current)
        layers.append((kind, settings))
        analysis = analyze([kind_class(k)(**s) for k, s in layers], shape)
        if not analysis.ok:
            break
        current = analysis.output_shape[1:]
    x = (np.random.default_rng(seed + 100).normal(size=(3, *shape)) * 2).astype(np.float32)
    try:
        theirs = _keras_chain(shape, layers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.predict(x, verbose=0)
    except Exception as e:  # noqa: BLE001 any refusal by Keras
        with pytest.raises(nb.NetbuilderError):
            nb.Sequential([nb.Input(shape), *(kind_class(k)(**s) for k, s in layers)], seed=seed)
        analysis = analyze([kind_class(k)(**s) for k, s in layers], shape)
        assert analysis.issue.keras_message in str(e)
        return
    ours = nb.Sequential([nb.Input(shape), *(kind_class(k)(**s) for k, s in layers)], seed=seed)
    assert ours.output_shape == tuple(theirs.output_shape)
    assert ours.count_params() == theirs.count_params()
    theirs.set_weights(ours.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x), expected, rtol=1e-5, atol=1e-5)
    again = nb.model_from_json(theirs.to_json(), seed=seed)
    assert again.output_shape == ours.output_shape
    check_cost(ours, x)
    check_cost(ours, (np.random.default_rng(seed).normal(size=(512, *shape))).astype(np.float32))
    if seed % 3 == 0:  # the generated Keras and PyTorch scripts of every third chain
        check_exports(spec_of(shape, *layers, seed=seed))


# --- what a learner reads --------------------------------------------------------------------------------
def _issue(input_shape, *layers):
    return analyze([kind_class(k)(**s) for k, s in layers], input_shape).issue


def test_reshape_explains_the_count():
    layer = kind_class("Reshape")(target_shape=(48,))
    assert layer.explain_shape((None, 3, 16), (None, 48)).startswith("3×16 = 48 values → (48,)")
    inferred = kind_class("Reshape")(target_shape=(4, -1))
    assert "the -1 becomes 48 / 4 = 12 → (4, 12)" in inferred.explain_shape((None, 3, 16), (None, 4, 12))


def test_padding_cropping_upsampling_write_the_arithmetic():
    pad = kind_class("ZeroPadding2D")(padding=2)
    assert "height 28 + 2 + 2 = 32; width 28 + 2 + 2 = 32" in pad.explain_shape((None, 28, 28, 1), (None, 32, 32, 1))
    crop = kind_class("Cropping2D")(cropping=((2, 2), (4, 4)), data_format="channels_first")
    assert "height 28 − 2 − 2 = 24; width 28 − 4 − 4 = 20" in crop.explain_shape((None, 1, 28, 28), (None, 1, 24, 20))
    up = kind_class("UpSampling2D")()
    assert "height 14×2 = 28; width 14×2 = 28" in up.explain_shape((None, 14, 14, 8), (None, 28, 28, 8))


def test_reshape_count_mismatch_offers_the_minus_one_form():
    issue = _issue((3, 16), ("Reshape", {"target_shape": (50,)}))
    assert issue.expected == "50 values per sample" and "48" in issue.message and "-1" in issue.explanation
    values = [f.value for f in issue.fixes if f.action == "set_setting"]
    assert ("target_shape", (-1,)) in values
    issue = _issue((28, 28, 3), ("Reshape", {"target_shape": (28, 28, 1)}))
    assert issue.fixes[0].value == ("target_shape", (28, 28, -1)) and "becomes 3" in issue.fixes[0].description


def test_reshape_not_divisible_offers_sizes_that_divide():
    issue = _issue((3, 16), ("Reshape", {"target_shape": (5, -1)}))
    values = [f.value[1] for f in issue.fixes if f.action == "set_setting"]
    assert values[:2] == [(4, -1), (6, -1)]


def test_two_d_kinds_on_a_flat_image_offer_a_channel_axis():
    issue = _issue((28, 28), ("ZeroPadding2D", {}))
    assert issue.fixes[0].action == "insert_layer" and issue.fixes[0].value == (
        "Reshape",
        {"target_shape": (28, 28, 1)},
    )
    issue = _issue((784,), ("UpSampling2D", {"data_format": "channels_first"}))
    assert issue.fixes[0].value == ("Reshape", {"target_shape": (1, 28, 28)})
    issue = _issue((10,), ("Cropping1D", {}))
    assert issue.fixes[0].value == ("Reshape", {"target_shape": (10, 1)})


def test_cropping_too_much_offers_a_crop_that_fits():
    issue = _issue((5, 3), ("Cropping1D", {"cropping": (3, 2)}))
    assert issue.fixes[0].value == ("cropping", (3, 1)) and "5 − 3 − 2 = 0" in issue.explanation
    issue = _issue((5, 4, 3), ("Cropping2D", {"cropping": ((2, 3), (0, 0))}))
    assert issue.fixes[0].value == ("cropping", ((2, 2), (0, 0)))


def test_permute_and_repeat_vector_fixes():
    issue = _issue((3, 16), ("Permute", {"dims": (1, 2, 3)}))
    assert issue.fixes[0].value == ("dims", (2, 1))
    issue = _issue((4, 5, 3), ("Permute", {"dims": (2, 1)}))
    assert ("dims", (3, 1, 2)) in [f.value for f in issue.fixes]
    issue = _issue((3, 16), ("RepeatVector", {"n": 2}))
    assert issue.fixes[0].value == ("Flatten", {})


def test_settings_round_trip_through_text_and_json():
    for kind in ("Reshape", "Permute", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling2D"):
        cls = kind_class(kind)
        for setting in cls.settings:
            value = setting.default
            assert setting.parse_text(setting.format_text(value)) == value
            assert setting.from_json(setting.to_json(value)) == value
    pad = kind_class("ZeroPadding2D").settings[0]
    assert pad.parse_text("1, 2; 3, 0") == ((1, 2), (3, 0)) and pad.parse_text("2") == ((2, 2), (2, 2))
    assert pad.parse_text("1, 2") == ((1, 1), (2, 2))
    assert kind_class("Reshape").settings[0].parse_text("(28, 28, -1)") == (28, 28, -1)


@pytest.mark.parametrize(
    "input_shape,kind,settings",
    [
        ((28, 28, 16), "UpSampling2D", {"interpolation": "bilinear"}),
        ((16, 28, 28), "UpSampling2D", {"size": (3, 2), "interpolation": "bilinear", "data_format": "channels_first"}),
        ((28, 28, 16), "UpSampling2D", {"size": (1, 3), "interpolation": "bilinear"}),
        ((1, 3000, 1), "UpSampling2D", {"size": (1, 4), "interpolation": "bilinear"}),
        ((28, 28, 16), "UpSampling2D", {"size": (2, 3)}),
        ((28, 28, 16), "ZeroPadding2D", {"padding": 3}),
        ((28, 28, 16), "Cropping2D", {"cropping": 3, "data_format": "channels_first"}),
        ((28, 28, 16), "Permute", {"dims": (3, 1, 2)}),
        ((300,), "RepeatVector", {"n": 20}),
        ((100, 16), "UpSampling1D", {"size": 3}),
        ((100, 16), "Cropping1D", {"cropping": (3, 4)}),
        ((100, 16), "ZeroPadding1D", {"padding": (3, 4), "data_format": "channels_first"}),
    ],
)
def test_cost_at_realistic_sizes(input_shape, kind, settings):
    model = nb.Sequential([nb.Input(input_shape), kind_class(kind)(**settings)], seed=0)
    for batch in (1, 32):
        check_cost(model, (np.random.default_rng(0).normal(size=(batch, *input_shape))).astype(np.float32))


def test_bilinear_weights_are_keras_weights_bit_for_bit():
    """The two taps per output rebuild the float32 matrix Keras's NumPy backend multiplies by."""
    from keras.src.backend.numpy.image import _compute_weight_mat, _fill_triangle_kernel

    from netbuilder.engine.kinds.reshaping import _bilinear_taps

    for m in (1, 2, 3, 5, 7, 28, 100):
        for s in (1, 2, 3, 4, 5, 7, 10):
            expected = _compute_weight_mat(m, m * s, m * s / m, 0.0, _fill_triangle_kernel, False).astype(np.float32)
            first, second, w0, w1 = _bilinear_taps(m, s)
            ours = np.zeros((m, m * s), np.float32)
            np.add.at(ours, (first, np.arange(m * s)), w0)
            np.add.at(ours, (second, np.arange(m * s)), w1)
            np.testing.assert_array_equal(ours.view(np.uint32), expected.view(np.uint32))


# --- training: backward passes inside real fits, against Keras on JAX (tests/training_oracle.py) -----------
TRAINING = {
    # name: (input shape, layers, loss, optimizer as ours and as Keras config, batch size)
    "sequence-kinds": (
        (12,),
        [
            ("Reshape", {"target_shape": (3, 4)}),
            ("ZeroPadding1D", {"padding": (1, 2)}),
            ("Cropping1D", {"cropping": (2, 0)}),
            ("UpSampling1D", {"size": 2}),
            ("Permute", {"dims": (2, 1)}),
            ("Dense", {"units": 3, "activation": "tanh"}),
            ("Flatten", {}),
            ("Dense", {"units": 3, "activation": "softmax"}),
        ],
        "categorical_crossentropy",
        ("Adam", {"learning_rate": 0.01}),
        7,
    ),
    "image-kinds": (
        (4, 3, 2),
        [
            ("ZeroPadding2D", {"padding": ((1, 2), (0, 1))}),
            ("Cropping2D", {"cropping": ((1, 0), (1, 1))}),
            ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}),
            ("Dense", {"units": 2, "activation": "tanh"}),
            ("Flatten", {}),
            ("Dense", {"units": 1}),
        ],
        "mse",
        ("SGD", {"learning_rate": 0.05}),
        8,
    ),
    "channels-first": (
        (2, 4, 3),
        [
            ("ZeroPadding2D", {"padding": 1, "data_format": "channels_first"}),
            ("UpSampling2D", {"size": (2, 1), "data_format": "channels_first"}),
            ("Cropping2D", {"cropping": ((2, 1), (0, 1)), "data_format": "channels_first"}),
            ("UpSampling2D", {"size": (1, 2), "interpolation": "bilinear", "data_format": "channels_first"}),
            ("Reshape", {"target_shape": (-1,)}),
            ("Dense", {"units": 4, "activation": "relu"}),
            ("RepeatVector", {"n": 2}),
            ("Flatten", {}),
            ("Dropout", {"rate": 0.0}),
            ("Dense", {"units": 1, "activation": "sigmoid"}),
        ],
        "binary_crossentropy",
        ("RMSprop", {"learning_rate": 0.005}),
        10,
    ),
}


def test_training_through_reshaping_kinds_equals_keras_on_jax():
    from training_oracle import run_jobs

    from netbuilder.optimizers import SGD, Adam, RMSprop

    optimizers = {"Adam": Adam, "SGD": SGD, "RMSprop": RMSprop}
    jobs, ours = [], []
    for k, (shape, layers, loss, (optimizer, config), batch) in enumerate(TRAINING.values()):
        model = nb.Sequential([nb.Input(shape), *(kind_class(kind)(**s) for kind, s in layers)], seed=k)
        rng = np.random.default_rng(k)
        x = rng.normal(size=(30, *shape)).astype(np.float32)
        classes = model.output_shape[-1]
        y = (
            np.eye(classes, dtype=np.float32)[rng.integers(0, classes, 30)]
            if classes > 1
            else (x.reshape(30, -1).sum(axis=1, keepdims=True) > 0).astype(np.float32)
        )
        start = model.get_weights()
        model.compile(optimizer=optimizers[optimizer](**config), loss=loss)
        history = model.fit(x, y, batch_size=batch, epochs=3, shuffle=False)
        ours.append((model, history))
        jobs.append(
            {
                "model_json": model.to_json(),
                "weights": start,
                "x": x,
                "y": y,
                "optimizer": (optimizer, config),
                "loss": loss,
                "metrics": [],
                "batch_size": batch,
                "epochs": 3,
            }
        )
    for (model, history), expected in zip(ours, run_jobs(jobs)):
        np.testing.assert_allclose(history.history["loss"], expected["history"]["loss"], rtol=1e-3, atol=1e-6)
        for mine, theirs in zip(model.get_weights(), expected["weights"]):
            np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-5)
