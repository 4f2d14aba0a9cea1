"""Keras's `model.summary()` table, character for character, and the same rows as a DataFrame."""

from __future__ import annotations

import shutil

_POSITIONS = (0.45, 0.80, 1.0)
_SHRINK = (3, 4, 3)  # rich trims the padded cells by 10 in all: round(10/3), round(7/2), the rest
_HEADERS = ("Layer (type)", "Output Shape", "Param #")


def summary_shape(shape) -> str:
    """Keras's summary spelling: `(None, 3, 16)`, and `(None)` for rank 1."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def readable_size(params: int) -> str:
    """Bytes of `params` float32 weights as Keras prints them: `976.00 B`, `1.55 MB`."""
    size, units = params * 4.0, ["B", "KB", "MB", "GB", "TB", "PB"]
    while size >= 1024 and len(units) > 1:
        size, units = size / 1024, units[1:]
    return f"{size:.2f} {units[0]}"


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap; a word longer than the cell is cut with '…', as rich does."""
    lines: list[str] = []
    for word in text.split(" "):
        if len(word) > width:
            word = word[: width - 1] + "…"
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def summary_rows(model) -> list[tuple[str, str, str]]:
    head = [("input_layer (InputLayer)", summary_shape(model.input_shape), "0")] if model._summary_input_row else []
    return head + [
        (f"{layer.name} ({type(layer).__name__})", summary_shape(report.output_shape), f"{report.params:,}")
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
                parts.append(" " + (text.rjust(w) if col == 2 else text.ljust(w)) + " ")
            out.append(bar + bar.join(parts) + bar)
        return out

    lines = [f'Model: "{model.name}"', border("┏", "━", "┳", "┓"), *row(_HEADERS, "┃"), border("┡", "━", "╇", "┩")]
    body = summary_rows(model)
    for i, cells in enumerate(body):
        if i:
            lines.append(border("├", "─", "┼", "┤"))
        lines.extend(row(cells, "│"))
    lines.append(border("└", "─", "┴", "┘"))
    total = model.count_params()
    lines += [
        f" Total params: {total:,} ({readable_size(total)})",
        f" Trainable params: {total:,} ({readable_size(total)})",
        f" Non-trainable params: 0 ({readable_size(0)})",
    ]
    return "\n".join(lines) + "\n"


def summary_frame(analysis):
    """Keras's three columns plus Input Shape and the Dense formula, one row per layer of an Analysis.

    A model that does not fit still gets its rows up to the failing layer, whose output is "—".
    """
    import pandas as pd

    rows = [
        {
            "Layer (type)": f"{report.name} ({report.class_name})",
            "Output Shape": summary_shape(report.output_shape) if report.output_shape else "—",
            "Param #": report.params,
            "Input Shape": summary_shape(report.input_shape),
            "Formula": report.formula,
        }
        for report in analysis.layers
    ]
    return pd.DataFrame(rows, columns=["Layer (type)", "Output Shape", "Param #", "Input Shape", "Formula"])
