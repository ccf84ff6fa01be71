"""A small XlsxWriter toolkit: declared columns, one titled table per sheet, totals as live formulas.

Layout follows the UK Government Analysis Function guidance for releasing statistics in spreadsheets:
one table per sheet, marked up as an Excel Table with a meaningful name (its header row in row 3 on
every sheet, its totals row, if any, inside it), title in A1 carrying the ``[note n]`` markers of the
notes that qualify it, a one-line note in A2, no merged cells, frozen header, print titles, charts with
alt text, the document's title, subject and language (en-GB) set, and missing values shown as "[x]".

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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.chart import Chart
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.worksheet import Worksheet

from gp_allocations.files import atomic_write

from .fontmetrics import (
    CELL_PADDING_POINTS,
    NOTE_FONT,
    TITLE_FONT,
    column_points,
    first_page_points,
    text_points,
    wrapped_line_count,
)
from .writer import LANGUAGE, Workbook

MISSING = "[x]"
HEADER_ROW = 2  # 0-based: title in row 1, note in row 2, table header in row 3 on every sheet
KINDS = ("text", "int", "money", "gbp", "number", "index", "pct", "decimal", "factor", "rate")


@dataclass
class Col:
    """One column of a written table: header text, a value getter, the kind and whether it totals."""

    header: str
    key: str | Callable[[pd.DataFrame], pd.Series]
    #: text | int | money (pence in, pounds shown) | gbp (already pounds) | number | index | pct | decimal
    #: (up to 6 places) | factor (9 places) | rate (pounds to 4 places)
    kind: str = "text"
    total: bool = False
    width: float | None = None
    #: for pct columns: (numerator, denominator) column headers -> total row is their live ratio
    ratio_of: tuple[str, str] | None = None
    #: a live formula in every row: ``{{Header}}`` is that column's cell in the same row and ``#ROW#``
    #: the row's number (for references to another sheet); defined names are written as they are. The
    #: column's values are the formula's cached results.
    formula: str | None = None
    #: a column of the frame naming each row's kind (a column of mixed values, e.g. Parameters)
    kind_from: str | None = None

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
    "decimal": "#,##0.0#####",
    "factor": "0.000000000",
    "rate": "£#,##0.0000",
}


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


class Styles:
    """Named formats shared by every sheet so the look is consistent."""

    def __init__(
        self,
        wb: xlsxwriter.Workbook,
        *,
        footer: str = "",
        note_refs: dict[str, tuple[int, ...]] | None = None,
    ) -> None:
        #: the footer's left part on every printed page (publisher and period)
        self.footer = footer
        #: sheet name -> numbers of the notes (Notes sheet) that qualify its table, marked in its title
        self.note_refs = dict(note_refs or {})
        base = {"font_name": "Arial", "font_size": 10, "valign": "top"}
        self.title = wb.add_format({**base, "bold": True, "font_size": 14})
        self.title_wrap = wb.add_format({**base, "bold": True, "font_size": 14, "text_wrap": True})
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
        self.text_wrap = wb.add_format({**base, "align": "left", "indent": 1, "text_wrap": True})
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
    if kind in {"number", "index", "pct", "gbp", "decimal", "factor", "rate"}:
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


ROW = "#ROW#"
_REF = re.compile(r"\{\{(.+?)\}\}")


def _formula_template(col: Col, letters: dict[str, str]) -> str:
    assert col.formula is not None

    def ref(match: re.Match[str]) -> str:
        header = match.group(1)
        if header not in letters:
            raise ValueError(f"column {col.header!r}: its formula refers to {header!r}, not a column")
        return f"{letters[header]}{ROW}"

    return _REF.sub(ref, col.formula)


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
    name: str | None = None,
    freeze_cols: int = 0,
    total_label: str = "Total",
    totals: dict[str, Any] | None = None,
    protected: bool = True,
    fitted: bool = False,
) -> Written:
    """Write one titled table starting at A1; header in row 3; a live total row when a column totals.

    ``fitted``: the sheet is printed fitted to its page (the caller's print set-up), so its title and
    note never run over the page's edge and stay on one line.

    ``totals`` (column key -> value) are the aggregates the total row's formulas are cached with. The
    header, rows and total row are one Excel Table called ``name`` (default: from the sheet's name)."""
    first = HEADER_ROW + 1
    columns = [_column_values(df, c) for c in cols]
    n = len(df)
    last = first + n - 1
    col_index = {c.header: j for j, c in enumerate(cols)}
    total_row = last + 1 if any(c.total or c.ratio_of for c in cols) and n > 0 else None
    total_cells = _total_cells(cols, columns, totals, first, last, total_row) if total_row else {}
    # the Table first: XlsxWriter writes its header and totals cells, which the cells below overwrite
    _add_table(
        ws, name or table_name(ws.get_name()), cols, max(last, first), total_row, total_label, total_cells
    )
    for j, c in enumerate(cols):
        ws.write_string(HEADER_ROW, j, c.header, st.header if c.kind == "text" else st.header_num)
    _write_rows(ws, st, df, cols, columns, first)
    if total_row is not None:
        ws.write_string(total_row, 0, total_label, st.total_label)
        for j, c in enumerate(cols):
            if j in total_cells:
                formula, value = total_cells[j]
                ws.write_formula(total_row, j, formula, st.totals[c.kind], value)
            elif j > 0:
                ws.write_blank(total_row, j, None, st.total_label)
    ws.freeze_panes(first, freeze_cols)
    header_lines, widths = 1, []
    for j, c in enumerate(cols):
        kinds = list(df[c.kind_from]) if c.kind_from else [c.kind] * n
        shown = [shown_text(k, v) for k, v in zip(kinds, columns[j], strict=True)]
        if j in total_cells:
            shown.append(shown_text(c.kind, total_cells[j][1]))
        width = column_width(c, shown)
        ws.set_column(j, j, width)
        widths.append(width)
        header_lines = max(header_lines, wrapped_lines(c.header, width))
    room = math.inf if fitted else first_page_points(widths)
    full_title = title + note_markers(st.note_refs.get(ws.get_name(), ()))
    _write_line(ws, 0, full_title, (st.title, st.title_wrap), TITLE_FONT, room, widths[0])
    _write_line(ws, 1, note, (st.note, st.wrap), NOTE_FONT, room, widths[0])
    ws.set_row(HEADER_ROW, 13 * header_lines + 4)  # the longest wrapped header, no blank band
    print_setup(ws, repeat_header=True, repeat_columns=freeze_cols, footer=st.footer)
    if protected:
        protect(ws)
    return Written(first, last, total_row, col_index)


def _write_rows(
    ws: Worksheet, st: Styles, df: pd.DataFrame, cols: Sequence[Col], columns: list[list[Any]], first: int
) -> None:
    """The table's rows: values, or a column's live formula cached with its value."""
    letters = {c.header: xl_col_to_name(j) for j, c in enumerate(cols)}
    for j, c in enumerate(cols):
        if c.formula:
            template = _formula_template(c, letters)
            for i, value in enumerate(columns[j]):
                if is_missing(value):
                    ws.write_string(first + i, j, MISSING, st.missing)
                    continue
                formula = template.replace(ROW, str(first + i + 1))
                ws.write_formula(first + i, j, formula, st.kinds[c.kind], _cell_value(c.kind, value))
            continue
        kinds = list(df[c.kind_from]) if c.kind_from else [c.kind] * len(df)
        cap = c.width or MAX_TEXT_WIDTH
        for i, value in enumerate(columns[j]):
            if kinds[i] == "text" and not is_missing(value) and len(str(value)) > cap:
                ws.write_string(first + i, j, str(value), st.text_wrap)  # wraps; the row grows to fit
                ws.set_row(first + i, 13 * wrapped_lines(str(value), cap))
                continue
            _write_cell(ws, first + i, j, kinds[i], value, st)


def _total_cells(
    cols: Sequence[Col],
    columns: list[list[Any]],
    totals: dict[str, Any] | None,
    first: int,
    last: int,
    total_row: int,
) -> dict[int, tuple[str, float | int]]:
    """Column index -> (formula, cached value) of the total row: SUMs, then ratios of two SUMs."""
    cells: dict[int, tuple[str, float | int]] = {}
    by_header: dict[str, float | int] = {}
    col_index = {c.header: j for j, c in enumerate(cols)}
    for j, c in enumerate(cols):
        if c.total:
            letter = xl_col_to_name(j)
            value = _cached_total(c, columns[j], totals)
            by_header[c.header] = value
            cells[j] = (f"=SUM({letter}{first + 1}:{letter}{last + 1})", value)
    for j, c in enumerate(cols):
        if c.ratio_of and not c.total:
            num, den = c.ratio_of
            num_cell = xl_rowcol_to_cell(total_row, col_index[num])
            den_cell = xl_rowcol_to_cell(total_row, col_index[den])
            den_value = by_header.get(den, 0)
            ratio = by_header.get(num, 0) / den_value if den_value else 0.0
            cells[j] = (f"=IF({den_cell}=0,0,{num_cell}/{den_cell})", ratio)
    return cells


def note_markers(numbers: Sequence[int]) -> str:
    """The guidance's note markers for a title: `` [note 1] [note 4]``."""
    return "".join(f" [note {n}]" for n in numbers)


def table_name(sheet: str) -> str:
    """A valid Excel Table name from a sheet's name: ``Data quality`` -> ``Data_quality_table``."""
    return re.sub(r"\W+", "_", sheet).strip("_") + "_table"


def _add_table(
    ws: Worksheet,
    name: str,
    cols: Sequence[Col],
    last_row: int,
    total_row: int | None,
    total_label: str,
    total_cells: dict[int, tuple[str, float | int]],
) -> None:
    """Mark the header, rows and total row up as one Excel Table (its autofilter included). The total
    row is the Table's totals row with our SUM formulas as custom functions: sorting or filtering the
    rows leaves it in place, and it always totals every row (a SUBTOTAL would drop filtered rows)."""
    spec: list[dict[str, Any]] = []
    for j, c in enumerate(cols):
        column: dict[str, Any] = {"header": c.header}
        if j in total_cells:
            column["total_function"], column["total_value"] = total_cells[j]
        elif j == 0 and total_row is not None:
            column["total_string"] = total_label
        spec.append(column)
    end = total_row if total_row is not None else last_row
    options = {"name": name, "columns": spec, "total_row": total_row is not None, "style": None}
    if ws.add_table(HEADER_ROW, 0, end, len(cols) - 1, options):
        raise ValueError(f"table {name!r} on sheet {ws.get_name()!r} is not a valid Excel Table")


def shown_text(kind: str, value: Any) -> str:
    """A cell's value as its number format shows it (the width a column needs to show it in full)."""
    if is_missing(value):
        return MISSING
    if kind == "text":
        return str(value)
    x = _cell_value(kind, value)
    assert isinstance(x, int | float)
    if kind in ("money", "gbp"):
        return f"-£{-x:,.2f}" if x < 0 else f"£{x:,.2f}"
    if kind == "rate":
        return f"£{x:,.4f}"
    if kind == "int":
        return f"{round(x):,}"
    if kind == "number":
        return f"{x:,.2f}"
    if kind == "index":
        return f"{x:.4f}"
    if kind == "pct":
        return f"{x:.2%}"
    if kind == "factor":
        return f"{x:.9f}"
    text = f"{x:,.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


#: widest text column before its text wraps (characters)
MAX_TEXT_WIDTH = 60


def column_width(col: Col, shown: list[str]) -> float:
    """Wide enough for the longest shown value (bold totals included, so no ``###``) and for the
    header's longest word; text columns up to their declared width (longer text wraps)."""
    longest = max((len(t) for t in shown), default=0)
    word = max((len(w) for w in col.header.split()), default=0)
    if col.kind == "text" and not col.kind_from:
        cap = col.width or MAX_TEXT_WIDTH
        return float(max(min(longest + 2, cap), word + 2, 6))
    return float(max(longest * 1.15 + 3, word + 2, 8))


#: characters of the 9 pt table text a column holds per unit of width (widths count the default font's
#: digits): measured on LibreOffice's pages, about 1.45; a little less, so a row is never too short
CHARS_PER_WIDTH = 1.3


def _write_line(
    ws: Worksheet,
    row: int,
    text: str,
    formats: tuple[Format, Format],
    font: tuple[float, bool],
    room: float,
    width: float,
) -> None:
    """A title (row 1) or note (row 2): on one line where it fits the first printed page, else wrapped in
    column A with its row as tall as it needs (text overflowing into the empty cells beside it is cut at
    the page's edge; no merged cells)."""
    one_line, wrapped = formats
    size, bold = font
    if text_points(text, size, bold=bold) <= room - CELL_PADDING_POINTS:
        ws.write_string(row, 0, text, one_line)
    else:
        ws.write_string(row, 0, text, wrapped)
        inside = column_points(width) - CELL_PADDING_POINTS
        ws.set_row(row, round(size * 1.3) * wrapped_line_count(text, inside, size, bold=bold))


def wrapped_lines(text: str, width: float) -> int:
    """How many lines ``text`` takes wrapped at word boundaries in a column ``width`` wide."""
    room, lines, used = max(int(width * CHARS_PER_WIDTH) - 1, 1), 1, 0
    for word in text.split():
        if used and used + 1 + len(word) > room:
            lines, used = lines + 1, len(word)
        else:
            used += len(word) + (1 if used else 0)
    return lines


def print_setup(ws: Worksheet, *, repeat_header: bool, repeat_columns: int = 0, footer: str = "") -> None:
    """A4 landscape at 100%: wide tables split over pages (across, then down) with the header row and
    the key columns repeated, never shrunk; the sheet's name in the header, and a footer with the
    publisher, period and 'page x of y' (the name in the footer's centre overprinted a long left part)."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_print_scale(100)
    ws.print_across()
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    if repeat_header:
        ws.repeat_rows(HEADER_ROW)
    if repeat_columns:
        ws.repeat_columns(0, repeat_columns - 1)
    ws.set_header("&L&A")
    ws.set_footer(f"&L{_footer_text(footer)}&RPage &P of &N")


def _footer_text(text: str) -> str:
    # '&' starts a header/footer code: a literal one is written '&&'
    return text.replace("&", "&&")[:120]


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
    wb = Workbook(
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
            "language": LANGUAGE,
        }
    )
    wb.set_calc_mode("auto")
    return wb


def insert_chart(ws: Worksheet, chart: Chart, *, alt_text: str, row: int | None = None) -> None:
    """Place a chart in column A (by default below the table and its total row, a blank row between)
    with its alt text: what it shows and where its figures are, for a screen reader."""
    if not alt_text.strip():
        raise ValueError(f"a chart on sheet {ws.get_name()!r} needs alt text")
    anchor = int(ws.dim_rowmax) + 2 if row is None else row
    ws.insert_chart(anchor, 0, chart, {"description": alt_text})


def write_xlsx(path: Path, build: Callable[[io.BytesIO], None]) -> None:
    """Build a workbook in memory, then write it atomically (never a half-written file)."""
    buffer = io.BytesIO()
    build(buffer)
    atomic_write(Path(path), buffer.getvalue())
