"""Dense, Flatten and Activation through the kind harness (tests/kind_harness.py) against real Keras."""

import pytest

from kind_harness import Case, check_case, check_exports, json_roundtrip_equal, spec_of

CASES = [
    Case("Dense", {"units": 16}, (3, 2), {"kernel_initializer": "GlorotUniform"}),
    Case("Dense", {"units": 4, "activation": "relu", "use_bias": False}, (5,), {"kernel_initializer": "GlorotUniform"}),
    Case("Dense", {"units": 5, "activation": "tanh"}, (2, 3, 4), {"kernel_initializer": "GlorotUniform"}),
    Case("Dense", {"units": 4}, ()),  # rank 1: refused by both
    Case("Flatten", {}, (2, 3, 4)),
    Case("Flatten", {"data_format": "channels_first"}, (2, 3, 4)),
    Case("Flatten", {}, ()),
    Case("Activation", {"activation": "softmax"}, (3, 4)),
    Case("Activation", {"activation": "gelu"}, (7,)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_core_kind_matches_keras(case):
    check_case(case)


def test_core_kinds_export_and_json():
    spec = spec_of(
        (3, 2),
        ("Dense", {"units": 16}),
        ("Activation", {"activation": "relu"}),
        ("Flatten", {}),
        ("Dense", {"units": 4}),
    )
    check_exports(spec)
    json_roundtrip_equal(spec)


@pytest.mark.parametrize("case", [c for c in CASES if c.input_shape], ids=lambda c: c.id)
def test_core_kind_cost_holds_what_predict_allocates(case):

    from kind_harness import check_cost, ours_model, sample

    model = ours_model(case)
    for batch in (1, 64, 4096):
        check_cost(model, sample(case, batch))
