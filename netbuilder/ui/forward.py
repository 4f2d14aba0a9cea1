"""The Forward pass page: samples of a data set as the input, every tensor from input to output for one chosen sample
(on one color scale, or each on its own), and the weights."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import streamlit as st

from ..engine.shapes import format_shape
from ..studio import data, datasets, share
from ..studio.run import FED, ForwardRun, NoRun, forward, runnable_part, saliency, shown_weights
from ..studio.samples import Shown
from ..studio.spec import ModelSpec
from ..views import heatmap
from . import state, widgets
from .state import ss

MAX_FROM_DATASET = 16  # samples of a data set put in the input at once: a batch to page through, its text a few kB
DIGITS = "digits"  # the data set offered, input shape and all, when none fits the model's input


def page(spec: ModelSpec) -> None:
    with state.guard("data set input"):
        dataset_row(spec)
    parsed = state.current_input()
    if isinstance(parsed, state.InputProblem):
        st.warning(
            f"The input data has a problem: {state.plain(parsed.message)} "
            "Fix it under Input in the Build page's layer list."
        )
        return
    sample = widgets.sample_index(len(parsed.batch), "forward_sample")
    run = forward(
        spec,
        parsed.batch,
        sample,
        heatmap.CUT,
        checkpoint=state.checkpoint,
        waiting=state.Waiting(),
        visitor=state.visitor(),
    )
    if not isinstance(run, ForwardRun):
        st.warning(f"No forward pass: {state.plain(state.sentence(run.reason))}")
        return
    if not run.complete:
        issue = spec.analysis.issue
        st.warning(f"The model stops at {issue.layer_name}: {state.plain(issue.message)} Below: the tensors up to it.")
    if run.note:
        st.info(run.note)
    if spec.more_inputs:
        st.caption(FED)
    layouts = widgets.channels_first(spec)
    kept = [(title, t, first) for title, t, first in zip(run.titles, run.tensors, layouts) if t is not None]
    ss.own_scales = ss.get("own_scales_kept", False)  # the toggle as the visitor left it, also after another page
    own = ss.own_scales
    known = _held_samples(spec)
    which = f" ({known.label(sample)})" if known is not None and sample < known.count else ""
    st.caption(
        f"Sample {sample}{which} of each tensor: an image (rows, columns, channels) as one picture per channel; "
        f"any other tensor as one row per position of the leading axes and one column per feature of the last "
        f"axis (at most {widgets.HEAT_CELLS} of each); "
        + ("each picture on its own scale." if own else "every picture on the same scale.")
    )
    titles = [title for title, *_ in kept]
    chosen = st.selectbox(
        "Numbers of", range(len(kept)), format_func=lambda i: titles[i], key="tensor_numbers", index=len(kept) - 1
    )
    st.markdown(f"**{state.plain(titles[chosen])}** — `{format_shape(kept[chosen][1].shape)}`, sample {sample}")
    widgets.sample_numbers(kept[chosen][1])
    st.subheader("Every tensor, input to output")
    st.toggle(
        "Each picture on its own scale",
        key="own_scales",
        on_change=on_own_scales,
        help="Off: one color scale for every tensor, so their sizes compare. On: each tensor's largest |value| is "
        "full color, so a feature map of small values shows its pattern (strokes, edges) instead of white.",
    )
    state.show_notices("scales")
    scale = None if own else max(shown.magnitude for _, shown, _ in kept)
    widgets.heatmap_legend(scale)
    for title, tensor, first in kept:
        widgets.tensor_picture(title, tensor, sample, scale, first)
    if run.complete and not spec.more_inputs and len(spec.output_positions) == 1:
        with state.guard("saliency"):
            saliency_panel(spec, parsed.batch, sample, run.tensors[-1], layouts[0])
    with state.guard("weights"):
        weights(runnable_part(spec))


def saliency_panel(spec: ModelSpec, batch, sample: int, output: Shown, channels_first: bool) -> None:
    """Which input values move a chosen output unit: its gradient with respect to the sample, drawn as the input is."""
    st.subheader("Saliency: which inputs move an output")
    units = math.prod(output.sample_shape)
    predicted = int(np.argmax(output.matrix.reshape(-1))) if units <= output.matrix.size else 0
    unit = st.number_input(
        f"Output unit (0 to {units - 1})",
        min_value=0,
        max_value=units - 1,
        value=predicted,
        step=1,
        key=f"saliency_unit_{units}_{predicted}",  # another prediction (a new digit) starts again from it
        help="Which unit of the output (flattened per sample) to explain; it starts at the largest one (the class "
        "predicted, for a classifier).",
    )
    gradient = saliency(
        spec,
        batch,
        sample,
        int(unit),
        heatmap.CUT,
        checkpoint=state.checkpoint,
        waiting=state.Waiting(),
        visitor=state.visitor(),
    )
    if isinstance(gradient, NoRun):
        st.caption(f"No saliency: {state.plain(state.sentence(gradient.reason))}")
        return
    span, scale = widgets.picture_range(gradient, gradient.magnitude)
    st.caption(
        f"∂ output[{int(unit)}] / ∂ input for sample {sample}, in inference mode (Dropout does nothing), {span}, "
        f"full color at ±{scale:.3g}: red inputs raise the output as they grow, blue ones lower it, white ones do "
        "not move it."
    )
    widgets.sample_picture(gradient, scale, channels_first)


@state.callback("scales")
def on_own_scales() -> None:
    """The toggle (key "own_scales") changed: kept apart from the widget, which Streamlit forgets on another page."""
    ss.own_scales_kept = ss.own_scales


# --- a data set's samples as the input --------------------------------------------------------------
def _dataset(name: str, seed: int) -> datasets.Dataset:
    """A data set as the Train page makes it: the toys from the model's seed; the digits, read from their file, are
    the same whatever the seed (one copy)."""
    return _made(name, 0 if name == DIGITS else seed)


@st.cache_resource(max_entries=32, show_spinner=False)
def _made(name: str, seed: int) -> datasets.Dataset:
    """Made once per server and shared by sessions: never mutated."""
    return datasets.get(name, seed=seed)


def fits(sample_shape: tuple[int, ...], input_shape: tuple[int, ...]) -> bool:
    """Whether a data set's samples fit a model input: as they are, flattened, or with axes of 1 left out or added
    ((8, 8, 1) digits fit (8, 8, 1), (1, 8, 8), (8, 8) and (64,)). Their values keep their order."""
    size = math.prod(sample_shape)
    if math.prod(input_shape) != size:
        return False
    squeezed = tuple(d for d in input_shape if d != 1)
    return squeezed in (tuple(d for d in sample_shape if d != 1), (size,))


def fitting(spec: ModelSpec) -> list[str]:
    """The data sets whose samples fit the model's input, in the Train page's order."""
    return [name for name in datasets.DATASETS if fits(_dataset(name, spec.seed).x.shape[1:], spec.input_shape)]


class HeldSamples(NamedTuple):
    """Samples of a data set written into the input, and that text (the input holds them while it is unchanged)."""

    name: str
    start: int
    count: int
    labels: tuple[str, ...]
    text: str

    def label(self, i: int) -> str:
        """Sample i of the batch in words: "digit 3, sample 3 of Handwritten digits 8×8"."""
        return f"{self.labels[i]}, sample {self.start + i:,} of {datasets.TITLES[self.name]}"


def _label(name: str, dataset: datasets.Dataset, i: int) -> str:
    """Sample i's target in words: "digit 3", "class 1", "y = 0.841"."""
    y = float(np.ravel(dataset.y[i])[0])
    if dataset.task == "regression":
        return f"y = {y:.3g}"
    return f"{'digit' if name == DIGITS else 'class'} {int(y)}"


def _held_samples(spec: ModelSpec) -> HeldSamples | None:
    """The data set samples the input holds, if it still holds the text they were written as."""
    held = ss.get("held_samples")
    return held if held is not None and held.text == ss.input_data and held.name in fitting(spec) else None


def put_samples(name: str, start: int, count: int) -> HeldSamples:
    """Write samples start, start + 1, ... of a data set into the input data (shaped as the model's input)."""
    spec = state.spec()
    dataset = _dataset(name, spec.seed)
    start = min(max(0, start), len(dataset.x) - 1)
    count = min(max(1, count), MAX_FROM_DATASET, len(dataset.x) - start)
    x = dataset.x[start : start + count].reshape(count, *spec.input_shape)
    labels = tuple(_label(name, dataset, i) for i in range(start, start + count))
    ss.held_samples = HeldSamples(name, start, count, labels, data.format_array(x))
    ss.input_data = ss.held_samples.text
    return ss.held_samples


@state.callback("input")
def on_dataset_input() -> None:
    """The data set, first sample or count (keys "input_dataset", "dataset_start", "dataset_count") changed."""
    if ss.get("input_dataset") is not None:
        put_samples(ss.input_dataset, int(ss.dataset_start), int(ss.dataset_count))


def next_source(spec: ModelSpec) -> str | None:
    """The data set the Build page's fill button takes its next sample from: the one the input holds, else the first
    that fits (None: none fits)."""
    held, names = _held_samples(spec), fitting(spec)
    return held.name if held is not None else (names[0] if names else None)


@state.callback("input")
def on_next_sample() -> None:
    """The Build page's fill button: the next sample of the data set the input holds, or the first that fits."""
    spec = state.spec()
    name, held = next_source(spec), _held_samples(spec)
    if name is None:
        return
    start = held.start + held.count if held is not None else 0
    held = put_samples(name, start % len(_dataset(name, spec.seed).x), 1)
    state.notify(
        "input",
        "info",
        f"The input holds {held.label(0)}. Click again for the next one; the Forward pass "
        "page picks any sample, with every tensor it makes.",
    )


@state.callback("input")
def on_digits_shape() -> None:
    """Set the input shape to the digits' (the normal edit path, undoable) and put the first digit in the input."""
    shape = _dataset(DIGITS, 0).x.shape[1:]
    if state.commit(lambda s: s.with_input_shape(shape), f"set the input shape to {format_shape(shape)}", "input"):
        held = put_samples(DIGITS, 0, 1)
        state.fit_input("input")
        state.notify(
            "input",
            "success",
            f"The input shape is now {format_shape(shape)} and the input holds "
            f"{held.label(0)}. Undo brings the model back.",
        )


def dataset_row(spec: ModelSpec) -> None:
    """Samples of a data set that fits the model's input, to put in as the input; or, when none fits, the digits
    with their input shape in one click."""
    names = fitting(spec)
    if not names:
        with st.container(horizontal=True, gap="small", vertical_alignment="center", key="dataset_row"):
            st.caption(
                f"No data set fits the input shape {format_shape(spec.input_shape)}: the digits are "
                f"{format_shape(_dataset(DIGITS, 0).x.shape[1:])} (or 64 values), the 2-D toys (2,), the sine (1,)."
            )
            st.button(
                "Use the 8×8 digits",
                key="digits_shape",
                on_click=on_digits_shape,
                icon=":material/draw:",
                help="Sets the input shape to (8, 8, 1) and puts a handwritten digit in the input (Undo "
                "brings the model back).",
            )
        state.show_notices("input")
        return
    held = _held_samples(spec)
    size = len(_dataset(held.name if held is not None else names[0], spec.seed).x)
    # the widgets show what the input holds (the input is the truth); a clamped number keeps within the bounds
    ss.input_dataset = held.name if held is not None else None
    ss.dataset_start = held.start if held is not None else min(int(ss.get("dataset_start", 0)), size - 1)
    ss.dataset_count = held.count if held is not None else int(ss.get("dataset_count", 1))
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom", key="dataset_row"):
        st.selectbox(
            "Input from a data set",
            names,
            key="input_dataset",
            format_func=datasets.TITLES.get,
            index=None,
            placeholder="Choose a data set…",
            on_change=on_dataset_input,
            width=260,
            help=f"Data sets whose samples fit the input shape {format_shape(spec.input_shape)}: their samples "
            "become the input data (the Build page's input box shows them).",
        )
        st.number_input(
            "Sample",
            min_value=0,
            max_value=size - 1,
            step=1,
            key="dataset_start",
            on_change=on_dataset_input,
            width=120,
            help="The first sample put in the input.",
        )
        st.number_input(
            "How many",
            min_value=1,
            max_value=MAX_FROM_DATASET,
            step=1,
            key="dataset_count",
            on_change=on_dataset_input,
            width=120,
            help="Samples in the input, a batch: pick one below.",
        )
    if held is not None:
        labels = ", ".join(held.labels)
        where = (
            "" if share.input_fits(held.text) else " (Too long for a share link, which opens with a range as input.)"
        )
        st.caption(
            f"The input holds sample{'s' if held.count > 1 else ''} {held.start:,}"
            f"{f' to {held.start + held.count - 1:,}' if held.count > 1 else ''} of "
            f"{datasets.TITLES[held.name]}: {labels}.{where}"
        )
    state.show_notices("input")


def weights(spec: ModelSpec) -> None:
    layers = shown_weights(
        spec, heatmap.CUT, checkpoint=state.checkpoint, waiting=state.Waiting(), visitor=state.visitor()
    )
    if isinstance(layers, NoRun):
        st.warning(f"No weights to show: {state.plain(state.sentence(layers.reason))}")
        return
    if not layers:
        return
    st.subheader(f"Weights (seed {spec.seed})")
    for layer in layers:
        with st.expander(
            f"{layer.name} ({layer.kind}): " + ", ".join(f"{w.name} {format_shape(w.shape)}" for w in layer.weights)
        ):
            for weight in layer.weights:
                st.markdown(
                    f"**{weight.name}** `{format_shape(weight.shape)}`"
                    + ("" if weight.trainable else " · not trainable")
                )
                st.image(heatmap.image(weight.matrix), clamp=True)
                widgets.number_table(weight.matrix, shape=weight.shape)
