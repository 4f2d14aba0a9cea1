"""netbuilder.analyze: per-layer shapes, params and cost, structured ShapeIssues instead of exceptions, and fixes that
work."""

import math
import tracemalloc

import keras
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import netbuilder as nb
from netbuilder.engine import settings as declared
from netbuilder.engine.analysis import budget_issue
from netbuilder.engine.errors import Fix
from netbuilder.engine.layer import KINDS
from netbuilder.engine.limits import MAX_SAMPLE_ELEMENTS
from netbuilder.studio.spec import LayerSpec, ModelSpec

FLATTEN = ("Flatten", {})


def built_dense(units, input_dim, **kwargs):
    layer = nb.Dense(units, **kwargs)
    layer.build((None, input_dim), seed=0)
    return layer


def fix_actions(issue):
    return [(f.action, f.layer_index, f.value) for f in issue.fixes]


def remove(index):
    return ("remove_layer", index, None)


def test_seed_model_reports():
    a = nb.analyze([nb.Dense(16), nb.Activation("relu"), nb.Flatten(), nb.Dense(4)], (3, 2))
    assert a.ok and a.issue is None
    assert a.input_shape == (None, 3, 2) and a.output_shape == (None, 4) and a.total_params == 244
    assert [(r.name, r.input_shape, r.output_shape, r.params) for r in a.layers] == [
        ("dense", (None, 3, 2), (None, 3, 16), 48),
        ("activation", (None, 3, 16), (None, 3, 16), 0),
        ("flatten", (None, 3, 16), (None, 48), 0),
        ("dense_1", (None, 48), (None, 4), 196),
    ]
    assert [r.formula for r in a.layers] == ["2×16 + 16 = 48", "", "", "48×4 + 4 = 196"]


def test_formula_without_bias_and_thousands():
    a = nb.analyze([nb.Dense(512, use_bias=False)], (784,))
    assert a.layers[0].formula == "784×512 = 401,408"


def test_empty_model_output_is_input():
    a = nb.analyze([], (5,))
    assert a.ok and a.output_shape == (None, 5) and a.total_params == 0


def test_dense_on_rank1_input():
    a = nb.analyze([nb.Dense(4)], ())
    issue = a.issue
    assert not a.ok and a.output_shape is None
    assert (issue.layer_index, issue.layer_name, issue.kind, issue.received) == (0, "dense", "Dense", (None,))
    assert issue.category == "shape"
    assert issue.expected == "at least 2 axes (batch, features)"
    assert "'dense'" in issue.message and "(None,)" in issue.message
    assert issue.explanation
    assert fix_actions(issue) == [("insert_layer", 0, FLATTEN), ("set_input_shape", None, (1,))]  # never "remove" the
    assert a.layers[0].output_shape is None  # only layer: Keras cannot build an empty model


def test_dense_on_rank1_after_dense_suggests_only_flatten():
    a = nb.analyze([nb.Activation("relu"), nb.Flatten(), nb.Activation("relu"), nb.Dense(2)], ())
    assert a.ok  # Flatten turns (None,) into (None, 1)
    a = nb.analyze([nb.Activation("relu"), nb.Dense(2)], ())
    assert a.issue.layer_index == 1 and a.issue.layer_name == "dense"
    assert ("set_input_shape", None, (1,)) in fix_actions(a.issue)


def test_dense_built_for_48_receiving_3_by_16():
    layers = [nb.Dense(16), built_dense(4, 48)]
    a = nb.analyze(layers, (3, 2))
    issue = a.issue
    assert (issue.layer_index, issue.layer_name, issue.received) == (1, "dense_1", (None, 3, 16))
    assert issue.expected == "last axis of size 48"
    assert "'dense_1'" in issue.message and "48" in issue.message and "(None, 3, 16)" in issue.message
    assert "3 × 16" not in issue.message and "Flatten first would give (None, 48)" in issue.explanation
    # Flatten gives (None, 48); 48 units give (None, 3, 48); rebuilt for the 16 it receives, it fits too
    assert fix_actions(issue) == [
        ("insert_layer", 1, FLATTEN),
        ("set_setting", 0, ("units", 48)),
        ("unbuild", 1, None),
        remove(1),
    ]
    assert [r.output_shape for r in a.layers] == [(None, 3, 16), None]
    assert a.total_params == 48 + 48 * 4 + 4  # the failing layer's weights still count: it is built for 48 inputs


def test_mismatch_without_upstream_dense_suggests_input_shape():
    a = nb.analyze([nb.Activation("relu"), built_dense(4, 5)], (2, 3))
    assert fix_actions(a.issue) == [("set_input_shape", None, (2, 5)), ("unbuild", 1, None), remove(1)]


def test_mismatch_after_flatten_has_no_units_fix():
    """Dense(3) → Flatten gives 6 features; no units of `dense` give 7, so only rebuilding (or removing) dense_1
    works."""
    a = nb.analyze([nb.Dense(3), nb.Flatten(), built_dense(4, 7)], (2, 2))
    assert a.issue.layer_index == 2 and fix_actions(a.issue) == [("unbuild", 2, None), remove(2)]


def test_upstream_glu_dense_units_fix_is_doubled():
    a = nb.analyze([nb.Dense(6, activation="glu"), built_dense(2, 5)], (4,))
    assert ("set_setting", 0, ("units", 10)) in fix_actions(a.issue)


def test_glu_activation_with_odd_size():
    a = nb.analyze([nb.Dense(3), nb.Activation("glu")], (2,))
    issue = a.issue
    assert (issue.layer_index, issue.layer_name, issue.received) == (1, "activation", (None, 3))
    assert issue.expected == "an even size on the last axis"
    assert "'activation'" in issue.message and "3" in issue.message
    assert fix_actions(issue) == [("set_setting", 0, ("units", 4)), remove(1)]
    assert issue.keras_message == "axis size must be divisible by 2. Received: x.shape=(None, 3) with axis=-1"


def test_glu_dense_with_odd_units():
    a = nb.analyze([nb.Dense(5, activation="glu")], (2,))
    assert a.issue.layer_name == "dense" and fix_actions(a.issue) == [("set_setting", 0, ("units", 6))]


def test_glu_on_batch_axis_is_not_offered_flatten():
    """Flatten would give (None, 1): still an odd axis for glu, so that fix is not offered (issue 10)."""
    a = nb.analyze([nb.Activation("glu")], ())
    assert a.issue.received == (None,) and a.issue.expected == "at least 2 axes (batch, features)"
    assert fix_actions(a.issue) == [("set_input_shape", None, (2,))]
    b = nb.analyze([nb.Dense(4), nb.Activation("glu")], ())
    assert b.issue.layer_index == 0 and fix_actions(b.issue)[-1] == remove(0)  # with a layer left, "remove" is offered


def test_even_glu_halves():
    a = nb.analyze([nb.Dense(6, activation="glu"), nb.Activation("glu")], (3, 2))
    assert [r.output_shape for r in a.layers] == [(None, 3, 3), None]  # 3 is odd for the second glu
    assert nb.analyze([nb.Dense(8, activation="glu"), nb.Activation("glu")], (2,)).output_shape == (None, 2)


def test_more_than_200_layers_is_a_limit_issue():
    a = nb.analyze([nb.Activation("relu") for _ in range(1201)], (2,))
    assert a.issue.category == "limit" and "at most 1200 layers; this one has 1201" in a.issue.message
    assert nb.analyze([nb.Activation("relu") for _ in range(1200)], (2,)).ok  # NASNetLarge has 1,041


@pytest.mark.usefixtures("public_budget")
def test_weights_over_the_budget_are_said_at_their_layer_from_shapes_alone():
    """Analysis is arithmetic: never budgeted, so VGG16 gets its summary. `budget_issue` says where a model crosses
    the current budget (here the public one: 64 MiB of weights, 16,777,216 float32 parameters), nothing built."""
    layers = [nb.Dense(60_000), nb.Dense(2)]
    tracemalloc.start()
    try:
        a = nb.analyze(layers, (1000,))
        issue = budget_issue(a)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # 60,060,000 weights would be 240 MB
    assert a.ok and a.total_params == 60_180_002
    assert (
        issue.category == "limit" and issue.layer_name == "dense" and issue.kind == "Dense" and issue.layer_index == 0
    )
    assert "60,060,000 parameters); the budget is 64.0 MB (16,777,216 parameters)" in issue.message


def test_without_a_budget_there_is_no_budget_issue():
    assert budget_issue(nb.analyze([nb.Dense(60_000), nb.Dense(2)], (1000,))) is None


@pytest.mark.usefixtures("public_budget")
def test_weight_budget_boundary():
    """4,095 × 4,096 + 4,096 = 16,777,216 parameters is exactly the budget; one input more is over."""
    assert budget_issue(nb.analyze([nb.Dense(4096)], (4095,))) is None
    assert "16,781,312 parameters" in budget_issue(nb.analyze([nb.Dense(4096)], (4096,))).message


def test_a_tensor_past_the_sample_bound_is_a_limit_issue():
    """2**31 values in one sample (8 GB) is the structural bound on shapes; within it, the budget decides."""
    a = nb.analyze([nb.Dense(65_536)], (32_769, 1))
    assert a.issue.category == "limit" and "2,147,549,184 values per sample; at most 2,147,483,648" in a.issue.message
    a = nb.analyze([nb.Dense(65_536)], (32_768, 1))
    assert a.ok and budget_issue(a) is None
    with nb.budget.using(nb.budget.PUBLIC_DEFAULTS):  # 8 GiB for one sample is over the 96 MiB memory budget of a run
        assert "memory budget per run is 96.0 MB" in budget_issue(a).message


def test_keras_messages_match_keras_for_rank1_and_mismatch():
    """keras_message is what Keras 3 says (fresh session: the same auto-names)."""
    ours = nb.analyze([nb.Dense(4)], ()).issue.keras_message
    keras.backend.clear_session(free_memory=False)
    with pytest.raises(ValueError) as info:
        keras.Sequential([keras.Input(()), keras.layers.Dense(4)])
    assert str(info.value) == ours

    ours = nb.analyze([nb.Dense(16), built_dense(4, 48)], (3, 2)).issue.keras_message
    keras.backend.clear_session(free_memory=False)
    first, second = keras.layers.Dense(16), keras.layers.Dense(4)
    second.build((None, 48))
    with pytest.raises(ValueError) as info:
        keras.Sequential([keras.Input((3, 2)), first, second])
    assert str(info.value) == ours


def test_fix_descriptions_are_for_people():
    issue = nb.analyze([nb.Dense(16), built_dense(4, 48)], (3, 2)).issue
    assert isinstance(issue.fixes[0], Fix)
    assert issue.fixes[0].description.startswith("insert Flatten before dense_1")
    assert issue.fixes[1].description == "set units of dense to 48"
    assert issue.fixes[-1].description == "remove dense_1"


def test_format_shape():
    assert nb.format_shape((None,)) == "(None,)"
    assert nb.format_shape((None, 3, 16)) == "(None, 3, 16)"


LAYER = st.one_of(
    st.builds(nb.Dense, st.integers(1, 12), st.sampled_from([None, "relu", "glu", "softmax"]), st.booleans()),
    st.builds(built_dense, st.integers(1, 12), st.integers(1, 12)),
    st.builds(nb.Flatten, st.sampled_from(["channels_last", "channels_first"])),
    st.builds(nb.Activation, st.sampled_from(["relu", "glu", "tanh"])),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(1, 5), max_size=4), st.lists(LAYER, max_size=6))
def test_analyze_never_raises_and_agrees_with_sequential(shape, layers):
    a = nb.analyze(layers, tuple(shape))
    if a.ok:
        model = nb.Sequential([nb.Input(tuple(shape)), *layers], seed=0)
        assert model.output_shape == a.output_shape and model.count_params() == a.total_params
        assert len(a.layers) == len(layers)
    else:
        assert len(a.layers) == a.issue.layer_index + 1 and a.layers[-1].output_shape is None
        assert a.issue.layer_name in a.issue.message
        with pytest.raises(nb.IncompatibleShapeError) as info:
            nb.Sequential([nb.Input(tuple(shape)), *layers], seed=0)
        assert info.value.issue == a.issue


def test_names_cover_every_layer_also_past_the_failing_one():
    layers = [nb.Dense(4), nb.Dense(3), nb.Activation("relu"), nb.Dense(2)]
    layers[1].build((None, 48), seed=0)  # built for 48 inputs: fails on (None, 4)
    analysis = nb.analyze(layers, (5,))
    assert analysis.issue.layer_index == 1 and len(analysis.layers) == 2
    assert analysis.names == ("dense", "dense_1", "activation", "dense_2")


# --- every suggested fix works (issue 10) -----------------------------------------------------------------
def spec_of(input_shape, *layers):
    """A spec from (kind, settings) pairs; a Dense's settings may hold built_for, the per-sample shape it was built
    for."""
    made = []
    for i, (kind, settings_) in enumerate(layers):
        settings_ = dict(settings_)
        made.append(LayerSpec.make(i, kind, settings_.pop("built_for", None), **settings_))
    return ModelSpec(tuple(input_shape), tuple(made), seed=0).validate()


def check_every_fix_works(spec: ModelSpec) -> None:
    """Each fix of the first issue, applied as the app applies it (`ModelSpec.apply_fix`, which validates the
    result: input shape, limits and budgets), is accepted and leaves the failing layer fitting: the new first
    issue (if any) lies past it and is no limit; "remove" of the failing layer, when offered, comes last."""
    issue = spec.analysis.issue
    failing = spec.layers[issue.layer_index].id
    removes = [f for f in issue.fixes if f.action == "remove_layer" and f.layer_index == issue.layer_index]
    assert len(removes) <= 1 and (not removes or issue.fixes[-1] == removes[0]), issue.fixes
    for fix in issue.fixes:
        fixed = spec.apply_fix(fix)  # raises a NetbuilderError for a model the app refuses
        after = fixed.analysis.issue
        assert after is None or after.category != "limit", (fix, after)
        ids = [layer.id for layer in fixed.layers]
        if fix.action == "remove_layer" and fix.layer_index == issue.layer_index:
            assert failing not in ids and len(ids) == len(spec.layers) - 1
            continue
        position = fixed.index_of(failing)
        assert after is None or after.layer_index > position, (fix, after)


SPEC_LAYER = st.one_of(
    st.fixed_dictionaries(
        {
            "units": st.integers(1, 12),
            "activation": st.sampled_from(["linear", "relu", "glu", "softmax"]),
            "use_bias": st.booleans(),
        },
        optional={
            "built_for": st.one_of(st.tuples(st.integers(1, 12)), st.tuples(st.integers(1, 4), st.integers(1, 12)))
        },
    ).map(lambda s: ("Dense", s)),
    st.sampled_from(["channels_last", "channels_first"]).map(lambda f: ("Flatten", {"data_format": f})),
    st.sampled_from(["relu", "glu", "tanh"]).map(lambda a: ("Activation", {"activation": a})),
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
@given(st.lists(st.integers(1, 6), max_size=3), st.lists(SPEC_LAYER, min_size=1, max_size=5))
@example([], [("Activation", {"activation": "relu"}), ("Dense", {"units": 3, "activation": "relu", "use_bias": True})])
@example([5], [("Dense", {"units": 3, "activation": "glu", "use_bias": True})])
@example([2, 3], [("Dense", {"units": 4, "activation": "relu", "use_bias": False, "built_for": (6,)})])
@example(
    [3],
    [
        ("Dense", {"units": 6, "activation": "glu", "use_bias": True}),
        ("Dense", {"units": 2, "activation": "linear", "use_bias": True, "built_for": (4,)}),
    ],
)
def test_every_suggested_fix_makes_the_failing_layer_fit(shape, layers):
    """Random broken models (glu on odd or batch-only axes, Dense built for other sizes, rank-1 inputs...)."""
    spec = spec_of(shape, *layers)
    assume(spec.analysis.issue is not None)  # every example run is a broken model
    assert spec.analysis.issue.category == "shape"
    check_every_fix_works(spec)


@pytest.mark.parametrize(
    "input_shape, layers",
    [
        ((7,), [("Activation", {"activation": "glu"})]),  # issue 10: "set the input shape to (8,)"
        ((3,), [("Flatten", {}), ("Activation", {"activation": "glu"})]),  # glu on an odd axis, after a Flatten
        (
            (6,),
            [("Activation", {"activation": "glu"}), ("Activation", {"activation": "glu"})],
        ),  # 6 → 3: odd for the second glu
        (
            (),
            [("Activation", {"activation": "glu"})],
        ),  # glu on a batch-only tensor: Flatten would give an odd axis of 1
        ((3,), [("Dense", {"units": 4, "built_for": (8,)})]),  # a Dense built for a fixed size (imported JSON)
        ((2, 3), [("Dense", {"units": 4, "built_for": (7,)})]),
        ((2, 2), [("Dense", {"units": 3}), ("Flatten", {}), ("Dense", {"units": 4, "built_for": (7,)})]),
        ((), [("Dense", {"units": 4, "built_for": (3,)})]),  # built for 3 features, given a batch-only tensor
        ((4,), [("Dense", {"units": 6, "activation": "glu"}), ("Dense", {"units": 2, "built_for": (5,)})]),
    ],
    ids=[
        "glu-odd-input",
        "glu-odd-after-flatten",
        "glu-after-glu",
        "glu-batch-only",
        "dense-built-8",
        "dense-built-7-rank3",
        "dense-built-after-flatten",
        "dense-built-on-batch-only",
        "dense-built-after-glu-dense",
    ],
)
def test_every_issue_offers_a_fix_besides_remove(input_shape, layers):
    spec = spec_of(input_shape, *layers)
    issue = spec.analysis.issue
    assert issue is not None and issue.category == "shape"
    others = [f for f in issue.fixes if f.action != "remove_layer"]
    assert others, f"only {[f.description for f in issue.fixes]} for: {issue.message}"
    check_every_fix_works(spec)


def test_glu_on_an_odd_input_is_offered_the_even_input_shape():
    issue = spec_of((7,), ("Activation", {"activation": "glu"})).analysis.issue
    assert ("set_input_shape", None, (8,)) in fix_actions(issue)
    assert "set the input shape to (8,)" in [f.description for f in issue.fixes]


def test_dense_built_for_a_fixed_size_is_offered_that_size_or_a_rebuild():
    issue = spec_of((3,), ("Dense", {"units": 4, "built_for": (8,)})).analysis.issue
    assert fix_actions(issue) == [("set_input_shape", None, (8,)), ("unbuild", 0, None)]
    fixed = spec_of((3,), ("Dense", {"units": 4, "built_for": (8,)})).apply_fix(issue.fixes[1])
    assert fixed.layers[0].built_for is None and fixed.analysis.ok


def test_embedding_given_computed_reals_is_explained_and_fixed():
    """Deliberately stricter than Keras, which casts the reals to whole numbers and looks those up."""
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Embedding(10, 3)])
    assert tuple(model.output_shape) == (None, 4, 3)  # Keras builds it
    a = nb.analyze([nb.Dense(4), nb.Embedding(10, 3)], (5,))
    assert a.issue.layer_index == 1 and "receives the real numbers that 'dense' computes" in a.issue.message
    assert fix_actions(a.issue) == [("remove_layer", 0, None), ("remove_layer", 1, None)]
    assert nb.analyze(
        [nb.Reshape((5, 1)), nb.Flatten(), nb.Dropout(0.5), nb.Embedding(10, 3)], (5,)
    ).ok  # ids moved, not computed


# --- a fix is offered only when the model it gives is one the app accepts ---------------------------------
@pytest.mark.usefixtures("public_budget")
def test_remove_that_would_exceed_the_weight_budget_is_not_offered():
    """Removing the Dense built for 5 features would give the Dense(60000) all 20,000 inputs: 1.2 G weights."""
    spec = ModelSpec(
        (20000,), (LayerSpec.make(0, "Dense", units=3, built_for=(5,)), LayerSpec.make(1, "Dense", units=60000))
    ).validate()
    issue = spec.analysis.issue
    assert issue.layer_index == 0 and issue.category == "shape"
    assert "remove_layer" not in [f.action for f in issue.fixes]
    assert fix_actions(issue) == [("set_input_shape", None, (5,)), ("unbuild", 0, None)]
    check_every_fix_works(spec)


def test_insert_that_would_make_1201_layers_is_not_offered():
    layers = (LayerSpec.make(0, "Dense", units=2), *(LayerSpec.make(i, "Activation") for i in range(1, 1200)))
    spec = ModelSpec((), layers).validate()
    issue = spec.analysis.issue
    assert issue.layer_index == 0 and len(spec.layers) == 1200
    assert "insert_layer" not in [f.action for f in issue.fixes]
    assert ("set_input_shape", None, (1,)) in fix_actions(issue)
    check_every_fix_works(spec)


def test_input_shape_over_the_sample_bound_is_not_offered():
    """glu on 429,496,729 features 5 times: 5 × 429,496,730 would be past the 2**31 elements a sample may have."""
    a = nb.analyze([nb.Activation("glu")], (5, 429_496_729))
    assert a.issue.expected == "an even size on the last axis" and a.issue.fixes == ()
    assert ("set_input_shape", None, (1000, 1000)) in fix_actions(nb.analyze([nb.Activation("glu")], (1000, 999)).issue)


@pytest.mark.usefixtures("public_budget")
def test_input_shape_over_the_budget_is_not_offered():
    """glu on 4,999,999 features: 5,000,000 would be over the public budget's memory for one sample."""
    spec = ModelSpec((4, 5_999_999), (LayerSpec.make(0, "Activation", activation="glu"),)).validate()
    assert "set_input_shape" not in [f.action for f in spec.analysis.issue.fixes]
    check_every_fix_works(spec)


def test_a_limit_issue_offers_remove_only_when_the_rest_then_fits():
    assert fix_actions(nb.analyze([nb.Activation("relu") for _ in range(1201)], (2,)).issue) == [remove(1200)]
    assert nb.analyze([nb.Activation("relu") for _ in range(1202)], (2,)).issue.fixes == ()


# --- every fix of every kind, on random models near the budgets -------------------------------------------
# Values any setting might take; a declaration keeps those its check accepts (a kind defined later gets them too).
PROBES = (
    None,
    0,
    1,
    2,
    3,
    5,
    -1,
    -2,
    0.5,
    6.0,
    (1,),
    (2,),
    (3,),
    (-1,),
    (2, -1),
    (-1, 3),
    (1, 2),
    (2, 1),
    (3, 2),
    (1, 3, 2),
    (2, 3, 1),
    (2, 2),
    (1, 1),
    (0, 2),
    ((1, 0), (0, 2)),
    ((0, 0), (1, 1)),
    (None, 1),
    (1, 2, -1),
)
NEAR_BUDGET = (1000, 4095, 4096, 60_000, 65_536, 10**6, 2**26)  # 4095×4096 + 4096 weights is the weight budget


def setting_values(setting):
    """Valid values of one declared setting: its default, small values, and near-budget sizes."""
    if isinstance(setting, declared.Bool):
        drawn = st.booleans()
    elif isinstance(setting, (declared.Choice, declared.ActivationName)):
        drawn = st.sampled_from(setting.choices)
    elif isinstance(setting, declared.Int):
        drawn = st.one_of(
            st.integers(setting.low, min(setting.high, setting.low + 6)),
            st.sampled_from([n for n in NEAR_BUDGET if setting.low <= n <= setting.high] or [setting.high]),
        )
    elif isinstance(setting, declared.Ints):
        one = st.one_of(st.integers(setting.low, min(setting.high, 4)), st.sampled_from([setting.high, 64]))
        drawn = st.tuples(*[one] * setting.length)
        if isinstance(setting, declared.OptionalInts):
            drawn = st.one_of(st.none(), drawn)
    elif isinstance(setting, declared.Float):
        drawn = st.floats(setting.low, setting.high)
    elif isinstance(setting, (declared.Axis, declared.Axes)):
        drawn = st.integers(-4, 4)
    else:
        drawn = st.sampled_from(PROBES)
    return st.one_of(st.just(setting.default), drawn).map(lambda v: _checked(setting, v))


def _checked(setting, value):
    try:
        return setting.check(value)
    except ValueError:
        return setting.check(setting.default)


@st.composite
def any_layer(draw, layer_id):
    """A layer of any registered kind with valid random settings (None when they do not go together)."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    settings_ = {s.name: draw(setting_values(s)) for s in KINDS[kind].settings}
    built_for = draw(
        st.one_of(
            st.none(), st.none(), st.lists(st.sampled_from([1, 2, 3, 5, 8, 4096]), min_size=1, max_size=3).map(tuple)
        )
    )
    try:
        return LayerSpec.make(layer_id, kind, built_for, **settings_)
    except nb.NetbuilderError:
        return None


input_dims = st.lists(st.one_of(st.integers(1, 6), st.sampled_from([7, 64, 999, 1000, 4095, 4096])), max_size=4)


@settings(
    max_examples=700,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(input_dims, st.data())
def test_every_fix_of_every_kind_is_accepted_and_makes_the_layer_fit(shape, data):
    """Random models of every kind (near the budgets too): each fix offered, applied as the app applies it,
    gives a model the app accepts in which the failing layer fits."""
    assume(math.prod(shape) <= MAX_SAMPLE_ELEMENTS)
    layers = tuple(layer for i in range(data.draw(st.integers(1, 5))) if (layer := data.draw(any_layer(i))) is not None)
    try:
        spec = ModelSpec(tuple(shape), layers).validate()
    except nb.NetbuilderError:  # the app never holds a model over a limit; the engine's own limit issues:
        assume(layers)
        try:
            issue = nb.analyze([layer.to_layer() for layer in layers], tuple(shape)).issue
        except nb.NetbuilderError:
            issue = None
        assume(issue is not None and issue.category == "limit")
        for fix in issue.fixes:  # only "remove", and only when the rest then fits
            assert fix.action == "remove_layer"
            ModelSpec(tuple(shape), layers[: fix.layer_index] + layers[fix.layer_index + 1 :]).validate()
        return
    assume(spec.analysis.issue is not None)
    check_every_fix_works(spec)


@pytest.mark.parametrize(
    "input_shape, layers, wanted",
    [
        (
            (6, 5),
            [("UpSampling1D", {}), ("Activation", {"activation": "glu"})],
            (6, 6),
        ),  # steps doubled, features carried
        ((5, 3), [("MaxPooling1D", {}), ("Activation", {"activation": "glu"})], (5, 4)),
        (
            (4, 6),
            [("Activation", {"activation": "glu"}), ("UpSampling1D", {}), ("Activation", {"activation": "glu"})],
            (4, 8),
        ),
        ((), [("Conv2D", {"filters": 2})], (8, 8, 1)),  # the wrong number of axes: a general rule
        ((), [("LSTM", {"units": 2})], (1, 1)),
        ((5,), [("Conv1D", {"filters": 2})], (5, 1)),
        ((2, 3, 4), [("Dense", {"units": 2}), ("SimpleRNN", {"units": 2})], (6, 4)),  # axes merged
    ],
    ids=[
        "glu-after-upsampling",
        "glu-after-pooling",
        "glu-upsampling-glu",
        "conv2d-on-batch-only",
        "lstm-on-batch-only",
        "conv1d-without-channels",
        "rnn-on-an-image",
    ],
)
def test_a_fix_besides_remove_where_only_remove_was_offered(input_shape, layers, wanted):
    spec = spec_of(input_shape, *layers)
    assert ("set_input_shape", None, wanted) in fix_actions(spec.analysis.issue)
    check_every_fix_works(spec)


def test_batch_normalization_built_over_the_batch_axis_is_a_shape_issue():
    """Its built-for weights would have a size of None: the failing layer shows no parameters instead of crashing."""
    spec = ModelSpec((), (LayerSpec.make(0, "BatchNormalization", axis=0, built_for=(1,)),)).validate()
    assert spec.analysis.issue.category == "shape" and spec.analysis.layers[0].params == 0


def test_prelu_built_for_fewer_axes_than_it_shares_is_refused_not_crashed_on():
    """A share link can hold this layer; the app catches NetbuilderError only."""
    data = {"input_shape": [6], "layers": [{"id": 0, "kind": "PReLU", "shared_axes": [2], "built_for": [2]}]}
    try:
        spec = ModelSpec.from_dict(data)
    except nb.NetbuilderError:
        return
    assert spec.analysis.issue is not None


@pytest.mark.parametrize(
    "reader",
    [
        ("GlobalMaxPooling1D", {}),
        ("GlobalAveragePooling1D", {}),
        ("Conv1D", {"filters": 2, "kernel_size": 3}),
        ("MaxPooling1D", {}),
        ("AveragePooling1D", {"pool_size": 2}),
        ("LSTM", {"units": 2}),
        ("SimpleRNN", {"units": 2}),
        ("GRU", {"units": 2}),
    ],
    ids=lambda r: r[0],
)
@pytest.mark.parametrize("rnn", ["GRU", "LSTM", "SimpleRNN"])
def test_a_layer_reading_a_sequence_after_a_recurrent_layers_last_step_first_offers_return_sequences(rnn, reader):
    """GRU(4) → GlobalMaxPooling1D offered only Reshape((4, 1)) (4 steps of one number: not what was meant) and
    remove. Every kind that reads a sequence offers first to set return_sequences=True on the recurrent layer that
    passes on only its last step (through a Dropout that keeps the shape), and the model then fits."""
    spec = spec_of((10, 3), (rnn, {"units": 4}), ("Dropout", {"rate": 0.1}), reader)
    issue = spec.analysis.issue
    assert issue is not None and issue.layer_index == 2
    first = issue.fixes[0]
    assert (
        first.description
        == f"set return_sequences=True on {snake(rnn)}, so it passes on every step's output, not only the last"
    )
    fixed = spec.apply_fix(first)
    assert fixed.analysis.ok and dict(fixed.layers[0].settings)["return_sequences"] is True
    assert issue.fixes[-1].description.startswith("remove ")


def snake(kind: str) -> str:
    from netbuilder.engine.layer import snake_case

    return snake_case(kind)


def test_return_sequences_is_offered_only_for_a_recurrent_layers_last_step():
    """A Dense's 2-axis output before a GlobalMaxPooling1D has no recurrent layer to change; a Flatten between the
    recurrent layer and the reader changes the shape, so neither offers it."""
    for spec in (
        spec_of((10, 3), ("Flatten", {}), ("Dense", {"units": 4}), ("GlobalMaxPooling1D", {})),
        spec_of((10, 3), ("GRU", {"units": 4, "return_sequences": True}), ("Flatten", {}), ("GlobalMaxPooling1D", {})),
    ):
        assert not any("return_sequences" in f.description for f in spec.analysis.issue.fixes)
