"""The Train page: data, Keras's compile/fit settings, and training watched live, exactly as Keras trains.

A run goes on in pieces inside a fragment that reruns itself while training, so the page stays live,
other visitors are not kept waiting, and Stop keeps what was learned so far. The trained model
becomes the current model (one Undo away from the untrained one).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from ..engine.errors import NetbuilderError
from ..engine.shapes import format_shape
from ..studio import data, datasets
from ..studio.spec import ModelSpec
from ..studio.train import CROSSENTROPIES, DEFAULT_RATES, LOSSES, Settings, TrainingRun, check_data
from ..views.plots import boundary_image
from . import state
from .state import ss

SOURCES = {**datasets.TITLES, "typed": "x and y, typed or pasted", "csv": "a CSV file"}


def _settings() -> Settings:
    return ss.setdefault("train_settings", Settings())


def _set(field: str) -> None:
    """A settings widget changed: keep the value apart from the widget (the page may not draw it next time)."""
    value = ss[f"train_{field}"]
    changes = {field: value}
    if field == "optimizer":  # each optimizer starts at Keras's own default rate
        changes["learning_rate"] = DEFAULT_RATES[value]
    ss.train_settings = replace(_settings(), **changes)


def _source_changed() -> None:
    ss.train_source = ss.train_source_widget


def _typed(key: str) -> None:
    ss[f"train_{key}_text"] = ss[f"train_{key}"]


def page(spec: ModelSpec) -> None:
    st.markdown("Train the model you built on data, with Keras's `compile` and `fit` — every step computed exactly as "
                "Keras (on its JAX backend) computes it.")
    left, right = st.columns([2, 3], gap="medium")
    with left:
        loaded = data_panel(spec)
        settings_panel()
        start_stop(spec, loaded)
    with right:
        st.fragment(live, run_every=0.3 if _running() else None)()


def _running() -> bool:
    run = ss.get("training")
    return run is not None and not run.done


# --- data ---------------------------------------------------------------------------------------------
def data_panel(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray] | None:
    ss.train_source_widget = ss.setdefault("train_source", "xor")
    st.selectbox("Data", list(SOURCES), key="train_source_widget", format_func=SOURCES.get, on_change=_source_changed)
    source = ss.train_source
    try:
        if source in datasets.DATASETS:
            chosen = datasets.get(source, seed=spec.seed)
            st.caption(f"{chosen.about} {len(chosen.x):,} samples of shape {format_shape(chosen.x.shape[1:])}.")
            x, y = chosen.x, chosen.y
        elif source == "typed":
            for key, label, example in (("x", "x: the inputs, a batch", "[[0, 0], [0, 1], [1, 0], [1, 1]]"),
                                        ("y", "y: the targets, one per sample", "[[0], [1], [1], [0]]")):
                ss[f"train_{key}"] = ss.setdefault(f"train_{key}_text", "")
                st.text_area(label, key=f"train_{key}", height=80, placeholder=example, on_change=_typed, args=(key,))
            if not ss.train_x_text.strip() or not ss.train_y_text.strip():
                st.caption("Type x and y above (the numbers as nested lists; NumPy's print format works too).")
                return None
            x = data.parse_array(ss.train_x_text, spec.input_shape).array
            y = data.parse_numbers(ss.train_y_text)
        else:
            upload = st.file_uploader("CSV: each row the input values, then the target(s)", type=["csv", "txt"], key="train_csv")
            if upload is None:
                return None
            x, y = data.parse_csv(upload.getvalue().decode("utf-8", errors="replace"), spec.input_shape)
        check_data(spec, x, y)
    except NetbuilderError as e:
        st.error(f"Training data: {state.plain(state.sentence(str(e)))}")
        return None
    return x, y


def settings_panel() -> None:
    settings = _settings()
    for field in ("loss", "optimizer", "learning_rate", "epochs", "batch_size", "validation_split", "from_logits", "delta"):
        ss[f"train_{field}"] = getattr(settings, field)
    a, b = st.columns(2)
    a.selectbox("Loss", LOSSES, key="train_loss", on_change=_set, args=("loss",))
    b.selectbox("Optimizer", list(DEFAULT_RATES), key="train_optimizer", on_change=_set, args=("optimizer",),
                help="Keras's defaults: learning rate 0.01 for sgd, 0.001 for the others.")
    if settings.loss in CROSSENTROPIES:
        a.checkbox("From logits", key="train_from_logits", on_change=_set, args=("from_logits",),
                   help="Keras's from_logits=True: the last layer gives raw scores (no sigmoid or softmax) and the loss applies it.")
    elif settings.loss == "huber":
        a.number_input("Delta", key="train_delta", min_value=1e-6, max_value=1e6, format="%g", step=0.1,
                       on_change=_set, args=("delta",), help="Keras's Huber(delta=1.0): squared error within delta, linear beyond.")
    a, b, c, d = st.columns(4)
    a.number_input("Learning rate", key="train_learning_rate", min_value=1e-6, max_value=10.0, format="%g", step=0.001,
                   on_change=_set, args=("learning_rate",))
    b.number_input("Epochs", key="train_epochs", min_value=1, max_value=10_000, step=1, on_change=_set, args=("epochs",))
    c.number_input("Batch size", key="train_batch_size", min_value=1, max_value=4096, step=1, on_change=_set, args=("batch_size",))
    d.number_input("Validation", key="train_validation_split", min_value=0.0, max_value=0.9, step=0.05, format="%g",
                   on_change=_set, args=("validation_split",), help="The fraction of samples, taken from the end, kept for validation.")


def start_stop(spec: ModelSpec, loaded) -> None:
    with st.container(horizontal=True, gap="small"):
        st.button("Train", icon=":material/play_arrow:", key="train_start", type="primary", disabled=loaded is None or _running(),
                  on_click=on_train, args=(loaded,))
        st.button("Stop", icon=":material/stop:", key="train_stop", disabled=not _running(), on_click=on_stop)
    state.show_notices("train")


def on_train(loaded) -> None:
    x, y = loaded
    try:
        ss.training = TrainingRun.start(state.spec(), _settings(), x, y)
        ss.training_committed = False
    except NetbuilderError as e:
        state.notify("train", "error", f"Could not train: {state.plain(state.sentence(str(e)))}")


def on_stop() -> None:
    run = ss.get("training")
    if run is not None:
        run.stopped = True


# --- the live part -------------------------------------------------------------------------------------
def live() -> None:
    run: TrainingRun | None = ss.get("training")
    if run is None:
        st.info("Pick data and settings, then Train. The loss curve, the metric and (for 2 inputs) the decision "
                "boundary are redrawn while it learns.")
        return
    if run.spec != state.spec() and not run.done:
        run.stopped = True
        state.notify("train", "warning", "The model changed, so training stopped.")
    if not run.done:
        with state.guard("training step"):
            run.piece(checkpoint=state.checkpoint, waiting=state.waiting)
    show(run)
    if run.done and not ss.get("training_committed"):
        finish(run)


def finish(run: TrainingRun) -> None:
    """The trained weights become the current model (undoable), once."""
    ss.training_committed = True
    trained = run.trained_spec()
    how = "stopped" if run.stopped and not run.run.done else "finished"
    if state.commit(lambda s: trained, "keep the trained weights", "train"):
        state.notify("train", "success", f"Training {how} after {run.run.epoch} epoch(s); the trained weights are now "
                                         "the model's (Undo brings the untrained ones back).")
    st.rerun()  # the whole page: the graph, the outputs and Undo follow the trained model


def show(run: TrainingRun) -> None:
    history = run.run.history.history
    st.progress(run.run.progress, text=f"Epoch {min(run.run.epoch + 1, run.settings.epochs)} of {run.settings.epochs}"
                + (" — stopped" if run.stopped and not run.run.done else " — done" if run.done else ""))
    if history:
        st.caption(" · ".join(f"{key} {values[-1]:.4g}" for key, values in history.items()) + f" (epoch {len(history['loss'])})")
    with state.guard("training picture"):
        picture(run)
    if history:
        epochs = pd.DataFrame(history, index=pd.RangeIndex(1, len(history["loss"]) + 1, name="epoch"))
        st.markdown("**Per epoch**, as Keras's History reports it")
        st.line_chart(epochs, height=180)
    if run.batch_losses:
        st.markdown("**Loss, batch by batch** (each before its update)")
        st.line_chart(pd.DataFrame({"loss": run.batch_losses}), height=150)
    with state.guard("weights before and after"):
        weights_change(run)


def picture(run: TrainingRun) -> None:
    field = run.boundary()
    if field is not None:
        probabilities, extent = field
        st.markdown("**Decision boundary**: the model's output over the plane (blue 0, white 0.5, red 1), and the data")
        st.image(boundary_image(probabilities, extent, run.x, run.y), width=320)
        return
    curve = run.curve()
    if curve is not None:
        xs, ys = curve
        st.markdown("**The model's curve** over the data")
        points = pd.DataFrame({"x": run.x[:, 0], "data": run.y.reshape(len(run.x), -1)[:, 0]}).sort_values("x")
        line = pd.DataFrame({"x": xs, "model": ys})
        st.line_chart(pd.merge(points, line, on="x", how="outer").set_index("x"), height=200)


def weights_change(run: TrainingRun) -> None:
    layers = [layer for layer in run.model.layers if layer.weights]
    rows, k = [], 0
    for layer in layers:
        for weight_spec, after in zip(layer.weight_specs(layer.built_shape), layer.weights):
            before = run.before[k]
            k += 1
            rows.append({"weight": f"{layer.name}.{weight_spec.name}", "shape": format_shape(after.shape),
                         "mean |w| before": float(np.mean(np.abs(before))), "mean |w| now": float(np.mean(np.abs(after))),
                         "largest change": float(np.max(np.abs(after - before))) if after.size else 0.0})
    if rows:
        st.markdown("**Weights before and after**")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
