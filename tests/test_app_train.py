"""The Train page through AppTest: train the XOR preset, stop a run and keep its progress, undo a training,
carry trained weights in a share link and in exported Keras code, and every refusal said clearly."""

import json
import os
import signal
import time
from dataclasses import replace

import numpy as np
import pandas as pd
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

from kind_harness import run_keras_code
from netbuilder.engine.training import Loss
from netbuilder.engine.budget import public, using
from netbuilder.engine.errors import NetbuilderError
from netbuilder.studio import datasets, share, workers
from netbuilder.studio.models import built, fresh
from netbuilder.studio.run import packed
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.studio.train import LossCurve, Settings, Training, TrainingRun, _train
from netbuilder.studio.workers import Recorder
from test_app import TRAIN, model, open_app, page, run, select, texts

RUN_SECONDS = 120  # a run trains in a worker meanwhile; the page is drawn again until it has ended


def load(at, name: str):
    return run(at.selectbox(key="preset_name").set_value(name))  # choosing a preset loads it


def on_train_page(name: str):
    at = load(open_app(), name)
    page(at, TRAIN)
    return at


def train_to_the_end(at):
    run(at.button(key="train_start").click())
    return until_ended(at)


def until_ended(at):
    """The page drawn again, as its live part is while a run trains in its worker, until the run has ended and the
    page has taken what it learned."""
    end = time.monotonic() + RUN_SECONDS
    while time.monotonic() < end:
        if at.session_state["training"].done and at.session_state["training_committed"]:
            return at
        at.session_state["training"].job.wait(0.2)
        run(at)
    raise AssertionError("training did not finish")


def test_train_the_xor_preset_to_95_percent_and_undo_it():
    at = on_train_page("train-xor")
    untrained = model(at)
    assert (
        at.selectbox(key="train_loss").value == "binary_crossentropy"
        and at.number_input(key="train_epochs").value == 60
    )
    at = train_to_the_end(at)
    history = at.session_state["training"].progress.history
    assert history["accuracy"][-1] >= 0.95
    trained = model(at)
    assert trained.trained and trained.layers == untrained.layers
    xor = datasets.get("xor", seed=untrained.seed)
    accuracy = np.mean((built(trained).predict(xor.x) > 0.5) == (xor.y > 0.5))
    assert accuracy >= 0.95  # the current model is the trained one
    assert "Training finished: 60 epoch(s); the trained weights are now the model's" in texts(at)
    run(at.button(key="undo").click())
    assert model(at) == untrained and not model(at).trained
    run(at.button(key="redo").click())
    assert model(at) == trained


def test_stop_mid_run_keeps_what_was_learned():
    at = on_train_page("train-spirals")  # 300 epochs: far more than one piece
    run(at.number_input(key="train_batch_size").set_value(1))  # 300 × 600 steps: minutes, unless stopped
    run(at.button(key="train_start").click())
    training = at.session_state["training"]
    while training.progress is None or not training.progress.complete:
        training.job.wait(0.1)
    run(at.button(key="train_stop").click())
    assert training.stopping and at.button(key="train_stop").disabled  # asked once: it ends after its batch
    at = until_ended(at)
    progress = training.progress
    assert progress.stopped and not progress.failure and 0 < progress.complete < 300
    # the epoch being trained when Stop came, counted from 1 as the progress line counts it, and the epochs complete
    assert (
        f"Training stopped during epoch {progress.complete + 1} of 300, after {progress.complete} complete epoch(s)"
        in texts(at)
    )
    assert model(at).trained and model(at) == training.trained_spec()


def test_a_trained_model_travels_in_its_link_and_its_exported_code():
    at = train_to_the_end(on_train_page("train-xor"))
    trained = model(at)
    token = at.query_params["model"]
    opened = share.decode(token).spec
    assert opened == trained and opened.trained  # 105 weights fit a link
    x = datasets.get("xor", seed=trained.seed).x[:16]
    expected = built(trained).predict(x)
    np.testing.assert_allclose(run_keras_code(built(trained), x), expected, rtol=1e-5, atol=1e-6)
    fresh = open_app({"model": token})
    np.testing.assert_array_equal(built(model(fresh)).predict(x), expected)


def test_editing_the_model_after_training_starts_from_the_seed_again():
    at = train_to_the_end(on_train_page("train-xor"))
    assert model(at).trained
    page(at, 0)
    run(at.number_input(key=f"units_{model(at).layers[0].id}").set_value(6))
    assert not model(at).trained


def test_data_that_does_not_fit_the_model_and_runs_over_budget_are_refused_clearly():
    at = open_app()
    page(at, TRAIN)  # the seed model takes (3, 2) samples; XOR has 2 features
    assert (
        "The data does not fit the model: the data's samples have shape (2,), but the model's input is (3, 2)."
        in texts(at)
    )
    assert at.button(key="train_start").disabled
    at = load(open_app(), "train-digits")
    select(at, 1)
    run(at.number_input(key=f"units_{model(at).layers[1].id}").set_value(8192))  # 600 K mult-adds a sample
    page(at, TRAIN)
    run(at.number_input(key="train_epochs").set_value(10_000))
    run(at.button(key="train_start").click())
    assert "Could not train: training 1,797 samples for 10,000 epochs" in texts(at) and "train at most" in texts(at)
    assert not model(at).trained


def test_typed_x_and_y_train_the_model():
    at = on_train_page("train-xor")
    run(at.selectbox(key="train_source_widget").set_value("typed"))
    at.text_area(key="train_x").input("[[0 0] [0 1] [1 0] [1 1]]")
    at.text_area(key="train_y").input("[[0], [1], [1], [0]]")
    run(at)
    assert not at.button(key="train_start").disabled
    at = train_to_the_end(at)
    assert len(at.session_state["training"].x) == 4 and model(at).trained


def shows(at, kind: str, key: str) -> bool:
    return any(widget.key == key for widget in getattr(at, kind))


def test_from_logits_for_the_cross_entropies_and_delta_for_huber_with_keras_defaults():
    at = on_train_page("train-xor")  # binary_crossentropy
    assert at.checkbox(key="train_from_logits").value is False and not shows(at, "number_input", "train_delta")
    run(at.checkbox(key="train_from_logits").check())
    run(at.button(key="train_start").click())
    assert at.session_state["training"].settings.compiled_loss() == Loss("binary_crossentropy", from_logits=True)
    until_ended(at)
    run(at.selectbox(key="train_loss").set_value("huber"))
    assert not shows(at, "checkbox", "train_from_logits") and at.number_input(key="train_delta").value == 1.0
    run(at.number_input(key="train_delta").set_value(0.25))
    run(at.button(key="train_start").click())
    assert at.session_state["training"].settings.compiled_loss() == Loss(
        "huber", delta=0.25
    )  # from_logits set before is not passed on
    run(at.selectbox(key="train_loss").set_value("mean_squared_error"))
    assert not shows(at, "checkbox", "train_from_logits") and not shows(at, "number_input", "train_delta")


def _small_run() -> tuple:
    spec = ModelSpec(
        (2,),
        (LayerSpec.make(0, "Dense", units=8, activation="tanh"), LayerSpec.make(1, "Dense", units=1)),
        seed=3,
    ).validate()
    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    return spec, Settings("mean_squared_error", "sgd", 0.01, epochs=5, batch_size=8), x, np.tanh(x[:, :1])


def test_a_run_in_a_worker_learns_what_the_same_run_learns_here_and_reports_as_it_goes():
    spec, settings, x, y = _small_run()
    with using(public()):
        training = Training.start(spec, settings, x, y, visitor="a visitor")
        here = TrainingRun.start(spec, settings, x, y)
    assert training.job.wait(60) and training.progress.done and training.progress.steps == 10
    while not here.done:
        here.piece()
    for learned, expected in zip(training.trained_spec().weights.arrays, here.model.get_weights(), strict=True):
        np.testing.assert_array_equal(learned, expected)
    assert training.progress.history == here.progress().history


def test_a_run_keeps_its_own_copies_of_the_weights():
    """The model trained, `before` and the weights sent back each hold their own arrays (the memory the run is
    counted for), and the shared weights cache is not trained."""
    spec, settings, x, y = _small_run()
    with using(public()):
        progress, learned = _train(Recorder(), *packed(spec), settings, x, y, public())
        seed = built(spec).get_weights()
        here = TrainingRun.start(spec, settings, x, y)
    here.piece()
    now = [w for layer in here.model.layers for w in layer.weights]
    for first, before, current in zip(seed, here.before, now, strict=True):
        np.testing.assert_array_equal(before, first)  # training changed the model's arrays in place, not these
        assert not np.array_equal(current, before) and not np.shares_memory(before, current)
    assert progress.done and all(not np.array_equal(a, b) for a, b in zip(learned, seed))
    for first, again in zip(seed, built(spec).get_weights()):
        np.testing.assert_array_equal(first, again)  # the shared weights cache was not trained


def test_a_stopped_job_ends_after_its_piece_with_what_it_learned_and_a_broken_step_stops_once(monkeypatch):
    spec, settings, x, y = _small_run()
    settings = replace(settings, epochs=5_000, batch_size=1)  # tens of seconds of training, unless stopped
    with using(public()):
        progress, learned = _train(Recorder(stop_after=2), *packed(spec), settings, x, y, public())
    assert progress.stopped and not progress.failure and learned is not None and 0 < progress.steps < 80_000
    calls = []

    def broken(self, x, y, rng, sample_weights=None):
        calls.append(1)
        raise RuntimeError("a fault no one foresaw")

    monkeypatch.setattr("netbuilder.engine.model.Sequential._gradients", broken)
    with using(public()):
        progress, learned = _train(Recorder(), *packed(spec), settings, x, y, public())
    assert calls == [1] and progress.failure == "something went wrong in a training step" and learned is None


def test_the_train_page_says_how_many_runs_wait_before_its_own():
    pool = workers.pool()
    busy = [pool.submit(time.sleep, (3,), visitor=f"another visitor {k}") for k in range(pool.config.workers + 1)]
    at = on_train_page("train-xor")
    run(at.button(key="train_start").click())
    assert "Waiting for a free worker for this training run: 1 run queued before yours." in texts(at)
    assert until_ended(at) and model(at).trained and all(job.wait(10) for job in busy)


def test_a_recurrent_layers_own_dropout_is_kept_for_inference_and_refused_training_by_name():
    spec = ModelSpec(
        (4, 2), (LayerSpec.make(0, "GRU", units=3, recurrent_dropout=0.25), LayerSpec.make(1, "Dense", units=1))
    )
    at = open_app({"model": share.encode(spec)})
    assert model(at) == spec
    page(at, TRAIN)
    run(at.selectbox(key="train_source_widget").set_value("typed"))
    at.text_area(key="train_x").input(str(np.ones((4, 4, 2)).tolist()))
    at.text_area(key="train_y").input("[[0], [1], [1], [0]]")
    run(at)
    run(at.button(key="train_start").click())
    assert (
        "Could not train: This model cannot be trained in netbuilder: layer 'gru' (GRU) has recurrent_dropout=0.25"
        in texts(at)
    )
    assert "training" not in at.session_state and not model(at).trained


# --- issue 17: the faults a newcomer met on the Train page ------------------------------------------------------------
def charts(at) -> list[tuple[dict, pd.DataFrame]]:
    """The page's charts: each one's Vega-Lite specification and the data Streamlit sends with it (as Arrow)."""
    return [
        (json.loads(chart.proto.spec), convert_arrow_bytes_to_pandas_df(chart.proto.data.data))
        for chart in at.get("vega_lite_chart")
    ]


def test_data_that_does_not_fit_the_model_offers_an_mlp_and_the_input_shape_and_undo_takes_them_back():
    at = open_app()
    page(at, TRAIN)  # the seed model (3, 2) → ... → (None, 4) and XOR's 2 features
    assert at.button(key="train_start").disabled
    seed = model(at)
    run(at.button(key="advice_model").click())
    mlp = model(at)
    assert mlp.input_shape == (2,) and [layer.kind for layer in mlp.layers] == ["Dense", "Dense", "Dense"]
    assert mlp.layers[-1].values["units"] == 1 and mlp.layers[-1].values["activation"] == "sigmoid"
    assert at.selectbox(key="train_loss").value == "binary_crossentropy" and not at.button(key="train_start").disabled
    run(at.button(key="undo").click())
    assert model(at) == seed
    run(at.button(key="advice_shape").click())  # the other way out: the seed model's layers on XOR's 2 features
    assert model(at).input_shape == (2,) and model(at).layers == seed.layers


def test_a_loss_that_does_not_fit_the_labels_is_said_beside_loss_with_the_loss_that_does():
    """The digits' integer labels with 10 outputs and mean_squared_error showed "something went wrong" and left Train
    disabled and Stop enabled until Stop was pressed."""
    at = on_train_page("train-digits")
    run(at.selectbox(key="train_loss").set_value("mean_squared_error"))
    assert (
        "The loss does not fit the data: mean_squared_error needs a target of the output's shape (10,) per sample; "
        "these targets have shape () per sample (the model's output is (None, 10))."
    ) in texts(at)
    assert at.button(key="train_start").disabled and at.button(key="train_stop").disabled
    assert at.button(key="advice_loss").label == "Use sparse_categorical_crossentropy"
    run(at.button(key="advice_loss").click())
    assert (
        at.selectbox(key="train_loss").value == "sparse_categorical_crossentropy"
        and not at.button(key="train_start").disabled
    )
    run(at.selectbox(key="train_loss").set_value("binary_crossentropy"))
    assert "The loss does not fit the data: binary_crossentropy needs a target of the output's shape (10,)" in texts(at)


def test_a_run_that_diverges_stops_says_why_and_keeps_no_weights_that_are_not_finite():
    at = open_app()
    page(at, TRAIN)
    run(at.selectbox(key="train_source_widget").set_value("typed"))
    at.text_area(key="train_x").input("[[0, 0], [0, 1], [1, 0], [1, 1]]")
    run(at.text_area(key="train_y").input("[[1e30], [2e30], [3e30], [4e30]]"))  # squared, beyond float32
    run(at.button(key="advice_model").click())  # an MLP with one linear output, trained with mean_squared_error
    run(at.selectbox(key="train_optimizer").set_value("sgd"))
    run(at.number_input(key="train_learning_rate").set_value(10.0))
    at = train_to_the_end(at)
    training = at.session_state["training"]
    assert training.progress.failure.startswith("training diverged at epoch 1, batch 1: the loss became inf")
    assert "Training stopped: training diverged at epoch 1, batch 1" in texts(at)
    assert not at.button(key="train_start").disabled and at.button(key="train_stop").disabled  # nothing is left stuck
    assert training.trained_spec() is None and not model(at).trained  # no step took effect: nothing to keep


def test_a_worker_that_dies_mid_run_is_said_and_the_model_is_kept():
    at = on_train_page("train-spirals")
    untrained = model(at)
    run(at.number_input(key="train_batch_size").set_value(1))
    run(at.button(key="train_start").click())
    training = at.session_state["training"]
    while training.progress is None:
        training.job.wait(0.1)
    pool = workers.pool()
    for pid in pool.pids():  # whichever worker runs it
        os.kill(pid, signal.SIGKILL)
    at = until_ended(at)
    assert "Training stopped: the worker process running it stopped (out of memory, killed, or a crash)" in texts(at)
    assert model(at) == untrained and not at.button(key="train_start").disabled
    at = train_to_the_end(run(at.number_input(key="train_epochs").set_value(2)))
    assert model(at).trained  # the pool replaced its workers


def test_a_link_and_a_reload_keep_the_training_settings():
    at = on_train_page("train-xor")
    run(at.number_input(key="train_batch_size").set_value(16))
    reopened = open_app({"model": at.query_params["model"]})
    assert reopened.session_state["train_settings"] == Settings("binary_crossentropy", "adam", 0.03, 60, 16, data="xor")
    page(reopened, TRAIN)
    assert (
        reopened.selectbox(key="train_loss").value,
        reopened.number_input(key="train_epochs").value,
        reopened.number_input(key="train_learning_rate").value,
    ) == ("binary_crossentropy", 60, 0.03)
    typed = open_app()
    page(typed, TRAIN)
    run(typed.selectbox(key="train_source_widget").set_value("typed"))
    typed.text_area(key="train_x").input("[[0, 0], [1, 1]]")
    run(typed.text_area(key="train_y").input("[[0], [1]]"))
    again = open_app({"model": typed.query_params["model"]})
    assert again.session_state["train_settings"].data == "typed"
    assert (again.session_state["train_x_text"], again.session_state["train_y_text"]) == (
        "[[0, 0], [1, 1]]",
        "[[0], [1]]",
    )


def test_after_undo_the_train_page_shows_nothing_of_the_trained_model_and_redo_brings_it_back():
    at = train_to_the_end(on_train_page("train-xor"))
    assert "Epoch 60 of 60 — done" in [
        p.proto.progress.text if hasattr(p.proto, "progress") else "" for p in at.get("progress")
    ] or any("Epoch 60 of 60" in str(p.proto) for p in at.get("progress"))
    run(at.button(key="undo").click())
    assert not at.get("progress") and not charts(at) and not at.get("imgs")
    assert "The last training run trained another version of the model" in texts(at)
    run(at.button(key="redo").click())
    assert at.get("progress") and charts(at)


def test_charts_keep_loss_and_metric_apart_and_a_one_epoch_run_shows_its_point():
    at = on_train_page("train-xor")
    run(at.number_input(key="train_epochs").set_value(1))
    at = train_to_the_end(at)
    (loss, loss_data), (metric, _), (_, curve_data) = charts(at)
    assert loss["encoding"]["y"]["field"] == "loss" and metric["encoding"]["y"]["field"] == "accuracy"
    assert len(loss_data) == 1 and loss["mark"]["point"]  # one epoch: one point, drawn
    assert list(curve_data["batch"]) == [1, 2, 3, 4, 5, 6, 7]  # 200 samples in batches of 32


def test_the_loss_curve_stays_within_its_points_however_long_the_run():
    curve = LossCurve(size=8)
    for k in range(1, 1001):
        curve.add(float(k))
    xs, ys = curve.points()
    assert len(xs) <= 8 and curve.width == 128
    assert xs[0] == 1 and ys[0] == (1 + 128) / 2  # the mean of the first 128 batches
    assert xs[-1] == 897 and ys[-1] == (897 + 1000) / 2  # the batches since the last full point
    assert sum(y * min(curve.width, 1000 - x + 1) for x, y in zip(xs, ys)) == sum(range(1, 1001))  # nothing lost


def test_an_imported_model_s_constraint_is_shown_kept_and_training_refuses_it_by_name():
    """A Keras JSON whose last Dense has a kernel_constraint (netbuilder does not apply constraints): the editor says
    it is kept, not applied; the Train page refuses to train rather than train without it. Its first Dense's
    kernel_regularizer is a setting the page trains with."""
    layers = (
        LayerSpec.make(0, "Dense", units=4, activation="tanh", kernel_regularizer="l2"),
        LayerSpec.make(1, "Dense", units=1, activation="sigmoid"),
    )
    doc = json.loads(fresh(ModelSpec((2,), layers)).to_json())
    doc["config"]["layers"][2]["config"]["kernel_constraint"] = {
        "module": "keras.constraints",
        "class_name": "MaxNorm",
        "config": {"max_value": 2.0, "axis": 0},
        "registered_name": None,
    }
    at = on_train_page("train-xor")
    at.text_area(key="import_text").input(json.dumps(doc))
    run(at.button(key="import").click())
    assert model(at).layers[0].kernel_regularizer is not None and model(at).layers[1].kept
    page(at, 0)
    select(at, 1)
    assert "Kept from the imported JSON but not applied here: kernel_constraint" in texts(at)
    page(at, TRAIN)
    run(at.button(key="train_start").click())
    assert (
        "Could not train: the Keras JSON this model came from sets arguments netbuilder keeps but does not apply"
        in (texts(at))
    )
    assert "training" not in at.session_state


def test_a_run_past_its_time_limit_or_replaced_by_a_newer_run_ends_after_its_batch_and_keeps_what_it_learned():
    spec, settings, x, y = _small_run()
    settings = replace(settings, epochs=5_000, batch_size=1)  # tens of seconds of training, unless stopped
    pool = workers.Pool(workers.PoolConfig(workers=1, seconds=1))
    try:
        with using(public()):
            slow = Training.start(spec, settings, x, y, visitor="a visitor", pool=pool)
            assert slow.job.wait(30)
            assert slow.progress.failure == "it reached this server's limit of 1 s for one run"
            assert slow.progress.stopped and slow.trained_spec().trained
            pool.config = workers.PoolConfig(workers=1, seconds=60)
            older = Training.start(spec, settings, x, y, visitor="a visitor", pool=pool)
            while older.progress is None:
                older.job.wait(0.1)
            newer = Training.start(spec, replace(settings, epochs=1), x, y, visitor="a visitor", pool=pool)
            assert older.job.wait(30) and newer.job.wait(30)
        assert older.progress.failure == "a newer run of yours replaced this one" and older.trained_spec().trained
        assert newer.progress.done and not newer.progress.failure and newer.trained_spec().trained
    finally:
        pool.close()


def test_the_inside_of_the_network_is_drawn_while_it_learns_and_replayed_epoch_by_epoch_after():
    at = on_train_page("train-xor")
    at = train_to_the_end(at)
    snapshots = at.session_state["training"].progress.inside
    assert [s.epoch for s in snapshots][:3] == [0, 1, 2] and snapshots[-1].epoch == 60
    (chart,) = at.get("graphviz_chart")
    assert "∇" in chart.proto.spec and "dense_1" in chart.proto.spec  # gradient norms on the edges
    (slider,) = [s for s in at.select_slider if s.key.startswith("inside_epoch")]
    assert slider.value == 60 and "Epoch 60." in texts(at)
    run(slider.set_value(0))
    assert "Epoch 0." in texts(at)
    (chart,) = at.get("graphviz_chart")
    assert "∇" not in chart.proto.spec  # before training: no step, no gradient


def test_the_optimizer_and_loss_options_train_as_keras_objects_made_by_hand_and_travel_in_a_link():
    """Momentum, Nesterov, weight decay, a clip, a schedule and a loss's own argument set with the page's widgets
    train as the same run made here with Keras-style objects written out by hand."""
    from netbuilder.losses import BinaryFocalCrossentropy
    from netbuilder.optimizers import SGD
    from netbuilder.optimizers.schedules import ExponentialDecay

    at = on_train_page("train-xor")
    run(at.selectbox(key="train_loss").set_value("binary_focal_crossentropy"))
    run(at.number_input(key="train_loss_gamma").set_value(1.0))
    run(at.selectbox(key="train_optimizer").set_value("sgd"))
    run(at.number_input(key="train_learning_rate").set_value(0.5))
    run(at.number_input(key="train_momentum").set_value(0.9))
    run(at.checkbox(key="train_nesterov").check())
    run(at.number_input(key="train_weight_decay").set_value(0.001))
    run(at.selectbox(key="train_clip").set_value("clipnorm"))
    run(at.number_input(key="train_clip_at").set_value(0.5))
    run(at.selectbox(key="train_schedule").set_value("ExponentialDecay"))
    run(at.number_input(key="train_decay_steps").set_value(20))
    run(at.number_input(key="train_decay_rate").set_value(0.8))
    run(at.number_input(key="train_epochs").set_value(3))
    untrained = model(at)
    at = train_to_the_end(at)
    settings = at.session_state["train_settings"]
    schedule = ExponentialDecay(0.5, 20, 0.8)
    optimizer = SGD(schedule, momentum=0.9, nesterov=True, weight_decay=0.001, clipnorm=0.5)
    by_hand = fresh(untrained)
    by_hand.compile(optimizer=optimizer, loss=BinaryFocalCrossentropy(gamma=1.0), metrics=["accuracy"])
    xor = datasets.get("xor", seed=untrained.seed)
    with using(public()):
        expected = by_hand.fit(xor.x, xor.y, batch_size=settings.batch_size, epochs=3).history
    assert at.session_state["training"].progress.history == expected
    for learned, weights in zip(model(at).weights.arrays, by_hand.get_weights(), strict=True):
        np.testing.assert_array_equal(learned, weights)
    reopened = open_app({"model": at.query_params["model"]})
    assert reopened.session_state["train_settings"] == settings  # every option travels in the link


def test_a_link_s_training_options_out_of_their_bounds_are_refused_with_words():
    assert Settings.from_dict({"loss_options": [["gamma", 2.0]]}).loss_options == (("gamma", 2.0),)
    bad = {
        "loss_options": [["gamma", "x"]],
        "schedule": "Warm",
        "clip": "clipall",
        "momentum": -1,
        "decay_steps": 2.5,
        "clip_at": 0,
        "nesterov": "yes",
    }
    for key, value in bad.items():
        try:
            Settings.from_dict({key: value})
            raise AssertionError(f"{key}={value!r} was accepted")
        except NetbuilderError as e:
            assert key.split("_")[0] in str(e) or "loss options" in str(e), str(e)


def test_stop_early_stops_when_the_validation_loss_no_longer_improves_and_keeps_the_best_epochs_weights():
    from netbuilder.callbacks import EarlyStopping

    at = on_train_page("train-xor")
    run(at.number_input(key="train_validation_split").set_value(0.25))
    run(at.number_input(key="train_epochs").set_value(400))
    run(at.checkbox(key="train_early_stopping").check())
    run(at.number_input(key="train_patience").set_value(3))
    untrained = model(at)
    at = train_to_the_end(at)
    progress = at.session_state["training"].progress
    assert progress.stopped_early and progress.complete < 400 and len(progress.history["loss"]) == progress.complete
    assert f"Training stopped early after epoch {progress.complete} of 400" in texts(at)
    settings = at.session_state["train_settings"]
    by_hand = fresh(untrained)
    by_hand.compile(optimizer=settings.compiled_optimizer(), loss=settings.compiled_loss(), metrics=["accuracy"])
    xor = datasets.get("xor", seed=untrained.seed)
    stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    with using(public()):
        expected = by_hand.fit(
            xor.x, xor.y, batch_size=settings.batch_size, epochs=400, validation_split=0.25, callbacks=[stop]
        ).history
    assert progress.history == expected
    for learned, weights in zip(model(at).weights.arrays, by_hand.get_weights(), strict=True):
        np.testing.assert_array_equal(learned, weights)  # the best epoch's, restored
