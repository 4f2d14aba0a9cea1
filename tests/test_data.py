"""netbuilder.studio.data: input text (JSON or NumPy's print format) → float32 batch, fills, text that reads back
exactly, and CSV training data."""

import numpy as np
import pytest

from netbuilder import InputDataError, LayerConfigError
from netbuilder.engine.limits import MAX_BATCH, MAX_CSV_COLUMNS, MAX_INPUT_TEXT_CHARS, MAX_TRAIN_SAMPLES
from netbuilder.studio.data import (
    FILLS,
    CsvData,
    ParsedInput,
    check_batch,
    fill,
    fill_text,
    format_array,
    parse_array,
    parse_csv,
)


def error(text, shape=(3, 2)) -> str:
    with pytest.raises(InputDataError) as e:
        parse_array(text, shape)
    return str(e.value)


# --- parsing valid text ---------------------------------------------------------------------------
def test_batch_of_one_is_kept_as_is():
    x, added, non_finite = parse_array("[[[1, 2], [3, 4], [5, 6]]]", (3, 2))
    assert x.dtype == np.float32 and x.shape == (1, 3, 2) and not added and non_finite == 0
    assert x.tolist() == [[[1, 2], [3, 4], [5, 6]]]


def test_one_sample_gets_a_batch_axis():
    parsed = parse_array("[[1, 2], [3, 4], [5, 6]]", (3, 2))
    assert isinstance(parsed, ParsedInput) and parsed.batch_added
    assert parsed.array.shape == (1, 3, 2)


def test_batch_of_two_with_newlines_and_spaces():
    x, added, _ = parse_array("[\n [[1,2],[3,4],[5,6]],\n\t[[7,8],[9,10],[11,12]]\r\n]  ", (3, 2))
    assert x.shape == (2, 3, 2) and not added and x[1, 2, 1] == 12


def test_scalar_samples():
    x, added, _ = parse_array("[1, 2, 3]", ())
    assert x.shape == (3,) and not added and x.tolist() == [1, 2, 3]
    x, added, _ = parse_array("7.5", ())
    assert x.shape == (1,) and added and x[0] == 7.5


def test_numbers_in_every_json_form():
    x = parse_array("[-0, 0.5, -1e-3, 2E2, 1e+2, 12345678901234567890]", (6,)).array
    assert x[0].tolist() == [0, 0.5, np.float32(-0.001), 200, 100, np.float32(12345678901234567890)]
    assert np.signbit(x[0, 0])  # -0 stays negative zero


def test_non_finite_aliases():
    x, _, non_finite = parse_array("[NaN, nan, Infinity, inf, INF, -inf, -Infinity, infinity]", (8,))
    assert np.isnan(x[0, :2]).all()
    assert x[0, 2:].tolist() == [np.inf, np.inf, np.inf, -np.inf, -np.inf, np.inf]
    assert non_finite == 8


@pytest.mark.parametrize(
    "text, shape, count",
    [
        ("[1, 2, 3]", (3,), 0),
        ("[1, NaN, 3]", (3,), 1),
        ("[[inf, 1], [2, -Infinity], [nan, nan]]", (2,), 4),  # counted over the whole batch
        ("[3.4028235e38, -3.4028235e38]", (2,), 0),  # the largest float32 is finite
        ("[nan inf -inf 1]", (4,), 3),  # NumPy's print format
        ("range", (2, 2), 0),
    ],
)
def test_non_finite_counts_nan_and_infinities(text, shape, count):
    parsed = parse_array(text, shape)
    assert parsed.non_finite == count == int(np.count_nonzero(~np.isfinite(parsed.array)))


def test_float32_edge_values_are_accepted():
    x = parse_array("[3.4028235e38, -3.4028235e38, 1e-45, 1e-50]", (4,)).array
    assert x[0, 0] == np.finfo(np.float32).max and x[0, 2] > 0 and x[0, 3] == 0  # tiny values round as float32 does


# --- NumPy's print format ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, shape, expected",
    [
        ("[[1 2] [3 4]]", (2, 2), [[1, 2], [3, 4]]),  # str() of an int array, on one line
        ("[[1 2]\n [3 4]]", (2, 2), [[1, 2], [3, 4]]),  # ...as NumPy prints it
        ("[[1. 2.]\n [3. 4.]]", (2, 2), [[1, 2], [3, 4]]),  # `1.` is 1.0
        ("array([[1., 2.],\n       [3., 4.]], dtype=float32)", (2, 2), [[1, 2], [3, 4]]),  # repr()
        ("array([1, 2])", (2,), [1, 2]),
        ("array([ 1.5, -2. ])", (2,), [1.5, -2]),
        ("  array([0.25, 8.], dtype=np.float32)\n", (2,), [0.25, 8]),
        ("[ 0.5 -1.  .5]", (3,), [0.5, -1, 0.5]),  # `-1.` and `.5`
        ("[1e5 2E-3 -3.e+02]", (3,), [1e5, 2e-3, -300]),
        ("[\n1\n2\n]", (2,), [1, 2]),
    ],
)
def test_numpy_print_format_is_read(text, shape, expected):
    parsed = parse_array(text, shape)
    assert parsed.batch_added and parsed.non_finite == 0
    assert parsed.array.tolist() == np.array([expected], dtype=np.float32).tolist()


def test_numpy_print_format_of_a_batch_and_of_non_finite_values():
    parsed = parse_array("[[[1 2]\n  [3 4]]\n\n [[5 6]\n  [7 8]]]", (2, 2))
    assert not parsed.batch_added and parsed.array.shape == (2, 2, 2) and parsed.array[1, 1, 1] == 8
    parsed = parse_array("array([nan, inf, -inf, 1.], dtype=float32)", (4,))
    assert (
        parsed.non_finite == 3 and np.isnan(parsed.array[0, 0]) and parsed.array[0, 1:].tolist() == [np.inf, -np.inf, 1]
    )


@pytest.mark.parametrize(
    "a",
    [
        np.array([[1, 2], [3, 4]]),
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.array([[1.5, -2e-7], [3e10, np.nan]], dtype=np.float32),
        np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 11.5,
        np.array([[0.1, -0.25, 7.0]], dtype=np.float32),
    ],
)
def test_what_numpy_prints_reads_back(a):
    for text in (str(a), repr(a)):
        parsed = parse_array(text, a.shape)
        assert parsed.batch_added
        np.testing.assert_array_equal(parsed.array[0], a.astype(np.float32))


# --- rejecting bad text ---------------------------------------------------------------------------
def test_wrong_shape_message_names_both_forms():
    assert error("[[1, 2, 3], [1, 2, 3], [1, 2, 3]]") == (
        "expected shape (batch, 3, 2) — e.g. (1, 3, 2) — or one sample (3, 2); received (3, 3)"
    )
    assert error("[[1], [2]]", ()) == "expected shape (batch,) — e.g. (1,) — or one number; received (2, 1)"
    assert error("[1, 2]", (3,)) == "expected shape (batch, 3) — e.g. (1, 3) — or one sample (3,); received (2,)"
    assert error("5", (3,)) == "expected shape (batch, 3) — e.g. (1, 3) — or one sample (3,); received ()"


def test_empty_and_oversized_batches():
    assert error("[]", ()) == f"a batch holds 1 to {MAX_BATCH:,} samples; received 0"
    assert (
        error(str([0] * (MAX_BATCH + 1)), ()) == f"a batch holds 1 to {MAX_BATCH:,} samples; received {MAX_BATCH + 1}"
    )
    assert error("   \n") == "input data is empty: enter a nested list of numbers such as [[1, 2], [3, 4]]"


def test_ragged_lists():
    assert error("[[1, 2], [3]]", (2,)) == (
        "rows have different lengths (the lists at depth 2 differ): "
        "every list at one depth must be as long as the others"
    )
    assert "rows have different lengths" in error("[1, [2]]", (2,))


def test_strings_objects_and_literals():
    assert error('[["1", 2]]') == "unexpected character '\"' at line 1, column 3: strings are not numbers"
    assert error("[{}]") == "unexpected character '{' at line 1, column 2: objects are not numbers"
    assert error("[1,\n true]") == "true at line 2, column 2 is not a number; use numbers only"
    assert error("[null]") == "null at line 1, column 2 is not a number; use numbers only"
    assert error("[1; 2]") == "unexpected character ';' at line 1, column 3: use numbers, commas and [ ] only"
    assert error("[1\u00a0, 2]") == "unexpected character '\\xa0' at line 1, column 3: use numbers, commas and [ ] only"
    assert (
        error("array([1, 2]", (2,)) == "unexpected character '(' at line 1, column 6: use numbers, commas and [ ] only"
    )


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2028", "\x1c"])
def test_only_json_whitespace_separates_numbers(space):
    assert error(f"[1{space}2]", (2,)).startswith(f"unexpected character {space!r} at line 1, column 3")


HINT = ". Write it like [[1, 2], [3, 4]]."


def syntax(what: str, where: str, after: str = "") -> str:
    return (
        f"the input is not a nested list of numbers: {what} at {where}"
        + (f", after “…{after}”" if after else "")
        + HINT
    )


def test_json_syntax_errors_say_what_and_where_in_words():
    assert error("[1, 2,]", (2,)) == syntax(
        "there is a comma before ] with no number after it", "line 1, column 7", "[1, 2,"
    )
    assert error("[1, 2] [3]", (2,)) == syntax(
        "the text goes on after the outermost list ends", "line 1, column 7", "[1, 2]"
    )
    assert error("[[1, 2]", (2,)) == syntax("a comma (or a closing ]) is missing", "line 1, column 8", "[[1, 2]")
    assert error("[1,, 2]", (2,)) == syntax("a number is missing", "line 1, column 4", "[1,")
    assert error("]", (2,)) == syntax("a number is missing", "line 1, column 1")
    # columns refer to the text as typed, even after `inf` was read as `Infinity`
    assert error("[inf, inf,, 1]", (3,)) == syntax("a number is missing", "line 1, column 11", "[inf, inf,")
    assert error("[inf,\n inf,\n, 1]", (3,)).startswith(
        "the input is not a nested list of numbers: a number is missing at line 3, column 1"
    )


@pytest.mark.parametrize(
    "text", ["[1, 2,]", "[1, 2] [3]", "[[1, 2]", "[1,, 2]", "[1 - 2]", "[1.2.3]", "[1, 2", "[", "]", "[1 e2]"]
)
def test_no_raw_json_parser_words(text):
    message = error(text, (2,))
    for raw in ("Expecting", "delimiter", "Extra data", "char ", "property name"):
        assert raw not in message
    assert message.endswith(HINT)


def test_columns_refer_to_the_text_as_typed_after_space_separated_numbers():
    assert error("[inf, inf x]", (2,)) == syntax("a number is missing", "line 1, column 11", "[inf, inf ")
    assert error("[1 2 x]", (3,)) == syntax("a number is missing", "line 1, column 6", "[1 2 ")
    # and after `array(` was taken off
    assert (
        error("array([1, 2], shape=(2,))", (2,))
        == "unexpected character '=' at line 1, column 20: use numbers, commas and [ ] only"
    )


def test_numbers_beyond_float32():
    assert (
        error("[1e39]", (1,))
        == "1e+39 is outside float32's range (at most ±3.4028235e+38); write Infinity for infinity"
    )
    assert (
        error("[-1e300]", (1,))
        == "-1e+300 is outside float32's range (at most ±3.4028235e+38); write Infinity for infinity"
    )
    assert (
        error("[1e400]", (1,))
        == "a number is outside float32's range (at most ±3.4028235e+38); write Infinity for infinity"
    )
    assert "outside float32's range" in error("[" + "9" * 5000 + "]", (1,))  # not Python's int-digits ValueError


def test_bounds_are_checked_before_parsing():
    assert (
        error("[" * 100_000, (1,))
        == "input is nested 100000 lists deep; at most 5 are allowed (a batch axis plus up to 4 axes per sample)"
    )
    assert error("[[[[[[1]]]]]]", (1, 1, 1, 1)).startswith("input is nested 6 lists deep")
    assert (
        error(" " * (MAX_INPUT_TEXT_CHARS + 1))
        == f"input text has {MAX_INPUT_TEXT_CHARS + 1:,} characters; at most {MAX_INPUT_TEXT_CHARS:,} are allowed"
    )
    assert error(b"[1]") == "input data must be text; received bytes"


def test_bad_input_shape_is_the_callers_error():
    with pytest.raises(LayerConfigError):
        parse_array("[1]", (0,))


# --- fills ----------------------------------------------------------------------------------------
def test_fills():
    assert FILLS == ("random", "zeros", "range")
    assert fill("zeros", (2,), batch=3).tolist() == [[0, 0]] * 3
    r = fill("range", (3, 2), batch=2)
    assert r.dtype == np.float32 and r.shape == (2, 3, 2) and r[1, 2, 1] == 11 and r[0, 0, 0] == 0
    a = fill("random", (4, 5), batch=2, seed=7)
    assert a.dtype == np.float32 and a.shape == (2, 4, 5)
    assert np.array_equal(a, fill("random", (4, 5), batch=2, seed=7))
    assert not np.array_equal(a, fill("random", (4, 5), batch=2, seed=8))
    assert np.array_equal(a, np.round(a.astype(np.float64), 2).astype(np.float32))  # two decimals
    assert fill("range", ()).tolist() == [0]


def test_fill_rejects_bad_arguments():
    with pytest.raises(InputDataError, match="fill kind must be one of random, zeros, range; received 'ones'"):
        fill("ones", (2,))
    with pytest.raises(InputDataError, match="a batch holds 1 to 1,024 samples; received 0"):
        fill("zeros", (2,), batch=0)
    with pytest.raises(InputDataError, match="seed must be a non-negative integer; received -1"):
        fill("random", (2,), seed=-1)
    with pytest.raises(
        InputDataError, match="a batch of 1,024 makes 1,024,000,000 values; at most 67,108,864 are allowed"
    ):
        check_batch(1024, (1000, 1000))


# --- formatting -----------------------------------------------------------------------------------
def test_format_is_readable():
    assert format_array(fill("range", (3, 2))) == "[[[0, 1],\n  [2, 3],\n  [4, 5]]]"
    assert format_array(np.float32([0.1, -0.0, 2.5, 1e-8, 1e20])) == "[0.1, -0, 2.5, 1e-08, 1e+20]"
    assert format_array(np.float32([np.nan, np.inf, -np.inf])) == "[NaN, Infinity, -Infinity]"
    assert format_array(np.float32(3)) == "3"


def test_format_round_trips_exactly():
    values = np.float32([0.1, 1 / 3, -0.0, 1e-45, 3.4028235e38, -1.1754944e-38, 16777217, np.pi, np.nan, np.inf])
    x, added, non_finite = parse_array(format_array(values[None]), (10,))
    assert not added and non_finite == 2
    assert x.tobytes() == values[None].tobytes()  # bit for bit, NaN and -0 included


def test_format_of_float64_is_its_float32_value():
    assert format_array(np.array([0.1, 1 / 3])) == "[0.1, 0.33333334]"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("range", [[0, 1, 2], [3, 4, 5]]),
        ("  zeros\n", [[0, 0, 0], [0, 0, 0]]),
    ],
)
def test_fill_words_stand_for_one_sample_of_the_model_shape(text, expected):
    parsed = parse_array(text, (2, 3))
    np.testing.assert_array_equal(parsed.array, np.array([expected], dtype=np.float32))
    assert parsed.batch_added is False


def test_random_fill_word_carries_its_seed():
    np.testing.assert_array_equal(parse_array("random:7", (4,)).array, fill("random", (4,), seed=7))
    np.testing.assert_array_equal(parse_array("random", (4,)).array, fill("random", (4,), seed=0))


@pytest.mark.parametrize("text", ["ranges", "zeros:3", "random:1234567", "range range"])
def test_near_fill_words_are_errors(text):
    with pytest.raises(InputDataError):
        parse_array(text, (4,))


def test_fill_text_writes_numbers_for_small_inputs_and_the_word_for_large_ones():
    assert fill_text("range", (2, 2)) == "[[[0, 1],\n  [2, 3]]]"
    assert fill_text("range", (1000, 1000)) == "range"
    assert fill_text("random", (200, 200), seed=5) == "random:5"
    assert parse_array(fill_text("random", (200, 200), seed=5), (200, 200)).array.shape == (1, 200, 200)


# --- CSV training data ----------------------------------------------------------------------------
def f32(values) -> np.ndarray:
    return np.array(values, dtype=np.float32)


def csv_error(raw, shape=()) -> str:
    with pytest.raises(InputDataError) as e:
        parse_csv(raw, shape)
    return str(e.value)


def assert_read(data: CsvData, x, y) -> None:
    assert isinstance(data, CsvData) and data.x.dtype == np.float32 and data.y.dtype == np.float32
    np.testing.assert_array_equal(data.x, f32(x))
    np.testing.assert_array_equal(data.y, f32(y))
    assert data.x.shape == f32(x).shape and data.y.shape == f32(y).shape  # assert_array_equal broadcasts


def test_csv_rows_are_samples_features_first_then_targets():
    data = parse_csv("1,2,3,4,0.5,-1\n5,6,7,8,1e-3,2\n", (2, 2))
    assert_read(data, [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [[0.5, -1], [0.001, 2]])
    assert data.note == "Read 2 rows × 6 columns: 4 input values and 2 targets per row."
    x, y, note = parse_csv(b"0.1,7", ())  # a NamedTuple: unpacks like the old (x, y)
    assert (
        x.tolist() == [np.float32(0.1)]
        and y.tolist() == [[7]]
        and note.startswith("Read 1 row × 2 columns: 1 input value")
    )


def test_csv_bom_is_removed_not_taken_for_a_header():
    expected = [1, 3], [[2], [4]]
    assert_read(parse_csv(b"\xef\xbb\xbf1,2\n3,4\n", ()), *expected)  # Excel's "CSV UTF-8"
    assert_read(parse_csv("\ufeff1,2\n3,4\n", ()), *expected)  # bytes decoded by the caller keep it
    data = parse_csv(b"\xef\xbb\xbfx,y\n1,2\n", ())
    assert data.note.endswith("The first row was taken as column names (x, y).")  # not "\ufeffx"


def test_csv_first_row_of_infinity_is_data_and_is_refused():
    assert (
        csv_error("Infinity,1\n2,3")
        == "row 1, column 1: 'Infinity' is not a finite number; training data must be finite"
    )
    assert csv_error("1,-INF\n2,3") == "row 1, column 2: '-INF' is not a finite number; training data must be finite"
    assert csv_error("nan,1\n2,3") == "row 1, column 1: 'nan' is not a finite number; training data must be finite"
    assert csv_error("x,y\n1,2\n3,NaN") == "row 3, column 2: 'NaN' is not a finite number; training data must be finite"


def test_csv_numbers_beyond_float32_are_refused_not_made_inf():
    assert csv_error("x,y\n1,2\n3,1e39") == (
        "row 3, column 2: '1e39' is outside float32's range (at most ±3.4028235e+38); training data must be finite"
    )
    assert csv_error("-1e400,1").startswith(
        "row 1, column 1: '-1e400' is outside float32's range"
    )  # beyond float64 too
    assert csv_error("1," + "9" * 100).startswith("row 1, column 2: '" + "9" * 40 + "…' is outside float32's range")
    assert_read(parse_csv("3.4028235e38,-3.4028235e38", ()), [np.finfo(np.float32).max], [[-np.finfo(np.float32).max]])


def test_csv_decimal_commas_with_semicolons():
    assert_read(parse_csv("1,5;2,5\n", ()), [1.5], [[2.5]])  # two numbers, not four
    data = parse_csv("1,5;2,5\n-3,25;4\n,5;1e3\n", ())
    assert_read(data, [1.5, -3.25, 0.5], [[2.5], [4], [1000]])
    assert data.note == (
        "Read 3 rows × 2 columns with ';' between values and ',' as the decimal mark: "
        "1 input value and 1 target per row."
    )
    data = parse_csv("1.5;2\n3;4\n", ())  # ';' with '.' decimals
    assert_read(data, [1.5, 3], [[2], [4]])
    assert data.note == "Read 2 rows × 2 columns with ';' between values: 1 input value and 1 target per row."


def test_csv_mixed_decimal_marks_and_commas_in_comma_files_are_refused():
    assert csv_error("x;y\n1.5;2\n3,5;4") == (
        "row 2, column 1: '1.5' has '.' as its decimal mark but other cells have ',';"
        " write every number with the same decimal mark"
    )
    assert csv_error('"1,5",2') == (
        "row 1, column 1: '1,5' is not a number: with ',' between values, the decimal mark is '.' "
        "(or separate values with ';')"
    )


def test_csv_ambiguous_separators_are_refused():
    assert csv_error("1;2\t3\n") == (
        "the first row has both ';' and tabs between its cells: separate values with one of ',', ';' or a tab, "
        "the same in every row (with ';' or a tab, ',' may be the decimal mark: 1,5;2,5)"
    )
    assert (
        csv_error("1,2\n3;4\n")
        == "row 2 has 1 cell but row 1 has 2: every row must have as many cells, separated by ','"
    )


def test_csv_header_row_is_taken_only_if_a_cell_is_a_word():
    data = parse_csv(
        "sepal_length,sepal_width,petal_length,petal_width,label\n5.1,3.5,1.4,0.2,0\n4.9,3,1.4,0.2,1\n", (4,)
    )
    assert_read(data, [[5.1, 3.5, 1.4, 0.2], [4.9, 3, 1.4, 0.2]], [[0], [1]])
    assert data.note == (
        "Read 2 rows × 5 columns: 4 input values and 1 target per row. "
        "The first row was taken as column names (sepal_length, sepal_width, …, label)."
    )
    data = parse_csv("1, 2,label\n1,2,3\n", (2,))  # one word is enough
    assert_read(data, [[1, 2]], [[3]])
    assert data.note.endswith("The first row was taken as column names (1, 2, label).")
    assert_read(parse_csv("-1,.5,1e3\n1,2,3\n", (2,)), [[-1, 0.5], [1, 2]], [[1000], [3]])  # numbers: data
    assert csv_error("1,,2\n3,4,5", (1,)) == "row 1, column 2 is empty: every cell must be a number"  # empty is no word
    assert csv_error("x,y\n") == "the CSV file has column names (row 1) but no rows of numbers after them"
    assert (
        csv_error("x,y\n1,2\nx,y\n3,4")
        == "row 3, column 1: 'x' is not a number (only the first row may hold column names)"
    )


def test_csv_quoted_cells_and_spaces():
    assert_read(parse_csv('"1.5","2"\n 3 , "4"\n', ()), [1.5, 3], [[2], [4]])
    data = parse_csv('"a,b","c ""quoted"""\n1,2\n', ())  # separators and quotes inside quotes are part of the name
    assert_read(data, [1], [[2]])
    assert data.note.endswith('The first row was taken as column names (a,b, c "quoted").')
    assert (
        csv_error('1,"2\n3",4')
        == 'row 1: a quote (") is not closed on its row; a quoted cell such as "1.5" must end on the row it starts'
    )


def test_csv_tab_separators():
    data = parse_csv("x\ty\tz\n1\t2\t3\n4\t5,5\t6\n", (2,))
    assert_read(data, [[1, 2], [4, 5.5]], [[3], [6]])
    assert data.note == (
        "Read 2 rows × 3 columns with tabs between values and ',' as the decimal mark: 2 input values and "
        "1 target per row. The first row was taken as column names (x, y, z)."
    )


@pytest.mark.parametrize("raw", ["1,2\r\n3,4\r\n", "1,2\r3,4\r", b"1,2\r\n3,4", "\n1,2\n\n  \n3,4\n\n"])
def test_csv_line_ends_and_blank_lines(raw):
    assert_read(parse_csv(raw, ()), [1, 3], [[2], [4]])


def test_csv_row_numbers_count_the_header_and_blank_lines_as_a_spreadsheet_does():
    assert (
        csv_error("x,y\r\n\r\n1,2\r\n3,oops\r\n")
        == "row 4, column 2: 'oops' is not a number (only the first row may hold column names)"
    )


def test_csv_empty_cells_are_refused():
    assert csv_error("1,2\n3,\n") == "row 2, column 2 is empty: every cell must be a number"
    assert csv_error("1,2\n,4\n") == "row 2, column 1 is empty: every cell must be a number"
    assert csv_error('1,2\n3," "\n') == "row 2, column 2 is empty: every cell must be a number"
    assert (
        csv_error("1,2\n,,\n")
        == "row 2 has 3 cells but row 1 has 2: every row must have as many cells, separated by ','"
    )


def test_csv_ragged_rows_name_the_first_that_differs():
    assert csv_error("1,2,3\n4,5,6\n7,8\n9,10,11,12\n", (2,)) == (
        "row 3 has 2 cells but row 1 has 3: every row must have as many cells, separated by ','"
    )
    assert (
        csv_error("a;b\n1;2;3\n")
        == "row 2 has 3 cells but row 1 has 2: every row must have as many cells, separated by ';'"
    )


def test_csv_needs_a_target_column():
    assert csv_error("1,2,3", (3,)) == (
        "each row needs the model's 3 input values and then at least one target: 4 or more values; the rows have 3"
    )
    assert csv_error("5\n6", ()) == (
        "each row needs the model's 1 input value and then at least one target: 2 or more values; the rows have 1"
    )


def test_csv_row_bound():
    assert len(parse_csv("1,2\n" * MAX_TRAIN_SAMPLES, ()).x) == MAX_TRAIN_SAMPLES
    assert len(parse_csv("x,y\n" + "1,2\n" * MAX_TRAIN_SAMPLES, ()).y) == MAX_TRAIN_SAMPLES  # a header is no sample
    too_many = (
        f"at most {MAX_TRAIN_SAMPLES:,} samples are allowed (one a row, after a row of column names if there is one)"
    )
    assert (
        csv_error("1,2\n" * (MAX_TRAIN_SAMPLES + 1)) == f"the CSV file has {MAX_TRAIN_SAMPLES + 1:,} rows; {too_many}"
    )
    assert (
        csv_error("x,y\n" + "1,2\n" * (MAX_TRAIN_SAMPLES + 1))
        == f"the CSV file has {MAX_TRAIN_SAMPLES + 2:,} rows; {too_many}"
    )
    assert csv_error("1,2\n" * 300_000) == f"the CSV file has 300,000 rows; {too_many}"  # counted before pandas


def test_csv_size_and_column_bounds():
    assert csv_error(b" " * (MAX_INPUT_TEXT_CHARS + 1)) == (
        f"the CSV file has {MAX_INPUT_TEXT_CHARS + 1:,} bytes; at most {MAX_INPUT_TEXT_CHARS:,} are allowed"
    )
    assert csv_error(" " * (MAX_INPUT_TEXT_CHARS + 1)) == (
        f"the CSV file has {MAX_INPUT_TEXT_CHARS + 1:,} characters; at most {MAX_INPUT_TEXT_CHARS:,} are allowed"
    )
    wide = ",".join(["1"] * (MAX_CSV_COLUMNS + 1))
    assert (
        csv_error(wide)
        == f"the CSV file's rows have {MAX_CSV_COLUMNS + 1:,} cells; at most {MAX_CSV_COLUMNS:,} are allowed"
    )
    assert csv_error(wide, (MAX_CSV_COLUMNS,)).endswith(
        f"(this model's input alone takes {MAX_CSV_COLUMNS:,}: type x and y instead)"
    )
    data = parse_csv(",".join(["2"] * MAX_CSV_COLUMNS), (MAX_CSV_COLUMNS - 1,))
    assert_read(data, np.full((1, MAX_CSV_COLUMNS - 1), 2), [[2]])


def test_csv_must_be_utf8_text():
    assert csv_error(b"x,y\n1,2\n\xe9t\xe9,3\n") == (
        "the CSV file must be UTF-8 text, and byte 0xE9 on line 3 is not UTF-8: "
        "save the file as UTF-8 (in Excel, “CSV UTF-8”)"
    )
    assert_read(parse_csv("é,ü\n1,2".encode(), ()), [1], [[2]])  # UTF-8 column names are fine
    assert csv_error(123) == "a CSV file must be bytes or text; received int"


def test_csv_empty_file():
    expected = "the CSV file is empty: write one sample per row, its input values then its target(s), such as 0.5,1,0"
    assert csv_error(b"") == csv_error("\n \n\t\n") == csv_error(b"\xef\xbb\xbf") == expected


def test_csv_words_and_other_text_are_not_numbers():
    for cell in ("1_000", "0x10", "١", "1.2.3", "--1", "1e", "true"):
        assert (
            csv_error(f"1,2\n3,{cell}\n")
            == f"row 2, column 2: {cell!r} is not a number (only the first row may hold column names)"
        )


def test_csv_bad_input_shape_is_the_callers_error():
    with pytest.raises(LayerConfigError):
        parse_csv("1,2", (0,))


def test_a_random_fill_is_the_seeds_stream_as_before_drawn_without_float64_temporaries_of_its_size():
    import tracemalloc

    shape = (3, 100_003)  # several chunks, the last one partial
    np.testing.assert_array_equal(
        fill("random", shape, seed=4)[0],
        np.round(np.random.default_rng(4).standard_normal(shape), 2).astype(np.float32),
    )  # what links written as `random:4` have always stood for
    tracemalloc.start()
    try:
        made = fill("random", (4_000_000,), seed=1)  # 16 MB of float32; drawn in one go it took 64 MB of float64
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert made.nbytes == 16_000_000 and peak < made.nbytes + 4 * 2**20
