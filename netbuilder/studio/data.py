"""Input data for the forward pass: text ⇄ float32 arrays, and ready-made fills.

Text is a JSON nested list such as `[[[1, 2], [3, 4], [5, 6]]]`, read with `json` (never eval). NumPy's
print format is read too: numbers separated by spaces (`[[1 2] [3 4]]`), and `array([...], dtype=float32)`.
Non-finite values are allowed (they are valid float32 and show how NaN spreads through a model):
`NaN`, `Infinity`, `-Infinity` as JSON writes them, and `nan`, `inf`, `-inf`, `infinity` in any
case. Trailing commas, strings, true/false/null and objects are rejected, as are numbers outside
float32's range (|x| > 3.4028235e38 would become inf). Every problem with the data is an
InputDataError; an invalid `input_shape` is the caller's bug and raises check_input_shape's error.
"""

from __future__ import annotations

import json
import math
import re
from typing import NamedTuple

import numpy as np

from ..engine.errors import InputDataError
from ..engine.shapes import check_input_shape, format_batch_shape, format_shape
from ..engine.limits import MAX_BATCH, MAX_INPUT_RANK, MAX_INPUT_TEXT_CHARS, MAX_TENSOR_ELEMENTS, MAX_TRAIN_SAMPLES

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


class ParsedInput(NamedTuple):
    """A batch as float32, whether a batch axis was added to a single sample, and how many values are NaN or ±inf."""

    array: np.ndarray
    batch_added: bool
    non_finite: int = 0


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
        why = {'"': "strings are not numbers", "'": "strings are not numbers", "{": "objects are not numbers",
               "}": "objects are not numbers"}.get(c, "use numbers, commas and [ ] only")
        raise InputDataError(f"unexpected character {c!r} at {_where(text, offset + bad.start())}: {why}")
    word = _NOT_NUMBER.search(body)
    if word:
        raise InputDataError(f"{word.group()} at {_where(text, offset + word.start())} is not a number; use numbers only")
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
    return InputDataError(f"the input is not a nested list of numbers: {what} at {_where(original, pos)}"
                          + (f", after “…{before}”" if before.strip() else "") + ". Write it like [[1, 2], [3, 4]].")


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
        raise InputDataError(f"rows have different lengths{where}: every list at one depth must be as long as the others") from None
    if np.count_nonzero(np.isinf(wide)) > infinities:  # a literal such as 1e400 overflowed even float64
        raise InputDataError(f"a number is outside float32's range (at most ±{FLOAT32_MAX:.8g}); write Infinity for infinity")
    with np.errstate(over="ignore"):
        array = wide.astype(np.float32)
    overflow = np.isinf(array) & np.isfinite(wide)
    if overflow.any():
        raise InputDataError(
            f"{wide[overflow][0]:.8g} is outside float32's range (at most ±{FLOAT32_MAX:.8g}); write Infinity for infinity"
        )
    return array


_FILL_WORD = re.compile(r"\s*(?:(zeros|range)|random(?::(\d{1,6}))?)\s*")
MAX_WRITTEN_ELEMENTS = 10_000  # a fill larger than this is written as its word (`range`), not as numbers


def fill_text(kind: str, input_shape, seed: int = 0) -> str:
    """The text of one filled sample: the numbers, or for a large input the fill word parse_array understands."""
    if math.prod(check_input_shape(input_shape)) > MAX_WRITTEN_ELEMENTS:
        return f"random:{seed}" if kind == "random" else kind
    return format_array(fill(kind, input_shape, seed=seed))


def parse_array(text: str, input_shape) -> ParsedInput:
    """A float32 batch for a model with per-sample `input_shape`; one sample gets a batch axis added.

    Besides numbers, the text may be a fill word for one sample of the model's shape: `zeros`,
    `range`, `random` or `random:SEED` (how a large input is written).
    """
    want = check_input_shape(input_shape)  # the model's shape: a bad one is the caller's bug, not the data's
    if isinstance(text, str) and (word := _FILL_WORD.fullmatch(text[:40])) and len(text) <= 40:
        return ParsedInput(fill(word.group(1) or "random", want, seed=int(word.group(2) or 0)), False)
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
    """Any nested list of numbers (NumPy's print format too) as float32, for training targets; bounded like input text."""
    _check_text(text)
    return _to_array(*_load(text))


def parse_csv(text: str, input_shape) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from CSV text: one sample per row, its features (as many as the input shape holds) then its target(s).

    A first row that is not numbers is taken as a header and skipped."""
    if not isinstance(text, str) or len(text) > MAX_INPUT_TEXT_CHARS:
        raise InputDataError(f"a CSV file is at most {MAX_INPUT_TEXT_CHARS:,} characters")
    rows = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    if rows and not re.fullmatch(r"[\s0-9eE+\-.,;nNaAiIfF]*", rows[0]):
        rows = rows[1:]
    if not rows:
        raise InputDataError("the CSV file has no rows of numbers")
    if len(rows) > MAX_TRAIN_SAMPLES:
        raise InputDataError(f"the CSV file has {len(rows):,} rows; at most {MAX_TRAIN_SAMPLES:,} samples are allowed")
    features = math.prod(check_input_shape(input_shape))
    try:
        table = np.array([[float(cell) for cell in re.split(r"[,;]", row)] for row in rows], dtype=np.float64)
    except ValueError as e:
        raise InputDataError(f"every row of the CSV file must be numbers separated by commas ({str(e)[:60]})") from None
    if table.ndim != 2 or table.shape[1] <= features:
        raise InputDataError(f"each CSV row needs the model's {features:,} input values and then the target(s); "
                             f"found {table.shape[-1] if table.ndim == 2 else 'rows of different lengths'} values")
    with np.errstate(over="ignore"):
        x = table[:, :features].astype(np.float32).reshape(-1, *input_shape)
        y = table[:, features:].astype(np.float32)
    return x, y


def check_batch(batch: int, input_shape) -> int:
    """`batch` if 1..MAX_BATCH and within MAX_TENSOR_ELEMENTS for this per-sample shape."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or not 1 <= batch <= MAX_BATCH:
        raise InputDataError(f"a batch holds 1 to {MAX_BATCH:,} samples; received {str(batch)[:40]}")
    total = int(batch) * math.prod(input_shape)
    if total > MAX_TENSOR_ELEMENTS:
        raise InputDataError(f"a batch of {batch:,} makes {total:,} values; at most {MAX_TENSOR_ELEMENTS:,} are allowed")
    return int(batch)


def fill(kind: str, input_shape, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A (batch, *input_shape) float32 array: "random" (normal, 2 decimals), "zeros" or "range" (0, 1, 2...)."""
    shape = (check_batch(batch, check_input_shape(input_shape)), *input_shape)
    if kind == "random":
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputDataError(f"seed must be a non-negative integer; received {str(seed)[:40]}")
        # Two decimals keep the text readable; the values are still spread like real inputs.
        return np.round(np.random.default_rng(int(seed)).standard_normal(shape), 2).astype(np.float32)
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
