"""A small XlsxWriter toolkit: declared columns, one titled table per sheet, totals as live formulas.

Layout follows the UK Government Analysis Function guidance for releasing statistics in spreadsheets:
one table per sheet, title in A1, a one-line note in A2, the table header in row 3 on every sheet, no
merged cells, frozen header, autofilter, print titles, landscape fit-to-width, defined names for the
main tables, and missing values shown as "[x]".

Money arrives as integer pennies and is stored as pounds (pence / 100, an exact two-place value) with a
pounds-and-pence format. Totals are live ``=SUM(...)`` formulas written with their cached value, so
programs that read without recalculating (pandas, Power Query) still see them. Every text cell is
written with ``write_string``, so a practice called ``=HYPERLINK(...)`` stays text. The 'created'
property is given by the caller (the period's start), never the clock: same inputs, same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.chart import Chart
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from gp_allocations.files import atomic_write

MISSING = "[x]"
HEADER_ROW = 2  # 0-based: title in row 1, note in row 2, table header in row 3 on every sheet
KINDS = ("text", "int", "money", "gbp", "number", "index", "pct")


@dataclass
class Col:
    """One column of a written table: header text, a value getter, the kind and whether it totals."""

    header: str
    key: str | Callable[[pd.DataFrame], pd.Series]
    #: text | int | money (pence in, pounds shown) | gbp (already pounds) | number | index | pct
    kind: str = "text"
    total: bool = False
    width: float | None = None
    #: for pct columns: (numerator, denominator) column headers -> total row is their live ratio
    ratio_of: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.header!r}: kind {self.kind!r} is not one of {KINDS}")


_FORMATS = {
    "int": "#,##0",
    "money": "£#,##0.00;-£#,##0.00",
    "gbp": "£#,##0.00;-£#,##0.00",  # a value the engine already gives in pounds (per-patient rates)
    "number": "#,##0.00",
    "index": "0.0000",
    "pct": "0.00%",
}
_WIDTHS = {"int": 11, "money": 14, "gbp": 14, "number": 11, "index": 10, "pct": 10, "text": 14}


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


class Styles:
    """Named formats shared by every sheet so the look is consistent."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": "Arial", "font_size": 10, "valign": "top"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.note = wb.add_format({**base, "italic": False})
        self.header = wb.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "bottom": 1,
                "bg_color": "#DDEBF7",
                "align": "left",
                "indent": 1,
            }
        )
        # numbers are right-aligned, so their headers are too (reads as one column)
        self.header_num = wb.add_format(
            {**base, "bold": True, "text_wrap": True, "bottom": 1, "bg_color": "#DDEBF7", "align": "right"}
        )
        # an indent keeps left-aligned text clear of a right-aligned number in the column before it
        self.text = wb.add_format({**base, "align": "left", "indent": 1})
        self.wrap = wb.add_format({**base, "text_wrap": True})
        self.missing = wb.add_format({**base, "align": "right"})
        self.bold = wb.add_format({**base, "bold": True})
        self.link = wb.add_format({**base, "font_color": "#0563C1", "underline": 1})
        self.kinds = {k: wb.add_format({**base, "num_format": f}) for k, f in _FORMATS.items()}
        self.totals = {
            k: wb.add_format({**base, "num_format": f, "bold": True, "top": 1}) for k, f in _FORMATS.items()
        }
        self.total_label = wb.add_format({**base, "bold": True, "top": 1})


def _cell_value(kind: str, value: Any) -> float | int | str:
    if kind == "money":
        # pence -> pounds: integer pennies / 100 is the nearest double to the exact 2dp amount
        return int(value) / 100 if float(value).is_integer() else float(value) / 100
    if kind == "int":
        return int(value)
    if kind in {"number", "index", "pct", "gbp"}:
        return float(value)
    return str(value)


def _write_cell(ws: Worksheet, row: int, col: int, kind: str, value: Any, st: Styles) -> None:
    if is_missing(value):
        ws.write_string(row, col, MISSING, st.missing)
    elif kind == "text":
        ws.write_string(row, col, str(value), st.text)
    else:
        ws.write_number(row, col, _cell_value(kind, value), st.kinds[kind])


def _column_values(df: pd.DataFrame, col: Col) -> list[Any]:
    if callable(col.key):
        return list(col.key(df))
    return list(df[col.key]) if col.key in df.columns else [None] * len(df)


def _cached_total(col: Col, values: list[Any], totals: dict[str, Any] | None) -> float | int:
    """The cached value of a total cell: the aggregate given by the caller (money always is: the
    workbook never adds money up), else, for counts, the sum of the column."""
    if totals is not None and isinstance(col.key, str) and col.key in totals:
        value = totals[col.key]
        return 0 if is_missing(value) else _cell_value(col.kind, value)  # type: ignore[return-value]
    if col.kind in ("money", "gbp"):
        raise ValueError(f"column {col.header!r}: a money total must come from the aggregates")
    present = [v for v in values if not is_missing(v)]
    if col.kind == "int":
        return sum(int(v) for v in present)
    return float(sum(float(v) for v in present))


@dataclass
class Written:
    first_data_row: int
    last_data_row: int  # equals first_data_row - 1 when the table is empty
    total_row: int | None
    col_index: dict[str, int]


def write_table(
    wb: xlsxwriter.Workbook,
    ws: Worksheet,
    st: Styles,
    *,
    title: str,
    note: str,
    df: pd.DataFrame,
    cols: Sequence[Col],
    name: str | None,
    freeze_cols: int = 0,
    total_label: str = "Total",
    totals: dict[str, Any] | None = None,
    protected: bool = True,
) -> Written:
    """Write one titled table starting at A1; header in row 3; a live total row when a column totals.

    ``totals`` (column key -> value) are the aggregates the total row's formulas are cached with."""
    ws.write_string(0, 0, title, st.title)
    ws.write_string(1, 0, note, st.note)
    for j, c in enumerate(cols):
        ws.write_string(HEADER_ROW, j, c.header, st.header if c.kind == "text" else st.header_num)
    ws.set_row(HEADER_ROW, 56)  # room for four lines of wrapped header
    first = HEADER_ROW + 1
    columns = [_column_values(df, c) for c in cols]
    n = len(df)
    for j, c in enumerate(cols):
        for i, value in enumerate(columns[j]):
            _write_cell(ws, first + i, j, c.kind, value, st)
    last = first + n - 1
    col_index = {c.header: j for j, c in enumerate(cols)}
    total_row = None
    if any(c.total or c.ratio_of for c in cols) and n > 0:
        total_row = last + 1
        ws.write_string(total_row, 0, total_label, st.total_label)
        cached: dict[str, float | int] = {}
        for j, c in enumerate(cols):
            if c.total:
                letter = xl_col_to_name(j)
                value = _cached_total(c, columns[j], totals)
                cached[c.header] = value
                ws.write_formula(
                    total_row, j, f"=SUM({letter}{first + 1}:{letter}{last + 1})", st.totals[c.kind], value
                )
        for j, c in enumerate(cols):
            if c.ratio_of and not c.total:
                num, den = c.ratio_of
                num_cell = xl_rowcol_to_cell(total_row, col_index[num])
                den_cell = xl_rowcol_to_cell(total_row, col_index[den])
                den_value = cached.get(den, 0)
                value = cached.get(num, 0) / den_value if den_value else 0.0
                ws.write_formula(
                    total_row, j, f"=IF({den_cell}=0,0,{num_cell}/{den_cell})", st.totals[c.kind], value
                )
            elif j > 0 and not c.total:
                ws.write_blank(total_row, j, None, st.total_label)
    ncols = len(cols)
    ws.freeze_panes(first, freeze_cols)
    ws.autofilter(HEADER_ROW, 0, max(last, HEADER_ROW), ncols - 1)
    if name:
        end = xl_rowcol_to_cell(max(last, first), ncols - 1, row_abs=True, col_abs=True)
        wb.define_name(name, f"='{ws.get_name()}'!$A${HEADER_ROW + 1}:{end}")
    for j, c in enumerate(cols):
        width = c.width or _WIDTHS.get(c.kind, 14)
        ws.set_column(j, j, width)
    print_setup(ws, repeat_header=True, paper=8 if ncols > 16 else 9)
    if protected:
        protect(ws)
    return Written(first, last, total_row, col_index)


def print_setup(ws: Worksheet, *, repeat_header: bool, paper: int = 9) -> None:
    ws.set_landscape()
    ws.set_paper(paper)  # 9 = A4, 8 = A3 for the wide practice table
    ws.fit_to_pages(1, 0)  # fit to width, as many pages down as needed
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    if repeat_header:
        ws.repeat_rows(HEADER_ROW)
    ws.set_footer("&L&A&RPage &P of &N")


def protect(ws: Worksheet) -> None:
    # no password: protection only guards against slips; readers may still sort and filter
    ws.protect(
        "",
        {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True},
    )


def bar_chart(
    wb: xlsxwriter.Workbook,
    *,
    title: str,
    sheet: str,
    cat_col: int,
    val_cols: list[tuple[int, str]],
    first: int,
    last: int,
    y_title: str,
    kind: str = "column",
    from_zero: bool = False,
) -> Chart:
    chart = wb.add_chart({"type": kind})
    colours = ["#1F4E79", "#ED7D31", "#70AD47", "#7F7F7F"]
    for i, (col, name) in enumerate(val_cols):
        chart.add_series(
            {
                "name": name,
                "categories": [sheet, first, cat_col, last, cat_col],
                "values": [sheet, first, col, last, col],
                "fill": {"color": colours[i % len(colours)]},
                "gap": 60,
            }
        )
    chart.set_title({"name": title, "name_font": {"size": 11, "bold": True}})
    axis: dict[str, Any] = {
        "name": y_title,
        "num_format": "£#,##0",
        "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
    }
    if from_zero:
        axis["min"] = 0  # a bar chart of levels must start at zero or it exaggerates differences
    chart.set_y_axis(axis)
    chart.set_legend({"position": "bottom" if len(val_cols) > 1 else "none"})
    chart.set_size({"width": 640, "height": 360})
    return chart


def new_workbook(
    target: io.BytesIO, *, title: str, subject: str, comments: str, created: dt.datetime
) -> xlsxwriter.Workbook:
    """A workbook written into ``target`` in memory (zip entries get the fixed 1980-01-01 stamp)."""
    wb = xlsxwriter.Workbook(
        target,
        {
            # belt and braces: write_string is used for data anyway
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "yyyy-mm-dd",
            "nan_inf_to_errors": False,
            # build in memory: zip entries then get the fixed 1980-01-01 stamp whatever the time zone
            "in_memory": True,
        },
    )
    wb.set_properties(
        {
            "title": title,
            "subject": subject,
            "author": "gp-allocations",
            "company": "NHS commissioning",
            "comments": comments,
            "created": created,
        }
    )
    wb.set_calc_mode("auto")
    return wb


def chart_anchor_row(ws: Worksheet) -> int:
    """Below the table and its total row, with a blank row between."""
    return int(ws.dim_rowmax) + 2


def write_xlsx(path: Path, build: Callable[[io.BytesIO], None]) -> None:
    """Build a workbook in memory, then write it atomically (never a half-written file)."""
    buffer = io.BytesIO()
    build(buffer)
    atomic_write(Path(path), buffer.getvalue())
