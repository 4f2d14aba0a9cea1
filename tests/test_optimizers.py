"""Learning-rate schedules and the rest of Keras 3's optimizers, against Keras itself.

A schedule's rates and config equal Keras's (its NumPy backend, in this process). Each optimizer's steps on the same
gradients equal Keras's optimizer's (NumPy backend, in this process), and a whole fit, evaluate and train_on_batch equal
Keras on JAX (tests/training_oracle.py), schedules, gradient accumulation and moving averages included. Refused
arguments and bad values say what is wrong.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import netbuilder as nb
from netbuilder.engine import optimizers as engine_optimizers
from netbuilder.optimizers import (
    SGD,
    Adadelta,
    Adafactor,
    Adam,
    AdamW,
    Ftrl,
    Lamb,
    Lion,
    ScheduleFreeAdamW,
    get_optimizer,
    schedules,
)
from test_training import (
    MLP,
    _case_data,
    _keras_loss,
    assert_fit_equals,
    assert_train_on_batch_equals,
    results,
    spec_model_json,
)
from training_oracle import run_jobs

KERAS_SCHEDULES = keras.optimizers.schedules

# --- schedules ----------------------------------------------------------------------------------------------
SCHEDULES = [
    ("ExponentialDecay", (0.1, 7, 0.5), {}),
    ("ExponentialDecay", (0.3, 4, 0.9), {"staircase": True}),
    ("PiecewiseConstantDecay", ([3, 8, 20], [0.1, 0.05, 0.01, 0.001]), {}),
    ("PiecewiseConstantDecay", ([2.5], [0.1, 0.02]), {}),  # a boundary Keras casts to the step's integers
    ("PolynomialDecay", (0.1, 9), {}),
    ("PolynomialDecay", (0.1, 9), {"end_learning_rate": 0.01, "power": 0.5, "cycle": True}),
    ("InverseTimeDecay", (0.1, 3, 0.5), {}),
    ("InverseTimeDecay", (0.1, 3, 0.5), {"staircase": True}),
    ("CosineDecay", (0.1, 10), {}),
    ("CosineDecay", (0.1, 10), {"alpha": 0.1}),
    ("CosineDecay", (0.0, 10), {"warmup_target": 0.2, "warmup_steps": 4, "alpha": 0.05}),
    ("CosineDecayRestarts", (0.1, 4), {}),
    ("CosineDecayRestarts", (0.1, 4), {"t_mul": 1.0, "m_mul": 0.5, "alpha": 0.1}),
    ("CosineDecayRestarts", (0.1, 3), {"t_mul": 1.5, "m_mul": 0.8}),
]
STEPS = [*range(40), 99, 100, 101, 1000, 12345]


@pytest.mark.parametrize("name,args,kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, _, k in SCHEDULES])
def test_a_schedule_s_rates_equal_keras_s(name, args, kwargs):
    ours, theirs = getattr(schedules, name)(*args, **kwargs), getattr(KERAS_SCHEDULES, name)(*args, **kwargs)
    for step in STEPS:
        rate = ours(step)
        assert np.asarray(rate).dtype == np.float32, step
        np.testing.assert_allclose(rate, np.float32(theirs(step)), rtol=1e-6, atol=0, err_msg=f"step {step}")


@pytest.mark.parametrize("name,args,kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, _, k in SCHEDULES])
def test_a_schedule_s_config_is_keras_s_and_round_trips(name, args, kwargs):
    ours, theirs = getattr(schedules, name)(*args, **kwargs), getattr(KERAS_SCHEDULES, name)(*args, **kwargs)
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())  # Keras's order
    assert schedules.serialize(ours) == KERAS_SCHEDULES.serialize(theirs)
    assert type(ours).from_config(ours.get_config()) == ours
    assert schedules.deserialize(KERAS_SCHEDULES.serialize(theirs)) == ours
    assert KERAS_SCHEDULES.deserialize(schedules.serialize(ours)).get_config() == ours.get_config()


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda: schedules.ExponentialDecay(0.1, 0, 0.5),
            r"Argument `decay_steps` must be > 0. Received: decay_steps=0",
        ),
        (lambda: schedules.CosineDecay(0.1, -3), r"Argument `decay_steps` must be > 0"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), r"Argument `first_decay_steps` must be > 0"),
        (lambda: schedules.CosineDecayRestarts(0.1, 5, t_mul=0.0), r"Argument `t_mul` must be > 0"),
        (lambda: schedules.ExponentialDecay(math.nan, 10, 0.5), r"initial_learning_rate=...\) must be a finite number"),
        (lambda: schedules.InverseTimeDecay(0.1, 10, math.inf), r"decay_rate=...\) must be a finite number"),
        (lambda: schedules.PolynomialDecay("0.1", 10), r"initial_learning_rate=...\) must be a finite number"),
        (lambda: schedules.PolynomialDecay(-0.1, 10), r"initial_learning_rate=...\) must be a number of at least 0"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-1.0), r"warmup_target=...\) must be .* at least 0"),
        (lambda: schedules.ExponentialDecay(1, 10, 0.5), r"initial_learning_rate=...\) must be a float such as 1.0"),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase="yes"), r"staircase=...\) must be True or False"),
        (lambda: schedules.ExponentialDecay(0.1, 10), r"ExponentialDecay: missing .*'decay_rate'.*; ExponentialDecay "),
        (lambda: schedules.CosineDecay(0.1, 10, warmup=3), r"CosineDecay: .*'warmup'.*takes initial_learning_rate"),
        (lambda: schedules.PiecewiseConstantDecay([5], [0.1]), r"length of boundaries should be 1 less than"),
        (lambda: schedules.PiecewiseConstantDecay([5, 3], [0.1, 0.2, 0.3]), r"must be .* strictly increasing"),
        (lambda: schedules.PiecewiseConstantDecay([5], [0.1, math.nan]), r"values=...\) must be a list of finite"),
        (lambda: schedules.deserialize({"class_name": "StepDecay", "config": {}}), r"unknown .* 'StepDecay'; .* has"),
        (lambda: schedules.deserialize("CosineDecay"), r"a learning-rate schedule is a dict"),
    ],
)
def test_a_schedule_with_wrong_arguments_says_what_is_wrong(make, message):
    with pytest.raises(nb.LayerConfigError, match=message):
        make()


def test_keras_refuses_the_schedules_it_validates_and_computes_integer_rates_in_integers():
    """The refusals above that are Keras's own, Keras makes too; an integer initial rate, which netbuilder refuses,
    Keras computes in integers (π becomes 3)."""
    for make in (
        lambda: KERAS_SCHEDULES.ExponentialDecay(0.1, 0, 0.5),
        lambda: KERAS_SCHEDULES.PiecewiseConstantDecay([5], [0.1]),
    ):
        with pytest.raises(ValueError):
            make()
    assert KERAS_SCHEDULES.ExponentialDecay(1, 10, 0.5)(5) == 0  # 0.5 cast to the integer 0
    assert KERAS_SCHEDULES.CosineDecay(1, 10)(5) != KERAS_SCHEDULES.CosineDecay(1.0, 10)(5)


# --- optimizers: arguments -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Lion(beta_1=0.0), r"Argument `beta_1` must be in the \[0, 1\] range"),
        (lambda: Ftrl(learning_rate_power=0.5), r"`learning_rate_power` needs to be negative or zero"),
        (lambda: Ftrl(l1_regularization_strength=-0.1), r"l1_regularization_strength=...\) must be a number of at le"),
        (lambda: Adam(learning_rate=math.nan), r"learning_rate=...\) must be a number of at least 0 or a learning-r"),
        (lambda: Adam(learning_rate=-0.1), r"learning_rate=...\) must be a number of at least 0"),
        (lambda: Adam(learning_rate="0.01"), r"learning_rate=...\) must be a number .* or a learning-rate schedule"),
        (lambda: SGD(learning_rate=lambda: 0.1), r"learning_rate=...\) must be a number .* or a learning-rate sched"),
        (lambda: Adam(gradient_accumulation_steps=1), r"gradient_accumulation_steps=...\) must be a whole number of"),
        (lambda: Adam(gradient_accumulation_steps=2.5), r"gradient_accumulation_steps=...\) must be a whole number"),
        (lambda: Adafactor(relative_step=1), r"relative_step=...\) must be True or False"),
        (lambda: ScheduleFreeAdamW(warmup_steps=1.5), r"warmup_steps=...\) must be a whole number"),
        (lambda: Lamb(loss_scale_factor=128.0), r"Lamb\(loss_scale_factor=128.0\) is not supported by netbuilder"),
        (lambda: Adadelta(decay=0.1), r"decay=...\) is not an argument of Adadelta; netbuilder's Adadelta takes"),
        (
            lambda: get_optimizer(
                {
                    "class_name": "SGD",
                    "config": {"learning_rate": {"class_name": "ExponentialDecay", "config": {"decay_steps": 5}}},
                }
            ),
            r"ExponentialDecay: missing .*'initial_learning_rate'",
        ),
        (lambda: get_optimizer("lamb"), r"'lamb' is not supported by netbuilder: Keras 3.15's keras.optimizers.get"),
        (lambda: get_optimizer("Muon"), r"'Muon' is not supported by netbuilder: its Newton-Schulz"),
        (lambda: get_optimizer("lossscaleoptimizer"), r"not supported by netbuilder: it wraps another optimizer"),
        (lambda: get_optimizer("MultiOptimizer"), r"not supported by netbuilder: it picks an optimizer per weight"),
        (lambda: get_optimizer("adamm"), r"unknown optimizer 'adamm'; netbuilder has sgd, .*, lion, adafactor"),
    ],
)
def test_refused_arguments_and_bad_values_say_what_is_wrong(make, message):
    with pytest.raises(nb.LayerConfigError, match=message):
        make()


def test_the_moving_averages_arguments_are_checked_once_fit_overwrites_the_weights():
    with pytest.raises(
        nb.LayerConfigError, match=r"ema_overwrite_frequency=...\) must be a whole number of at least 1"
    ):
        Adam(use_ema=True, ema_overwrite_frequency=0)
    with pytest.raises(nb.LayerConfigError, match=r"`ema_momentum` must be in the range \[0, 1\]. Received: 1.5"):
        Adam(use_ema=True, ema_momentum=1.5)
    assert Adam(use_ema=True).slot_count() == Adam().slot_count() + 1


def test_keras_cannot_get_lamb_by_name_either():
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        keras.optimizers.get("lamb")
    assert "lamb" not in str(pytest.raises(nb.LayerConfigError, get_optimizer, "adamm").value)


@pytest.mark.parametrize("name", sorted(engine_optimizers.OPTIMIZERS))
def test_every_optimizer_is_keras_s_by_name_with_keras_s_defaults(name):
    """Each optimizer's defaults are the Keras class's (the Train page lists them all)."""
    ours = engine_optimizers.OPTIMIZERS[name]()
    theirs = getattr(keras.optimizers, type(ours).__name__)().get_config()
    for key, value in ours.get_config().items():
        assert theirs[key] == (value if value is None or isinstance(value, bool) else pytest.approx(value)), key
    if name != "lamb":
        assert type(get_optimizer(name.upper())) is type(ours)


def test_an_optimizer_with_a_schedule_serializes_it_as_keras_does_and_copies():
    schedule = schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=3)
    ours = AdamW(schedule, weight_decay=0.05)
    theirs = keras.optimizers.AdamW(KERAS_SCHEDULES.deserialize(schedules.serialize(schedule)), weight_decay=0.05)
    assert ours.get_config()["learning_rate"] == theirs.get_config()["learning_rate"]
    copy = get_optimizer(ours)
    assert copy == ours and copy is not ours and copy.learning_rate == schedule
    assert get_optimizer({"class_name": "AdamW", "config": ours.get_config()}) == ours


def test_adafactor_keeps_its_factored_moments_not_copies_of_the_weights():
    """The memory budget's count: a 2-axis weight keeps its rows' and columns' means, a bias a copy of itself."""
    shapes = [(300, 200), (200,), (3, 3, 8, 16)]
    optimizer = Adafactor()
    optimizer.build([np.zeros(s, np.float32) for s in shapes])
    kept = sum(a.size for slots in optimizer.slots for a in slots)
    assert kept == 300 + 200 + 200 + 3 * 3 * 8 + 3 * 3 * 16
    assert optimizer.slot_count(shapes) == pytest.approx(kept / sum(math.prod(s) for s in shapes))
    assert optimizer.slot_count() == 2  # without the shapes: each factor at most a weight's size
    for name, cls in engine_optimizers.OPTIMIZERS.items():  # the others keep whole copies, however shaped
        if cls is not Adafactor:
            built = cls()
            built.build([np.zeros(s, np.float32) for s in shapes])
            assert sum(a.size for slots in built.slots for a in slots) == built.slot_count(shapes) * sum(
                math.prod(s) for s in shapes
            ), name


def test_a_schedule_s_cost_is_counted_once_a_step():
    assert SGD().step_microseconds() == 0 < SGD(schedules.ExponentialDecay(0.1, 5, 0.5)).step_microseconds()
    assert Adam(gradient_accumulation_steps=2).update_cost() > Adam().update_cost()
    assert Adam(gradient_accumulation_steps=2).slot_count() == Adam().slot_count() + 1


# --- optimizers: steps, against Keras's own optimizer (NumPy backend) -----------------------------------------------
STEP_CASES = {
    "lion": ("Lion", {"learning_rate": 0.01}),
    "lion-decay": ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.1}),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}),
    "adadelta-rho": ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4}),
    "ftrl": ("Ftrl", {"learning_rate": 0.1}),
    "ftrl-regularized": (
        "Ftrl",
        {
            "learning_rate": 0.1,
            "learning_rate_power": -0.3,
            "initial_accumulator_value": 0.5,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.02,
            "l2_shrinkage_regularization_strength": 0.03,
            "beta": 0.5,
        },
    ),
    "lamb": ("Lamb", {"learning_rate": 0.01}),
    "lamb-decay-clipnorm": ("Lamb", {"learning_rate": 0.01, "weight_decay": 0.01, "clipnorm": 1.0}),
    "adafactor": ("Adafactor", {"learning_rate": 0.01}),
    "adafactor-options": (
        "Adafactor",
        {"learning_rate": 0.5, "relative_step": False, "clip_threshold": 0.5, "beta_2_decay": -0.5, "epsilon_2": 0.01},
    ),
    "adafactor-schedule": ("Adafactor", {"learning_rate": schedules.ExponentialDecay(0.5, 2, 0.5)}),
    "schedulefree": ("ScheduleFreeAdamW", {"learning_rate": 0.01}),
    "schedulefree-warmup-decay": ("ScheduleFreeAdamW", {"learning_rate": 0.01, "warmup_steps": 3, "weight_decay": 0.1}),
    "adam": ("Adam", {"learning_rate": 0.01}),  # Keras's 1 − β in Python's double
    "rmsprop-centered": ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    "adamax": ("Adamax", {"learning_rate": 0.01}),
    "adamw-cosine-warmup": (
        "AdamW",
        {"learning_rate": schedules.CosineDecay(0.0, 4, warmup_target=0.05, warmup_steps=2), "weight_decay": 0.1},
    ),
    "sgd-piecewise": ("SGD", {"learning_rate": schedules.PiecewiseConstantDecay([2], [0.1, 0.01]), "momentum": 0.9}),
    "adam-accumulation": ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2}),
    "nadam-accumulation-clip-schedule": (
        "Nadam",
        {
            "learning_rate": schedules.InverseTimeDecay(0.01, 2, 0.5),
            "gradient_accumulation_steps": 3,
            "global_clipnorm": 1.0,
        },
    ),
    "sgd-ema": ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True, "ema_momentum": 0.8}),
    "adam-ema-overwrite-accumulation": (
        "Adam",
        {
            "learning_rate": 0.01,
            "use_ema": True,
            "ema_overwrite_frequency": 2,
            "gradient_accumulation_steps": 2,
        },
    ),
}


def _keras_config(config: dict) -> dict:
    """The config Keras's constructor takes: a schedule as Keras's own object."""
    rate = config.get("learning_rate")
    if isinstance(rate, schedules.LearningRateSchedule):
        return {**config, "learning_rate": KERAS_SCHEDULES.deserialize(schedules.serialize(rate))}
    return config


@pytest.mark.parametrize("case", list(STEP_CASES))
def test_each_step_equals_keras_s_optimizer(case):
    name, config = STEP_CASES[case]
    shapes = [(3, 4), (4,), (2, 3, 5)]  # a kernel, a bias, a 3-axis weight (Adafactor factors the last two axes)
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    theirs = getattr(keras.optimizers, name)(**_keras_config(config))
    variables = [keras.Variable(w.copy()) for w in start]
    ours = getattr(engine_optimizers, name)(**config)
    weights = [w.copy() for w in start]
    ours.build(weights)
    for step in range(7):
        grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
        theirs.apply([g.copy() for g in grads], variables)
        ours.apply(weights, grads)
        for k, (mine, variable) in enumerate(zip(weights, variables)):
            np.testing.assert_allclose(mine, variable.value, rtol=1e-5, atol=1e-6, err_msg=f"step {step}, weight {k}")
        assert ours.iterations == int(theirs.iterations)
        np.testing.assert_allclose(ours.current_learning_rate(), theirs.learning_rate, rtol=1e-6)
    if ours.use_ema:  # what Keras's fit does at its end
        theirs.finalize_variable_values(variables)
        ours.finalize_variable_values(weights)
        for mine, variable in zip(weights, variables):
            np.testing.assert_allclose(mine, variable.value, rtol=1e-5, atol=1e-6)


def test_gradient_accumulation_changes_no_weight_between_updates():
    weights = [np.ones((2, 2), np.float32)]
    optimizer = SGD(0.1, gradient_accumulation_steps=3)
    optimizer.build(weights)
    for grad in (1.0, 2.0):
        optimizer.apply(weights, [np.full((2, 2), grad, np.float32)])
        np.testing.assert_array_equal(weights[0], 1)
    optimizer.apply(weights, [np.full((2, 2), 6.0, np.float32)])
    np.testing.assert_allclose(weights[0], 1 - 0.1 * 3)  # the mean of 1, 2 and 6
    assert optimizer.iterations == 1 and optimizer._iterations == 3
    np.testing.assert_array_equal(optimizer.accumulators[0], 0)


# --- whole runs, against Keras on JAX ------------------------------------------------------------------------------
FIT_CASES = {
    # name: (head, data kind, loss, metrics, (Keras class, config), batch size, epochs, validation split)
    "lion": ("linear", "regression", "mse", ["mae"], ("Lion", {"learning_rate": 0.003}), 8, 3, 0.0),
    "adadelta": (
        "sigmoid",
        "binary",
        "binary_crossentropy",
        ["accuracy"],
        ("Adadelta", {"learning_rate": 1.0}),
        8,
        3,
        0.2,
    ),
    "ftrl": (
        "softmax",
        "sparse",
        "sparse_categorical_crossentropy",
        [],
        (
            "Ftrl",
            {
                "learning_rate": 0.2,
                "l1_regularization_strength": 0.001,
                "l2_regularization_strength": 0.01,
                "beta": 0.1,
            },
        ),
        9,
        3,
        0.0,
    ),
    "adafactor": (
        "softmax",
        "onehot",
        "categorical_crossentropy",
        ["accuracy"],
        ("Adafactor", {"learning_rate": 0.05}),
        10,
        3,
        0.0,
    ),
    "schedulefree-warmup": (
        "linear",
        "regression",
        "huber",
        [],
        ("ScheduleFreeAdamW", {"learning_rate": 0.01, "warmup_steps": 4}),
        7,
        3,
        0.0,
    ),
    "sgd-exponential-staircase": (
        "linear",
        "regression",
        "mse",
        [],
        ("SGD", {"learning_rate": schedules.ExponentialDecay(0.1, 3, 0.7, staircase=True), "momentum": 0.5}),
        8,
        3,
        0.0,
    ),
    "adamw-cosine-warmup": (
        "sigmoid",
        "binary",
        "binary_crossentropy",
        ["accuracy"],
        (
            "AdamW",
            {
                "learning_rate": schedules.CosineDecay(0.0, 12, warmup_target=0.02, warmup_steps=5, alpha=0.1),
                "weight_decay": 0.1,
            },
        ),
        8,
        4,
        0.0,
    ),
    "sgd-decay-piecewise": (
        "linear",
        "regression",
        "mse",
        [],
        ("SGD", {"learning_rate": schedules.PiecewiseConstantDecay([4, 9], [0.1, 0.05, 0.01]), "weight_decay": 0.05}),
        8,
        3,
        0.0,
    ),
    "rmsprop-polynomial-cycle": (
        "softmax",
        "sparse",
        "sparse_categorical_crossentropy",
        ["accuracy"],
        ("RMSprop", {"learning_rate": schedules.PolynomialDecay(0.01, 5, power=2.0, cycle=True)}),
        9,
        3,
        0.0,
    ),
    "adagrad-inverse-time": (
        "linear",
        "regression",
        "mean_absolute_error",
        [],
        ("Adagrad", {"learning_rate": schedules.InverseTimeDecay(0.1, 2, 0.3)}),
        10,
        3,
        0.0,
    ),
    "nadam-restarts": (
        "linear",
        "regression",
        "mse",
        [],
        ("Nadam", {"learning_rate": schedules.CosineDecayRestarts(0.01, 3, t_mul=1.5, m_mul=0.8)}),
        8,
        3,
        0.0,
    ),
    "adam-accumulation": (
        "softmax",
        "onehot",
        "categorical_crossentropy",
        ["accuracy"],
        ("Adam", {"learning_rate": 0.02, "gradient_accumulation_steps": 3}),
        6,
        3,
        0.0,
    ),
    "adamax-accumulation-schedule": (
        "linear",
        "regression",
        "mse",
        [],
        ("Adamax", {"learning_rate": schedules.ExponentialDecay(0.02, 4, 0.5), "gradient_accumulation_steps": 2}),
        8,
        3,
        0.0,
    ),
    # Keras's fit ends by overwriting the weights with their averages: ours does it here, as fit will. Keras on JAX
    # cannot train on after that (the weights and their averages share a buffer it donates twice): no train_on_batch
    "sgd-ema": (
        "linear",
        "regression",
        "mse",
        [],
        ("SGD", {"learning_rate": 0.05, "momentum": 0.5, "use_ema": True, "ema_momentum": 0.9}),
        8,
        3,
        0.0,
    ),
    "adam-ema-overwrite": (
        "sigmoid",
        "binary",
        "binary_crossentropy",
        ["accuracy"],
        ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.8, "ema_overwrite_frequency": 4}),
        8,
        3,
        0.0,
    ),
}


def _serialized(config: dict) -> dict:
    """The config as the oracle gives it to keras.optimizers.get: a schedule in Keras's serialized form."""
    rate = config.get("learning_rate")
    if isinstance(rate, schedules.LearningRateSchedule):
        return {**config, "learning_rate": schedules.serialize(rate)}
    return config


def _ours(head, kind, loss, metrics, optimizer, batch, epochs, split):
    """Our run, as the oracle runs Keras's: fit, evaluate, then train_on_batch twice (plain, then return_dict=True)."""
    spec = MLP(head, 3 if kind in ("sparse", "onehot") else 1)
    model = nb.Sequential([nb.Input(spec.input_shape), *spec.layer_objects()], seed=spec.seed)
    start = model.get_weights()
    model.compile(
        optimizer=get_optimizer({"class_name": optimizer[0], "config": optimizer[1]}), loss=loss, metrics=metrics
    )
    x, y = _case_data(spec, kind)
    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, validation_split=split)
    on_batch = None if model.optimizer.use_ema else 6  # Keras on JAX fails at train_on_batch after EMA (FIT_CASES)
    return {"spec": spec, **results(model, start, x, y, history, batch, on_batch)}


@pytest.fixture(scope="module")
def keras_fits():
    ours = {name: _ours(*case) for name, case in FIT_CASES.items()}
    jobs = []
    for name, (head, kind, loss, metrics, (cls, config), batch, epochs, split) in FIT_CASES.items():
        run = ours[name]
        jobs.append(
            {
                "model_json": spec_model_json(run["spec"]),
                "weights": run["start"],
                "x": run["x"],
                "y": run["y"],
                "optimizer": (cls, _serialized(config)),
                "loss": _keras_loss(loss),
                "metrics": metrics,
                "batch_size": batch,
                "epochs": epochs,
                "validation_split": split,
                **({"bx": run["x"][:6], "by": run["y"][:6]} if "train_on_batch" in run else {}),
            }
        )
    return dict(zip(FIT_CASES, run_jobs(jobs))), ours


@pytest.mark.parametrize("name", list(FIT_CASES))
def test_fit_evaluate_and_train_on_batch_equal_keras_on_jax(keras_fits, name):
    theirs, ours = keras_fits
    run, expected = ours[name], theirs[name]
    assert_fit_equals(run, expected)
    assert ("train_on_batch" in run) == ("train_on_batch" in expected)
    if "train_on_batch" in run:
        assert_train_on_batch_equals(run, expected)
