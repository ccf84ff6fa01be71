"""Sheets of what changed and why: this publication against the last published version of the previous
quarter and of the same quarter a year earlier, with the bridge (``gp_allocations.bridge``) of each
practice, sub-ICB location, ICB and England, and the largest movers. Declarations and layout only: every
figure is a bridge line summed by the aggregates."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from gp_allocations.aggregates import ENGLAND_CODE
from gp_allocations.bridge import CHANGE, CURRENT, PREVIOUS, STEPS, Comparison
from gp_allocations.variants import label

from .prose import CHANGE_SHEETS
from .sheets import Book, Sheet
from .xlsx import Col, write_table

MOVERS = 20
_NAMES = dict(
    zip(
        (
            "practice_q",
            "practice_y",
            "sub_icb_q",
            "icb_q",
            "sub_icb_y",
            "icb_y",
            "own_icb_q",
            "own_icb_y",
            "movers",
        ),
        CHANGE_SHEETS,
        strict=True,
    )
)


def _comparison(book: Book, kind: str) -> Comparison:
    return next(c for c in book.run.comparisons if c.kind == kind)


def _has_comparisons(book: Book) -> bool:
    return bool(book.run.comparisons)


def _notice(book: Book, sheet: Sheet, c: Comparison) -> None:
    """The sheet of a comparison there is nothing for: it says so, in a one-row table."""
    reason = c.reason or "no earlier publication"
    status = "No earlier publication" if c.run_id is None else "Not comparable"
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"{sheet.name}: {status.lower()}",
        note=f"Compared with {c.words} ({c.period_label}): {reason}.",
        df=pd.DataFrame({"status": [status], "detail": [reason[:1].upper() + reason[1:]]}),
        cols=[Col("Status", "status", width=26), Col("Detail", "detail", width=90)],
        name=None,
    )


def bridge_cols(keys: list[Col], c: Comparison, period_label: str, *, total: bool = True) -> list[Col]:
    """Previous, current, change in pounds and per cent, then one column per step of the bridge."""
    before, after, change = (
        f"Payable capitation {c.period_label}, annual",
        f"Payable capitation {period_label}, annual",
        "Change, annual",
    )
    return [
        *keys,
        Col(before, PREVIOUS, "money", total=total, width=16),
        Col(after, CURRENT, "money", total=total, width=16),
        Col(change, CHANGE, "money", total=total, width=15),
        Col("Change %", "change_pct", "pct", width=10, ratio_of=(change, before) if total else None),
        *(Col(f"{s.label}, annual", s.name, "money", total=total, width=15) for s in STEPS),
    ]


def _note(c: Comparison, book: Book) -> str:
    """Short enough to print in full on a sheet's first page (the Cover and Notes say the rest)."""
    v = label(book.allocation.selected_variant)
    note = (
        f"Annual payable capitation ({v} variant) in pounds: {book.run.period_label} against the last "
        f"publication of {c.period_label} (run {c.run_id})."
    )
    if c.variant_change is not None:
        note += f" Variant changed: {label(c.variant_change[0])} then (Cover)."
    return note


_NOUNS = {
    "practice": ("Practice", "practices"),
    "sub_icb": ("Sub-ICB", "sub-ICB locations"),
    "icb": ("ICB", "ICBs"),
}


def _scope(book: Book, c: Comparison, grouping: str) -> tuple[str | None, dict[str, object], str]:
    """Which rows of a bridge a book shows (their ``within``), its total row and that row's label: the
    sub-ICB book's practices (total: the sub-ICB location) or its ICB's sub-ICB locations (total: the
    ICB); the national book's sub-ICB locations or ICBs (total: England)."""
    if book.national:
        return None, c.row("england", ENGLAND_CODE), "Total: England"
    if grouping == "practice":
        return book.sub_icb, c.row("sub_icb", str(book.sub_icb)), f"Total: {book.sub_icb}"
    p = book.allocation.practices
    icb = str(p.loc[p["sub_icb_code"] == book.sub_icb, "icb_code"].iloc[0])
    return icb, c.row("icb", icb), f"Total: {icb}"


def changes(kind: str, grouping: str) -> Callable[[Book, Sheet], None]:
    """A comparison's bridge of one grouping: practices or the ICB's sub-ICB locations (sub-ICB book), or
    every sub-ICB location or ICB (national book)."""

    def write(book: Book, sheet: Sheet) -> None:
        c = _comparison(book, kind)
        if not c.available:
            _notice(book, sheet, c)
            return
        within, total, total_label = _scope(book, c, grouping)
        noun, plural = _NOUNS[grouping]
        if within is not None and grouping == "sub_icb":
            plural = f"{plural} of {total.get('name', within)} ({within})"
        keys = [Col(f"{noun} code", "code", width=11), Col(f"{noun} name", "name", width=30)]
        write_table(
            book.wb,
            book.wb.add_worksheet(sheet.name),
            book.st,
            title=f"{sheet.name}: {plural}, {c.period_label} to {book.run.period_label}",
            note=_note(c, book),
            df=c.table(grouping, within),
            cols=bridge_cols(keys, c, book.run.period_label),
            name=f"{sheet.name.replace(' ', '_').replace('-', '_')}_table",
            freeze_cols=2,
            total_label=total_label,
            totals=total,
        )

    return write


def movers(book: Book, sheet: Sheet) -> None:
    """The practices with the largest change since last quarter, either way."""
    c = _comparison(book, "previous_quarter")
    if not c.available:
        _notice(book, sheet, c)
        return
    keys = [Col("Practice code", "code", width=11), Col("Practice name", "name", width=30)]
    if book.national:
        keys.append(Col("Sub-ICB code", "within", width=10))
    scope = "England" if book.national else f"{book.scope_totals['name']} ({book.sub_icb})"
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"Largest movers since last quarter: {scope}",
        note=f"The {MOVERS} practices whose annual payable capitation changed most, up or down, largest "
        f"first: {book.run.period_label} against {c.period_label} (run {c.run_id}), in pounds.",
        df=c.largest_movers(None if book.national else book.sub_icb, MOVERS),
        cols=bridge_cols(keys, c, book.run.period_label, total=False),
        name="Largest_movers_table",
        freeze_cols=2,
    )


SUB_ICB_SHEETS: tuple[Sheet, ...] = (
    Sheet(
        _NAMES["practice_q"],
        "Each practice against the last quarter's publication: £ and %, and the bridge of the change",
        changes("previous_quarter", "practice"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["practice_y"],
        "Each practice against the same quarter a year earlier: £ and %, and the bridge of the change",
        changes("year_earlier", "practice"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["own_icb_q"],
        "The ICB's sub-ICB locations and the ICB total against the last quarter's publication, with the "
        "bridge",
        changes("previous_quarter", "sub_icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["own_icb_y"],
        "The ICB's sub-ICB locations and the ICB total against the same quarter a year earlier, with the "
        "bridge",
        changes("year_earlier", "sub_icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["movers"],
        f"The {MOVERS} practices that changed most since last quarter",
        movers,
        _has_comparisons,
    ),
)

NATIONAL_SHEETS: tuple[Sheet, ...] = (
    Sheet(
        _NAMES["sub_icb_q"],
        "Each sub-ICB location against the last quarter's publication, with the bridge of the change",
        changes("previous_quarter", "sub_icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["icb_q"],
        "Each ICB against the last quarter's publication, with the bridge of the change",
        changes("previous_quarter", "icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["sub_icb_y"],
        "Each sub-ICB location against the same quarter a year earlier, with the bridge of the change",
        changes("year_earlier", "sub_icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["icb_y"],
        "Each ICB against the same quarter a year earlier, with the bridge of the change",
        changes("year_earlier", "icb"),
        _has_comparisons,
    ),
    Sheet(
        _NAMES["movers"],
        f"The {MOVERS} practices in England that changed most since last quarter",
        movers,
        _has_comparisons,
    ),
)
