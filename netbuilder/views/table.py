"""The model as tables: Keras's summary columns with formulas and cost, as a pandas DataFrame."""

from __future__ import annotations

import pandas as pd

from ..engine.cost import readable_count
from ..engine.shapes import format_shape

COLUMNS = ["Layer (type)", "Output Shape", "Param #", "Input Shape", "Formula", "Mult-adds"]


def summary_frame(analysis, connected: list[str] | None = None) -> pd.DataFrame:
    """Keras's three columns plus Input Shape, the parameter formula and mult-adds per sample, one row per layer;
    for a graph, Keras's "Connected to" (what each layer takes, given as `connected`) after Param #.

    A model that does not fit still gets its rows up to the failing layer, whose output is "—".
    """
    rows = [
        {
            "Layer (type)": f"{report.name} ({report.kind})",
            "Output Shape": format_shape(report.output_shape) if report.output_shape else "—",
            "Param #": f"{report.params:,}",  # as Keras's summary and the graph print it
            **({"Connected to": connected[report.index]} if connected else {}),
            "Input Shape": _shapes(report.input_shape),
            "Formula": report.formula,
            "Mult-adds": readable_count(report.cost.mult_adds) if report.cost else "—",
        }
        for report in analysis.layers
    ]
    columns = COLUMNS if not connected else [*COLUMNS[:3], "Connected to", *COLUMNS[3:]]
    return pd.DataFrame(rows, columns=columns)


def _shapes(shape) -> str:
    """One tensor's shape, or a merge's shapes side by side."""
    return ", ".join(map(format_shape, shape)) if isinstance(shape, list) else format_shape(shape)
