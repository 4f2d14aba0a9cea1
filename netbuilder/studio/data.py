"""Input data: forward-pass text ⇄ float32 arrays, ready-made fills, and training data from CSV files.

Forward-pass text is a JSON nested list such as `[[[1, 2], [3, 4], [5, 6]]]`, read with `json` (never eval). NumPy's
print format is read too: numbers separated by spaces (`[[1 2] [3 4]]`), and `array([...], dtype=float32)`.
Non-finite values are allowed (they are valid float32 and show how NaN spreads through a model):
`NaN`, `Infinity`, `-Infinity` as JSON writes them, and `nan`, `inf`, `-inf`, `infinity` in any
case. Trailing commas, strings, true/false/null and objects are rejected, as are numbers outside
float32's range (|x| > 3.4028235e38 would become inf). Every problem with the data is an
InputDataError; an invalid `input_shape` is the caller's bug and raises check_input_shape's error.

A CSV file (parse_csv) holds one sample per row: its input values, then its target(s). pandas reads it (quotes,
spaces after separators) as text only — no NA words, nothing converted — and the numbers are checked here: every
one must be a finite float32 (training data has no NaN or inf), and an error names its row and column as a
spreadsheet counts them. Values are separated by ',', ';' or tabs, whichever the first row uses; with ';' or tabs,
',' is the decimal mark, as European spreadsheets write it. The first row names the columns if one of its cells
is a word. Size, rows and cells a row are bounded before pandas reads anything (MAX_INPUT_TEXT_CHARS,
MAX_TRAIN_SAMPLES, MAX_CSV_COLUMNS: pandas spends about 50 µs a column).
"""

from __future__ import annotations

import io
import json
import math
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..engine.errors import InputDataError
from ..engine.shapes import check_input_shape, format_batch_shape, format_shape
from ..engine.limits import (
    MAX_BATCH,
    MAX_CSV_COLUMNS,
    MAX_INPUT_RANK,
    MAX_INPUT_TEXT_CHARS,
    MAX_TENSOR_ELEMENTS,
    MAX_TRAIN_SAMPLES,
)

FILLS = ("random", "zeros", "range")  # how `fill` makes input data
FLOAT32_MAX = float(np.finfo(np.float32).max)

_NUMPY_ARRAY = re.compile(r"^\s*array\((.*?)(?:,\s*dtype=[a-z0-9_.]+)?\)\s*$", re.DOTALL)
# NumPy's print format and nan/inf words, rewritten as JSON writes them: (name, pattern, what it becomes)
_REWRITE_RULES = (
    ("nan", r"\b(?i:nan)\b", "NaN"),  # in any case
    ("inf", r"\b(?i:inf(?:inity)?)\b", "Infinity"),
    ("bare", r"(?<=[0-9])\.(?![0-9])", ".0"),  # NumPy's `1.` is JSON's `1.0`
    ("lead", r"(?<![0-9])\.(?=[0-9])", "0."),  # `.5` is `0.5`
    ("space", r"(?<=[0-9A-Za-z.\]])[ \t\n\r]+(?=[-+0-9.\[A-Za-z])", ", "),  # `1 2`, `] [`: a comma between
)
# one pass, each rewrite kept to map error columns back to what the visitor typed
_REWRITES = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern, _ in _REWRITE_RULES))
_REWRITTEN = {name: word for name, _, word in _REWRITE_RULES}
# The same rules as plain string substitutions (no Python call per match): the fast path for text that parses.
_FAST_REWRITES = [(re.compile(pattern), word) for _, pattern, word in _REWRITE_RULES]
_BAD_CHAR = re.compile(r"[^0-9eE+\-.\[\], \t\n\rA-Za-z]")  # JSON's whitespace only: the text stays ASCII
_NOT_NUMBER = re.compile(r"\b(?:true|false|null)\b")
_RAGGED = re.compile(r"inhomogeneous shape after (\d+) dimensions")

# CSV files (parse_csv)
_SEP_WORDS = {",": "','", ";": "';'", "\t": "tabs"}
_QUOTED = re.compile(r'"[^"]*"')  # a quoted cell; a doubled quote inside it splits it in two, which counts the same
_FORM = r"[+-]?(?:[0-9]+(?:{0}[0-9]*)?|{0}[0-9]+)(?:[eE][+-]?[0-9]+)?"  # float()'s decimal syntax, ASCII digits
_NUMBER = {comma: re.compile(_FORM.format("," if comma else r"\.")) for comma in (False, True)}  # by decimal mark
# the first cell (one a line) that is not a number, spaces around it allowed
_NOT_A_NUMBER = {
    comma: re.compile(rf"^(?![ \t]*{number.pattern}[ \t]*$)", re.MULTILINE) for comma, number in _NUMBER.items()
}
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf(?:inity)?)", re.IGNORECASE)


@dataclass(frozen=True)
class Fill:
    """A batch of one sample written as a fill word (`random:3`): a recipe made where it is used, so a large input is
    made by the worker that runs it and never held by the server."""

    kind: str
    input_shape: tuple[int, ...]
    seed: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, *self.input_shape)

    def __len__(self) -> int:
        return 1

    @property
    def nbytes(self) -> int:
        return 4 * math.prod(self.shape)

    def make(self) -> np.ndarray:
        return fill(self.kind, self.input_shape, seed=self.seed)


def batch_of(x: np.ndarray | Fill) -> np.ndarray:
    """The array of a batch given as one or as a Fill."""
    return x.make() if isinstance(x, Fill) else x


class ParsedInput(NamedTuple):
    """A batch as float32 (or the Fill that makes it), whether a batch axis was added to a single sample, and how many
    values are NaN or ±inf."""

    batch: np.ndarray | Fill
    batch_added: bool
    non_finite: int = 0

    @property
    def array(self) -> np.ndarray:
        """The batch as an array (a fill made now: pass `batch` on to a run instead)."""
        return batch_of(self.batch)


class CsvData(NamedTuple):
    """Training data from a CSV file: x (samples, *input_shape) and y (samples, targets) as float32, and what was
    read."""

    x: np.ndarray
    y: np.ndarray
    note: str


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _check_text(text) -> None:
    """Reject, before parsing, anything that is not a bounded, shallow list of numbers."""
    if not isinstance(text, str):
        raise InputDataError(f"input data must be text; received {type(text).__name__}")
    if len(text) > MAX_INPUT_TEXT_CHARS:
        raise InputDataError(f"input text has {len(text):,} characters; at most {MAX_INPUT_TEXT_CHARS:,} are allowed")
    if not text.strip():
        raise InputDataError("input data is empty: enter a nested list of numbers such as [[1, 2], [3, 4]]")
    m = _NUMPY_ARRAY.match(text) if text.lstrip().startswith("array(") else None
    body, offset = (m.group(1), m.start(1)) if m else (text, 0)  # NumPy's array(...) wrapper is allowed around the list
    bad = _BAD_CHAR.search(body)
    if bad:
        c = bad.group()
        why = {
            '"': "strings are not numbers",
            "'": "strings are not numbers",
            "{": "objects are not numbers",
            "}": "objects are not numbers",
        }.get(c, "use numbers, commas and [ ] only")
        raise InputDataError(f"unexpected character {c!r} at {_where(text, offset + bad.start())}: {why}")
    word = _NOT_NUMBER.search(body)
    if word:
        raise InputDataError(
            f"{word.group()} at {_where(text, offset + word.start())} is not a number; use numbers only"
        )
    # A cheap bracket count (no recursion) so `[[[[...` cannot reach json's recursive parser.
    codes = np.frombuffer(body.encode("ascii"), dtype=np.uint8)
    depth = np.cumsum((codes == ord("[")).astype(np.int32) - (codes == ord("]")))
    deepest = int(depth.max(initial=0))
    if deepest > MAX_INPUT_RANK + 1:
        raise InputDataError(
            f"input is nested {deepest} lists deep; at most {MAX_INPUT_RANK + 1} are allowed "
            f"(a batch axis plus up to {MAX_INPUT_RANK} axes per sample)"
        )


def _as_json_fast(text: str) -> str:
    """`_as_json`'s text without keeping its rewrites (about 10× faster on NumPy's print format)."""
    if text.lstrip().startswith("array(") and (m := _NUMPY_ARRAY.match(text)):
        text = m.group(1)
    for pattern, word in _FAST_REWRITES:
        text = pattern.sub(word, text)
    return text


def _as_json(text: str) -> tuple[str, int, list[tuple[int, int, int]]]:
    """(JSON text, where it starts in `text`, its rewrites as (start in `text`, length there, length written)):
    NumPy's `array([...], dtype=float32)` unwrapped, `1.` and `.5` completed, space-separated numbers given commas,
    nan/inf words as JSON writes them. JSON text passes through unchanged."""
    offset = 0
    if text.lstrip().startswith("array(") and (m := _NUMPY_ARRAY.match(text)):
        offset, text = m.start(1), m.group(1)
    rewrites = []

    def rewrite(m):
        word = _REWRITTEN[m.lastgroup]
        rewrites.append((offset + m.start(), len(m.group()), len(word)))
        return word

    return _REWRITES.sub(rewrite, text), offset, rewrites


_JSON_WORDS = {
    "Expecting ',' delimiter": "a comma (or a closing ]) is missing",
    "Expecting value": "a number is missing",
    "Extra data": "the text goes on after the outermost list ends",
    "Expecting property name enclosed in double quotes": "this is not a list of numbers",
}


def _load(original: str):
    """json.loads of the text (NumPy's print format and nan/inf words first rewritten); numbers become floats;
    (value, number of ±Infinity read). Error columns refer to what the visitor typed."""
    infinities = []

    def load(text):  # parse_int=float: a 5000-digit integer becomes inf (caught later), not Python's digit-limit error
        return json.loads(text, parse_int=float, parse_constant=lambda c: infinities.append(c) or float(c))

    try:
        value = load(_as_json_fast(original))
    except json.JSONDecodeError:
        text, offset, rewrites = _as_json(original)  # again, keeping the rewrites to point at what the visitor typed
        infinities.clear()
        try:
            value = load(text)
        except json.JSONDecodeError as e:
            raise _explained(original, e, offset, rewrites) from None
    return value, sum(c != "NaN" for c in infinities)


def _explained(original: str, e: json.JSONDecodeError, offset: int, rewrites) -> InputDataError:
    """The InputDataError for a JSON error, in the visitor's words and columns."""
    pos = _original_pos(e.pos + offset, rewrites, offset)
    what = _JSON_WORDS.get(e.msg, "the brackets or commas are not right")
    if e.msg == "Expecting value" and original[pos : pos + 1] == "]" and original[:pos].rstrip().endswith(","):
        what = "there is a comma before ] with no number after it"
    before = original[max(0, pos - 12) : pos].replace("\n", " ")
    return InputDataError(
        f"the input is not a nested list of numbers: {what} at {_where(original, pos)}"
        + (f", after “…{before}”" if before.strip() else "")
        + ". Write it like [[1, 2], [3, 4]]."
    )


def _original_pos(pos: int, replaced, offset: int = 0) -> int:
    """Where position `pos` of the rewritten text (counted from `offset`) lies in the original text."""
    shift = 0
    for start, old, new in replaced:
        if pos < start + shift:
            break
        if pos < start + shift + new:
            return start
        shift += new - old
    return pos - shift


def _to_array(value, infinities: int) -> np.ndarray:
    """float32 array of the parsed value, or an error for ragged lists and out-of-range numbers."""
    try:
        wide = np.array(value, dtype=np.float64)
    except ValueError as e:
        m = _RAGGED.search(str(e))
        where = f" (the lists at depth {int(m.group(1)) + 1} differ)" if m else ""
        raise InputDataError(
            f"rows have different lengths{where}: every list at one depth must be as long as the others"
        ) from None
    if np.count_nonzero(np.isinf(wide)) > infinities:  # a literal such as 1e400 overflowed even float64
        raise InputDataError(
            f"a number is outside float32's range (at most ±{FLOAT32_MAX:.8g}); write Infinity for infinity"
        )
    with np.errstate(over="ignore"):
        array = wide.astype(np.float32)
    overflow = np.isinf(array) & np.isfinite(wide)
    if overflow.any():
        raise InputDataError(
            f"{wide[overflow][0]:.8g} is outside float32's range (at most ±{FLOAT32_MAX:.8g}); "
            "write Infinity for infinity"
        )
    return array


_FILL_WORD = re.compile(r"\s*(?:(zeros|range)|random(?::(\d{1,6}))?)\s*")
MAX_WRITTEN_ELEMENTS = 10_000  # a fill larger than this is written as its word (`range`), not as numbers
FILL_CHUNK = 1 << 16  # values of a random fill drawn at a time


def fill_text(kind: str, input_shape, seed: int = 0) -> str:
    """The text of one filled sample: the numbers, or for a large input the fill word parse_array understands."""
    if math.prod(check_input_shape(input_shape)) > MAX_WRITTEN_ELEMENTS:
        return f"random:{seed}" if kind == "random" else kind
    return format_array(fill(kind, input_shape, seed=seed))


def parse_array(text: str, input_shape) -> ParsedInput:
    """A float32 batch for a model with per-sample `input_shape`; one sample gets a batch axis added.

    Besides numbers, the text may be a fill word for one sample of the model's shape: `zeros`,
    `range`, `random` or `random:SEED` (how a large input is written), kept as its Fill.
    """
    want = check_input_shape(input_shape)  # the model's shape: a bad one is the caller's bug, not the data's
    if isinstance(text, str) and (word := _FILL_WORD.fullmatch(text[:40])) and len(text) <= 40:
        check_batch(1, want)
        return ParsedInput(Fill(word.group(1) or "random", want, int(word.group(2) or 0)), False)
    _check_text(text)
    array = _to_array(*_load(text))
    if array.shape == want:
        array, added = array[np.newaxis], True
    elif array.ndim >= 1 and array.shape[1:] == want:
        added = False
    else:
        one = f"one sample {format_shape(want)}" if want else "one number"
        raise InputDataError(
            f"expected shape {format_batch_shape(want)} — e.g. {format_batch_shape(want, 1)} — or {one}; "
            f"received {format_shape(array.shape)}"
        )
    check_batch(len(array), want)
    return ParsedInput(array, added, int(array.size - np.count_nonzero(np.isfinite(array))))


def parse_numbers(text: str) -> np.ndarray:
    """Any nested list of numbers (NumPy's print format too) as float32, for training targets; bounded like input
    text."""
    _check_text(text)
    return _to_array(*_load(text))


def parse_csv(raw: bytes | str, input_shape) -> CsvData:
    """x, y and a note from a CSV file: one sample per row, its input values (as many as the input shape holds) then
    its target(s); see the module docstring for what is read and what is refused."""
    features = math.prod(check_input_shape(input_shape))  # the model's shape: a bad one is the caller's bug
    rows = _rows(_decoded(raw))
    sep = _separator(rows[0][1])
    width = _width(rows, sep, features)
    cells = _read([line for _, line in rows], sep, width)  # the first row too: each read costs ~50 µs a column
    header = any(cell.strip() and not _is_number(cell) for cell in cells[0])  # a word (not an empty cell) names columns
    names = [cell.strip() for cell in cells[0]] if header else None
    if header:
        cells, rows = cells[1:], rows[1:]
    if not rows:
        raise InputDataError("the CSV file has column names (row 1) but no rows of numbers after them")
    if len(rows) > MAX_TRAIN_SAMPLES:
        _refuse_count(len(rows) + header)
    table, comma = _numbers(cells, [number for number, _ in rows], sep)
    x = table[:, :features].reshape(-1, *input_shape)
    return CsvData(x, table[:, features:], _note(len(rows), width, features, sep, comma, names))


def _decoded(raw) -> str:
    """The file's text, its size checked first: bytes decoded as UTF-8, a byte-order mark removed."""
    if not isinstance(raw, (bytes, bytearray, str)):
        raise InputDataError(f"a CSV file must be bytes or text; received {type(raw).__name__}")
    if len(raw) > MAX_INPUT_TEXT_CHARS:
        unit = "characters" if isinstance(raw, str) else "bytes"
        raise InputDataError(f"the CSV file has {len(raw):,} {unit}; at most {MAX_INPUT_TEXT_CHARS:,} are allowed")
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputDataError(
            f"the CSV file must be UTF-8 text, and byte 0x{raw[e.start]:02X} on line {line} is not "
            "UTF-8: save the file as UTF-8 (in Excel, “CSV UTF-8”)"
        ) from None


def _rows(text: str) -> list[tuple[int, str]]:
    """(row number, line) of each non-blank line, counted before pandas reads anything; blank lines still count in
    the row numbers, as a spreadsheet shows them."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rows = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise InputDataError(
            "the CSV file is empty: write one sample per row, its input values then its target(s), such as 0.5,1,0"
        )
    if len(rows) > MAX_TRAIN_SAMPLES + 1:  # + 1: the first row may be column names (checked exactly once read)
        _refuse_count(len(rows))
    return rows


def _refuse_count(rows: int) -> None:
    """The error for too many rows."""
    raise InputDataError(
        f"the CSV file has {rows:,} rows; at most {MAX_TRAIN_SAMPLES:,} samples are allowed "
        "(one a row, after a row of column names if there is one)"
    )


def _separator(line: str) -> str:
    """',', ';' or a tab: the one between the first row's cells. With ';' or a tab, a ',' is a decimal mark."""
    found = [sep for sep in (";", "\t") if sep in _QUOTED.sub("", line)]
    if len(found) > 1:
        raise InputDataError(
            "the first row has both ';' and tabs between its cells: separate values with one of ',', ';' "
            "or a tab, the same in every row (with ';' or a tab, ',' may be the decimal mark: 1,5;2,5)"
        )
    return found[0] if found else ","


def _count_cells(number: int, line: str, sep: str) -> int:
    """How many cells row `number` has: its separators outside quotes, counted without parsing."""
    if '"' in line:
        if line.count('"') % 2:  # a quoted cell going on to the next line: never part of a number
            raise InputDataError(
                f'row {number}: a quote (") is not closed on its row; a quoted cell such as "1.5" '
                "must end on the row it starts"
            )
        line = _QUOTED.sub("", line)
    return line.count(sep) + 1


def _width(rows: list[tuple[int, str]], sep: str, features: int) -> int:
    """The number of cells in every row, checked before pandas reads anything: within MAX_CSV_COLUMNS, the same in
    every row, and room for at least one target."""
    number, line = rows[0]
    width = _count_cells(number, line, sep)
    if width > MAX_CSV_COLUMNS:
        alone = (
            f" (this model's input alone takes {features:,}: type x and y instead)"
            if features >= MAX_CSV_COLUMNS
            else ""
        )
        raise InputDataError(
            f"the CSV file's rows have {width:,} cells; at most {MAX_CSV_COLUMNS:,} are allowed{alone}"
        )
    for other, line in rows[1:]:
        if (cells := _count_cells(other, line, sep)) != width:
            raise InputDataError(
                f"row {other} has {_plural(cells, 'cell')} but row {number} has {width:,}: "
                f"every row must have as many cells, separated by {_SEP_WORDS[sep]}"
            )
    if width <= features:
        raise InputDataError(
            f"each row needs the model's {_plural(features, 'input value')} and then at least one target: "
            f"{features + 1:,} or more values; the rows have {width:,}"
        )
    return width


def _read(lines: list[str], sep: str, width: int) -> np.ndarray:
    """The cells of `lines` as a (rows, width) array of str, read by pandas: quotes and the spaces after separators
    taken off, nothing converted (dtype=object, no NA words), so no cell silently becomes NaN."""
    import pandas as pd  # here, not at the top: it takes about half a second to import and only CSV files need it

    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)),
            sep=sep,
            header=None,
            names=range(width),
            index_col=False,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
            skip_blank_lines=False,
            quotechar='"',
            doublequote=True,
            comment=None,
            engine="c",
        )
    except (pd.errors.ParserError, ValueError) as e:  # a quote in the middle of a cell makes pandas count otherwise
        raise InputDataError(
            f'the CSV file could not be read ({str(e)[:120]}); quote whole cells only, such as "1.5"'
        ) from None
    return frame.to_numpy(dtype=object)


def _is_number(cell: str) -> bool:
    """Whether a cell is written as a number (nan and inf words included, either decimal mark): not a column name."""
    cell = cell.strip()
    return bool(_NUMBER[False].fullmatch(cell) or _NUMBER[True].fullmatch(cell) or _NON_FINITE.fullmatch(cell))


def _numbers(cells: np.ndarray, numbers: list[int], sep: str) -> tuple[np.ndarray, bool]:
    """float32 (rows, columns) of the cells, and whether ',' was their decimal mark; the first cell that is not a
    finite float32 number is an InputDataError naming its row (`numbers`) and column."""
    joined = "\n".join(cells.ravel().tolist())  # one regex pass over every cell: a cell holds no line end
    comma = sep != "," and "," in joined  # with ';' or tabs between values, a ',' in a cell is a decimal mark
    if bad := _NOT_A_NUMBER[comma].search(joined):
        index = joined.count("\n", 0, bad.start())
        raise InputDataError(_why_not(cells.flat[index].strip(" \t"), _cell_at(index, cells.shape[1], numbers), comma))
    # The decimal comma is read here: pandas' decimal="," acts only on columns it converts, and it converts none.
    # float() of each (checked) cell rounds exactly, like parse_array's json.
    wide = np.array((joined.replace(",", ".") if comma else joined).split("\n"), dtype=np.float64)
    with np.errstate(over="ignore"):
        table = wide.astype(np.float32)
    if (outside := np.flatnonzero(~np.isfinite(table))).size:  # every word was refused above: this overflowed
        index = int(outside[0])
        text = _shown(cells.flat[index].strip(" \t"))
        raise InputDataError(
            f"{_cell_at(index, cells.shape[1], numbers)}: {text} is outside float32's range "
            f"(at most ±{FLOAT32_MAX:.8g}); training data must be finite"
        )
    return table.reshape(cells.shape), comma


def _cell_at(index: int, width: int, numbers: list[int]) -> str:
    """`row R, column C` of cell `index`, counted as a spreadsheet counts."""
    return f"row {numbers[index // width]}, column {index % width + 1}"


def _shown(text: str) -> str:
    """A cell's text quoted for a message, cut at 40 characters."""
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _why_not(text: str, where: str, comma: bool) -> str:
    """Why a cell is not a finite number, in words."""
    if not text:
        return f"{where} is empty: every cell must be a number"
    if _NON_FINITE.fullmatch(text):
        return f"{where}: {_shown(text)} is not a finite number; training data must be finite"
    if comma and _NUMBER[False].fullmatch(text):
        return (
            f"{where}: {_shown(text)} has '.' as its decimal mark but other cells have ','; write every number "
            "with the same decimal mark"
        )
    if not comma and _NUMBER[True].fullmatch(text):
        return (
            f"{where}: {_shown(text)} is not a number: with ',' between values, the decimal mark is '.' "
            "(or separate values with ';')"
        )
    return f"{where}: {_shown(text)} is not a number (only the first row may hold column names)"


def _note(rows: int, width: int, features: int, sep: str, comma: bool, names: list[str] | None) -> str:
    """What was read, in one or two plain sentences."""
    how = (
        ""
        if sep == ","
        else f" with {_SEP_WORDS[sep]} between values" + (" and ',' as the decimal mark" if comma else "")
    )
    note = (
        f"Read {_plural(rows, 'row')} × {_plural(width, 'column')}{how}: {_plural(features, 'input value')} "
        f"and {_plural(width - features, 'target')} per row."
    )
    if names:
        shown = [name if len(name) <= 24 else name[:24] + "…" for name in names]
        shown = shown if len(shown) <= 4 else [*shown[:2], "…", shown[-1]]
        note += f" The first row was taken as column names ({', '.join(shown)})."
    return note


def _plural(count: int, word: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def check_batch(batch: int, input_shape) -> int:
    """`batch` if 1..MAX_BATCH and within MAX_TENSOR_ELEMENTS for this per-sample shape."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or not 1 <= batch <= MAX_BATCH:
        raise InputDataError(f"a batch holds 1 to {MAX_BATCH:,} samples; received {str(batch)[:40]}")
    total = int(batch) * math.prod(input_shape)
    if total > MAX_TENSOR_ELEMENTS:
        raise InputDataError(
            f"a batch of {batch:,} makes {total:,} values; at most {MAX_TENSOR_ELEMENTS:,} are allowed"
        )
    return int(batch)


def fill(kind: str, input_shape, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A (batch, *input_shape) float32 array: "random" (normal, 2 decimals), "zeros" or "range" (0, 1, 2...)."""
    shape = (check_batch(batch, check_input_shape(input_shape)), *input_shape)
    if kind == "random":
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputDataError(f"seed must be a non-negative integer; received {str(seed)[:40]}")
        # Two decimals keep the text readable; the values are still spread like real inputs. Drawn a chunk at a time
        # (the same stream as in one go): a 256 MB input needs no 1 GB of float64 temporaries
        rng, out = np.random.default_rng(int(seed)), np.empty(shape, np.float32)
        flat = out.reshape(-1)
        for start in range(0, flat.size, FILL_CHUNK):
            flat[start : start + FILL_CHUNK] = np.round(rng.standard_normal(min(FILL_CHUNK, flat.size - start)), 2)
        return out
    if kind == "zeros":
        return np.zeros(shape, dtype=np.float32)
    if kind == "range":
        return np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    raise InputDataError(f"fill kind must be one of {', '.join(FILLS)}; received {str(kind)[:40]!r}")


_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def format_array(a) -> str:
    """Nested-list text of `a` as float32 (shortest exact digits, `1` for 1.0) that parse_array reads back exactly."""
    a = np.asarray(a, dtype=np.float32)
    words = a.astype(str)  # numpy's shortest digits that identify each float32
    # Decimal → float64 → float32 rounds twice; where that could miss, write the exact float64 digits.
    with np.errstate(over="ignore"):
        back = words.astype(np.float64).astype(np.float32)
    wrong = ~((back == a) | np.isnan(a))
    if wrong.any():
        words = words.astype(object)
        words[wrong] = [repr(float(x)) for x in a[wrong]]
    flat = [_SPECIAL.get(w) or (w[:-2] if w.endswith(".0") else w) for w in words.ravel().tolist()]
    if a.ndim == 0:
        return flat[0]
    return _nest(flat, a.shape, 1)


def _nest(flat: list[str], shape: tuple, depth: int) -> str:
    """numpy-style layout: the last axis on one line, each outer row on its own line."""
    if len(shape) == 1:
        return "[" + ", ".join(flat) + "]"
    if shape[0] == 0:
        return "[]"
    step = len(flat) // shape[0]
    rows = [_nest(flat[i * step : (i + 1) * step], shape[1:], depth + 1) for i in range(shape[0])]
    return "[" + (",\n" + " " * depth).join(rows) + "]"


def parse_shape(text: str) -> tuple[int, ...]:
    """A per-sample input shape from text such as `3, 2`, `(3, 2)`, `3x2` or `` (one number per sample)."""
    if not isinstance(text, str) or len(text) > 100:
        raise InputDataError("an input shape is at most 100 characters, such as `3, 2`")
    inner = text.strip().strip("()[]").strip()
    inner = inner[:-1] if inner.endswith(",") else inner  # Python's one-axis tuple: (3,)
    parts = [p.strip() for p in re.split(r"[,x×]", inner)] if inner else []
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise InputDataError(
            f"input shape {text.strip()[:40]!r} is not a list of positive integers such as `3, 2` "
            f"(up to {MAX_INPUT_RANK} of them; empty for one number per sample)"
        )
    return check_input_shape(tuple(int(p) for p in parts))
