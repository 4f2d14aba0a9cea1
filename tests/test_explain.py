"""studio.explain: variants, comparison rows, difference sentences and Dense's last-axis arithmetic, by hand."""

import numpy as np
import pytest

from netbuilder.studio.explain import (
    FLATTEN_FIRST,
    WITHOUT_FLATTEN,
    compare,
    difference_sentence,
    last_axis_explanation,
    variants,
)
from netbuilder.studio.models import built
from netbuilder.studio.samples import as_matrix
from netbuilder.views.heatmap import CUT
from netbuilder.studio.presets import PRESETS
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec

X = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)


def kinds(spec):
    return [layer.kind for layer in spec.layers]


# --- variants ---------------------------------------------------------------------------------
def test_variants_of_the_seed():
    v = variants(seed_spec())
    assert list(v) == ["current", WITHOUT_FLATTEN, FLATTEN_FIRST]
    assert v["current"] is not None and v["current"] == seed_spec()
    assert kinds(v[WITHOUT_FLATTEN]) == ["Dense", "Activation", "Dense"]
    assert kinds(v[FLATTEN_FIRST]) == ["Flatten", "Dense", "Activation", "Dense"]
    assert v[FLATTEN_FIRST].seed == 0 and v[FLATTEN_FIRST].input_shape == (3, 2)
    assert len({layer.id for layer in v[FLATTEN_FIRST].layers}) == 4


def test_variants_leave_out_what_equals_the_current_model():
    assert list(variants(PRESETS["flatten-first"].spec)) == ["current", WITHOUT_FLATTEN]
    assert list(variants(PRESETS["without-flatten"].spec)) == ["current", FLATTEN_FIRST]


def test_flatten_first_keeps_the_learners_flatten_settings():
    spec = ModelSpec(
        (2, 3, 4), (LayerSpec.make(0, "Dense", units=5), LayerSpec.make(7, "Flatten", data_format="channels_first"))
    )
    first = variants(spec)[FLATTEN_FIRST].layers[0]
    assert (first.id, first.data_format) == (7, "channels_first")


def test_several_flattens_collapse_to_one_first():
    spec = ModelSpec(
        (3, 2), (LayerSpec.make(0, "Flatten"), LayerSpec.make(1, "Dense", units=4), LayerSpec.make(2, "Flatten"))
    )
    assert kinds(variants(spec)[FLATTEN_FIRST]) == ["Flatten", "Dense"]


@pytest.mark.usefixtures("public_budget")  # the app compares under its public budgets
def test_a_variant_over_the_budgets_is_compared_by_its_shapes_and_not_run():
    # Dense(10000) on (100, 100): 100·10000 + 10000 params; Flatten first would need 10000·10000 + 10000 weights,
    # far over the weight budget (16,777,216): its shapes and parameters are the lesson
    spec = ModelSpec((100, 100), (LayerSpec.make(0, "Dense", units=10_000),)).validate()
    rows = compare(variants(spec), np.ones((1, 100, 100), np.float32), 0, CUT)
    assert [row.name for row in rows] == ["current", FLATTEN_FIRST]
    assert rows[0].output.shape == (1, 100, 10_000) and rows[0].error is None
    assert rows[1].total_params == 100_010_000 and rows[1].output is None
    assert rows[1].error.startswith("this model is too large to run on this server: its weights would take 381.5 MB")


def test_a_variant_with_a_shape_issue_is_kept():
    v = variants(PRESETS["broken-built-for-48"].spec)
    assert FLATTEN_FIRST in v and v[FLATTEN_FIRST].analysis.issue is not None


def test_variants_do_not_share_the_current_models_cache():
    spec = seed_spec()
    assert spec.analysis.ok  # cached on the spec
    v = variants(spec)
    assert v[WITHOUT_FLATTEN].analysis.output_shape == (None, 3, 4)
    assert spec.analysis.output_shape == (None, 4)


# --- compare ----------------------------------------------------------------------------------
def test_compare_the_seed_with_its_variants():
    rows = compare(variants(seed_spec()), X, 0, CUT)
    assert [r.name for r in rows] == ["current", WITHOUT_FLATTEN, FLATTEN_FIRST]
    assert [r.output_shape for r in rows] == [(None, 4), (None, 3, 4), (None, 4)]
    assert [r.total_params for r in rows] == [244, 116, 180]  # 48+196, 48+68, 112+68
    assert [r.output.shape for r in rows] == [(1, 4), (1, 3, 4), (1, 4)]
    assert [r.error for r in rows] == [None, None, None]
    assert [[rep.output_shape for rep in r.layers] for r in rows][1] == [(None, 3, 16), (None, 3, 16), (None, 3, 4)]
    for r in rows:
        np.testing.assert_array_equal(r.output.matrix, as_matrix(built(r.spec).predict(X)[0]))
    assert rows[0].difference == ""
    assert rows[1].difference == difference_sentence(seed_spec(), rows[1].spec)


def test_without_flatten_dense_1_is_the_same_kernel_on_each_row():
    row = compare(variants(seed_spec()), X, 0, CUT)[1]
    model = built(row.spec)
    k1, b1, k2, b2 = model.get_weights()
    hidden = np.maximum(X @ k1 + b1, 0)
    np.testing.assert_allclose(row.output.matrix, hidden[0] @ k2 + b2, rtol=1e-6)  # row by row, one (16, 4) kernel


def test_compare_reports_issues_and_mismatched_input():
    broken = PRESETS["broken-built-for-48"].spec
    rows = compare({"broken": broken, "seed": seed_spec()}, np.zeros((1, 2, 3)), 0, CUT)
    assert rows[0].output is None and rows[0].output_shape is None and rows[0].total_params is None
    assert rows[0].error == broken.analysis.issue.message
    assert rows[1].output is None and "(3, 2)" in rows[1].error and "(2, 3)" in rows[1].error
    assert rows[1].output_shape == (None, 4)  # the model itself is fine


def test_compare_without_input_gives_shapes_only():
    rows = compare(variants(seed_spec()), None, 0, CUT)
    assert all(r.output is None and r.error is None for r in rows)


# --- difference sentences ---------------------------------------------------------------------
def test_sentence_without_flatten():
    v = variants(seed_spec())
    assert difference_sentence(v["current"], v[WITHOUT_FLATTEN]) == (
        "Without Flatten, Dense(4) acts on each of the 3 rows separately: output (None, 3, 4) instead of "
        "(None, 4), and 68 instead of 196 parameters in dense_1."
    )


def test_sentence_flatten_first():
    v = variants(seed_spec())
    assert difference_sentence(v["current"], v[FLATTEN_FIRST]) == (
        "With Flatten first, Dense(16) sees all 6 values of each sample at once: output (None, 4) in both, "
        "and 112 instead of 48 parameters in dense and 68 instead of 196 in dense_1."
    )


def test_sentence_is_derived_for_other_shapes():
    spec = PRESETS["dense-rank-3"].spec  # Dense(5) on (2, 3, 4)
    flat = variants(spec)[FLATTEN_FIRST]
    assert difference_sentence(flat, spec) == (
        "Without Flatten, Dense(5) acts on each of the 2 × 3 = 6 positions separately: output (None, 2, 3, 5) "
        "instead of (None, 5), and 25 instead of 125 parameters in dense."
    )


def test_sentence_for_flatten_alone():
    spec = PRESETS["flatten-10x64"].spec
    assert difference_sentence(spec, variants(spec)[WITHOUT_FLATTEN]) == (
        "Without Flatten, the 10 × 64 axes stay apart: output (None, 10, 64) instead of (None, 640), "
        "and 0 parameters in both."
    )
    assert difference_sentence(variants(spec)[WITHOUT_FLATTEN], spec).startswith(
        "With Flatten first, Flatten joins the 10 × 64 axes into 640 values:"
    )


def test_sentence_when_a_flatten_changes_nothing():
    spec = ModelSpec((4,), (LayerSpec.make(0, "Flatten"), LayerSpec.make(1, "Dense", units=3)))
    assert difference_sentence(spec, variants(spec)[WITHOUT_FLATTEN]) == (
        "Without Flatten, the output (None, 3) and the 15 parameters stay the same: every Flatten here "
        "receives samples that are already flat."
    )


def test_sentence_flatten_moved():
    spec = ModelSpec(
        (3, 2),
        (LayerSpec.make(0, "Dense", units=16), LayerSpec.make(1, "Dense", units=4), LayerSpec.make(2, "Flatten")),
    )
    moved = ModelSpec(
        (3, 2),
        (LayerSpec.make(0, "Dense", units=16), LayerSpec.make(2, "Flatten"), LayerSpec.make(1, "Dense", units=4)),
    )
    assert difference_sentence(spec, moved) == (
        "With Flatten before dense_1, Dense(4) sees all 48 values of each sample at once: output (None, 4) "
        "instead of (None, 12), and 196 instead of 68 parameters in dense_1."
    )


def test_sentences_with_broken_models():
    broken = PRESETS["broken-scalar-dense"].spec
    fixed = variants(broken)[FLATTEN_FIRST]
    assert difference_sentence(broken, fixed) == (
        "With Flatten first, the model fits: output (None, 4) and 8 parameters, where the first model stops at dense."
    )
    assert difference_sentence(fixed, broken) == (
        "Without Flatten, the model does not fit: " + broken.analysis.issue.message
    )


def test_sentence_for_unrelated_models_compares_totals():
    other = ModelSpec((3, 2), (LayerSpec.make(0, "Flatten"), LayerSpec.make(1, "Dense", units=2)))
    assert difference_sentence(seed_spec(), other) == (
        "Compared with the first model, output (None, 2) instead of (None, 4), "
        "and 14 instead of 244 parameters in total."
    )


# --- last-axis explanation --------------------------------------------------------------------
def test_last_axis_explanation_for_the_seed():
    e = last_axis_explanation(seed_spec(), 0)
    assert e.layer_name == "dense" and e.units == 16
    assert (e.input_shape, e.kernel_shape, e.bias_shape, e.output_shape) == ((3, 2), (2, 16), (16,), (3, 16))
    assert (e.params, e.positions, e.leading_axes) == (48, 3, (3,))
    assert (e.flat_features, e.flat_params) == (6, 112)
    assert e.formula == "2×16 + 16 = 48"
    assert e.equation == "(3, 2) @ (2, 16) + (16,) → (3, 16)"
    assert e.contrast == "Flatten → Dense(16): 6×16 + 16 = 112"
    assert "each of the 3 rows" in e.sentence and "48" in e.sentence and "112" in e.sentence


def test_last_axis_explanation_is_none_where_dense_is_fully_connected_or_not_dense():
    assert last_axis_explanation(seed_spec(), 3) is None  # Dense(4) after Flatten: (None, 48)
    assert last_axis_explanation(seed_spec(), 1) is None  # Activation
    assert last_axis_explanation(seed_spec(), 2) is None  # Flatten
    assert last_axis_explanation(PRESETS["broken-built-for-48"].spec, 2) is None  # the layer that cannot run


def test_last_axis_explanation_rank_3_no_bias():
    spec = ModelSpec((2, 3, 4), (LayerSpec.make(0, "Dense", units=5, use_bias=False),))
    e = last_axis_explanation(spec, 0)
    assert (e.kernel_shape, e.bias_shape, e.output_shape) == ((4, 5), None, (2, 3, 5))
    assert (e.params, e.positions, e.flat_features, e.flat_params) == (20, 6, 24, 120)
    assert e.equation == "(2, 3, 4) @ (4, 5) → (2, 3, 5)"
    assert e.contrast == "Flatten → Dense(5): 24×5 = 120"


def test_last_axis_explanation_second_dense_and_glu():
    e = last_axis_explanation(PRESETS["without-flatten"].spec, 2)
    assert (e.layer_name, e.params, e.flat_params) == ("dense_1", 68, 196)
    spec = ModelSpec((3, 2), (LayerSpec.make(0, "Dense", units=6, activation="glu"),))
    e = last_axis_explanation(spec, 0)
    assert e.output_shape == (3, 3) and e.params == 18
    assert e.equation == "(3, 2) @ (2, 6) + (6,) → (3, 6) → glu → (3, 3)"


@pytest.mark.parametrize("name", PRESETS)
def test_explain_handles_every_preset(name):
    spec = PRESETS[name].spec
    rows = compare(variants(spec), None, 0, CUT)
    assert rows[0].name == "current"
    for i in range(len(spec.layers)):
        last_axis_explanation(spec, i)
