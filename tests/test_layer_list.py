"""studio.layer_list.parse_layers: Keras-style layer lists read with `ast` and literals only, never evaluated."""

import ast
import re
import sys

import pytest

from netbuilder import LayerConfigError, LimitError, NetbuilderError
from netbuilder.engine.initializers import Constant, RandomUniform
from netbuilder.engine.limits import MAX_LAYERS
from netbuilder.engine.regularizers import L1, L1L2, L2
from netbuilder.studio.layer_list import MAX_PASTE_CHARS, PastedLayers, parse_layers
from netbuilder.studio.spec import LayerSpec, ModelSpec


def kinds(pasted: PastedLayers) -> list[str]:
    return [layer.kind for layer in pasted.layers]


def refused(text, error=LayerConfigError) -> str:
    with pytest.raises(error) as e:
        parse_layers(text)
    return str(e.value)


# --- what is read -----------------------------------------------------------------------------------
def test_one_layer_per_line():
    pasted = parse_layers('Dense(64, activation="relu")\nDense(10)\n')
    assert pasted.layers == (
        LayerSpec.make(0, "Dense", units=64, activation="relu"),
        LayerSpec.make(1, "Dense", units=10),
    )
    assert pasted.input_shape is None and pasted.ignored == ()


def test_model_add_lines_and_input_shape_on_the_first_layer():
    pasted = parse_layers(
        "model = Sequential()\nmodel.add(Dense(64, input_shape=(784,)))\nmodel.add(Dropout(0.2))\n"
        "model.add(Dense(10, activation='softmax'))\n"
    )
    assert kinds(pasted) == ["Dense", "Dropout", "Dense"]
    assert pasted.input_shape == (784,) and pasted.layers[1].rate == 0.2 and pasted.layers[2].activation == "softmax"
    assert pasted.ignored == ()  # input_shape on the first layer is the model's input shape, not an ignored keyword


def test_a_whole_sequential_with_keras_layers_prefixes_and_input():
    text = """model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        tf.keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ]
)"""
    pasted = parse_layers(text)
    assert kinds(pasted) == ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert pasted.input_shape == (28, 28, 1)
    assert pasted.layers[0].kernel_size == (3, 3) and pasted.layers[1].pool_size == (2, 2)
    assert [layer.id for layer in pasted.layers] == [0, 1, 2, 3, 4]
    spec = ModelSpec(pasted.input_shape, pasted.layers).validate()
    assert spec.analysis.output_shape == (None, 10)  # the classic MNIST convnet: 13 × 13 × 32 = 5408 into Dense


@pytest.mark.parametrize(
    "text, shape",
    [
        ("Input((3, 2))\nDense(2)", (3, 2)),
        ("Input(shape=(3, 2))\nDense(2)", (3, 2)),
        ("Input(shape=[3, 2])\nDense(2)", (3, 2)),
        ("keras.Input(shape=(5,), name='x')\nDense(2)", (5,)),
        ("Dense(2, input_shape=(7,))", (7,)),
    ],
)
def test_input_shape_forms(text, shape):
    assert parse_layers(text).input_shape == shape


def test_keywords_without_a_setting_are_reported_not_kept():
    pasted = parse_layers(
        'Dense(8, kernel_initializer="he_normal", name="hidden")\n'
        "Conv2D(4, 3, kernel_constraint=None)\nDense(2, input_shape=(3,))"
    )
    assert pasted.ignored == ("Conv2D: kernel_constraint", "Dense: input_shape")
    assert pasted.layers[0] == LayerSpec.make(
        0, "Dense", units=8, kernel_initializer="he_normal"
    )  # names: Keras's rule


def test_initializers_are_read_as_keras_writes_them_never_run():
    pasted = parse_layers(
        "Dense(8, kernel_initializer=keras.initializers.HeNormal())\n"
        "Dense(4, kernel_initializer=RandomUniform(-0.1, 0.1), bias_initializer=keras.initializers.Constant(0.5))"
    )
    assert pasted.layers[0] == LayerSpec.make(0, "Dense", units=8, kernel_initializer="he_normal")
    assert pasted.layers[1] == LayerSpec.make(
        1, "Dense", units=4, kernel_initializer=RandomUniform(-0.1, 0.1), bias_initializer=Constant(0.5)
    )
    assert refused("Dense(2, kernel_initializer=HeNormal(seed=__import__('os').getpid()))").startswith(
        "kernel_initializer: the arguments of HeNormal must be plain values"
    )
    assert pasted.input_shape is None  # input_shape counts only on the first layer


def test_settings_are_canonical_as_in_a_spec():
    pasted = parse_layers(
        'Dense(4, activation="swish")\nConv2D(8, 3)\nFlatten(data_format="CHANNELS_FIRST")\nDense(+2, activation=None)'
    )
    assert pasted.layers[0].activation == "silu" and pasted.layers[1].kernel_size == (3, 3)
    assert pasted.layers[2].data_format == "channels_first" and pasted.layers[3].activation == "linear"


def test_windows_line_ends_and_comments():
    assert kinds(parse_layers("# a model\r\nDense(2)  # hidden\r\nActivation('relu')\r\n")) == ["Dense", "Activation"]


def test_the_layers_drop_into_a_spec():
    pasted = parse_layers("Input(shape=(3, 2))\nDense(16, activation='relu')\nFlatten()\nDense(4)")
    spec = ModelSpec(pasted.input_shape, ()).replace_layers(pasted.layers)
    assert spec.analysis.output_shape == (None, 4) and spec.analysis.total_params == 244


# --- never evaluated ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        'Dense(__import__("os").system("x"))',
        'Dense(units=__import__("os").system("x"))',
        'Dense(len("abc"))',
        "Dense(2**6)",
        "Dense(x)",
        'Dense(**{"units": len("abc")})',
        "Dense(64, activation=keras.activations.relu)",
        "Dense(64, activation=lambda x: x)",
        'Dense(64, activation=f"relu")',
        "Dense(Dense(2))",
        "Input(shape=__import__('os').getcwd())\nDense(2)",
        "Conv2D(8, kernel_size=tuple(range(2)))",
    ],
)
def test_anything_but_a_plain_value_is_refused(text):
    assert "must be a plain value" in refused(text)


def test_nothing_pasted_is_ever_run(tmp_path):
    touch = f"__import__('pathlib').Path({str(tmp_path)!r}, '{{}}').touch()"
    for i, text in enumerate(
        [
            f"Dense({touch.format(0)})",
            f"Dense(2, activation={touch.format(1)})",
            f"Input(shape={touch.format(2)})\nDense(2)",
            f"Sequential([Dense(2)], name={touch.format(3)})",
            f"{touch.format(4)}\nDense(2)",  # a statement of its own: not a layer, and not run
            f"def f(x={touch.format(5)}):\n    pass\nDense(2)",
            f"class C:\n    {touch.format(6)}\nDense(2)",
        ]
    ):
        try:
            parse_layers(text)
        except LayerConfigError:
            pass
    assert list(tmp_path.iterdir()) == []


# --- refused with a clear message ------------------------------------------------------------------------
def test_oversized_text_is_refused_before_parsing(monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(ast, "parse", no_parse)  # the length is checked before any parsing
    assert refused("Dense(2)\n" * (MAX_PASTE_CHARS // 9 + 1)) == (
        f"a pasted layer list is at most {MAX_PASTE_CHARS:,} characters; "
        f"this one has {9 * (MAX_PASTE_CHARS // 9 + 1):,}"
    )


@pytest.mark.parametrize("text", [None, "", "   \n\t", b"Dense(2)", 42])
def test_empty_or_not_text(text):
    assert refused(text) == 'paste layers such as Dense(64, activation="relu"), one per line'


@pytest.mark.parametrize(
    "text, line",
    [
        ("Dense(", 1),
        ("Dense(2)\nDense(3,,)", 2),
        ("Dense(2)\x00", None),
        ("[" * 500 + "]" * 500, 1),  # deeper than Python's parser goes: an error, not a crash
        ("Dense(" + "9" * 5000 + ")", 1),  # beyond Python's integer-literal limit
        (">>> model.add(Dense(2))", 1),
    ],
)
def test_malformed_text(text, line):
    message = refused(text)
    assert message.startswith("this is not Python code that Keras layers are written in")
    if line is not None:  # the line, the column where Python has one, and Python's own words
        assert re.search(rf"\(line {line}(, column \d+)?: [^)]", message), message


def test_a_missing_bracket_says_where_and_what_python_says():
    message = refused('Dense(4)\nDense(8, activation="relu"\nFlatten()\n')
    assert "(line 2, column 6: '(' was never closed)" in message


@pytest.mark.parametrize(
    "text, meant",
    [('Dense(10, activaton="relu")', "activation"), ("Conv2D(8, 3, strides=2, paddin='same')", "padding")],
)
def test_a_misspelled_argument_is_refused_with_the_setting_meant(text, meant):
    """Keras refuses an argument it does not have; leaving it out would drop the setting meant without a word."""
    assert refused(text).endswith(f"did you mean {meant}?")


def test_a_huge_unknown_argument_is_named_in_a_few_words():
    assert parse_layers("Dense(4, " + "a" * 19_000 + "=1)").ignored == ("Dense: " + "a" * 40,)


def test_keras_arguments_netbuilder_has_no_setting_for_are_still_left_out_and_named():
    pasted = parse_layers("Dense(4, kernel_regularizer='l2', bias_constraint=None, trainable=False, dtype='float32')")
    assert pasted.ignored == ("Dense: bias_constraint", "Dense: trainable", "Dense: dtype")
    assert pasted.layers[0].kernel_regularizer == L2()  # a setting: kept, and training adds its penalty


def test_regularizers_are_read_as_keras_writes_them_never_run():
    pasted = parse_layers(
        "Dense(4, kernel_regularizer=keras.regularizers.L2(0.1), bias_regularizer=regularizers.l1(l1=0.5))\n"
        "Conv2D(2, 3, kernel_regularizer=L1L2(l1=0.01, l2=0.02))"
    )
    assert (pasted.layers[0].kernel_regularizer, pasted.layers[0].bias_regularizer) == (L2(0.1), L1(0.5))
    assert pasted.layers[1].kernel_regularizer == L1L2(0.01, 0.02) and not pasted.ignored
    assert "must be a Keras regularizer" in refused("Dense(4, kernel_regularizer=L2(open('x')))")


def test_no_layers_names_the_kinds():
    message = refused("print('hello')\nInput((3,))")
    assert message.startswith('no layers found; write them as Keras does, e.g. Dense(64, activation="relu"). Kinds: ')
    assert "Dense" in message and "Conv2D" in message and "Flatten" in message


@pytest.mark.parametrize(
    "text, error, message",
    [
        (
            "Dense(2)\nDense(-1)",
            LayerConfigError,
            "line 2, Dense: units must be an integer from 1 to 65,536; received -1",
        ),
        ("Dense(70000)", LimitError, "line 1, Dense: units must be an integer from 1 to 65,536; received 70000"),
        ("Dense(True)", LayerConfigError, "line 1, Dense: units must be an integer from 1 to 65,536; received True"),
        ("Dense(2, use_bias=1)", LayerConfigError, "line 1, Dense: use_bias must be true or false; received 1"),
        (
            "Dense(2, 'relu', True, 'zeros', 'zeros', None, None, 4)",
            LayerConfigError,
            "Dense takes at most 7 positional arguments (line 1)",
        ),
        ("Flatten('channels_first', 2)", LayerConfigError, "Flatten takes at most 1 positional arguments (line 1)"),
        ("Input(shape=(0,))\nDense(2)", LayerConfigError, "input shape (0,) must hold positive integers"),
    ],
)
def test_bad_settings_name_the_line_and_the_setting(text, error, message):
    assert refused(text, error).startswith(message)


def test_more_layers_than_a_model_holds():
    assert refused("Dense(2)\n" * (MAX_LAYERS + 1)) == f"a model holds at most {MAX_LAYERS} layers"
    assert len(parse_layers("Dense(2)\n" * MAX_LAYERS).layers) == MAX_LAYERS


@pytest.mark.parametrize(
    "text",
    [
        "Dense(" + "[" * 150 + "1" + "]" * 150 + ")",
        "Dense(" + "{1: " * 100 + "1" + "}" * 100 + ")",
        "Dense(2, activation='" + "x" * 19_000 + "')",
        "Dense(" + "1+" * 9000 + "1)",
        "Dense(" + "not " * 4000 + "1)",
    ],
)
def test_hostile_text_is_a_short_error(text):
    with pytest.raises(NetbuilderError) as e:
        parse_layers(text)
    assert len(str(e.value)) < 600  # the message quotes at most a little of what was pasted


def test_an_unknown_layer_class_is_not_silently_dropped():
    try:
        pasted = parse_layers("layers.Conv3D(8, 3)\nlayers.Dense(2)")
    except LayerConfigError as e:
        assert "Conv3D" in str(e)
        return
    assert any("Conv3D" in note for note in pasted.ignored)


# --- code nested deeper than Python's recursion --------------------------------------------------------
def test_layers_are_found_in_code_nested_deeper_than_python_recurses():
    # Python's parser builds trees 3 times deeper than the recursion limit (1,000; 3,000 once Keras is imported)
    deep = "+".join(["a"] * (sys.getrecursionlimit() + 500))
    assert refused(f"x = {deep}").startswith("no layers found")  # was a RecursionError
    pasted = parse_layers(f"y = Dense(2) + {deep} + Dense(3, kernel_constraint=MaxNorm(Conv2D(1)))\nDropout(0.5)")
    assert kinds(pasted) == ["Dense", "Dense", "Dropout"]  # the first is the deepest node, and still first
    assert pasted.ignored == ("Dense: kernel_constraint",)  # the calls inside a layer's arguments are no layers


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "Dense(units=" + "[" * 5000 + "1" + "]" * 5000 + ")",
            "too many nested parentheses); it nests brackets or operations deeper than Python can read.",
        ),
        (
            "Dense(" * 2000 + ")" * 2000,
            "too many nested parentheses); it nests brackets or operations deeper than Python can read.",
        ),
        (
            "(" * 10_000 + ")" * 10_000,
            "too many nested parentheses); it nests brackets or operations deeper than Python can read.",
        ),
        (
            "[" * 10_000 + "]" * 10_000,
            "too many nested parentheses); it nests brackets or operations deeper than Python can read.",
        ),
        (
            "Dense(" + "+".join(["1"] * 5000) + ")",
            "",
        ),  # too deep for the parser or no plain value: on the recursion limit
        ("x = " + "-" * 15_000 + "1", "; it nests brackets or operations deeper than Python can read."),
        (
            "Dense(" + "[" * 190 + "1" + "]" * 190 + ")",
            "line 1, Dense: units must be an integer from 1 to 65,536; received [[[[[",
        ),
        ("Dense(10**10**10)", "Dense's argument units must be a plain value"),  # an expression: never computed
        ("Dense(1e999)", "line 1, Dense: units must be an integer from 1 to 65,536; received inf"),
        ("Dropout(1e999)", "line 1, Dropout: rate must be a number in [0, 1]; received inf"),
    ],
    ids=[
        "list-5000-deep",
        "Dense(-2000-deep",
        "parens-10000-deep",
        "lists-10000-deep",
        "sum-of-5000",
        "minus-15000",
        "list-190-deep",
        "10**10**10",
        "Dense(1e999)",
        "Dropout(1e999)",
    ],
)
def test_deep_or_huge_text_is_a_layer_config_error(text, message):
    assert len(text) <= MAX_PASTE_CHARS
    with pytest.raises(NetbuilderError) as e:
        parse_layers(text)
    assert type(e.value) is LayerConfigError and message in str(e.value)


# --- *[...] and **{...} ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, settings",
    [
        ('Dense(**{"units": 5})', {"units": 5}),
        ('Dense(8, **{"activation": "relu"}, use_bias=False)', {"units": 8, "activation": "relu", "use_bias": False}),
        ('Dense(**{"units": 8}, **{"use_bias": False})', {"units": 8, "use_bias": False}),
        ('Dense(*[5, "relu"])', {"units": 5, "activation": "relu"}),
        ("Dense(*(5,), use_bias=False)", {"units": 5, "use_bias": False}),
        ("Conv2D(*[8], *((3, 3),))", {"filters": 8, "kernel_size": (3, 3)}),
    ],
)
def test_literal_star_arguments_are_spread_as_python_spreads_them(text, settings):
    assert parse_layers(text).layers == (LayerSpec.make(0, text.partition("(")[0], **settings),)


def test_double_star_entries_act_as_keywords():
    pasted = parse_layers(
        'Input(**{"shape": (3,)})\nDense(**{"units": 8, "kernel_initializer": "he_normal", "name": "h"})'
    )
    assert pasted.input_shape == (3,) and pasted.layers == (
        LayerSpec.make(0, "Dense", units=8, kernel_initializer="he_normal"),
    )
    assert pasted.ignored == ()
    assert parse_layers('Dense(2, **{"input_shape": (7,)})').input_shape == (7,)


@pytest.mark.parametrize(
    "text, name",
    [
        ('Dense(5, **{"units": 6})', "units"),
        ('Dense(units=5, **{"units": 6})', "units"),
        ('Dense(**{"units": 5}, **{"units": 6})', "units"),
        ('Dense(**{"units": 5, "units": 6})', "units"),
        ("Dense(*[5], units=6)", "units"),
        ('Dense(2, kernel_initializer="a", **{"kernel_initializer": "b"})', "kernel_initializer"),
    ],
)
def test_a_keyword_given_twice_through_double_star_is_refused(text, name):
    assert refused("Dense(2)\n" + text) == f"line 2: Dense is given {name} twice"


@pytest.mark.parametrize(
    "text",
    [
        "Dense(**kwargs)",
        "Dense(**dict(units=5))",
        "Dense(**{1: 5})",
        "Dense(**{**d})",
        'Dense(**{"units": 5, **d})',
        'Dense(**{f"units": 5})',
    ],
)
def test_anything_but_a_literal_dict_after_double_star_is_refused(text):
    assert refused("Dense(2)\n" + text) == (
        'line 2: after ** in Dense(...) only a literal dict with text keys can be read, such as **{"units": 64}.'
    )


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Dense(*args)", "Dense"),
        ("Dense(*range(3))", "Dense"),
        ('Dense(*"ab")', "Dense"),
        ("Dense(2, *[], *x)", "Dense"),
        ("Input(*shape)", "Input"),
    ],
)
def test_anything_but_a_literal_list_after_star_is_refused(text, kind):
    assert refused("Dense(2)\n" + text) == (
        f'line 2: after * in {kind}(...) only a literal list or tuple can be read, such as *[64, "relu"].'
    )


def test_a_pasted_lambda_is_refused_saying_its_code_is_never_run():
    message = refused('Dense(4)\nlayers.Lambda(lambda x: __import__("os").system("id"))\n')
    assert message.startswith("line 2: a Lambda layer holds Python code") and "never runs" in message
