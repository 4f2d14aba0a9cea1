"""Property tests: untrusted text, links and JSON only ever raise NetbuilderError; valid data round-trips.

Every property counts the cases it really ran in CASES; the last test checks the total is ≥ 10,000.
Settings are derandomized (no example database), so CI runs the same cases every time.
"""

import base64
import json
import math
import zlib
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from netbuilder import ACTIVATION_NAMES, NetbuilderError, model_from_json
from netbuilder.engine.activations import canonical_name
from netbuilder.engine.layer import KINDS
from netbuilder.engine.budget import PUBLIC_DEFAULTS, using
from netbuilder.engine.limits import MAX_SEED
from netbuilder.studio.data import format_array, parse_array
from netbuilder.studio.share import decode, encode, link
from netbuilder.studio.spec import MAX_LAYER_ID, LayerSpec, ModelSpec

ALL_KINDS = sorted(KINDS)
DATA_FORMATS = ("channels_last", "channels_first")

CASES = Counter()  # property name → cases run
MIN_TOTAL_CASES = 10_000


def fast(n):
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def only_netbuilder_errors(f, *args):
    """f(*args) under the public budgets, as the app runs a visitor's input, or None if it raised a NetbuilderError (any
    other exception fails the test)."""
    try:
        with using(PUBLIC_DEFAULTS):
            return f(*args)
    except NetbuilderError:
        return None


def pack(raw: bytes, version: str = "2") -> str:
    return version + "." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode()


# --- strategies ---------------------------------------------------------------------------------------
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.sampled_from([0, -1, 10**12, 2**63, 65_537, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(
        ["Dense", "Flatten", "Activation", "Conv2D", "InputLayer", "relu", "swish", "channels_first", "linear"]
    ),
)
json_values = st.recursive(
    json_leaf,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=6), kids, max_size=5)),
    max_leaves=25,
)
small_shape = st.lists(st.one_of(st.integers(1, 6), json_leaf), max_size=5)

# Plain data shaped almost like ModelSpec.to_dict(), so generated cases reach deep into from_dict.
layer_dict = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(0, 9), json_leaf, st.lists(st.integers(0, 3), max_size=2)),
        "kind": st.one_of(st.sampled_from(ALL_KINDS), json_leaf),
    },
    optional={
        "units": st.one_of(st.integers(1, 64), json_leaf),
        "activation": st.one_of(st.sampled_from(ACTIVATION_NAMES), json_leaf),
        "use_bias": st.one_of(st.booleans(), json_leaf),
        "data_format": st.one_of(st.sampled_from(DATA_FORMATS), json_leaf),
        "filters": st.one_of(st.integers(1, 8), json_leaf),
        "kernel_size": st.one_of(st.integers(1, 3), small_shape, json_leaf),
        "rate": st.one_of(st.floats(0, 1), json_leaf),
        "target_shape": st.one_of(small_shape, json_leaf),
        "built_for": st.one_of(small_shape, json_leaf),
        "input_dim": st.one_of(st.integers(1, 64), json_leaf),
        "junk": json_leaf,
    },
)
model_dict = st.fixed_dictionaries(
    {},
    optional={
        "input_shape": small_shape,
        "seed": st.one_of(st.integers(0, 9), json_leaf),
        "layers": st.one_of(st.lists(layer_dict, max_size=6), json_leaf),
        "other": json_leaf,
    },
)

layer_names = st.sampled_from(["input_layer", "dense", "dense_1", "flatten", "conv2d"])
history = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "config": st.fixed_dictionaries(
                {"keras_history": st.one_of(st.tuples(layer_names, st.just(0), st.just(0)).map(list), json_leaf)}
            )
        }
    ),
)
keras_layer = st.fixed_dictionaries(
    {
        "class_name": st.one_of(
            st.sampled_from(["InputLayer", "Dense", "Flatten", "Activation", "Conv2D", "Dropout", "Reshape"]), json_leaf
        ),
        "config": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "units",
                        "activation",
                        "name",
                        "use_bias",
                        "data_format",
                        "batch_shape",
                        "shape",
                        "batch_input_shape",
                        "dtype",
                        "filters",
                        "kernel_size",
                        "rate",
                        "target_shape",
                    ]
                ),
                st.one_of(
                    json_leaf,
                    st.sampled_from(ACTIVATION_NAMES),
                    small_shape,
                    st.lists(st.one_of(st.none(), st.integers(1, 5)), max_size=4),
                ),
                max_size=6,
            ),
            json_leaf,
        ),
    },
    optional={
        "build_config": st.one_of(
            json_leaf,
            st.fixed_dictionaries(
                {
                    "input_shape": st.one_of(
                        st.lists(st.one_of(st.none(), st.integers(-1, 9), json_leaf), max_size=4), json_leaf
                    )
                }
            ),
        ),
        "name": layer_names,  # Functional models name their layers here
        "inbound_nodes": st.one_of(
            json_leaf,
            st.lists(
                st.one_of(
                    json_values, st.fixed_dictionaries({"args": st.one_of(st.lists(history, max_size=2), json_leaf)})
                ),
                max_size=2,
            ),
        ),
    },
)
keras_doc = st.fixed_dictionaries(
    {
        "class_name": st.one_of(st.sampled_from(["Sequential", "Functional", "Model"]), json_leaf),
        "config": st.one_of(
            st.fixed_dictionaries(
                {"layers": st.one_of(st.lists(keras_layer, max_size=5), json_leaf)},
                optional={
                    "name": json_leaf,
                    "build_input_shape": st.one_of(small_shape, json_leaf),
                    "input_layers": st.one_of(st.tuples(layer_names, st.just(0), st.just(0)).map(list), json_values),
                    "output_layers": st.one_of(st.tuples(layer_names, st.just(0), st.just(0)).map(list), json_values),
                },
            ),
            json_leaf,
        ),
    }
)


CANONICAL_ACTIVATIONS = sorted({canonical_name(name) for name in ACTIVATION_NAMES})


SETTING_VALUES = {  # drawn for these settings wherever a kind has them; other settings keep their defaults
    "units": st.one_of(st.integers(1, 64), st.sampled_from([16, 1000, 65_536])),
    "activation": st.sampled_from(CANONICAL_ACTIVATIONS),  # specs store names as Keras serializes them
    "use_bias": st.booleans(),
    "data_format": st.sampled_from(DATA_FORMATS),
}


@st.composite
def layer_specs(draw, layer_id):
    kind = draw(st.sampled_from(ALL_KINDS))  # every registered kind
    names = {s.name for s in KINDS[kind].settings}
    settings = {name: draw(values) for name, values in SETTING_VALUES.items() if name in names}
    built_for = draw(st.one_of(st.none(), st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)))
    try:
        return LayerSpec.make(layer_id, kind, built_for, **settings)
    except NetbuilderError:  # e.g. settings that do not go together for this kind
        assume(False)


@st.composite
def model_specs(draw):
    ids = draw(st.lists(st.integers(0, MAX_LAYER_ID - 1), unique=True, max_size=8))
    return ModelSpec(
        input_shape=tuple(draw(st.lists(st.integers(1, 6), max_size=4))),
        layers=tuple(draw(layer_specs(i)) for i in ids),
        seed=draw(st.integers(0, MAX_SEED)),
    )


@st.composite
def batches(draw):
    """A float32 batch (any float32 bits that are numbers, NaN and ±inf included) and its per-sample shape."""
    sample = draw(array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    batch = draw(st.integers(1, 3))
    a = draw(arrays(np.float32, (batch, *sample), elements=st.floats(width=32)))
    return a, sample


def same_float32(a, b) -> bool:
    """Equal bit for bit, except that any NaN matches any NaN (sign and payload are not in the text)."""
    numbers = ~np.isnan(a)
    return (
        a.shape == b.shape
        and np.array_equal(a, b, equal_nan=True)
        and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))
    )


# --- data.parse_array / format_array -------------------------------------------------------------------
@fast(2000)
@given(st.text(max_size=60), array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=3))
@example("[" * 100_000, (1,))
@example("1, " * 1_700_000, (1,))  # 5 MB of text: refused by length before parsing
@example("[" + "1," * 999_000 + "1]", (999_001,))  # just under the bound: parsed
def test_parse_arbitrary_text(text, shape):
    CASES["parse_arbitrary_text"] += 1
    parsed = only_netbuilder_errors(parse_array, text, shape)
    if parsed is not None:
        assert parsed.array.dtype == np.float32 and parsed.array.shape[1:] == shape


@fast(1500)
@given(st.text(alphabet="[]0123456789,.-+eE nafityINF\n", max_size=40), st.lists(st.integers(1, 3), max_size=3))
def test_parse_number_like_text(text, shape):
    CASES["parse_number_like_text"] += 1
    parsed = only_netbuilder_errors(parse_array, text, tuple(shape))
    if parsed is not None:
        assert parsed.array.dtype == np.float32 and parsed.array.shape[1:] == tuple(shape)


@fast(1000)
@given(json_values, array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
def test_parse_arbitrary_json(value, shape):
    CASES["parse_arbitrary_json"] += 1
    try:
        text = json.dumps(value)
    except (ValueError, OverflowError):
        text = "[]"
    parsed = only_netbuilder_errors(parse_array, text, shape)
    if parsed is not None:  # only numbers, never bools, null or strings read as numbers
        assert not any(isinstance(v, (bool, str)) or v is None for v in _leaves(value))


def _leaves(value):
    if isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


@fast(1500)
@given(batches(), st.booleans())
@example((np.float32([[0.1, -0.0, 1e-45, 3.4028235e38, np.nan, -np.inf]]), (6,)), False)
def test_format_then_parse_is_exact(batch, single):
    CASES["format_then_parse_is_exact"] += 1
    a, sample = batch
    if single:
        x, added, non_finite = parse_array(format_array(a[0]), sample)
        assert added and same_float32(x, a[:1])
    else:
        x, added, non_finite = parse_array(format_array(a), sample)
        assert not added and same_float32(x, a)
    assert non_finite == int(np.count_nonzero(~np.isfinite(x)))


@fast(500)
@given(
    st.lists(
        st.lists(st.one_of(st.integers(-(10**40), 10**40), st.floats()), min_size=2, max_size=2), min_size=1, max_size=4
    )
)
def test_parse_numbers_like_json_does(rows):
    CASES["parse_numbers_like_json_does"] += 1
    text = json.dumps(rows)
    parsed = only_netbuilder_errors(parse_array, text, (2,))
    wide = np.array(rows, dtype=np.float64)
    with np.errstate(over="ignore"):
        in_range = np.isfinite(wide.astype(np.float32)) | ~np.isfinite(wide)
    assert (parsed is not None) == bool(in_range.all())
    if parsed is not None:
        assert same_float32(parsed.array, wide.astype(np.float32))


# --- share links -------------------------------------------------------------------------------------
@fast(1000)
@given(st.one_of(st.text(max_size=80), st.text(alphabet="1.ABCDEFabcdef0123456789-_=", max_size=80)))
@example("1.!!!!")  # invalid base64
@example(encode(ModelSpec())[:-3])  # truncated token
@example(pack(b"\0" * 100_000_000))  # zlib bomb: 100 MB of zeros (too long a link)
@example(pack(b" " * 5_000_000))  # zlib bomb that fits in a link: inflation stops at the bound
@example(pack(b"[" * 100_000))
def test_decode_arbitrary_text(token):
    CASES["decode_arbitrary_text"] += 1
    only_netbuilder_errors(decode, token)


@fast(1000)
@given(st.binary(max_size=200), st.booleans())
def test_decode_arbitrary_bytes(data, compressed):
    CASES["decode_arbitrary_bytes"] += 1
    packed = zlib.compress(data) if compressed else data
    for version in ("1", "2"):
        only_netbuilder_errors(decode, version + "." + base64.urlsafe_b64encode(packed).rstrip(b"=").decode())


@fast(1500)
@given(
    st.one_of(
        json_values, st.fixed_dictionaries({"model": model_dict}, optional={"input": json_leaf, "weights": json_leaf})
    ),
    st.sampled_from(["1", "2"]),
)
@example({"model": {"layers": [{"id": 0, "kind": "Dense", "units": 10**12}]}}, "2")
@example({"model": {"layers": [{"id": i, "kind": "Dense"} for i in range(5000)]}}, "2")
@example({"model": {"layers": [{"id": [1], "kind": "Flatten"}]}}, "2")  # once a TypeError inside from_dict
@example({"model": {"layers": [{"id": 0, "kind": "Dense", "input_dim": {}}]}}, "1")
@example(
    {"model": {"input_shape": [2], "layers": [{"id": 0, "kind": "Dense", "units": 1}]}, "weights": "AACAPwAAAEAAAEBA"},
    "2",
)
def test_decode_arbitrary_json(doc, version):
    CASES["decode_arbitrary_json"] += 1
    try:
        spec = decode(
            pack(json.dumps(doc).encode(), version)
        ).spec  # version 1's reader turns input_dim into built_for first
    except NetbuilderError as e:
        # decode's backstop for a crash inside ModelSpec.from_dict: passing, but a bug to fix there.
        assert not str(e).startswith("share link holds an invalid model"), e
        return
    again = ModelSpec.from_dict(spec.to_dict())
    assert spec == (again.with_weights(spec.weights.arrays) if spec.trained else again)


@fast(1000)
@given(model_specs(), st.one_of(st.none(), st.text(max_size=30)), st.booleans())
def test_encode_then_decode_is_identity(spec, text, trained):
    try:
        spec.validate()
    except NetbuilderError:
        assume(False)  # not a model the app could hold
    CASES["encode_then_decode_is_identity"] += 1
    shapes = spec.weight_shapes()
    if trained and shapes and sum(math.prod(shape) for shape in shapes) <= 2_000:
        rng = np.random.default_rng(len(shapes))
        spec = spec.with_weights([rng.normal(size=shape).astype(np.float32) for shape in shapes])
    token, carried = link(spec, text)
    assert token == encode(spec, text)
    assert decode(token)[:2] == (spec if carried or not spec.trained else replace(spec, weights=None), text)
    assert encode(decode(token)[0], text) == token  # deterministic


def test_prelu_built_for_another_rank_is_a_shape_issue():
    # found by test_encode_then_decode_is_identity: an analysis must never raise for a spec's shapes
    spec = ModelSpec((), (LayerSpec.make(0, "PReLU", built_for=(1,)),))
    assert spec.analysis.issue is not None and spec.analysis.issue.category == "shape"


# --- Keras JSON (another module; its contract is the same) -----------------------------------------------
@fast(1000)
@given(st.text(max_size=80))
@example("[" * 100_000)
@example(" " * 5_000_000)
def test_model_from_json_arbitrary_text(text):
    CASES["model_from_json_arbitrary_text"] += 1
    only_netbuilder_errors(model_from_json, text, 0)


@fast(1500)
@given(st.one_of(keras_doc, json_values))
@example(
    {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                {"class_name": "Dense", "config": {"units": 10**12}},
            ]
        },
    }
)
@example({"class_name": "Sequential", "config": {"layers": [{"class_name": "Flatten", "config": {}}] * 5000}})
def test_model_from_json_arbitrary_json(doc):
    CASES["model_from_json_arbitrary_json"] += 1
    model = only_netbuilder_errors(model_from_json, json.dumps(doc), 0)
    if model is not None and model.built:
        assert model.count_params() <= PUBLIC_DEFAULTS.weight_bytes // 4


# --- the count -----------------------------------------------------------------------------------------
def test_property_case_count():
    properties = [
        name[len("test_") :] for name, fn in globals().items() if name.startswith("test_") and hasattr(fn, "hypothesis")
    ]
    if set(CASES) != set(properties):
        pytest.skip("run the whole file to count the property cases")
    total = sum(CASES.values())
    print(f"\nproperty cases run: {total:,} {dict(CASES)}")
    assert total >= MIN_TOTAL_CASES, dict(CASES)
    assert math.prod(CASES.values()) > 0
