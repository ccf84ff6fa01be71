"""Finance-ready Excel workbooks: one per sub-ICB location and one national summary.

A book is an ordered list of sheet definitions (``sheets.Sheet``); the Cover's contents are generated
from the sheets that apply to the book, in the order they are written. Sheets lay out views of the
ledger with declared columns (``columns``) through a small XlsxWriter toolkit (``xlsx``).
"""

from __future__ import annotations

import io

from xlsxwriter.worksheet import Worksheet

from gp_allocations.ledger import Allocation

from . import sheets as S
from .prose import RunInfo, cover_facts, created_datetime
from .xlsx import HEADER_ROW, MISSING, Styles, new_workbook, print_setup, write_xlsx

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
_CHANGES = S.has_table("practice_changes")

SUB_ICB_BOOK: tuple[S.Sheet, ...] = (
    S.Sheet(
        "Summary",
        "Totals by PCN for each formula variant, change from global sum, and a chart of the change by "
        "practice",
        S.summary,
    ),
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
    S.Sheet("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256", S.notes_sheet),
)

NATIONAL_BOOK: tuple[S.Sheet, ...] = (
    S.Sheet("Summary", "Totals by NHS England region for each formula variant, with a chart", S.summary),
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
        "Implied price outliers",
        "GMS practices whose implied price per weighted patient is far from the median",
        S.IMPLIED_PRICE_OUTLIERS,
        S.has_table("implied_price_outliers"),
    ),
    S.Sheet("Notes", "Definitions, method, rounding rule, [x], input files with SHA-256", S.notes_sheet),
)


def book_contents(book: S.Book, sheets: tuple[S.Sheet, ...]) -> list[S.Sheet]:
    """The sheets this book will have, in order (the Cover lists exactly these)."""
    return [s for s in sheets if s.applies(book)]


def _cover(book: S.Book, title: str, scope: str, contents: list[S.Sheet]) -> None:
    ws: Worksheet = book.wb.add_worksheet("Cover")
    st = book.st
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 90)
    ws.write_string(0, 0, title, st.title)
    ws.write_string(
        1, 0, f"GP capitation, deprivation-weighted capitation and QOF allocations for {scope}.", st.note
    )
    ws.write_string(HEADER_ROW, 0, "Item", st.header)
    ws.write_string(HEADER_ROW, 1, "Detail", st.header)
    row = HEADER_ROW + 1
    for key, value in cover_facts(book.allocation, book.run):
        ws.write_string(row, 0, key, st.bold)
        ws.write_string(row, 1, value, st.wrap)
        row += 1
    row += 1
    ws.write_string(row, 0, "Contents", st.header)
    ws.write_string(row, 1, "What the sheet holds", st.header)
    for sheet in contents:
        row += 1
        ws.write_url(row, 0, f"internal:'{sheet.name}'!A1", st.link, string=sheet.name)
        ws.write_string(row, 1, sheet.contents, st.wrap)
    print_setup(ws, repeat_header=False)


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
            subject=f"Sub-ICB location {sub_icb}" if sub_icb else "England",
            comments=f"Parameter set {allocation.parameter_set}",
            created=created_datetime(allocation.period),
        )
        book = S.Book(wb, Styles(wb), allocation, run, sub_icb)
        contents = book_contents(book, sheets)
        _cover(book, title, scope, contents)
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
