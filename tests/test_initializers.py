"""netbuilder.initializers: layer seeds, seed checks, Glorot-uniform kernels (bounds, determinism), the registry's text
and configs, fans, and what drawing costs."""

import math

import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine.initializers import check_seed, glorot_uniform, layer_seed, resolve_seed
from netbuilder.engine.limits import MAX_SEED


def test_layer_seed_formula():
    assert layer_seed(0, 0) == 0
    assert layer_seed(5, 3) == 5003
    assert layer_seed(MAX_SEED, 199) == 999_999_199


def test_layer_seeds_of_a_model_never_collide():
    seeds = {layer_seed(s, i) for s in range(50) for i in range(nb.limits.MAX_LAYERS)}
    assert len(seeds) == 50 * nb.limits.MAX_LAYERS


@pytest.mark.parametrize("seed", [0, 1, MAX_SEED, np.int64(7)])
def test_valid_seeds(seed):
    assert check_seed(seed) == int(seed) and type(check_seed(seed)) is int


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.5, "3", True, None, [1]])
def test_invalid_seeds_rejected_clearly(seed):
    with pytest.raises(nb.LayerConfigError, match="seed must be an integer from 0 to 999,999"):
        check_seed(seed)


def test_resolve_seed():
    assert resolve_seed(12) == 12
    drawn = {resolve_seed(None) for _ in range(20)}
    assert all(0 <= s <= MAX_SEED for s in drawn) and len(drawn) > 1
    with pytest.raises(nb.LayerConfigError):
        resolve_seed(-5)


@pytest.mark.parametrize("shape", [(1, 1), (2, 16), (48, 4), (300, 7)])
def test_glorot_uniform_bounds_shape_dtype(shape):
    w = glorot_uniform(shape, seed=3)
    limit = math.sqrt(6 / sum(shape))  # a kernel has fan_in + fan_out ≥ 2
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit
    if w.size >= 100:  # uniform on [-limit, limit]: spreads over most of the range
        assert np.abs(w).max() > 0.8 * limit and abs(w.mean()) < 0.2 * limit


def test_glorot_uniform_is_deterministic_per_seed():
    np.testing.assert_array_equal(glorot_uniform((4, 5), 9), glorot_uniform((4, 5), 9))
    assert not np.array_equal(glorot_uniform((4, 5), 9), glorot_uniform((4, 5), 10))


def test_glorot_uniform_is_numpys_generator_seeded_as_keras_does():
    """Keras's NumPy backend: default_rng([seed, 0] as uint32).uniform(-limit, limit) cast to float32."""
    limit = math.sqrt(3.0 * (1.0 / max(1.0, (2 + 16) / 2.0)))
    want = np.random.default_rng(np.array([42, 0], "uint32")).uniform(-limit, limit, (2, 16)).astype(np.float32)
    np.testing.assert_array_equal(glorot_uniform((2, 16), 42), want)


# --- the registry and the draws' bookkeeping (Keras itself: test_initializers_keras.py) ------------------------------
@pytest.mark.parametrize(
    "shape, expected", [((), (1, 1)), ((5,), (5, 5)), ((3, 4), (3, 4)), ((3, 3, 2, 8), (18, 72)), ((5, 1, 4), (5, 20))]
)
def test_fans_are_keras_compute_fans(shape, expected):
    from netbuilder.engine.initializers import fans

    assert fans(shape) == expected


def test_every_class_is_shown_and_read_back_by_its_text_and_its_config():
    from netbuilder.engine.initializers import CLASSES, from_text, get_initializer

    for cls in CLASSES.values():
        init = cls(value=0.5) if cls.keras_name == "Constant" else cls()
        assert from_text(init.text()) == init and get_initializer(init.to_keras()) == init
        assert from_text(init.keras_code()) == init and repr(init) == init.keras_code()


def test_a_draw_without_a_seed_is_fresh_and_with_one_repeats():
    from netbuilder.engine.initializers import HeNormal

    assert not np.array_equal(HeNormal()((50,)), HeNormal()((50,)))
    np.testing.assert_array_equal(HeNormal()((50,), 3), HeNormal()((50,), seed=3))


def test_drawing_costs_one_chunk_of_temporaries_whatever_the_size():
    from netbuilder.engine.initializers import DRAW_CHUNK, Ones, RandomNormal, TruncatedNormal

    for init in (RandomNormal(), TruncatedNormal()):
        assert init.cost((10 * DRAW_CHUNK,))[1] == init.cost((DRAW_CHUNK,))[1] > init.cost((100,))[1]
        assert init.cost((10 * DRAW_CHUNK,))[0] > 9 * init.cost((DRAW_CHUNK,))[0]
    assert Ones().cost((10, 10))[1] == 0
