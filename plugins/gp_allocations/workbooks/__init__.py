"""Finance-ready Excel workbooks: one per sub-ICB location and one national summary.

A book is an ordered list of sheet definitions (``sheets.Sheet``); the Contents sheet is generated
from the sheets that apply to the book, in the order they are written. Sheets lay out views of the
ledger with declared columns (``columns``) through a small XlsxWriter toolkit (``xlsx``).
"""

from __future__ import annotations

import io

import pandas as pd
from xlsxwriter.worksheet import Worksheet

from gp_allocations.ledger import Allocation

from . import changes as CH
from . import fair_shares as FS
from . import sheets as S
from .prose import RunInfo, cover_facts, created_datetime, note_refs
from .xlsx import HEADER_ROW, MISSING, Col, Styles, new_workbook, write_table, write_xlsx

__all__ = [
    "HEADER_ROW",
    "MISSING",
    "NATIONAL_BOOK",
    "SUB_ICB_BOOK",
    "RunInfo",
    "book_contents",
    "created_datetime",
    "write_national_workbook",
    "write_sub_icb_workbook",
]

_PAID = S.has_table("paid_not_in_run")
CONTENTS = "Contents"
_CHANGES = S.has_table("practice_changes")

SUB_ICB_BOOK: tuple[S.Sheet, ...] = (
    S.Sheet(
        "Summary",
        "Totals by PCN for each formula variant, change from global sum, and a chart of the change by "
        "practice",
        S.summary,
    ),
    S.Sheet(
        "Payments",
        "The quarter's payable capitation per practice and its month-by-month schedule",
        S.payments,
    ),
    S.Sheet("ICB", "This sub-ICB location beside its sister sub-ICB locations and the ICB total", S.icb_view),
    S.Sheet("Contract types", "Totals by contract type (GMS, PMS, APMS)", S.contract_types),
    S.Sheet("By deprivation", "Capitation per patient by deprivation quintile, with a chart", S.quintiles),
    S.Sheet(
        "Practices",
        "One row per practice: list, indices, weighted lists, capitation, QOF, totals",
        S.practices,
    ),
    S.Sheet("Parameters", "Every parameter value used, with its source", S.parameters),
    S.Sheet("Components", "Which Carr-Hill components were applied or neutral, and why", S.components),
    S.Sheet("Data quality", "Validation warnings and quarantined rows", S.data_quality),
    S.Sheet("Reconciliation", "Checks that every total reconciles to the penny", S.reconciliation),
    S.Sheet(
        "Paid vs recomputed",
        "Global Sum, MPIG, QOF and patients as paid beside this run's recomputation, with differences",
        S.paid_vs_recomputed,
        _PAID,
    ),
    S.Sheet(
        "Practice changes",
        "Closed, merged or moved practices: which practice, which extracts disagree",
        S.PRACTICE_CHANGES,
        _CHANGES,
    ),
    *CH.SUB_ICB_SHEETS,
    *FS.SUB_ICB_SHEETS,
    S.Sheet("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256", S.notes_sheet),
)

NATIONAL_BOOK: tuple[S.Sheet, ...] = (
    S.Sheet("Summary", "Totals by NHS England region for each formula variant, with a chart", S.summary),
    S.Sheet(
        "Payments",
        "The quarter's payable capitation per sub-ICB location and its month-by-month schedule",
        S.payments,
    ),
    S.Sheet("Sub-ICBs", "One row per sub-ICB location", S.levels("sub_icb", "sub-ICB location")),
    S.Sheet("ICBs", "One row per integrated care board", S.levels("icb", "integrated care board")),
    S.Sheet("Regions", "One row per NHS England region", S.levels("region", "region")),
    S.Sheet("Equity", "Money per patient by deprivation quintile, with a chart", S.quintiles),
    S.Sheet("Contract types", "Totals by contract type", S.contract_types),
    S.Sheet("Practices", "One row per practice in England", S.practices),
    S.Sheet("Parameters", "Every parameter value used, with its source", S.parameters),
    S.Sheet("Components", "Which Carr-Hill components were applied or neutral, and why", S.components),
    S.Sheet("Data quality", "Validation warnings and quarantined rows", S.data_quality),
    S.Sheet("Reconciliation", "Checks that every total reconciles to the penny", S.reconciliation),
    S.Sheet(
        "Paid vs recomputed",
        "Global Sum, MPIG, QOF and patients as paid beside this run's recomputation, with differences",
        S.paid_vs_recomputed,
        _PAID,
    ),
    S.Sheet(
        "Paid not in run",
        "What the contracts extract paid practices this run has no registered list for",
        S.paid_not_in_run,
        _PAID,
    ),
    S.Sheet(
        "Payments equity",
        "Published payments and Global Sum per registered and weighted patient by deprivation quintile",
        S.payments_equity,
        S.has_table("payments_equity"),
    ),
    S.Sheet(
        "Practice changes",
        "Closed, merged or moved practices: which practice, which extracts disagree",
        S.PRACTICE_CHANGES,
        _CHANGES,
    ),
    S.Sheet(
        "Implied price",
        "Global Sum paid per weighted patient (GMS): national totals, median and spread",
        S.IMPLIED_PRICE,
        S.has_table("implied_price"),
    ),
    S.Sheet(
        "Implied price by year",
        "Global Sum paid per weighted patient in every loaded payments year beside the parameter price",
        S.IMPLIED_PRICE_BY_YEAR,
        S.has_table("implied_price_by_year"),
    ),
    S.Sheet(
        "Payments equity by year",
        "Payments and Global Sum per weighted patient by deprivation quintile, every loaded year",
        S.PAYMENTS_EQUITY_BY_YEAR,
        S.has_table("payments_equity_by_year"),
    ),
    S.Sheet(
        "Implied price outliers",
        "GMS practices whose implied price per weighted patient is far from the median",
        S.IMPLIED_PRICE_OUTLIERS,
        S.has_table("implied_price_outliers"),
    ),
    *CH.NATIONAL_SHEETS,
    *FS.NATIONAL_SHEETS,
    S.Sheet("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256", S.notes_sheet),
)


def book_contents(book: S.Book, sheets: tuple[S.Sheet, ...]) -> list[S.Sheet]:
    """The sheets this book will have, in order (the Contents sheet lists exactly these)."""
    return [s for s in sheets if s.applies(book)]


def _cover(book: S.Book, title: str, scope: str) -> None:
    """The Cover: what the book is and the run's facts, as one 'Item / Detail' table."""
    facts = cover_facts(book.allocation, book.run, book.sub_icb, book.scope_totals)
    write_table(
        book.wb,
        book.wb.add_worksheet("Cover"),
        book.st,
        title=title,
        note=f"GP capitation, deprivation-weighted capitation and QOF allocations for {scope}; see Contents.",
        df=pd.DataFrame(facts, columns=["item", "detail"]),
        cols=[Col("Item", "item", width=28), Col("Detail", "detail", width=72)],
        name="Cover_table",
        protected=False,
    )


def _contents(book: S.Book, contents: list[S.Sheet]) -> None:
    """The Contents: one row per sheet, its name a link to it."""
    ws: Worksheet = book.wb.add_worksheet(CONTENTS)
    names = [s.name for s in contents]
    write_table(
        book.wb,
        ws,
        book.st,
        title="Contents",
        note="Each sheet holds one table; select a sheet's name to go to it.",
        df=pd.DataFrame({"sheet": names, "holds": [s.contents for s in contents]}),
        cols=[Col("Sheet", "sheet", width=26), Col("What the sheet holds", "holds", width=80)],
        name="Contents_table",
        protected=False,
    )
    for i, name in enumerate(names):
        ws.write_url(HEADER_ROW + 1 + i, 0, f"internal:'{name}'!A1", book.st.link, string=name)


def _write_book(
    path: object,
    allocation: Allocation,
    run: RunInfo,
    sub_icb: str | None,
    sheets: tuple[S.Sheet, ...],
    title: str,
    scope: str,
) -> None:
    from pathlib import Path

    def build(target: io.BytesIO) -> None:
        wb = new_workbook(
            target,
            title=title,
            subject=f"GP practice allocations {run.period_label}, sub-ICB location {sub_icb}"
            if sub_icb
            else f"GP practice allocations {run.period_label}, England",
            comments=f"Parameter set {allocation.parameter_set}",
            created=created_datetime(allocation.period),
        )
        footer = f"{run.organisation}: GP allocations {run.period_label}"
        book = S.Book(wb, Styles(wb, footer=footer), allocation, run, sub_icb)
        contents = book_contents(book, sheets)
        names = [s.name for s in contents]
        book.notes["qualifies"] = [tuple(n for n in q if n in names) for q in book.notes["qualifies"]]
        book.st.note_refs = note_refs(book.notes, names)
        _cover(book, title, scope)
        _contents(book, contents)
        for sheet in contents:
            sheet.write(book, sheet)
        wb.close()

    write_xlsx(Path(str(path)), build)


def write_sub_icb_workbook(allocation: Allocation, sub_icb_code: str, path: object, *, run: RunInfo) -> None:
    """Write the allocation workbook of one sub-ICB location to ``path`` (atomically)."""
    p = allocation.practices
    part = p[p["sub_icb_code"] == sub_icb_code]
    if part.empty:
        raise ValueError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    name = str(part["sub_icb_name"].iloc[0])
    title = f"GP allocations {run.period_label}: {name} ({sub_icb_code})"
    _write_book(path, allocation, run, sub_icb_code, SUB_ICB_BOOK, title, f"{name} ({sub_icb_code})")


def write_national_workbook(allocation: Allocation, path: object, *, run: RunInfo) -> None:
    """Write the national summary workbook (levels, equity, all practices)."""
    title = f"GP allocations {run.period_label}: England summary"
    _write_book(path, allocation, run, None, NATIONAL_BOOK, title, "England")
