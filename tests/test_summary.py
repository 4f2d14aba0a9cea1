"""engine.summary: Keras's summary text (captured from Keras 3.15, reference §4.4, and against Keras itself);
views.table.summary_frame: the same rows with input shapes, formulas and mult-adds."""

import functools

import keras
import pytest
import rich.cells
from hypothesis import given, settings
from hypothesis import strategies as st

import netbuilder as nb
from netbuilder.engine.shapes import summary_shape
from netbuilder.engine.summary import cell_width, param_totals, readable_size, summary_text
from netbuilder.studio.presets import PRESETS
from netbuilder.views.table import summary_frame

# Keras 3.15.1's output for the seed model, non-TTY (line length 80 - 4 = 76), copied from the reference.
KERAS_SEED_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 3, 16)          │            48 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ activation (Activation)         │ (None, 3, 16)          │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 48)             │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 4)              │           196 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 244 (976.00 B)
 Trainable params: 244 (976.00 B)
 Non-trainable params: 0 (0.00 B)
"""


def seed_model():
    return nb.Sequential([nb.Input((3, 2)), nb.Dense(16), nb.Activation("relu"), nb.Flatten(), nb.Dense(4)], seed=0)


def test_seed_summary_is_keras_text():
    assert summary_text(seed_model(), line_length=76) == KERAS_SEED_SUMMARY


def test_summary_print_fn_called_once_with_whole_text(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    calls = []
    seed_model().summary(print_fn=calls.append)
    assert calls == [KERAS_SEED_SUMMARY]


def test_summary_prints_without_trailing_blank_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    seed_model().summary()
    assert capsys.readouterr().out == KERAS_SEED_SUMMARY


@pytest.mark.parametrize("length, widths", [(76, (31, 22, 13)), (88, (36, 27, 15)), (60, (24, 17, 9))])
def test_cell_widths(length, widths, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a console wider than the table: no line is cut at its edge
    header = summary_text(seed_model(), line_length=length).splitlines()[2]
    cells = header.split("┃")[1:-1]
    assert [len(c) - 2 for c in cells] == list(widths)
    assert all(len(line) == length for line in summary_text(seed_model(), line_length=length).splitlines()[1:-3])


@pytest.mark.parametrize("shape, text", [((None,), "(None)"), ((None, 3, 16), "(None, 3, 16)"), ((4, 5), "(4, 5)")])
def test_summary_shape(shape, text):
    assert summary_shape(shape) == text


@pytest.mark.parametrize(
    "params, text",
    [
        (0, "0.00 B"),
        (244, "976.00 B"),
        (256, "1.00 KB"),
        (407_050, "1.55 MB"),
        (4_355_000, "16.61 MB"),
        (50_000_000, "190.73 MB"),
    ],
)
def test_readable_size(params, text):
    assert readable_size(params) == text


def capture_keras(model, **kwargs):
    out = []
    model.summary(print_fn=lambda text, **kw: out.append(text), **kwargs)
    return out[0]


def test_big_numbers_long_names_and_rank1_like_keras(monkeypatch):
    """Thousands separators, a cut long name, `(None)` for rank 1: against Keras itself."""
    monkeypatch.setenv("COLUMNS", "80")
    long_name = "a_really_long_layer_name_that_will_be_cut_off_here"
    ours = nb.Sequential(
        [nb.Input((784,)), nb.Dense(512, name=long_name), nb.Dense(10, activation="softmax")], name="mnist"
    )
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [keras.Input((784,)), keras.layers.Dense(512, name=long_name), keras.layers.Dense(10, activation="softmax")],
        name="mnist",
    )
    text = summary_text(ours)
    assert "401,920" in text and "…" in text and "407,050 (1.55 MB)" in text
    assert text == capture_keras(theirs)
    keras.backend.clear_session(free_memory=False)
    rank1 = nb.Sequential([nb.Input(()), nb.Activation("relu")])
    assert "(None)" in summary_text(rank1)
    assert summary_text(rank1) == capture_keras(keras.Sequential([keras.Input(()), keras.layers.Activation("relu")]))


def test_functional_summary_lists_input_layer():
    x = nb.Input((10, 64))
    text = summary_text(nb.Model(inputs=x, outputs=nb.Flatten()(x)), line_length=76)
    assert text.splitlines()[0] == 'Model: "functional"'
    assert "│ input_layer (InputLayer)        │ (None, 10, 64)         │             0 │" in text


def test_summary_frame_columns_and_rows():
    frame = summary_frame(seed_model().analysis)
    assert list(frame.columns) == ["Layer (type)", "Output Shape", "Param #", "Input Shape", "Formula", "Mult-adds"]
    assert frame["Layer (type)"].tolist() == [
        "dense (Dense)",
        "activation (Activation)",
        "flatten (Flatten)",
        "dense_1 (Dense)",
    ]
    assert frame["Output Shape"].tolist() == ["(None, 3, 16)", "(None, 3, 16)", "(None, 48)", "(None, 4)"]
    assert frame["Param #"].tolist() == ["48", "0", "0", "196"]  # printed as Keras prints them: 13,530
    assert frame["Input Shape"].tolist() == ["(None, 3, 2)", "(None, 3, 16)", "(None, 3, 16)", "(None, 48)"]
    assert frame["Formula"].tolist() == ["2×16 + 16 = 48", "", "", "48×4 + 4 = 196"]
    # one sample: 3 positions × 2 inputs × 16 units, then 48 inputs × 4 units; relu and Flatten multiply nothing
    assert frame["Mult-adds"].tolist() == ["96", "0", "0", "192"]


def test_summary_frame_of_a_model_that_does_not_fit_stops_at_the_failing_layer():
    analysis = nb.analyze([nb.Dense(3), nb.Activation("glu"), nb.Dense(2)], (2,))  # glu cannot halve 3
    frame = summary_frame(analysis)
    assert frame["Layer (type)"].tolist() == ["dense (Dense)", "activation (Activation)"]
    assert frame["Output Shape"].tolist() == ["(None, 3)", "—"]
    assert frame["Mult-adds"].tolist() == ["6", "—"]


def test_the_totals_agree_with_the_rows_of_a_model_that_does_not_fit_and_large_counts_have_commas():
    """The "Dense built for 48" puzzle: its rows are 48, 0 and dense_1's own 48×4 + 4 = 196 (known from the shape
    it was built for), so the total is 244, not the 48 of the layers before it."""
    analysis = PRESETS["broken-built-for-48"].spec.analysis
    frame = summary_frame(analysis)
    assert analysis.issue is not None and frame["Param #"].tolist() == ["48", "0", "196"]
    assert param_totals(analysis) == [("Total params", 244), ("Trainable params", 244), ("Non-trainable params", 0)]
    wide = summary_frame(nb.analyze([nb.Dense(13_530 // 11 - 1)], (10,)))  # 10×1,229 + 1,229 = 13,519
    assert wide["Param #"].tolist() == ["13,519"]


# --- wide characters: Keras (through rich) pads and cuts by display width, not by character count ------------
WIDE_NAMES = [
    ("密集層", "🙂out"),  # CJK and an emoji in short names
    ("ｆｕｌｌｗｉｄｔｈ", "e\u0301tude"),  # fullwidth Latin; a combining accent takes no column
    (
        "한국어 레이어 이름",
        "名 前 が あ る 層 の 名 前 が 長 い 場 合 の テ ス ト で す",
    ),  # wide words wrapped across lines
    ("全結合レイヤー_その一_とても長い名前です", "😀" * 20),  # one wide word longer than the cell: cut with …
    ("a" + "全結合レイヤーとても長い名前です" * 2, "x😀 😀y"),  # the cut falls in the middle of a wide character
    ("ชั้นหนาแน่น", "\u0e01\u0e34" * 20),  # Thai: vowel and tone marks above take no column; a long word of them cut
    ("👨\u200d👩\u200d👧 family", "🏳\ufe0f\u200d🌈 flag ❤\ufe0f"),  # ZWJ emoji sequences; VS16 widening a narrow symbol
    ("zero\u200bwidth\u200bspace", "soft\u00adhy\u2060phen"),  # format characters (ZWSP, soft hyphen, word joiner)
    ("👩\u200d💻" * 15, "ก\u0e31\u0e49" * 12 + "x" * 10),  # sequences and marks straddling the cut
]


@functools.cache
def keras_named(names):
    keras.backend.clear_session(free_memory=False)
    return keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(3, name=names[0]), keras.layers.Dense(2, name=names[1])], name="模型"
    )


@pytest.mark.parametrize("line_length", [None, 60, 76, 88])
@pytest.mark.parametrize(
    "names",
    WIDE_NAMES,
    ids=[
        "cjk-emoji",
        "fullwidth-combining",
        "wrapped",
        "cut",
        "cut-mid-char",
        "thai",
        "zwj-emoji",
        "format-chars",
        "cut-in-sequences",
    ],
)
def test_wide_character_names_like_keras(names, line_length, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")  # wider than every line: Keras's console would crop longer lines
    theirs = keras_named(names)
    ours = nb.Sequential([nb.Input((2,)), nb.Dense(3, name=names[0]), nb.Dense(2, name=names[1])], name="模型")
    assert summary_text(ours, line_length) == capture_keras(theirs, line_length=line_length)


def test_wide_rows_have_the_width_of_the_table():
    text = summary_text(
        nb.Sequential([nb.Input((2,)), nb.Dense(3, name="密集層"), nb.Dense(2, name="🙂")]), line_length=76
    )
    assert {cell_width(line) for line in text.splitlines()[1:-3]} == {76}
    assert cell_width("密集層") == 6 and cell_width("🙂out") == 5 and cell_width("e\u0301") == 1


def test_summary_of_unbuilt_model_explains():
    with pytest.raises(AttributeError, match="no defined"):
        nb.Sequential([nb.Dense(2)]).summary()


# --- display width: exactly rich's cell_len (rich prints Keras's summary; the engine does not import it) ---------
def test_cell_width_is_rich_cell_len_for_every_code_point(monkeypatch):
    """Every code point of the BMP and of planes 1-3 (emoji, CJK extensions): controls, marks (Thai U+0E34),
    format characters (ZWJ U+200D, ZWSP U+200B), wide and narrow ones."""
    monkeypatch.delenv("UNICODE_VERSION", raising=False)  # rich's default: its latest table
    differ = [hex(c) for c in range(0x40000) if cell_width(chr(c)) != rich.cells.cell_len(chr(c))]
    assert differ == [], differ[:20]
    assert [cell_width(c) for c in "\u200d\u200b\u0e34\u0301\x07\u00ad a名😀"] == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]


TRICKY = [
    "a",
    " ",
    "名",
    "😀",
    "👩",
    "💻",
    "❤",
    "🏳",
    "ก",
    "\u0e34",
    "\u0301",
    "\u200d",
    "\ufe0f",
    "\u200b",
    "\u00ad",
    "\u3000",
    "\u00a0",
    "\x07",
    "\u1100",
    "\U0001f1ef",
    "\U0001f1f5",
]


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(st.text(st.sampled_from(TRICKY), max_size=30) | st.text(max_size=12))
def test_cell_width_is_rich_cell_len_for_sequences(text):
    """Joiners hide the character after them, VS16 widens the one before it when it has a wide emoji form."""
    assert cell_width(text) == rich.cells.cell_len(text)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.lists(st.sampled_from([c for c in TRICKY if c != "\x07"] + ["👩\u200d💻", "b"]), min_size=1, max_size=40)
        .map("".join)
        .map(str.strip)
        .filter(lambda name: 0 < len(name) <= 64),
        min_size=2,
        max_size=2,
        unique=True,
    ),
    st.sampled_from([None, 30, 40, 60, 76]),
)
def test_summary_of_any_names_is_keras_summary(names, line_length):
    """Names wrapped, cut and padded as rich lays them out in Keras's table (its quirks included)."""
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(3, name=names[0]), keras.layers.Dense(2, name=names[1])], name="m"
    )
    ours = nb.Sequential([nb.Input((2,)), nb.Dense(3, name=names[0]), nb.Dense(2, name=names[1])], name="m")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "120")
        assert summary_text(ours, line_length) == capture_keras(theirs, line_length=line_length)


@pytest.mark.parametrize("line_length", [30, 40])
def test_narrow_headers_align_with_the_bottom_like_keras(line_length, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    keras.backend.clear_session(free_memory=False)
    theirs = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)], name="m")
    ours = nb.Sequential([nb.Input((2,)), nb.Dense(3)], name="m")
    assert summary_text(ours, line_length) == capture_keras(theirs, line_length=line_length)
