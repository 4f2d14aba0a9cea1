"""The Train page: data, Keras's compile/fit settings, and training watched live, exactly as Keras trains.

A run trains in a worker process (studio.train, studio.workers); a fragment that reruns itself while it trains
draws what the worker last reported, so the page stays live and no visitor's training holds up another's page.
Stop keeps what was learned so far. The trained model becomes the current model (one Undo away from the untrained
one); what the page shows of a run belongs to the model it trained, and is hidden when another model is current.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from ..engine.errors import NetbuilderError
from ..engine.losses import LOGITS_LOSSES
from ..engine.shapes import format_shape
from ..studio import data, datasets
from ..studio.spec import ModelSpec
from ..studio.train import (
    CLIPS,
    DEFAULT_DECAYS,
    DEFAULT_RATES,
    LOSSES,
    MOMENTUM,
    RANGES,
    SCHEDULES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    Advice,
    Progress,
    Settings,
    Training,
    advise,
    feeding,
    loss_options,
    sample_shape,
)
from ..views.graph import BROWSER_CSS, MOST_LEARNING_LAYERS, learning_graph
from ..views.plots import boundary_image, curve_chart, lines_chart
from . import state
from .state import ss

SOURCES = {**datasets.TITLES, "typed": "x and y, typed or pasted", "csv": "a CSV file"}
CHART_HEIGHT = 200  # px of each training chart
FIELDS = (
    "loss",
    "optimizer",
    "learning_rate",
    "epochs",
    "batch_size",
    "validation_split",
    "from_logits",
    "delta",
    "momentum",
    "nesterov",
    "weight_decay",
    "clip",
    "clip_at",
    "schedule",
    "decay_steps",
    "decay_rate",
    "alpha",
    "early_stopping",
    "patience",
)
LOSS_HELP = {  # a line on each loss option the page offers (studio.train.loss_options)
    "label_smoothing": "Keras's label_smoothing: targets pulled toward uniform by this much (0.1: 1 → 0.9, "
    "0 → 0.1/classes), so the model is not pushed to extreme scores.",
    "alpha": "The focal losses' and Tversky's alpha: how much the positive class (Tversky: false positives) weighs.",
    "gamma": "The focal losses' gamma: how much easy, well-classified samples are down-weighted (0: cross-entropy).",
    "apply_class_balancing": "Weigh the positive class by alpha and the negative by 1 − alpha.",
    "beta": "Tversky's beta: how much false negatives weigh (alpha = beta = 0.5 is Dice).",
    "q": "The generalized cross-entropy's q: from 0 (cross-entropy) to 1 (mean absolute error), robust to noisy "
    "labels.",
}


def _settings() -> Settings:
    return ss.setdefault("train_settings", Settings())


def _change(**changes) -> None:
    ss.train_settings = replace(_settings(), **changes)


@state.callback("train")
def _set(field: str) -> None:
    """A settings widget changed: keep the value apart from the widget (the page may not draw it next time)."""
    value = ss[f"train_{field}"]
    changes = {field: value}
    if field == "optimizer":  # each optimizer starts at Keras's own default rate and weight decay
        changes["learning_rate"] = DEFAULT_RATES[value]
        changes["weight_decay"] = DEFAULT_DECAYS[value]
    _change(**changes)


@state.callback("train")
def _set_loss_option(name: str) -> None:
    options = dict(_settings().loss_options)
    options[name] = ss[f"train_loss_{name}"]
    _change(loss_options=tuple(sorted(options.items())))


@state.callback("train")
def _source_changed() -> None:
    _change(data=ss.train_source_widget)


@state.callback("train")
def _typed(key: str) -> None:
    ss[f"train_{key}_text"] = ss[f"train_{key}"]


def page(spec: ModelSpec) -> None:
    st.markdown(
        "Train the model you built on data, with Keras's `compile` and `fit` — every step computed exactly as "
        "Keras (on its JAX backend) computes it."
    )
    left, right = st.columns([2, 3], gap="medium")
    with left:
        loaded = data_panel(spec)
        advice = advise(spec, _settings(), *loaded) if loaded is not None and spec.analysis.ok and spec.layers else None
        if advice is not None and advice.loss is None:
            advice_panel(advice)  # the data does not fit the model: said under the data
        elif spec.analysis.ok and (how := feeding(spec)):
            st.caption(how)
        settings_panel(
            advice if advice is not None and advice.loss is not None else None
        )  # another loss fits: beside Loss
        start_stop(spec, loaded if advice is None else None)
    with right:
        st.fragment(live, run_every=0.3 if _running() else None)()


def _running() -> bool:
    run = ss.get("training")
    return run is not None and not run.done


# --- data ---------------------------------------------------------------------------------------------
def data_panel(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray] | None:
    ss.train_source_widget = _settings().data
    st.selectbox("Data", list(SOURCES), key="train_source_widget", format_func=SOURCES.get, on_change=_source_changed)
    source = _settings().data
    try:
        if source in datasets.DATASETS:
            chosen = datasets.get(source, seed=spec.seed)
            st.caption(f"{chosen.about} {len(chosen.x):,} samples of shape {format_shape(chosen.x.shape[1:])}.")
            return chosen.x, chosen.y
        if source == "typed":
            for key, label, example in (
                ("x", "x: the inputs, a batch", "[[0, 0], [0, 1], [1, 0], [1, 1]]"),
                ("y", "y: the targets, one per sample", "[[0], [1], [1], [0]]"),
            ):
                ss[f"train_{key}"] = ss.setdefault(f"train_{key}_text", "")
                st.text_area(label, key=f"train_{key}", height=80, placeholder=example, on_change=_typed, args=(key,))
            if not ss.train_x_text.strip() or not ss.train_y_text.strip():
                st.caption("Type x and y above (the numbers as nested lists; NumPy's print format works too).")
                return None
            x = data.parse_numbers(ss.train_x_text)
            if x.ndim < 1:
                raise NetbuilderError("x must be a list of samples, such as [[0, 0], [0, 1]]")
            return x, data.parse_numbers(ss.train_y_text)
        upload = st.file_uploader(
            "CSV: each row the input values, then the target(s)", type=["csv", "txt"], key="train_csv"
        )
        if upload is None:
            return None
        read = data.parse_csv(upload.getvalue(), sample_shape(spec))
        st.caption(read.note)
        return read.x, read.y
    except NetbuilderError as e:
        st.error(f"Training data: {state.plain(state.sentence(str(e)))}")
        return None


def advice_panel(advice: Advice) -> None:
    """What keeps the data from training the model, and one click for each way out (each an undoable edit)."""
    what = "The loss does not fit the data" if advice.loss is not None else "The data does not fit the model"
    st.warning(f"{what}: {state.plain(state.sentence(advice.problem))}")
    with st.container(horizontal=True, gap="small"):
        if advice.loss is not None:
            st.button(
                f"Use {advice.loss}", key="advice_loss", on_click=on_use_loss, args=(advice.loss,), type="primary"
            )
        if advice.model is not None:  # first: a model made for the data always fits it
            st.button(
                "Load an MLP for this data",
                key="advice_model",
                on_click=on_load_model,
                args=(advice.model, advice.model_loss),
                type="primary",
                help=f"Input {format_shape(advice.model.input_shape)} → "
                + " → ".join(f"{layer.kind}({layer.label()})" for layer in advice.model.layers)
                + f", trained with {advice.model_loss}. Undo brings your model back.",
            )
        if advice.input_shape is not None:
            st.button(
                f"Set the input shape to {format_shape(advice.input_shape)}",
                key="advice_shape",
                on_click=on_input_shape,
                args=(advice.input_shape,),
            )
    state.show_notices("advice")


@state.callback("advice")
def on_use_loss(loss: str) -> None:
    _change(loss=loss, from_logits=False)


@state.callback("advice")
def on_input_shape(shape: tuple) -> None:
    if state.commit(lambda s: s.with_input_shape(shape), f"set the input shape to {format_shape(shape)}", "advice"):
        state.fit_input("advice")


@state.callback("advice")
def on_load_model(model: ModelSpec, loss: str) -> None:
    if state.commit(
        lambda s: replace(model, seed=s.seed).validate(), "load an MLP for this data", "advice", loads=True
    ):
        _change(loss=loss, from_logits=False)
        state.keep_selection_valid()
        state.fit_input("advice")


# --- settings -----------------------------------------------------------------------------------------
def settings_panel(advice: Advice | None) -> None:
    settings = _settings()
    for name in FIELDS:
        ss[f"train_{name}"] = getattr(settings, name)
    a, b = st.columns(2)
    a.selectbox(
        "Loss",
        LOSSES,
        key="train_loss",
        on_change=_set,
        args=("loss",),
        help="What training minimises. Class labels 0, 1, 2…: sparse_categorical_crossentropy; 0/1 targets with "
        "one sigmoid output: binary_crossentropy; numbers to predict: mean_squared_error.",
    )
    b.selectbox(
        "Optimizer",
        list(DEFAULT_RATES),
        key="train_optimizer",
        on_change=_set,
        args=("optimizer",),
        help="How each step changes the weights from their gradients. adamw is adam that also shrinks every weight "
        "a little each step (weight decay 0.004); adamax uses the largest recent gradient in place of the average "
        "square; nadam adds Nesterov momentum; lion moves each weight by the sign of its momentum; adadelta, "
        "adagrad and ftrl adapt each weight's rate to its past gradients; adafactor keeps only row and column "
        "averages; schedulefreeadamw needs no schedule. Keras's default learning rates: 0.01 for sgd, 0.0025 for "
        "schedulefreeadamw, 0.001 for the others.",
    )
    if advice is not None:
        advice_panel(advice)  # the loss does not fit the data: said beside Loss
    if settings.loss in LOGITS_LOSSES:
        a.checkbox(
            "From logits",
            key="train_from_logits",
            on_change=_set,
            args=("from_logits",),
            help="Keras's from_logits=True: the last layer gives raw scores (no sigmoid or softmax) "
            "and the loss applies it.",
        )
    elif settings.loss == "huber":
        a.number_input(
            "Delta",
            key="train_delta",
            min_value=1e-6,
            max_value=1e6,
            format="%g",
            step=0.1,
            on_change=_set,
            args=("delta",),
            help="Keras's Huber(delta=1.0): squared error within delta, linear beyond.",
        )
    loss_option_fields(settings)
    a, b, c, d = st.columns(4)
    a.number_input(
        "Learning rate",
        key="train_learning_rate",
        min_value=1e-6,
        max_value=10.0,
        format="%g",
        step=0.001,
        on_change=_set,
        args=("learning_rate",),
        help="How far each step moves the weights. Too high and the loss jumps about or becomes NaN; too low and it "
        "barely moves. 0.001 to 0.03 suit Adam here.",
    )
    b.number_input(
        "Epochs",
        key="train_epochs",
        min_value=1,
        max_value=MAX_EPOCHS,
        step=1,
        on_change=_set,
        args=("epochs",),
        help="Passes over the whole data set. Each epoch's loss is one point of the History chart.",
    )
    c.number_input(
        "Batch size",
        key="train_batch_size",
        min_value=1,
        max_value=MAX_BATCH_SIZE,
        step=1,
        on_change=_set,
        args=("batch_size",),
        help="Samples per step: each step averages their gradients and updates the weights "
        "once. Small batches: more, noisier steps.",
    )
    d.number_input(
        "Validation",
        key="train_validation_split",
        min_value=0.0,
        max_value=0.9,
        step=0.05,
        format="%g",
        on_change=_set,
        args=("validation_split",),
        help="The fraction of samples, taken from the end, kept out of training to measure the model on.",
    )
    a, b, _ = st.columns(3)
    a.checkbox(
        "Stop early",
        key="train_early_stopping",
        on_change=_set,
        args=("early_stopping",),
        help="Keras's EarlyStopping(restore_best_weights=True) on the validation loss (on the loss when Validation is "
        "0): training stops once it has not improved for `patience` epochs, and the best epoch's weights are kept.",
    )
    if settings.early_stopping:
        _number(b, "patience")
    with st.expander("Optimizer: momentum, weight decay, clipping, learning-rate schedule"):
        optimizer_fields(settings)


def loss_option_fields(settings: Settings) -> None:
    """The chosen loss's other arguments (Keras's defaults until changed), two to a row."""
    offered = loss_options(settings.loss)
    given = dict(settings.loss_options)
    for row in range(0, len(offered), 2):
        for column, (name, default) in zip(st.columns(2), list(offered.items())[row : row + 2]):
            key = f"train_loss_{name}"
            ss[key] = given.get(name, default)
            common = dict(key=key, on_change=_set_loss_option, args=(name,), help=LOSS_HELP.get(name))
            if isinstance(default, bool):
                column.checkbox(name, **common)
            else:
                column.number_input(name, min_value=0.0, max_value=1e3, format="%g", step=0.05, **common)


NUMBER_FIELDS = {  # the optimizer group's numbers: label, step and a line of help (their bounds: studio.train.RANGES)
    "momentum": (
        "Momentum",
        0.1,
        "Keras's momentum: each step goes on in the direction of the steps before (0.9 is common).",
    ),
    "weight_decay": (
        "Weight decay",
        0.001,
        "Keras's weight_decay: every step first shrinks each weight by "
        "weight_decay × learning rate (0: none; adamw's default 0.004).",
    ),
    "clip_at": ("Clip at", 0.1, "The largest norm (clipnorm, global_clipnorm) or value (clipvalue) a gradient keeps."),
    "decay_steps": (
        "Decay steps",
        10,
        "Keras's decay_steps: the steps over which the rate decays (by decay rate, or to alpha).",
    ),
    "decay_rate": (
        "Decay rate",
        0.05,
        "Keras's decay_rate: ExponentialDecay's factor every decay_steps; "
        "InverseTimeDecay's rate × step / decay_steps.",
    ),
    "alpha": ("Alpha", 0.05, "CosineDecay's alpha: its last rate as a fraction of the first."),
    "patience": ("Patience", 1, "Keras's patience: epochs without a better loss before training stops."),
}


def _number(column, name: str) -> None:
    label, step, help_text = NUMBER_FIELDS[name]
    low, high = RANGES[name]
    column.number_input(
        label,
        key=f"train_{name}",
        min_value=low,
        max_value=high,
        step=step,
        format="%g",
        on_change=_set,
        args=(name,),
        help=help_text,
    )


def optimizer_fields(settings: Settings) -> None:
    """What Keras's optimizers take beside their rate: momentum (sgd, rmsprop), weight decay, one clipping, and a
    learning-rate schedule; three to a row, left to right."""
    columns = st.columns(3)
    numbers = [*(["momentum"] if settings.optimizer in MOMENTUM else []), "weight_decay"]
    for column, name in zip(columns, numbers):
        _number(column, name)
    if settings.optimizer == "sgd":
        columns[len(numbers)].checkbox(
            "Nesterov",
            key="train_nesterov",
            on_change=_set,
            args=("nesterov",),
            help="Keras's nesterov=True: the gradient is taken a momentum step ahead.",
        )
    a, b, _ = st.columns(3)
    a.selectbox(
        "Gradient clipping",
        CLIPS,
        key="train_clip",
        on_change=_set,
        args=("clip",),
        help="clipnorm: each weight's gradient scaled down to a norm of at most the value; global_clipnorm: all of "
        "them together; clipvalue: each gradient value cut to ± the value.",
    )
    if settings.clip != "none":
        _number(b, "clip_at")
    a, b, c = st.columns(3)
    a.selectbox(
        "Schedule",
        list(SCHEDULES),
        key="train_schedule",
        on_change=_set,
        args=("schedule",),
        help="Keras's learning-rate schedules, counted in steps from the learning rate: ExponentialDecay multiplies "
        "it by decay_rate every decay_steps; InverseTimeDecay divides it by 1 + decay_rate × step / decay_steps; "
        "CosineDecay lowers it along a half cosine to alpha × the rate at decay_steps.",
    )
    if settings.schedule != "constant":
        _number(b, "decay_steps")
        _number(c, "alpha" if settings.schedule == "CosineDecay" else "decay_rate")


def start_stop(spec: ModelSpec, loaded) -> None:
    with st.container(horizontal=True, gap="small"):
        st.button(
            "Train",
            icon=":material/play_arrow:",
            key="train_start",
            type="primary",
            disabled=loaded is None or _running(),
            on_click=on_train,
            args=(loaded,),
        )
        running = _running()
        stoppable = running and not ss.training.stopping
        st.button("Stop", icon=":material/stop:", key="train_stop", disabled=not stoppable, on_click=on_stop)
    state.show_notices("train")


@state.callback("train")
def on_train(loaded) -> None:
    x, y = loaded
    try:
        ss.training = Training.start(state.spec(), _settings(), x, y, visitor=state.visitor(), alive=state.still_here())
        ss.training_committed = False
    except NetbuilderError as e:
        state.notify("train", "error", f"Could not train: {state.plain(state.sentence(str(e)))}")


@state.callback("train")
def on_stop() -> None:
    """Ask the run to stop after its batch: it sends back what it learned, which the live part then keeps."""
    run = ss.get("training")
    if run is not None:
        run.stop()


# --- the live part -------------------------------------------------------------------------------------
@state.visitor_work
def live() -> None:
    run: Training | None = ss.get("training")
    if run is None:
        st.info(
            "Pick data and settings, then Train. The loss curve, the metric and (for 2 inputs) the decision "
            "boundary are redrawn while it learns."
        )
        return
    current = state.spec()
    if not run.done and run.spec != current:
        run.cancel("the model changed while it trained, so its weights were not kept")
        ss.training_committed = True  # nothing to keep: the weights belong to a model that is no longer current
    if run.done and not ss.get("training_committed"):
        finish(run)
    if current != (run.spec if not run.done or ss.get("training_result") is None else ss.training_result):
        st.info(
            "The last training run trained another version of the model, so its results are not shown "
            "(Undo or Redo brings that version back). Train again to see this one learn."
        )
        return
    if run.job.ahead is not None:
        state.Waiting("training run")(run.job.ahead)
    progress = run.progress
    if progress is not None:
        show(run, progress)
    elif not run.done:
        st.caption("Starting the run in a worker…")


def finish(run: Training) -> None:
    """A run is over: its trained weights become the current model (undoable), once, if it took a step. The whole
    page then runs again, so the buttons, the graph, the outputs and Undo follow."""
    ss.training_committed = True
    # until the trained weights are the model's, the run's results belong to its untrained model
    ss.training_result = None
    keep(run)
    st.rerun()


def keep(run: Training) -> None:
    """The run's weights as the current model, and what happened said under Train."""
    try:
        trained = run.trained_spec()
    except NetbuilderError as e:
        state.notify("train", "error", f"The trained weights could not be kept: {state.plain(state.sentence(str(e)))}")
        return
    if trained is None or not state.commit(lambda s: trained, "keep the trained weights", "train"):
        return
    ss.training_result = trained
    progress = run.progress
    epochs = progress.epochs
    if progress.failure:
        how = f"The weights learned before it stopped (epoch {progress.epoch} of {epochs}) are now the model's"
    elif progress.stopped:
        how = (
            f"Training stopped during epoch {progress.epoch} of {epochs}, after {progress.complete} complete "
            "epoch(s); the weights learned so far are now the model's"
        )
    elif progress.stopped_early:
        how = (
            f"Training stopped early after epoch {progress.complete} of {epochs}, the loss no longer improving; the "
            "best epoch's weights are now the model's"
        )
    else:
        how = f"Training finished: {epochs} epoch(s); the trained weights are now the model's"
    state.notify("train", "success", f"{how} (Undo brings the untrained ones back).")


def progress_text(run: Training, progress: Progress) -> str:
    where = f"Epoch {progress.epoch} of {progress.epochs}"
    if progress.failure:
        return f"{where} — stopped: {progress.failure}"
    if progress.stopped:
        return f"{where} — stopped ({progress.complete} complete)"
    if progress.stopped_early:
        return f"{where} — stopped early: the loss no longer improved (the best epoch's weights kept)"
    if progress.done:
        return f"{where} — done"
    return f"{where} — stopping…" if run.stopping else where


def show(run: Training, progress: Progress) -> None:
    history = progress.history
    st.progress(progress.fraction, text=state.plain(progress_text(run, progress)))
    if progress.failure:
        st.error(f"Training stopped: {state.plain(state.sentence(progress.failure))}")
    if history:
        st.caption(
            " · ".join(f"{key} {values[-1]:.4g}" for key, values in history.items())
            + f" (epoch {len(history['loss'])})"
        )
    with state.guard("training picture"):
        picture(run, progress.picture)
    if history:
        epochs = list(range(1, len(history["loss"]) + 1))
        metric = run.settings.metrics[0]  # of several outputs, each output's (Keras's dense_1_accuracy ...)
        st.markdown("**Per epoch**, as Keras's History reports it")
        left, right = st.columns(2)
        left.vega_lite_chart(
            spec=lines_chart(epochs, {k: v for k, v in history.items() if k.endswith("loss")}, "epoch", "loss"),
            width="stretch",
            height=CHART_HEIGHT,
        )
        right.vega_lite_chart(
            spec=lines_chart(epochs, {k: v for k, v in history.items() if k.endswith(metric)}, "epoch", metric),
            width="stretch",
            height=CHART_HEIGHT,
        )
    xs, ys, width = progress.curve
    if len(xs):
        per = f" (each point the mean of {width} batches)" if width > 1 else ""
        st.markdown(f"**Loss, batch by batch** (each before its update){per}")
        st.vega_lite_chart(spec=curve_chart(list(xs), list(ys)), width="stretch", height=CHART_HEIGHT)
    if progress.weights:
        st.markdown("**Weights before and after**")
        columns = ("weight", "shape", "mean |w| before", "mean |w| now", "largest change")
        rows = [(name, format_shape(shape), *numbers) for name, shape, *numbers in progress.weights]
        st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")
    if progress.inside:
        with state.guard("inside the network"):
            inside(run.spec, progress)


def inside(spec: ModelSpec, progress: Progress) -> None:
    """The network at one epoch: each layer's gradient norm and the spread of its outputs and weights, the latest
    while it trains and any epoch kept after."""
    snapshots = progress.inside
    st.markdown("**Inside the network**, epoch by epoch")
    snapshot = snapshots[-1]
    if progress.done and len(snapshots) > 1:
        epochs = [s.epoch for s in snapshots]
        chosen = st.select_slider(
            "Epoch",
            epochs,
            value=epochs[-1],
            key=f"inside_epoch_{len(epochs)}_{epochs[-1]}",  # a run with other epochs kept has a slider of its own
            help="Replay the run: the network as it was at the end of each epoch kept (0: before training).",
        )
        snapshot = snapshots[epochs.index(chosen)]
    st.caption(
        f"Epoch {snapshot.epoch}. Each layer's colour and the edge into it: its gradient, the mean over the epoch's "
        "steps of the norm of ∂loss/∂(its weights), on a log scale from the smallest (pale) to the largest (orange) "
        f"— gradients that shrink layer by layer toward the input vanish. out: how its outputs spread on the first "
        f"{snapshot.samples} training samples; w: how its weights spread (each from its smallest to its largest value)."
    )
    if len(spec.layers) <= MOST_LEARNING_LAYERS:
        st.html(f"<style>{BROWSER_CSS}</style>")  # the graph's text at the sizes it was laid out for
        st.graphviz_chart(learning_graph(spec, snapshot), width="content")
        return
    rows = [
        (name, layer.kind, inside.gradient_norm, *_span(inside.activations), *_span(inside.weights))
        for name, layer, inside in zip(spec.analysis.names, spec.layers, snapshot.layers)
    ]
    columns = ("layer", "kind", "gradient norm", "out from", "out to", "w from", "w to")
    st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True, width="stretch")


def _span(histogram) -> tuple:
    return (None, None) if histogram is None else (histogram.low, histogram.high)


def picture(run: Training, drawn: tuple | None) -> None:
    """The model's decision boundary over the data (2 input values), or its curve (1)."""
    if drawn is None:
        return
    if drawn[0] == "boundary":
        _, probabilities, extent = drawn
        st.markdown(
            "**Decision boundary**: the model's output over the plane (blue 0, white 0.5, red 1); each sample a "
            "dark dot of its class (red 1, blue 0)"
        )
        st.image(boundary_image(probabilities, extent, run.x, run.y), width=384)
        return
    _, xs, ys = drawn
    st.markdown("**The model's curve** over the data")
    points = pd.DataFrame({"x": run.x[:, 0], "data": run.y.reshape(len(run.x), -1)[:, 0]}).sort_values("x")
    line = pd.DataFrame({"x": xs, "model": ys})
    st.line_chart(pd.merge(points, line, on="x", how="outer").set_index("x"), height=200)
