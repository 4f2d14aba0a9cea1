"""engine.budget: no budget in the library (as Keras), the public budgets where a caller asks for them, per context.

What is arithmetic on shapes (analysis, parameters, summary) is never budgeted; what allocates or runs answers to the
current budget (test_cost.py checks each budget's figures under the public ones; test_app_budgets.py that the app
runs every visitor's work under them)."""

import threading

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.analysis import budget_issue
from netbuilder.engine.budget import (
    PUBLIC_DEFAULTS,
    PUBLIC_ENVIRONMENT,
    UNBOUNDED,
    Budget,
    current,
    from_environment,
    using,
)


def big_dense():
    """17,000,000 + 1,000 weights: 64.9 MiB, just over the public weight budget of 64 MiB."""
    return nb.Sequential([nb.Input((17_000,)), nb.Dense(1000)], seed=0)


def test_the_library_has_no_budget_of_its_own():
    assert current() is UNBOUNDED and all(value is None for value in vars(UNBOUNDED).values())
    model = big_dense()
    assert model.count_params() == 17_001_000 and len(model.get_weights()[0]) == 17_000
    assert model.cost.max_batch() is None
    model.cost.check_run(10**9)  # arithmetic only: nothing runs
    assert model.predict(np.ones((2, 17_000), np.float32)).shape == (2, 1000)


def test_a_budget_applies_inside_using_and_is_gone_after_it():
    with using(PUBLIC_DEFAULTS):
        assert current() is PUBLIC_DEFAULTS
        with pytest.raises(nb.LimitError, match=r"64\.9 MB \(17,001,000 parameters\); the budget is 64\.0 MB"):
            big_dense()
        with using(Budget(weight_bytes=80 * 2**20)):  # nested: the inner budget alone
            assert big_dense().count_params() == 17_001_000
        assert current() is PUBLIC_DEFAULTS
    assert current() is UNBOUNDED
    big_dense()


def test_a_model_built_without_a_budget_still_answers_to_one_when_it_runs():
    """A built model's runs are checked against the budget current when they run, not when it was built."""
    model = nb.Sequential([nb.Input((10,)), nb.Dense(65_536)])
    with using(PUBLIC_DEFAULTS):
        with pytest.raises(nb.LimitError, match="use at most 384 samples"):
            model.predict(np.zeros((385, 10), np.float32))
        assert model.predict(np.zeros((384, 10), np.float32)).shape == (384, 65_536)
    with using(Budget(run_bytes=2**20)):  # 256 KiB an output sample
        with pytest.raises(nb.LimitError, match="use at most 4 samples"):
            model.predict(np.zeros((5, 10), np.float32))
    assert model.predict(np.zeros((385, 10), np.float32)).shape == (385, 65_536)


def test_analysis_is_never_budgeted():
    """VGG16's famous table is arithmetic: 138,357,544 parameters, whatever the budget."""
    layers = [nb.Dense(4096), nb.Dense(4096), nb.Dense(1000)]
    with using(Budget(weight_bytes=1, run_bytes=1, work=1, train_work=1, export_chars=1, data_elements=1)):
        analysis = nb.analyze(layers, (25_088,))
        assert analysis.ok and analysis.total_params == 102_764_544 + 16_781_312 + 4_097_000
        assert "the budget is 1 B (0 parameters)" in budget_issue(analysis).message


def test_budgets_are_per_thread_context():
    """One visitor's budget never reaches another's thread: each Streamlit session runs in its own thread."""
    seen = {}
    inside, leave = threading.Event(), threading.Event()

    def visitor():
        with using(PUBLIC_DEFAULTS):
            inside.set()
            leave.wait(5)
            seen["visitor"] = current()

    thread = threading.Thread(target=visitor)
    thread.start()
    inside.wait(5)
    seen["main"] = current()
    leave.set()
    thread.join()
    assert seen == {"main": UNBOUNDED, "visitor": PUBLIC_DEFAULTS}


def test_a_deployment_sets_the_public_budgets_with_environment_variables():
    assert from_environment({}) == PUBLIC_DEFAULTS
    assert PUBLIC_ENVIRONMENT["weight_bytes"] == "NETBUILDER_MAX_WEIGHT_BYTES"
    changed = from_environment({"NETBUILDER_MAX_WEIGHT_BYTES": "1073741824", "NETBUILDER_MAX_WORK": "none"})
    assert changed.weight_bytes == 2**30 and changed.work is None and changed.run_bytes == PUBLIC_DEFAULTS.run_bytes
    for bad in ("", "-5", "0", "1e9", "lots", "12 MB"):
        with pytest.raises(
            ValueError, match=f"NETBUILDER_MAX_RUN_BYTES must be a positive whole number or 'none'; it is {bad!r}"
        ):
            from_environment({"NETBUILDER_MAX_RUN_BYTES": bad})
    assert set(PUBLIC_ENVIRONMENT) == set(vars(PUBLIC_DEFAULTS))


def test_data_given_to_a_run_answers_to_the_data_budget():
    model = nb.Sequential([nb.Input((4,)), nb.Dense(1)])
    with using(Budget(data_elements=100)):
        with pytest.raises(nb.LimitError, match="input has 104 values; at most 100 are allowed"):
            model.predict(np.zeros((26, 4)))
        assert model.predict(np.zeros((25, 4))).shape == (25, 1)
