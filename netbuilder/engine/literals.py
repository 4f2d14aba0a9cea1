"""A Keras object written as text, such as `VarianceScaling(scale=2.0)` or `keras.regularizers.L2(0.01)`: read with
`ast` literals only, never evaluated (an editor's field, a pasted layer)."""

from __future__ import annotations

import ast
import json
import re

_CALL = re.compile(r"([A-Za-z_]\w*)\s*(\((.*)\))?", re.DOTALL)


class NotACall(ValueError):
    """The text is not a name with plain literal arguments (the caller says what it accepts)."""


def split_call(text: str, module: str) -> tuple[str, str | None]:
    """(name, its parenthesised arguments or None) of `Name` or `Name(...)`, with or without `keras.<module>.`
    before it; NotACall otherwise."""
    match = _CALL.fullmatch(re.sub(rf"^(?:(?:tf\.)?keras\.)?{module}\.", "", text.strip()))
    if match is None:
        raise NotACall(text)
    return match.group(1), match.group(2)


def call_arguments(call: str) -> tuple[list, dict]:
    """(positional, keyword) arguments of `(...)`, each a Python literal; NotACall when one is not."""
    try:
        node = ast.parse(f"f{call}", mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "f"):
            raise SyntaxError
        return [ast.literal_eval(a) for a in node.args], {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise NotACall(call) from None


def short(value, n: int = 60) -> str:
    """`value` as a message quotes it: its repr, cut to `n` characters (a value nested too deeply to show said so)."""
    try:
        text = repr(value)
    except RecursionError:
        return "a value nested too deeply to show"
    return text if len(text) <= n else text[: n - 1] + "…"


def literal(value) -> str:
    """A Python literal of an argument's value, as generated code and an editor's text write it (text in double
    quotes)."""
    return json.dumps(value) if isinstance(value, str) else repr(value)
