"""netbuilder.studio.history: undo/redo over immutable ModelSpecs."""

import pytest

from netbuilder import LayerConfigError
from netbuilder.engine.limits import MAX_UNDO_STEPS
from netbuilder.studio.history import History
from netbuilder.studio.spec import ModelSpec, seed_spec


def test_undo_and_redo_walk_back_and_forth():
    a = seed_spec()
    b = a.add("Dense")
    c = b.with_seed(5)
    h = History(a)
    assert not h.can_undo and not h.can_redo
    assert h.push(b) and h.push(c)
    assert h.present == c and h.can_undo and not h.can_redo
    assert h.undo() == b and h.undo() == a
    assert not h.can_undo and h.can_redo
    assert h.undo() == a  # nothing to undo: unchanged
    assert h.redo() == b and h.redo() == c and h.redo() == c
    assert len(h) == 3


def test_pushing_an_equal_spec_records_nothing():
    a = seed_spec()
    assert a.analysis.ok  # fills the spec's cached analysis
    h = History(a)
    assert not h.push(seed_spec())  # equal, though another object (the cached analysis is not compared)
    assert not h.can_undo and len(h) == 1


def test_push_after_undo_clears_redo():
    a = ModelSpec()
    h = History(a)
    h.push(a.add("Flatten"))
    h.undo()
    assert h.can_redo
    h.push(a.add("Dense"))
    assert not h.can_redo and h.undo() == a


def test_oldest_steps_are_dropped_at_the_limit():
    h = History(0, limit=50)
    for i in range(1, 121):
        h.push(i)
    steps = 0
    while h.can_undo:
        h.undo()
        steps += 1
    assert steps == 50 and h.present == 70  # values 0..69 were dropped
    while h.can_redo:
        h.redo()
    assert h.present == 120


def test_default_limit_keeps_at_least_fifty_steps():
    assert History(0).limit == MAX_UNDO_STEPS >= 50


def test_bad_limit():
    for limit in (0, -1, 2.5, True, "10"):
        with pytest.raises(LayerConfigError, match="history limit must be a positive integer"):
            History(0, limit=limit)
