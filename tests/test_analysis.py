"""netbuilder.analyze: per-layer shapes and params, and structured ShapeIssues instead of exceptions."""

import keras
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netbuilder as nb
from netbuilder.engine.errors import Fix


def built_dense(units, input_dim, **kwargs):
    layer = nb.Dense(units, **kwargs)
    layer.build((None, input_dim), seed=0)
    return layer


def fix_actions(issue):
    return [(f.action, f.layer_index, f.value) for f in issue.fixes]


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
    assert (issue.layer_index, issue.layer_name, issue.layer_type, issue.received) == (0, "dense", "Dense", (None,))
    assert issue.expected == "at least 2 axes (batch, features)"
    assert "'dense'" in issue.message and "(None,)" in issue.message
    assert issue.explanation
    assert fix_actions(issue) == [("insert_flatten", 0, None), ("set_input_shape", None, (1,))]
    assert a.layers[0].output_shape is None


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
    assert fix_actions(issue) == [("insert_flatten", 1, None), ("set_units", 0, 48)]
    assert [r.output_shape for r in a.layers] == [(None, 3, 16), None]
    assert a.total_params == 48 + 48 * 4 + 4  # the failing layer's weights still count


def test_mismatch_without_upstream_dense_suggests_input_shape():
    a = nb.analyze([nb.Activation("relu"), built_dense(4, 5)], (2, 3))
    assert fix_actions(a.issue) == [("set_input_shape", None, (2, 5))]


def test_mismatch_after_flatten_has_no_units_fix():
    a = nb.analyze([nb.Dense(3), nb.Flatten(), built_dense(4, 7)], (2, 2))
    assert a.issue.layer_index == 2 and fix_actions(a.issue) == []


def test_upstream_glu_dense_units_fix_is_doubled():
    a = nb.analyze([nb.Dense(6, activation="glu"), built_dense(2, 5)], (4,))
    assert ("set_units", 0, 10) in fix_actions(a.issue)


def test_glu_activation_with_odd_size():
    a = nb.analyze([nb.Dense(3), nb.Activation("glu")], (2,))
    issue = a.issue
    assert (issue.layer_index, issue.layer_name, issue.received) == (1, "activation", (None, 3))
    assert issue.expected == "an even size on the last axis"
    assert "'activation'" in issue.message and "3" in issue.message
    assert fix_actions(issue) == [("set_units", 0, 4)]
    assert issue.keras_message == "axis size must be divisible by 2. Received: x.shape=(None, 3) with axis=-1"


def test_glu_dense_with_odd_units():
    a = nb.analyze([nb.Dense(5, activation="glu")], (2,))
    assert a.issue.layer_name == "dense" and fix_actions(a.issue) == [("set_units", 0, 6)]


def test_glu_on_batch_axis():
    a = nb.analyze([nb.Activation("glu")], ())
    assert a.issue.received == (None,) and fix_actions(a.issue) == [("insert_flatten", 0, None)]


def test_even_glu_halves():
    a = nb.analyze([nb.Dense(6, activation="glu"), nb.Activation("glu")], (3, 2))
    assert [r.output_shape for r in a.layers] == [(None, 3, 3), None]  # 3 is odd for the second glu
    assert nb.analyze([nb.Dense(8, activation="glu"), nb.Activation("glu")], (2,)).output_shape == (None, 2)


def test_more_than_200_layers_is_a_limit_issue():
    a = nb.analyze([nb.Activation("relu") for _ in range(201)], (2,))
    assert a.issue.kind == "limit" and "at most 200 layers; this one has 201" in a.issue.message
    assert nb.analyze([nb.Activation("relu") for _ in range(200)], (2,)).ok


def test_more_than_50m_params_is_a_limit_issue():
    a = nb.analyze([nb.Dense(60_000), nb.Dense(2)], (1000,))
    issue = a.issue
    assert issue.kind == "limit" and issue.layer_name == "dense"
    assert "60,060,000 parameters; at most 50,000,000" in issue.message
    assert fix_actions(issue) == [("remove_layer", 0, None)]


def test_huge_tensor_is_a_limit_issue():
    assert nb.analyze([nb.Dense(65_536)], (1024, 2)).ok  # exactly 64 Mi values: allowed
    a = nb.analyze([nb.Dense(65_536)], (1025, 2))
    assert a.issue.kind == "limit" and "67,174,400 values per sample; at most 67,108,864" in a.issue.message


def test_keras_messages_match_keras_for_rank1_and_mismatch():
    """keras_message is what Keras 3 says (fresh session: the same auto-names)."""
    ours = nb.analyze([nb.Dense(4)], ()).issue.keras_message
    keras.backend.clear_session()
    with pytest.raises(ValueError) as info:
        keras.Sequential([keras.Input(()), keras.layers.Dense(4)])
    assert str(info.value) == ours

    ours = nb.analyze([nb.Dense(16), built_dense(4, 48)], (3, 2)).issue.keras_message
    keras.backend.clear_session()
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


def test_format_shape():
    assert nb.format_shape((None,)) == "(None,)"
    assert nb.format_shape((None, 3, 16)) == "(None, 3, 16)"


LAYER = st.one_of(
    st.builds(nb.Dense, st.integers(1, 12), st.sampled_from([None, "relu", "glu", "softmax"]), st.booleans()),
    st.builds(built_dense, st.integers(1, 12), st.integers(1, 12)),
    st.builds(nb.Flatten, st.sampled_from(["channels_last", "channels_first"])),
    st.builds(nb.Activation, st.sampled_from(["relu", "glu", "tanh"])),
)


@settings(max_examples=150, deadline=None)
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
