"""The Forward page's input from a data set, its pictures each on its own scale, and the Build page's image-shaped
output as a picture, through Streamlit's AppTest.

Expected values are computed apart from the page: the digits read here from the shipped CSV, the outputs from the
engine's own `predict`/`forward` (Keras-exact, tested against Keras elsewhere), scales and relu with NumPy.
"""

import gzip

import numpy as np
import pytest
import streamlit as st

from conftest import ROOT
from netbuilder.studio import data, datasets, share
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.studio.samples import as_matrix
from netbuilder.views import heatmap
from test_app import BUILD, FORWARD, model, number_grids, open_app, output_values, page, run, select, shown, texts

DIGITS_TITLE = "Handwritten digits 8×8"
CONVNET = ModelSpec(
    (8, 8, 1),
    (
        LayerSpec.make(0, "Conv2D", filters=8, kernel_size=(3, 3), activation="relu"),
        LayerSpec.make(1, "MaxPooling2D", pool_size=(2, 2)),
        LayerSpec.make(2, "Flatten"),
        LayerSpec.make(3, "Dense", units=10, activation="softmax"),
    ),
    0,
)


def digits_csv() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits read here, apart from the app's loader: pixels 0..16 as 0..1 in (8, 8, 1), and labels."""
    with gzip.open(ROOT / "netbuilder" / "studio" / "data" / "digits.csv.gz", "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return (table[:, :64] / 16).reshape(-1, 8, 8, 1).astype(np.float32), table[:, 64].astype(int)


DIGITS, LABELS = digits_csv()


def input_array(at) -> np.ndarray:
    return data.parse_array(at.session_state["input_data"], model(at).input_shape).array


def relu_model(shape) -> ModelSpec:
    """A model whose output is relu of its input, whatever the shape: its output is known without the engine."""
    return ModelSpec(tuple(shape), (LayerSpec.make(0, "Activation", activation="relu"),), 0)


@pytest.fixture
def pictures(monkeypatch) -> list[np.ndarray]:
    """Every picture the page hands to st.image, as the RGB array drawn (the legend bar, drawn in a column, is not)."""
    drawn = []
    real = st.image

    def image(picture, *args, **kwargs):
        drawn.append(np.asarray(picture))
        return real(picture, *args, **kwargs)

    monkeypatch.setattr(st, "image", image)
    return drawn


def full_color(picture: np.ndarray) -> bool:
    """Whether some pixel is full red or full blue: a value at the picture's scale."""
    return bool(((picture == (255, 0, 0)).all(-1) | (picture == (0, 0, 255)).all(-1)).any())


def drawn_as(sample: np.ndarray, scale: float, channels_first: bool = False) -> np.ndarray:
    """The picture of one sample on `scale`, as the pages lay it out (heatmap's own layout tests check the layout)."""
    if sample.ndim == 3:
        return heatmap.feature_maps(sample, channels_first, scale)
    return heatmap.image(as_matrix(sample), scale=scale)


# --- input from a data set ----------------------------------------------------------------------------
def test_a_digit_chosen_on_the_forward_page_is_the_input_and_the_output_is_the_engines_on_that_digit():
    at = open_app({"model": share.encode(CONVNET, "zeros")})
    page(at, FORWARD)
    assert (
        at.selectbox(key="input_dataset").options == [DIGITS_TITLE] and at.selectbox(key="input_dataset").value is None
    )
    run(at.selectbox(key="input_dataset").set_value("digits"))
    outputs = []
    for k in (7, 8):
        run(at.number_input(key="dataset_start").set_value(k))
        np.testing.assert_array_equal(input_array(at), DIGITS[k : k + 1])
        expected = built(CONVNET).predict(DIGITS[k : k + 1])[0]
        tab = page(at, FORWARD)
        np.testing.assert_array_equal(number_grids(tab)[0], expected)  # "Numbers of" starts on the output
        assert f"The input holds sample {k} of {DIGITS_TITLE}: digit {LABELS[k]}." in texts(tab)
        assert f"Sample 0 (digit {LABELS[k]}, sample {k} of {DIGITS_TITLE}) of each tensor" in texts(tab)
        outputs.append(expected)
    assert not np.array_equal(*outputs)  # another digit, another output
    page(at, BUILD)  # every page reads the same input
    np.testing.assert_array_equal(output_values(at), outputs[-1])
    select(at, "input")
    assert at.text_area(key="input_text").value == at.session_state["input_data"] == data.format_array(DIGITS[8:9])
    assert share.input_fits(at.session_state["input_data"])  # one digit's text rides in the share link


def test_a_batch_of_digits_labels_the_sample_shown():
    at = open_app({"model": share.encode(CONVNET, "zeros")})
    page(at, FORWARD)
    run(at.selectbox(key="input_dataset").set_value("digits"))
    run(at.number_input(key="dataset_start").set_value(10))
    run(at.number_input(key="dataset_count").set_value(3))
    np.testing.assert_array_equal(input_array(at), DIGITS[10:13])
    tab = page(at, FORWARD)
    assert f"samples 10 to 12 of {DIGITS_TITLE}: digit {LABELS[10]}, digit {LABELS[11]}, digit {LABELS[12]}." in texts(
        tab
    )
    run(tab.number_input(key="forward_sample").set_value(2))
    tab = page(at, FORWARD)
    np.testing.assert_array_equal(number_grids(tab)[0], built(CONVNET).predict(DIGITS[10:13])[2])
    assert f"Sample 2 (digit {LABELS[12]}, sample 12 of {DIGITS_TITLE})" in texts(tab)
    # the widgets show what the input holds, also after another page (Streamlit forgets widgets it did not draw)
    page(at, BUILD)
    page(at, FORWARD)
    assert (
        at.selectbox(key="input_dataset").value,
        at.number_input(key="dataset_start").value,
        at.number_input(key="dataset_count").value,
    ) == ("digits", 10, 3)


TOYS = ["XOR", "Circles", "Moons", "Two spirals"]


@pytest.mark.parametrize(
    "shape, offered",
    [
        ((8, 8, 1), [DIGITS_TITLE]),
        ((1, 8, 8), [DIGITS_TITLE]),
        ((8, 8), [DIGITS_TITLE]),
        ((64,), [DIGITS_TITLE]),
        ((2,), TOYS),
        ((1, 2), TOYS),
        ((1,), ["Noisy sine (regression)"]),
        ((), ["Noisy sine (regression)"]),
    ],
)
def test_the_data_set_list_offers_only_data_that_fits_the_input_shape(shape, offered):
    at = open_app({"model": share.encode(relu_model(shape), "zeros")})
    tab = page(at, FORWARD)
    box = at.selectbox(key="input_dataset")
    assert box.options == offered
    name = {DIGITS_TITLE: "digits", "XOR": "xor", "Noisy sine (regression)": "sine"}[offered[0]]
    run(box.set_value(name))
    first = DIGITS[0] if name == "digits" else datasets.get(name, seed=0).x[0]  # the Train page's data, seed 0
    x = input_array(at)
    assert x.shape == (1, *shape)
    np.testing.assert_array_equal(x.ravel(), first.ravel())  # the sample's values in their order
    tab = page(at, FORWARD)
    np.testing.assert_array_equal(number_grids(tab)[0], np.maximum(first, 0).ravel())  # relu, by NumPy
    assert "digits_shape" not in [b.key for b in tab.button]


@pytest.mark.parametrize("shape", [(3, 2), (63,), (4, 16), (2, 8, 8), (8, 8, 2)])
def test_when_no_data_set_fits_the_page_says_so_instead_of_a_list(shape):
    at = open_app({"model": share.encode(relu_model(shape), "zeros")})
    tab = page(at, FORWARD)
    assert "input_dataset" not in [s.key for s in tab.selectbox]
    assert f"No data set fits the input shape {shape}" in texts(tab)
    assert [b.label for b in tab.button if b.key == "digits_shape"] == ["Use the 8×8 digits"]


def test_one_click_gives_the_model_the_digits_shape_and_a_digit_and_undo_takes_it_back():
    at = open_app()
    tab = page(at, FORWARD)
    run(tab.button(key="digits_shape").click())
    spec = model(at)
    assert spec.input_shape == (8, 8, 1) and spec.layers == seed_spec().layers  # the layers as they were
    np.testing.assert_array_equal(input_array(at), DIGITS[:1])
    tab = page(at, FORWARD)
    assert (
        f"The input shape is now (8, 8, 1) and the input holds digit {LABELS[0]}, sample 0 of {DIGITS_TITLE}. "
        "Undo brings the model back."
    ) in [shown(s.value) for s in tab.success]
    np.testing.assert_array_equal(number_grids(tab)[0], built(spec).predict(DIGITS[:1])[0].ravel()[:64])
    assert at.selectbox(key="input_dataset").value == "digits"
    run(at.button(key="undo").click())
    assert model(at) == seed_spec()
    assert input_array(at).shape == (1, 3, 2)  # refilled to fit the shape it went back to


def test_the_build_pages_digit_button_steps_through_the_digits():
    spec = ModelSpec((8, 8, 1), (LayerSpec.make(0, "Flatten"), LayerSpec.make(1, "Dense", units=10)), 0)
    at = open_app({"model": share.encode(spec, "zeros")})
    select(at, "input")
    for k in (0, 1):
        run(at.button(key="fill_dataset").click())
        np.testing.assert_array_equal(input_array(at), DIGITS[k : k + 1])
        np.testing.assert_array_equal(output_values(at), built(spec).predict(DIGITS[k : k + 1])[0])
        assert [shown(i.value) for i in at.info][0].startswith(
            f"The input holds digit {LABELS[k]}, sample {k} of {DIGITS_TITLE}. Click again for the next one"
        )
    assert at.button(key="fill_dataset").label == "digit"
    at = open_app({"model": share.encode(relu_model((2,)), "zeros")})  # after a data set chosen on the Forward page,
    page(at, FORWARD)  # the button goes on with it
    run(at.selectbox(key="input_dataset").set_value("moons"))
    run(at.number_input(key="dataset_start").set_value(5))
    page(at, BUILD)
    select(at, "input")
    assert at.button(key="fill_dataset").label == "moons sample"
    run(at.button(key="fill_dataset").click())
    np.testing.assert_array_equal(input_array(at), datasets.get("moons", seed=0).x[6:7])
    at = open_app()  # (3, 2): no data set fits, no button
    select(at, "input")
    assert "fill_dataset" not in [b.key for b in at.button]


# --- each picture on its own scale ----------------------------------------------------------------------
def test_own_scales_give_each_picture_its_largest_value_in_full_color_and_write_it(pictures):
    x = DIGITS[3:4]
    at = open_app({"model": share.encode(CONVNET, data.format_array(x))})
    tensors = [t[0] for t in built(CONVNET).forward(x)]
    shared = max(float(np.abs(t).max()) for t in tensors)
    pictures.clear()
    page(at, FORWARD)
    drawn = pictures[: len(tensors)]
    for tensor, picture in zip(tensors, drawn):
        np.testing.assert_array_equal(picture, drawn_as(tensor, shared))
    assert [full_color(p) for p in drawn] == [float(np.abs(t).max()) == shared for t in tensors] == [True] + [False] * 4
    assert "every picture on the same scale" in texts(at) and "its own scale" not in texts(at)

    pictures.clear()
    run(at.toggle(key="own_scales").set_value(True))
    drawn = pictures[: len(tensors)]
    text = texts(at)
    for tensor, picture in zip(tensors, drawn):
        own = float(np.abs(tensor).max())
        np.testing.assert_array_equal(picture, drawn_as(tensor, own))
        assert full_color(picture)  # each tensor's largest |value| in full color
        assert f"from {tensor.min():.4g} to {tensor.max():.4g} · colors on its own scale ±{own:.3g}" in text
    assert "each picture on its own scale" in text

    # the feature maps show the digit's strokes: summed over the 8 tiles, a position is far more colored where its 3×3
    # window holds much ink than where it holds little (the map is relu of the window times a kernel, bias zero)
    maps, picture = tensors[1], drawn[1]
    cell = picture.shape[0] // 6
    ink = np.lib.stride_tricks.sliding_window_view(x[0, :, :, 0], (3, 3)).sum(axis=(-1, -2))  # (6, 6)
    color = np.zeros((6, 6))
    for k in range(maps.shape[-1]):
        left = k * (6 * cell + heatmap.GAP)
        tile = picture[::cell, left : left + 6 * cell : cell].astype(int)  # one pixel per value
        color += 255 - tile.min(axis=-1)  # 0 for white, 255 for full red
    little, much = np.quantile(ink, [0.25, 0.75])
    assert color[ink >= much].mean() > 2 * color[ink <= little].mean()
    assert np.corrcoef(ink.ravel(), color.ravel())[0, 1] > 0.5


def test_the_own_scale_toggle_is_kept_on_another_page():
    at = open_app({"model": share.encode(CONVNET, "zeros")})
    page(at, FORWARD)
    run(at.toggle(key="own_scales").set_value(True))
    page(at, BUILD)
    page(at, FORWARD)
    assert at.toggle(key="own_scales").value is True and "each picture on its own scale" in texts(at)


# --- the Build page's image-shaped output -----------------------------------------------------------------
def test_build_shows_an_image_shaped_output_as_its_picture_with_its_numbers_in_an_expander(pictures):
    from test_app_features import load_preset

    at = open_app()
    pictures.clear()
    at = load_preset(at, "conv-autoencoder")
    out = built(model(at)).predict(data.parse_array("random:2", (28, 28, 1)).array)[0]
    own = float(np.abs(out).max())
    (picture,) = pictures  # the output's, and no other
    np.testing.assert_array_equal(picture, drawn_as(out, own))
    assert full_color(picture)
    assert f"Sample 0 from {out.min():.4g} to {out.max():.4g} · colors on its own scale ±{own:.3g}." in texts(at)
    assert "One 28×28 picture per channel (the last axis), channel 0 first, left to right." in texts(at)
    (numbers,) = [e for e in at.expander if e.label == "Numbers of sample 0"]
    np.testing.assert_array_equal(number_grids(numbers)[0], out.ravel()[:64])
    assert len(number_grids(at)) == 1  # the numbers in the expander only


def test_build_shows_a_channels_first_output_one_picture_per_channel_also_before_a_failing_layer(pictures):
    conv = LayerSpec.make(0, "Conv2D", filters=4, kernel_size=(3, 3), data_format="channels_first")
    for layers in ((conv,), (conv, LayerSpec.make(1, "Dense", (48,), units=4))):  # built for 48 inputs: it fails
        spec = ModelSpec((1, 8, 8), layers, 0)
        at = open_app({"model": share.encode(spec, data.format_array(DIGITS[:1].reshape(1, 1, 8, 8)))})
        out = built(ModelSpec((1, 8, 8), (conv,), 0)).predict(DIGITS[:1].reshape(1, 1, 8, 8))[0]  # (4, 6, 6)
        assert pictures[-1].shape == drawn_as(out, 1.0, channels_first=True).shape
        np.testing.assert_array_equal(pictures[-1], drawn_as(out, float(np.abs(out).max()), channels_first=True))
        assert "One 6×6 picture per channel (the first axis, channels_first), channel 0 first, left to right." in texts(
            at
        )
        assert ("Output of the layers before dense" in texts(at)) == (len(layers) == 2)


def test_build_writes_other_outputs_as_numbers(pictures):
    at = open_app()
    assert not pictures and "Numbers of sample 0" not in [e.label for e in at.expander]
    np.testing.assert_array_equal(
        output_values(at), built(seed_spec()).predict(np.array([[[1, 2], [3, 4], [5, 6]]], np.float32))[0]
    )


def test_the_weights_show_their_shape_and_a_bounded_corner_of_their_numbers():
    spec = ModelSpec((300,), (LayerSpec.make(0, "Dense", units=100),), 2)
    at = open_app({"model": share.encode(spec, "zeros")})
    page(at, FORWARD)
    assert "dense (Dense): kernel (300, 100), bias (100,)" in [e.label for e in at.expander]
    assert "Showing 8 × 64 of 300 × 100 numbers." in texts(at)
    kernel, bias = built(spec).layers[0].weights
    *_, kernel_numbers, bias_numbers = number_grids(at)
    np.testing.assert_array_equal(kernel_numbers, kernel[:8, :64].ravel())
    np.testing.assert_array_equal(bias_numbers, bias[:64])


def test_what_a_run_hands_back_of_a_sample_holds_all_that_the_pages_draw_of_it():
    from netbuilder.ui import widgets

    assert widgets.HEAT_CELLS <= min(heatmap.CUT.rows, heatmap.CUT.columns)  # number tables
    assert (heatmap.MAX_ROWS, heatmap.MAX_COLUMNS) == (heatmap.CUT.rows, heatmap.CUT.columns)  # flat pictures
    assert max(heatmap.MAP_CELLS, heatmap.MAX_MAPS) <= heatmap.CUT.cells  # an image's tiles


def test_the_saliency_of_a_digit_starts_at_the_class_predicted_and_follows_the_unit_chosen():
    from netbuilder.studio.run import saliency

    at = open_app({"model": share.encode(CONVNET, "zeros")})
    page(at, FORWARD)
    run(at.selectbox(key="input_dataset").set_value("digits"))
    run(at.number_input(key="dataset_start").set_value(7))
    predicted = int(np.argmax(built(CONVNET).predict(DIGITS[7:8])[0]))
    (unit,) = [n for n in at.number_input if n.key.startswith("saliency_unit")]
    assert unit.value == predicted
    assert f"∂ output[{predicted}] / ∂ input for sample 0" in texts(at)
    run(unit.set_value((predicted + 1) % 10))
    expected = saliency(CONVNET, DIGITS[7:8], 0, (predicted + 1) % 10, heatmap.CUT)
    assert f"∂ output[{(predicted + 1) % 10}] / ∂ input" in texts(at)
    assert f"from {expected.finite[0]:.4g} to {expected.finite[1]:.4g}" in texts(at)
