"""Finance-ready Excel workbooks: one per sub-ICB location and one national summary.

Layout follows the UK Government Analysis Function guidance for releasing statistics in spreadsheets:
one table per sheet, title in A1, a one-line note in A2, the table header in row 3 on every sheet, no
merged cells, frozen header, autofilter, print titles, landscape fit-to-width, defined names for the
main tables, and missing values shown as "[x]" (explained on the Notes sheet).

Money arrives as integer pennies and is stored as pounds (pence / 100, an exact two-place value) with
a pounds-and-pence format. Totals are live ``=SUM(...)`` formulas written together with their cached
value, so programs that read without recalculating (pandas, Power Query) still see them. Every text
cell coming from data is written with ``write_string`` so a practice called ``=HYPERLINK(...)`` stays
text. The workbook's 'created' property is derived from the period, never from the clock, so the same
inputs give a byte-identical file.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import __version__
from .periods import Period
from .results import AllocationResult

MISSING = "[x]"
HEADER_ROW = 2  # 0-based: title in row 1, note in row 2, table header in row 3 on every sheet
WARNING_COLUMNS = ["rule", "extract", "column", "severity", "failing_rows", "message"]
INPUT_FIELDS = ["extract", "file", "sha256", "bytes", "source", "fetched_at"]

VARIANT_LABELS = {
    "global_sum": "Global sum",
    "deprivation_weighted": "Deprivation weighted",
    "imd_quintile_uplift": "IMD quintile uplift",
    "mpig_recycled": "MPIG recycled",
}

INDEX_LABELS = {
    "index_age_sex": "Age-sex index",
    "index_additional_needs": "Additional needs index",
    "index_list_turnover": "List turnover index",
    "index_care_homes": "Care homes index",
    "index_market_forces": "Market forces index",
    "index_rurality": "Rurality index",
    "index_deprivation": "Deprivation index",
}

UNPROTECT_NOTE = (
    "Sheets holding computed figures are protected against accidental edits, without a password. "
    "To change them: Review > Unprotect Sheet (Excel) or Tools > Protect Sheet (LibreOffice)."
)


def _empty_warnings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in WARNING_COLUMNS})


@dataclass
class RunInfo:
    """What the workbook says about the run that produced it (all plain data, no clock reads)."""

    run_id: str
    period_label: str
    generated_for: str = "NHS commissioning finance teams"
    validation_status: str = "passed"  # "passed" | "passed with warnings"
    warnings: pd.DataFrame = field(default_factory=_empty_warnings)
    quarantined_rows: int = 0
    inputs: list[dict] = field(default_factory=list)
    data_docs: str | None = None

    def __post_init__(self) -> None:
        if self.validation_status not in {"passed", "passed with warnings"}:
            raise ValueError(
                f"validation_status {self.validation_status!r}: a workbook is only written for a run that "
                "passed validation ('passed' or 'passed with warnings')"
            )


def variant_label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant.replace("_", " ").capitalize())


def created_datetime(period: str) -> dt.datetime:
    """The fixed 'created' timestamp of a workbook: midnight on the first day of its period."""
    return dt.datetime.combine(Period.parse(period).start_date, dt.time())


# --------------------------------------------------------------------------------------------------
# Cell kinds and table specification


@dataclass
class Col:
    """One column of a written table: header text, a value getter, the kind and whether it totals."""

    header: str
    key: str | Callable[[pd.DataFrame], pd.Series]
    kind: str = "text"  # text | int | money | number | index | pct
    total: bool = False
    width: float | None = None
    #: for pct columns: (numerator, denominator) column headers -> total row is their live ratio
    ratio_of: tuple[str, str] | None = None


_FORMATS = {
    "int": "#,##0",
    "money": "£#,##0.00;-£#,##0.00",
    "gbp": "£#,##0.00;-£#,##0.00",  # a value the engine already gives in pounds (per-patient rates)
    "number": "#,##0.00",
    "index": "0.0000",
    "pct": "0.00%",
}
_WIDTHS = {"int": 11, "money": 14, "gbp": 14, "number": 11, "index": 10, "pct": 10, "text": 14}


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


class _Styles:
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


def _write_cell(ws, row: int, col: int, kind: str, value: Any, st: _Styles) -> None:
    if _is_missing(value):
        ws.write_string(row, col, MISSING, st.missing)
    elif kind == "text":
        ws.write_string(row, col, str(value), st.text)
    else:
        ws.write_number(row, col, _cell_value(kind, value), st.kinds[kind])


def _column_values(df: pd.DataFrame, col: Col) -> list:
    if callable(col.key):
        return list(col.key(df))
    return list(df[col.key]) if col.key in df.columns else [None] * len(df)


def _sum_for_cache(kind: str, values: list) -> float | int:
    present = [v for v in values if not _is_missing(v)]
    if kind == "money":
        # exact: add integer pennies first, convert once
        if all(float(v).is_integer() for v in present):
            return sum(int(v) for v in present) / 100
        return sum(float(v) for v in present) / 100
    if kind == "int":
        return sum(int(v) for v in present)
    return float(sum(float(v) for v in present))


@dataclass
class _Written:
    first_data_row: int
    last_data_row: int  # equals first_data_row - 1 when the table is empty
    total_row: int | None
    col_index: dict[str, int]


def _write_table(
    wb: xlsxwriter.Workbook,
    ws,
    st: _Styles,
    *,
    title: str,
    note: str,
    df: pd.DataFrame,
    cols: Sequence[Col],
    name: str | None,
    freeze_cols: int = 0,
    total_label: str = "Total",
    protect: bool = True,
) -> _Written:
    """Write one titled table starting at A1; header in row 3; optional live total row."""
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
                value = _sum_for_cache(c.kind, columns[j])
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
    _print_setup(ws, repeat_header=True, paper=8 if ncols > 16 else 9)
    if protect:
        _protect(ws)
    return _Written(first, last, total_row, col_index)


def _print_setup(ws, *, repeat_header: bool, paper: int = 9) -> None:
    ws.set_landscape()
    ws.set_paper(paper)  # 9 = A4, 8 = A3 for the wide practice table
    ws.fit_to_pages(1, 0)  # fit to width, as many pages down as needed
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    if repeat_header:
        ws.repeat_rows(HEADER_ROW)
    ws.set_footer("&L&A&RPage &P of &N")


def _protect(ws) -> None:
    # no password: protection only guards against slips; readers may still sort and filter
    ws.protect(
        "",
        {"autofilter": True, "sort": True, "format_columns": True, "format_rows": True},
    )


# --------------------------------------------------------------------------------------------------
# Tables built from the result


def _variants_other(result: AllocationResult) -> list[str]:
    return [v for v in result.variants if v != "global_sum"]


def _summary_frame(practices: pd.DataFrame, keys: list[str], variants: list[str]) -> pd.DataFrame:
    """Exact integer sums of practices grouped by ``keys`` (money stays in pennies)."""
    sums = ["registered_patients", "qof_pence"]
    for v in variants:
        sums += [f"weighted_list__{v}", f"capitation_pence__{v}", f"total_pence__{v}"]
        if v != "global_sum":
            sums.append(f"difference_pence__{v}")
    present = [c for c in sums if c in practices.columns]
    data = practices[keys + present].copy()
    for k in keys:
        data[k] = data[k].astype("object").where(data[k].notna(), MISSING)
    grouped = data.groupby(keys, sort=True, dropna=False)
    out = grouped[present].sum()
    out.insert(0, "practices", grouped.size())
    return out.reset_index()


def _summary_cols(first: list[Col], variants: list[str]) -> list[Col]:
    cols = [
        *first,
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
    ]
    for v in variants:
        cols.append(Col(f"Weighted list: {variant_label(v)}", f"weighted_list__{v}", "number", total=True))
    for v in variants:
        cols.append(Col(f"Capitation: {variant_label(v)} (£)", f"capitation_pence__{v}", "money", total=True))
    base = "Capitation: Global sum (£)"
    for v in variants:
        if v == "global_sum":
            continue
        change = f"Change, {variant_label(v)} minus global sum (£)"
        cols.append(Col(change, f"difference_pence__{v}", "money", total=True))
        cols.append(
            Col(
                f"Change, {variant_label(v)} (%)",
                _pct_getter(f"difference_pence__{v}", "capitation_pence__global_sum"),
                "pct",
                ratio_of=(change, base),
            )
        )
    cols.append(Col("QOF (£)", "qof_pence", "money", total=True))
    for v in variants:
        cols.append(Col(f"Total: {variant_label(v)} (£)", f"total_pence__{v}", "money", total=True))
    return cols


def _pct_getter(num: str, den: str) -> Callable[[pd.DataFrame], pd.Series]:
    def get(df: pd.DataFrame) -> pd.Series:
        d = df[den].astype("float64")
        return (df[num].astype("float64") / d).where(d != 0)

    return get


def _practice_cols(result: AllocationResult, *, national: bool) -> list[Col]:
    p = result.practices
    cols = [
        Col("Practice code", "practice_code", width=10),
        Col("Practice name", "practice_name", width=30),
        Col("PCN code", "pcn_code", width=10),
        Col("PCN name", "pcn_name", width=26),
    ]
    if national:
        cols += [
            Col("Sub-ICB code", "sub_icb_code", width=10),
            Col("ICB code", "icb_code", width=10),
            Col("Region code", "region_code", width=11),
        ]
    cols += [
        Col("Contract type", "contract_type", width=9),
        Col("Registered patients", "registered_patients", "int", total=True),
    ]
    cols += [Col(label, key, "index") for key, label in INDEX_LABELS.items() if key in p.columns]
    cols += [
        Col("IMD score", "imd_score", "number", width=10),
        Col("Health deprivation score", "health_deprivation_score", "index"),
        Col("Deprivation quintile (1 = most deprived)", "deprivation_quintile", "int"),
    ]
    for v in result.variants:
        cols.append(Col(f"Weighted list: {variant_label(v)}", f"weighted_list__{v}", "number", total=True))
    for v in result.variants:
        cols.append(Col(f"Capitation: {variant_label(v)} (£)", f"capitation_pence__{v}", "money", total=True))
    for v in _variants_other(result):
        cols.append(
            Col(
                f"Change, {variant_label(v)} minus global sum (£)",
                f"difference_pence__{v}",
                "money",
                total=True,
            )
        )
    cols += [
        Col("QOF points", "qof_points", "number", total=True),
        Col("QOF (£)", "qof_pence", "money", total=True),
        Col("QOF method", "qof_path", width=20),
    ]
    for v in result.variants:
        cols.append(Col(f"Total: {variant_label(v)} (£)", f"total_pence__{v}", "money", total=True))
    paid = [
        ("paid_registered_patients", "Paid: registered patients", "int"),
        ("paid_weighted_patients", "Paid: weighted patients", "number"),
        ("paid_global_sum_pence", "Paid: Global Sum (£)", "money"),
        ("paid_mpig_pence", "Paid: MPIG (£)", "money"),
        ("paid_qof_pence", "Paid: QOF (£)", "money"),
        ("difference_from_paid_pence", "Global sum capitation minus Global Sum paid (£)", "money"),
    ]
    cols += [Col(label, key, kind, total=True) for key, label, kind in paid if key in p.columns]
    return cols


def _quintile_frame(practices: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Capitation per registered and per weighted patient by deprivation quintile (pennies, floats)."""
    rows = []
    q = practices["deprivation_quintile"]
    for quintile in [1, 2, 3, 4, 5, None]:
        part = practices[q.isna()] if quintile is None else practices[q == quintile]
        if quintile is None and part.empty:
            continue
        row: dict[str, Any] = {
            "quintile": MISSING if quintile is None else str(quintile),
            "practices": len(part),
            "registered_patients": int(part["registered_patients"].sum()),
        }
        for v in variants:
            cap = int(part[f"capitation_pence__{v}"].sum())
            reg = row["registered_patients"]
            wl = float(part[f"weighted_list__{v}"].sum())
            row[f"capitation_pence__{v}"] = cap
            row[f"per_registered__{v}"] = cap / reg if reg else None
            row[f"per_weighted__{v}"] = cap / wl if wl else None
        rows.append(row)
    return pd.DataFrame(rows)


def _quintile_cols(variants: list[str]) -> list[Col]:
    cols = [
        Col("Deprivation quintile (1 = most deprived)", "quintile", width=14),
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
    ]
    for v in variants:
        cols.append(Col(f"Capitation: {variant_label(v)} (£)", f"capitation_pence__{v}", "money", total=True))
    for v in variants:
        cols.append(
            Col(f"Capitation per registered patient: {variant_label(v)} (£)", f"per_registered__{v}", "money")
        )
    for v in variants:
        cols.append(
            Col(f"Capitation per weighted patient: {variant_label(v)} (£)", f"per_weighted__{v}", "money")
        )
    return cols


_BASE_LABELS = {
    "practices": "Practices",
    "registered_patients": "Registered patients",
    "weighted_list": "Weighted list",
    "capitation_pence": "Capitation (£)",
    "difference_pence": "Change from global sum (£)",
    "qof_pence": "QOF (£)",
    "qof_points": "QOF points",
    "total_pence": "Total (£)",
    "capitation_per_registered_pence": "Capitation per registered patient (£)",
    "capitation_per_weighted_pence": "Capitation per weighted patient (£)",
    "paid_global_sum_per_registered_pence": "Paid Global Sum per registered patient (£)",
    "paid_global_sum_per_weighted_pence": "Paid Global Sum per weighted patient (£)",
    "gbp_per_registered": "£ per registered patient",
    "gbp_per_weighted": "£ per weighted patient",
    "paid_gbp_per_registered": "Paid Global Sum, £ per registered patient",
    "paid_gbp_per_weighted": "Paid Global Sum, £ per weighted patient",
    "deprivation_quintile": "Deprivation quintile (1 = most deprived)",
    "imd_score": "IMD score",
    "sub_icb_code": "Sub-ICB code",
    "sub_icb_name": "Sub-ICB name",
    "icb_code": "ICB code",
    "icb_name": "ICB name",
    "pcn_code": "PCN code",
    "pcn_name": "PCN name",
}


def _generic_label(name: str) -> str:
    base, _, variant = name.partition("__")
    label = _BASE_LABELS.get(base)
    if label is None:
        text = base.replace("_pence", "").replace("_", " ")
        label = text[:1].upper() + text[1:] + (" (£)" if "_pence" in base else "")
    return f"{label}: {variant_label(variant)}" if variant else label


def _generic_cols(df: pd.DataFrame) -> list[Col]:
    """Columns for a frame whose exact shape is the engine's (levels, equity): kind from the name."""
    cols = []
    for name in df.columns:
        label = _generic_label(str(name))
        series = df[name]
        per_unit = "per_" in name
        if name.startswith("gbp_") or "_gbp_" in name:
            cols.append(Col(label, name, "gbp"))
        elif "_pence" in name:
            cols.append(Col(label, name, "money", total=not per_unit))
        elif name in {"practices", "registered_patients"} or name.endswith("_count"):
            cols.append(Col(label, name, "int", total=True))
        elif name.startswith("index_") or name.endswith("_score"):
            cols.append(Col(label, name, "index"))
        elif name.startswith("weighted_list") or name.startswith("qof_points"):
            cols.append(Col(label, name, "number", total=True))
        elif pd.api.types.is_integer_dtype(series.dtype):
            cols.append(Col(label, name, "int"))
        elif pd.api.types.is_float_dtype(series.dtype):
            cols.append(Col(label, name, "number"))
        else:
            cols.append(Col(label, name, "text", width=max(10, min(60, _text_width(series, label)))))
    return cols


def _text_width(series: pd.Series, label: str) -> int:
    lengths = [len(str(x)) for x in series.head(200) if not _is_missing(x)]
    return max([len(label) // 2, *lengths, 6]) + 2


# --------------------------------------------------------------------------------------------------
# Sheets


def _cover(
    wb,
    st: _Styles,
    *,
    title: str,
    result: AllocationResult,
    run: RunInfo,
    contents: list[tuple[str, str]],
    scope: str,
) -> None:
    ws = wb.add_worksheet("Cover")
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    ws.write_string(0, 0, title, st.title)
    ws.write_string(
        1, 0, f"GP capitation, deprivation-weighted capitation and QOF allocations for {scope}.", st.note
    )
    facts = [
        ("Period", run.period_label),
        ("Run ID", run.run_id),
        ("Parameter set", f"{result.parameter_set_title} ({result.parameter_set})"),
        ("Formula variants", ", ".join(variant_label(v) for v in result.variants)),
        ("Selected variant", variant_label(result.selected_variant)),
        ("Validation status", run.validation_status),
        ("Quarantined input rows", str(run.quarantined_rows)),
        ("Validation report", run.data_docs or MISSING),
        ("Produced for", run.generated_for),
        ("Produced by", f"gp-allocations {__version__} (open source)"),
        ("Money", "Pounds and pence; every figure is computed in whole pennies and reconciles exactly."),
        ("Missing values", f"{MISSING} means the value is not available; see the Notes sheet."),
    ]
    ws.write_string(HEADER_ROW, 0, "Item", st.header)
    ws.write_string(HEADER_ROW, 1, "Detail", st.header)
    row = HEADER_ROW + 1
    for key, value in facts:
        ws.write_string(row, 0, key, st.bold)
        ws.write_string(row, 1, value, st.wrap)
        row += 1
    row += 1
    ws.write_string(row, 0, "Contents", st.header)
    ws.write_string(row, 1, "What the sheet holds", st.header)
    for sheet, description in contents:
        row += 1
        ws.write_url(row, 0, f"internal:'{sheet}'!A1", st.link, string=sheet)
        ws.write_string(row, 1, description, st.wrap)
    _print_setup(ws, repeat_header=False)


def _notes(wb, st: _Styles, result: AllocationResult, run: RunInfo) -> None:
    ws = wb.add_worksheet("Notes")
    notes: list[tuple[str, str]] = [
        (
            "Missing values",
            f"{MISSING} marks a value that is not available (for example a practice with no "
            "patients in any scored LSOA has no deprivation score or quintile). It is never zero.",
        ),
        (
            "Money",
            "Amounts are computed in whole pennies. Cells hold pounds (pennies / 100) shown to the "
            "penny. Totals are live SUM formulas over the rows above.",
        ),
        (
            "Rounding rule",
            "A single amount is rounded to the nearest penny, halves away from zero "
            "(ROUND_HALF_UP). An envelope is split between practices by the largest-remainder method, so "
            "practice amounts add up to the envelope exactly; ties go to the lower practice code.",
        ),
        (
            "Weighted list",
            "Registered patients multiplied by the product of the component indices, then "
            "normalised so the national weighted list equals the national registered list.",
        ),
        (
            "Component indices",
            "Each component is an index against the national patient-weighted average "
            "(1.0 = average; exactly 1.0 when the component is neutral). See the Components sheet.",
        ),
        (
            "Global sum",
            "Capitation by the Carr-Hill weighted list: national envelope = registered patients x "
            "price per weighted patient, less the out-of-hours deduction.",
        ),
        (
            "Deprivation weighted",
            "The additional-needs index is replaced by a deprivation index from the "
            "IoD health deprivation score (elasticity ^ score, relative to the national mean). The national "
            "envelope is the same as the global sum's, so money moves between practices, not in or out.",
        ),
        (
            "Deprivation quintile",
            "Practices ranked by patient-weighted IMD score and cut into fifths of the "
            "registered population (1 = most deprived fifth), not fifths of practices.",
        ),
        (
            "QOF",
            "QOF points x pounds per point x (practice list / national average list), adjusted for "
            "prevalence where prevalence data was given; the QOF method column says which.",
        ),
        ("Change columns", "Variant capitation minus global sum capitation for the same practice or group."),
        ("Protection", UNPROTECT_NOTE),
        (
            "Validation",
            f"Inputs {run.validation_status} Great Expectations validation; "
            f"{run.quarantined_rows} input rows were quarantined. Report: {run.data_docs or MISSING}.",
        ),
    ]
    notes += [(f"Engine note {i}", text) for i, text in enumerate(result.notes, start=1)]
    for item in sorted(run.inputs, key=lambda d: (str(d.get("extract", "")), str(d.get("file", "")))):
        detail = "; ".join(f"{k}: {item.get(k, MISSING)}" for k in INPUT_FIELDS if k != "extract")
        notes.append((f"Input file: {item.get('extract', MISSING)}", detail))
    df = pd.DataFrame(notes, columns=["topic", "note"])
    _write_table(
        wb,
        ws,
        st,
        title="Notes: definitions, method and input files",
        note="Read with the Cover sheet. Input files are identified by their SHA-256 checksum.",
        df=df,
        cols=[Col("Topic", "topic", width=26), Col("Note", "note", width=120)],
        name="Notes_table",
        protect=False,
    )
    # long notes wrap: rewrite the text column with the wrapping format and give each row the height
    # it needs, since neither XlsxWriter nor every reader fits row heights to wrapped text
    for i, text in enumerate(df["note"]):
        ws.write_string(HEADER_ROW + 1 + i, 1, text, st.wrap)
        ws.set_row(HEADER_ROW + 1 + i, 13 * max(1, math.ceil(len(text) / 105)))


def _parameters_sheet(wb, st, result: AllocationResult) -> None:
    ws = wb.add_worksheet("Parameters")
    df = result.parameters.copy()
    df["value"] = df["value"].map(lambda x: x if _is_missing(x) else str(x))
    cols = [Col(c.capitalize(), c, width={"source": 70, "parameter": 28}.get(c, 16)) for c in df.columns]
    _write_table(
        wb,
        ws,
        st,
        title=f"Parameters: {result.parameter_set_title}",
        note=f"Parameter set {result.parameter_set}. Every value used by the formula, with its source.",
        df=df,
        cols=cols,
        name="Parameters_table",
    )


def _components_sheet(wb, st, result: AllocationResult) -> None:
    ws = wb.add_worksheet("Components")
    df = result.components
    cols = [Col(c.capitalize(), c, width={"reason": 80}.get(c, 22)) for c in df.columns]
    _write_table(
        wb,
        ws,
        st,
        title="Carr-Hill components: applied or neutral",
        note="A neutral component has index 1.0 for every practice; the reason says why.",
        df=df,
        cols=cols,
        name="Components_table",
    )


def _data_quality_sheet(wb, st, run: RunInfo) -> None:
    ws = wb.add_worksheet("Data quality")
    df = run.warnings.copy() if run.warnings is not None else _empty_warnings()
    for c in WARNING_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df = df[WARNING_COLUMNS].sort_values(["extract", "rule", "column"], kind="stable")
    cols = [
        Col("Rule", "rule", width=30),
        Col("Extract", "extract", width=14),
        Col("Column", "column", width=22),
        Col("Severity", "severity", width=10),
        Col("Failing rows", "failing_rows", "int", total=True),
        Col("Message", "message", width=70),
    ]
    note = (
        f"Validation {run.validation_status}. Quarantined input rows (kept out of the calculation): "
        f"{run.quarantined_rows}. " + ("No warnings." if df.empty else "Warnings below did not stop the run.")
    )
    _write_table(
        wb,
        ws,
        st,
        title="Data quality: validation warnings",
        note=note,
        df=df,
        cols=cols,
        name="Data_quality_table",
        total_label="Total",
    )


def _reconciliation_sheet(wb, st, result: AllocationResult) -> None:
    ws = wb.add_worksheet("Reconciliation")
    df = result.reconciliation.copy()
    df["passed"] = df["passed"].map(lambda x: MISSING if _is_missing(x) else ("yes" if bool(x) else "NO"))
    df["expected"] = df["expected"].map(lambda x: x if _is_missing(x) else str(x))
    df["actual"] = df["actual"].map(lambda x: x if _is_missing(x) else str(x))
    cols = [
        Col("Check", "check", width=60),
        Col("Expected", "expected", width=18),
        Col("Actual", "actual", width=18),
        Col("Passed", "passed", width=8),
    ]
    failed = int((df["passed"] == "NO").sum())
    _write_table(
        wb,
        ws,
        st,
        title="Reconciliation checks",
        note=f"{len(df)} checks, {failed} failed. Amounts in pennies as computed by the engine.",
        df=df,
        cols=cols,
        name="Reconciliation_table",
    )


def _bar_chart(
    wb,
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
) -> Any:
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
    axis = {
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


def _summary_sheet(
    wb, st, result, practices, *, keys: list[tuple[str, str]], title: str, note: str, sheet: str, name: str
) -> tuple[Any, _Written]:
    ws = wb.add_worksheet(sheet)
    frame = _summary_frame(practices, [k for k, _ in keys], result.variants)
    first = [Col(label, key, width=28 if "name" in key else 12) for key, label in keys]
    cols = _summary_cols(first, result.variants)
    written = _write_table(
        wb, ws, st, title=title, note=note, df=frame, cols=cols, name=name, freeze_cols=len(keys)
    )
    return ws, written


def _practices_sheet(wb, st, result, practices, *, national: bool, title: str) -> _Written:
    ws = wb.add_worksheet("Practices")
    cols = _practice_cols(result, national=national)
    note = (
        "One row per practice. Money in pounds; indices against the national average (1.0). "
        f"{MISSING} = not available."
    )
    return _write_table(
        wb, ws, st, title=title, note=note, df=practices, cols=cols, name="Practices_table", freeze_cols=2
    )


def _quintile_sheet(wb, st, result, practices, *, sheet: str, title: str, name: str) -> None:
    ws = wb.add_worksheet(sheet)
    frame = _quintile_frame(practices, result.variants)
    cols = _quintile_cols(result.variants)
    w = _write_table(
        wb,
        ws,
        st,
        title=title,
        note="How deprivation weighting moves capitation between the "
        "most and least deprived fifths of patients. [x] = no practice in that quintile.",
        df=frame,
        cols=cols,
        name=name,
        freeze_cols=1,
    )
    per_reg = [
        (w.col_index[c.header], variant_label(c.key.split("__")[1]))
        for c in cols
        if isinstance(c.key, str) and c.key.startswith("per_registered__")
    ]
    if len(frame):
        chart = _bar_chart(
            wb,
            title="Capitation per registered patient by deprivation quintile",
            sheet=sheet,
            cat_col=0,
            val_cols=per_reg,
            first=w.first_data_row,
            last=w.last_data_row,
            y_title="£ per registered patient",
            from_zero=True,
        )
        chart.set_x_axis({"name": "Deprivation quintile (1 = most deprived)"})
        ws.insert_chart(w.last_data_row + 3, 0, chart)


def _level_sheet(wb, st, df: pd.DataFrame, *, sheet: str, title: str, name: str, key: str) -> None:
    ws = wb.add_worksheet(sheet)
    if key in df.columns:
        df = df.sort_values(key, kind="stable")
    _write_table(
        wb,
        ws,
        st,
        title=title,
        note="Exact sums of the practices in each organisation. Money in pounds.",
        df=df.reset_index(drop=True),
        cols=_generic_cols(df),
        name=name,
        freeze_cols=1,
    )


def _equity_sheet(wb, st, equity: pd.DataFrame) -> None:
    ws = wb.add_worksheet("Equity")
    cols = _generic_cols(equity)
    w = _write_table(
        wb,
        ws,
        st,
        title="Equity: money per patient by deprivation quintile (England)",
        note="Quintiles of registered population, 1 = most deprived fifth. Money in pounds.",
        df=equity.reset_index(drop=True),
        cols=cols,
        name="Equity_table",
        freeze_cols=1,
    )
    names = [str(c) for c in equity.columns]
    wanted = [n for n in names if "per_registered" in n and "paid" not in n] or [
        n for n in names if "per_" in n
    ]
    series = [(names.index(n), cols[names.index(n)].header) for n in wanted[:4]]
    if series and len(equity):
        chart = _bar_chart(
            wb,
            title="Money per registered patient by deprivation quintile",
            sheet="Equity",
            cat_col=0,
            val_cols=series,
            first=w.first_data_row,
            last=w.last_data_row,
            y_title="£ per patient",
            from_zero=True,
        )
        chart.set_x_axis({"name": "Deprivation quintile (1 = most deprived)"})
        ws.insert_chart(w.last_data_row + 3, 0, chart)


# --------------------------------------------------------------------------------------------------
# Workbooks


def _new_workbook(path: Path, result: AllocationResult, title: str, subject: str) -> xlsxwriter.Workbook:
    wb = xlsxwriter.Workbook(
        str(path),
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
            "comments": f"Parameter set {result.parameter_set}",
            "created": created_datetime(result.period),
        }
    )
    wb.set_calc_mode("auto")
    return wb


def _atomic_write(path: Path, build: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then os.replace: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".xlsx", dir=path.parent)
    os.close(fd)
    try:
        build(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a published workbook is for other readers too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sub_icb_practices(result: AllocationResult, sub_icb_code: str) -> pd.DataFrame:
    p = result.practices
    part = p[p["sub_icb_code"] == sub_icb_code].sort_values("practice_code", kind="stable")
    if part.empty:
        raise ValueError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    return part.reset_index(drop=True)


def write_sub_icb_workbook(result: AllocationResult, sub_icb_code: str, path: Path, *, run: RunInfo) -> None:
    """Write the allocation workbook of one sub-ICB location to ``path`` (atomically)."""
    practices = _sub_icb_practices(result, sub_icb_code)
    sub_name = str(practices["sub_icb_name"].iloc[0])
    title = f"GP allocations {run.period_label}: {sub_name} ({sub_icb_code})"

    def build(tmp: Path) -> None:
        wb = _new_workbook(tmp, result, title, f"Sub-ICB location {sub_icb_code}")
        st = _Styles(wb)
        contents = [
            (
                "Summary",
                "Totals by PCN for each formula variant, change from global sum, and a chart of the "
                "change by practice",
            ),
            ("Contract types", "Totals by contract type (GMS, PMS, APMS)"),
            ("By deprivation", "Capitation per patient by deprivation quintile, with a chart"),
            ("Practices", "One row per practice: list, indices, weighted lists, capitation, QOF, totals"),
            ("Parameters", "Every parameter value used, with its source"),
            ("Components", "Which Carr-Hill components were applied or neutral, and why"),
            ("Data quality", "Validation warnings and quarantined rows"),
            ("Reconciliation", "Checks that every total reconciles to the penny"),
            *table_contents(result, national=False),
            ("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256"),
        ]
        _cover(
            wb,
            st,
            title=title,
            result=result,
            run=run,
            contents=contents,
            scope=f"{sub_name} ({sub_icb_code})",
        )
        ws, _ = _summary_sheet(
            wb,
            st,
            result,
            practices,
            keys=[("pcn_code", "PCN code"), ("pcn_name", "PCN name")],
            title=f"Summary by primary care network: {sub_name}",
            note="Totals by PCN for each formula variant. Money in pounds; change is against the global sum.",
            sheet="Summary",
            name="Summary_table",
        )
        _write_other_sheets(
            wb,
            st,
            result,
            run,
            practices,
            national=False,
            summary_ws=ws,
            practices_title=f"Practices: {sub_name} ({sub_icb_code})",
        )
        wb.close()

    _atomic_write(path, build)


def _write_other_sheets(
    wb, st, result, run, practices, *, national: bool, summary_ws, practices_title: str
) -> None:
    _summary_sheet(
        wb,
        st,
        result,
        practices,
        keys=[("contract_type", "Contract type")],
        title="Totals by contract type",
        note="Money in pounds; change is against the global sum.",
        sheet="Contract types",
        name="Contract_types_table",
    )
    if not national:
        _quintile_sheet(
            wb,
            st,
            result,
            practices,
            sheet="By deprivation",
            title="Capitation per patient by deprivation quintile",
            name="Deprivation_table",
        )
    pw = _practices_sheet(wb, st, result, practices, national=national, title=practices_title)
    others = _variants_other(result)
    if others and not national and len(practices):
        cols = _practice_cols(result, national=national)
        headers = [c.header for c in cols]
        series = [
            (
                headers.index(f"Change, {variant_label(v)} minus global sum (£)"),
                f"{variant_label(v)} minus global sum",
            )
            for v in others
        ]
        chart = _bar_chart(
            wb,
            title="Change in capitation by practice against the global sum",
            sheet="Practices",
            cat_col=0,
            val_cols=series,
            first=pw.first_data_row,
            last=pw.last_data_row,
            y_title="£ change per quarter",
        )
        chart.set_x_axis({"name": "Practice code", "num_font": {"rotation": -45}, "label_position": "low"})
        summary_ws.insert_chart(_chart_anchor_row(summary_ws), 0, chart)
    _parameters_sheet(wb, st, result)
    _components_sheet(wb, st, result)
    _data_quality_sheet(wb, st, run)
    _reconciliation_sheet(wb, st, result)
    sub_icb = None if national or not len(practices) else str(practices["sub_icb_code"].iloc[0])
    _table_sheets(wb, st, result, sub_icb)
    _notes(wb, st, result, run)


#: result.tables entries written as their own sheets (sheet name, contents line), in this order
TABLE_SHEETS: dict[str, tuple[str, str]] = {
    "paid_reconciliation": (
        "Paid vs recomputed",
        "Global Sum, MPIG, QOF and patients as paid beside this run's recomputation, with differences",
    ),
    "payments_equity": (
        "Payments equity",
        "Published payments and Global Sum per registered and weighted patient by deprivation quintile",
    ),
    "practice_changes": (
        "Practice changes",
        "Closed, merged or moved practices: which practice, which extracts disagree",
    ),
    "implied_price": (
        "Implied price",
        "Global Sum paid per weighted patient (GMS): national totals, median and spread",
    ),
    "implied_price_outliers": (
        "Implied price outliers",
        "GMS practices whose implied price per weighted patient is far from the median",
    ),
}

#: tables shown in the national workbook only
NATIONAL_ONLY_TABLES = ("payments_equity", "implied_price", "implied_price_outliers")


def table_contents(result: AllocationResult, *, national: bool) -> list[tuple[str, str]]:
    """Cover-sheet contents lines for the result.tables sheets this workbook will have."""
    return [
        TABLE_SHEETS[name]
        for name in TABLE_SHEETS
        if name in result.tables and (national or name not in NATIONAL_ONLY_TABLES)
    ]


def _table_sheets(wb, st, result: AllocationResult, sub_icb: str | None) -> None:
    """The paid reconciliation, payments equity (national only) and practice changes sheets."""
    tables = result.tables
    if "paid_reconciliation" in tables:
        df = tables["paid_reconciliation"]
        if sub_icb is not None:
            df = df[(df["level"] == "sub_icb") & (df["code"].astype(str) == sub_icb)]
        ws = wb.add_worksheet(TABLE_SHEETS["paid_reconciliation"][0])
        cols = [
            Col(c.header, c.key, c.kind, False, c.width) for c in _generic_cols(df)
        ]  # no total row: England and not-in-run rows would be counted twice
        _write_table(
            wb,
            ws,
            st,
            title="Paid (contracts extract) against this run's recomputation",
            note="Money in pounds. Differences are recomputed minus paid. Recomputed capitation is the "
            "global sum variant at this run's registered lists and parameters; the paid figures are the "
            "published year's. 'not_in_run' totals paid practices this run has no registered list for.",
            df=df.reset_index(drop=True),
            cols=cols,
            name="Paid_reconciliation_table",
            freeze_cols=3,
        )
    if "payments_equity" in tables and sub_icb is None:
        _payments_equity_sheet(wb, st, tables["payments_equity"])
    if "practice_changes" in tables:
        df = tables["practice_changes"]
        if sub_icb is not None:
            df = df[df["sub_icb_code"].astype(str) == sub_icb]
        ws = wb.add_worksheet(TABLE_SHEETS["practice_changes"][0])
        cols = [
            Col("Practice code", "practice_code", width=12),
            Col("Practice name", "practice_name", width=36),
            Col("Sub-ICB code", "sub_icb_code", width=10),
            Col("Change", "change", width=22),
            Col("Extracts that disagree", "extracts", width=40),
            Col("Detail", "detail", width=70),
        ]
        _write_table(
            wb,
            ws,
            st,
            title="Practice changes: practices the extracts disagree about",
            note=f"{len(df)} rows. Practices missing from an extract, possible mergers (same postcode), "
            "moves between sub-ICB locations and practices closed in ODS. None is dropped silently.",
            df=df.reset_index(drop=True),
            cols=cols,
            name="Practice_changes_table",
        )

    if sub_icb is None:
        for name, title, note in (
            (
                "implied_price",
                "Implied price per weighted patient: Global Sum paid / weighted patients (GMS practices)",
                "From the contracts (payments) extract. Compare the median with the year's price less the "
                "out-of-hours deduction; practices without a Global Sum or weighted list are counted only.",
            ),
            (
                "implied_price_outliers",
                "GMS practices whose implied price is more than 10% from the median",
                "Often practices that opened, closed or merged during the year (part-year payments).",
            ),
        ):
            if name not in tables:
                continue
            df = tables[name].reset_index(drop=True)
            ws = wb.add_worksheet(TABLE_SHEETS[name][0])
            cols = [Col(c.header, c.key, c.kind, False, c.width) for c in _generic_cols(df)]
            _write_table(
                wb,
                ws,
                st,
                title=title,
                note=note,
                df=df,
                cols=cols,
                name=f"{ws.name.replace(' ', '_')}_table",
            )


def _payments_equity_sheet(wb, st, equity: pd.DataFrame) -> None:
    sheet = TABLE_SHEETS["payments_equity"][0]
    ws = wb.add_worksheet(sheet)
    cols = [Col(c.header, c.key, c.kind, False, c.width) for c in _generic_cols(equity)]
    quintiles = equity[equity["deprivation_quintile"].astype(str).str.fullmatch(r"[1-5]")]
    gap = equity[equity["deprivation_quintile"].astype(str) == "gap_q1_minus_q5"]
    gap_text = ""
    if len(gap):
        gap_text = (
            f" Most minus least deprived fifth: £{float(gap['payments_gbp_per_weighted'].iloc[0]):,.2f} "
            "payments per weighted patient."
        )
    w = _write_table(
        wb,
        ws,
        st,
        title="Payments equity: published payments per patient by practice deprivation quintile",
        note="From the contracts (payments) extract and practice deprivation scores. Quintiles of registered "
        "population, 1 = most deprived fifth. Per-patient figures in pounds." + gap_text,
        df=equity.reset_index(drop=True),
        cols=cols,
        name="Payments_equity_table",
        freeze_cols=1,
    )
    names = [str(c) for c in equity.columns]
    wanted = [n for n in ("payments_gbp_per_weighted", "global_sum_gbp_per_weighted") if n in names]
    if wanted and len(quintiles):
        chart = _bar_chart(
            wb,
            title="Payments per weighted patient by deprivation quintile",
            sheet=sheet,
            cat_col=0,
            val_cols=[(names.index(n), cols[names.index(n)].header) for n in wanted],
            first=w.first_data_row,
            last=w.first_data_row + len(quintiles) - 1,  # the five quintiles, not the gap row
            y_title="£ per weighted patient",
            from_zero=True,
        )
        chart.set_x_axis({"name": "Deprivation quintile (1 = most deprived)"})
        ws.insert_chart(w.last_data_row + 3, 0, chart)


def _chart_anchor_row(ws) -> int:
    # below the table and its total row, with a blank row between
    return ws.dim_rowmax + 2


def write_national_workbook(result: AllocationResult, path: Path, *, run: RunInfo) -> None:
    """Write the national summary workbook (levels, equity table and chart, all practices)."""
    practices = result.practices.sort_values("practice_code", kind="stable").reset_index(drop=True)
    title = f"GP allocations {run.period_label}: England summary"

    def build(tmp: Path) -> None:
        wb = _new_workbook(tmp, result, title, "England")
        st = _Styles(wb)
        level_sheets = [
            ("sub_icb", "Sub-ICBs", "One row per sub-ICB location"),
            ("icb", "ICBs", "One row per integrated care board"),
            ("region", "Regions", "One row per NHS England region"),
        ]
        contents = [("Summary", "Totals by NHS England region for each formula variant, with a chart")]
        contents += [(s, d) for lvl, s, d in level_sheets if lvl in result.levels]
        if result.equity is not None:
            contents.append(("Equity", "Money per patient by deprivation quintile, with a chart"))
        contents += [
            ("Contract types", "Totals by contract type"),
            ("Practices", "One row per practice in England"),
            ("Parameters", "Every parameter value used, with its source"),
            ("Components", "Which Carr-Hill components were applied or neutral, and why"),
            ("Data quality", "Validation warnings and quarantined rows"),
            ("Reconciliation", "Checks that every total reconciles to the penny"),
            *table_contents(result, national=True),
            ("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256"),
        ]
        _cover(wb, st, title=title, result=result, run=run, contents=contents, scope="England")
        ws, w = _summary_sheet(
            wb,
            st,
            result,
            practices,
            keys=[("region_code", "Region code"), ("region_name", "Region name")],
            title="Summary by NHS England region",
            sheet="Summary",
            name="Summary_table",
            note="Totals by region for each formula variant. Money in pounds; change is against global sum.",
        )
        others = _variants_other(result)
        if others and w.last_data_row >= w.first_data_row:
            series = [
                (
                    w.col_index[f"Change, {variant_label(v)} minus global sum (£)"],
                    f"{variant_label(v)} minus global sum",
                )
                for v in others
            ]
            chart = _bar_chart(
                wb,
                title="Change in capitation by region against the global sum",
                sheet="Summary",
                cat_col=1,
                val_cols=series,
                first=w.first_data_row,
                last=w.last_data_row,
                y_title="£ change per quarter",
            )
            ws.insert_chart(_chart_anchor_row(ws), 0, chart)
        for lvl, sheet, _ in level_sheets:
            if lvl in result.levels:
                _level_sheet(
                    wb,
                    st,
                    result.levels[lvl],
                    sheet=sheet,
                    name=f"{sheet.replace('-', '_')}_table",
                    title=f"{sheet}: allocations by organisation",
                    key=f"{lvl}_code",
                )
        if result.equity is not None:
            _equity_sheet(wb, st, result.equity)
        _write_other_sheets(
            wb, st, result, run, practices, national=True, summary_ws=ws, practices_title="Practices: England"
        )
        wb.close()

    _atomic_write(path, build)
