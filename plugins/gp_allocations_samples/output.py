"""How sample files are written: the published header from include/layouts, fixed CSV formatting and
the published value conventions.

Writers build their frames by column *name* (a canonical column, or the name an era's ``published``
header gives a cell); ``write_published`` puts the era's own header over them, so every published
header is spelled once, in the layout YAML."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.layouts import layout_named

from .tables import MONTHS


def money_text(values: np.ndarray) -> list[str]:
    """Pounds as the payments file prints them: at most 2 decimals, no trailing zeros (441.1, 0)."""
    out = []
    for v in np.round(values, 2):
        text = f"{v:.2f}".rstrip("0").rstrip(".")
        out.append("0" if text in ("-0", "") else text)
    return out


def write_csv(path: Path, frame: pd.DataFrame, *, bom: bool = False, crlf: bool = False) -> Path:
    """Write ``frame`` as CSV with fixed formatting (the same frame always gives the same bytes)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    path.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))
    return path


def extract_date_text(day: dt.date) -> str:
    return f"{day.day:02d}{MONTHS[day.month - 1]}{day.year}"


def published_names(layout: str) -> tuple[str, ...]:
    """The names of an era's published header cells, in the published order."""
    names = layout_named(layout).header_names
    if not names:
        raise ValueError(f"layout {layout!r} declares no published header (include/layouts)")
    return names


def published_frame(layout: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (one column per header name) in the era's published column order and header."""
    spec = layout_named(layout)
    names = published_names(layout)
    if set(frame.columns) != set(names):
        extra, lacking = sorted(set(frame.columns) - set(names)), sorted(set(names) - set(frame.columns))
        raise ValueError(f"sample frame does not fit {layout}: extra {extra}, lacking {lacking}")
    return frame[list(names)].set_axis(list(spec.header_row), axis=1)


def write_published(
    path: Path, layout: str, frame: pd.DataFrame, *, bom: bool = False, crlf: bool = False
) -> Path:
    """Write ``frame`` under the era's published header (``published_frame``), fixed formatting."""
    return write_csv(path, published_frame(layout, frame), bom=bom, crlf=crlf)
