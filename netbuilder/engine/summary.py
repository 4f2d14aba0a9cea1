"""Keras's `model.summary()` table, character for character, and the same rows as a DataFrame."""

from __future__ import annotations

import shutil
import unicodedata

from .shapes import summary_shape

_POSITIONS = (0.45, 0.80, 1.0)
_SHRINK = (3, 4, 3)  # rich trims the padded cells by 10 in all: round(10/3), round(7/2), the rest
_HEADERS = ("Layer (type)", "Output Shape", "Param #")


def readable_size(params: int) -> str:
    """Bytes of `params` float32 weights as Keras prints them: `976.00 B`, `1.55 MB`."""
    size, units = params * 4.0, ["B", "KB", "MB", "GB", "TB", "PB"]
    while size >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{size:.2f} {units[0]}"


def cell_width(text: str) -> int:
    """Columns `text` takes in a terminal, as rich counts them: wide (CJK, emoji) characters take two."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cut(word: str, width: int) -> str:
    """`word` cut to `width` columns with a closing '…'; a wide character that would straddle the cut is
    replaced by a space, as rich does."""
    while cell_width(word) > width - 1:
        word = word[:-1]
    return word + " " * (width - 1 - cell_width(word)) + "…"


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - cell_width(text))
    return fill + text if right else text + fill


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap by display width; a word longer than the cell is cut with '…', as rich does."""
    lines: list[str] = []
    for word in text.split(" "):
        if cell_width(word) > width:
            word = _cut(word, width)
        if lines and cell_width(lines[-1]) + 1 + cell_width(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def summary_rows(model) -> list[tuple[str, str, str]]:
    head = [("input_layer (InputLayer)", summary_shape(model.input_shape), "0")] if model._summary_input_row else []
    return head + [
        (f"{layer.name} ({layer.kind})", summary_shape(report.output_shape), f"{report.params:,}")
        for layer, report in zip(model.layers, model.analysis.layers)
    ]


def summary_text(model, line_length=None) -> str:
    """The whole summary, lines joined by newlines with a trailing one (what print_fn receives)."""
    length = line_length or min(88, shutil.get_terminal_size().columns - 4)
    edges = [0] + [int(p * length) for p in _POSITIONS]
    widths = [b - a - cut for a, b, cut in zip(edges, edges[1:], _SHRINK)]

    def border(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, bar):
        wrapped = [_wrap(c, w) for c, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        out = []
        for k in range(height):
            parts = []
            for col, (lines, w) in enumerate(zip(wrapped, widths)):
                text = lines[k] if k < len(lines) else ""
                parts.append(" " + _pad(text, w, right=col == 2) + " ")
            out.append(bar + bar.join(parts) + bar)
        return out

    lines = [f'Model: "{model.name}"', border("┏", "━", "┳", "┓"), *row(_HEADERS, "┃"), border("┡", "━", "╇", "┩")]
    body = summary_rows(model)
    for i, cells in enumerate(body):
        if i:
            lines.append(border("├", "─", "┼", "┤"))
        lines.extend(row(cells, "│"))
    lines.append(border("└", "─", "┴", "┘"))
    lines += [f" {label}: {n:,} ({readable_size(n)})" for label, n in param_totals(model.analysis)]
    return "\n".join(lines) + "\n"


def param_totals(analysis) -> list[tuple[str, int]]:
    """Keras's three totals under the table: total, trainable, non-trainable parameters."""
    cost = analysis.cost
    return [("Total params", cost.params), ("Trainable params", cost.trainable_params),
            ("Non-trainable params", cost.non_trainable_params)]
