"""Sheets of the fair-shares work (issue 17): need-based fair shares beside capitation, the practices
on one side only, place-based need indices, MPIG and seniority recycled, 75+ funding and transition
protection. Declarations only: every figure comes from ``scenario_views`` (over the aggregates)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from gp_allocations import scenario_views as SV
from gp_allocations.fair_shares import NEED_COMPONENTS
from gp_allocations.ledger import Allocation
from gp_allocations.variants import label

from .sheets import Book, Sheet
from .xlsx import Col, write_table

NOT_SUPPLIED = (
    "NHS England weighted populations not supplied: this run had no file of them, so need-based fair "
    "shares, distances and place indices are not computed."
)


def _notice(book: Book, sheet: Sheet, title: str, text: str) -> None:
    """A sheet that says why it has no figures (a one-row table, laid out like every other sheet)."""
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=title,
        note=text,
        df=pd.DataFrame({"status": ["Not supplied" if text == NOT_SUPPLIED else "Not computed"]}),
        cols=[Col("Status", "status", width=40)],
        name=None,
    )


def _scope(book: Book) -> tuple[str, str | None, str, str]:
    """(grouping, within, key header, scope total label) of a book's organisation table."""
    if book.national:
        return "sub_icb", None, "Sub-ICB", "England"
    return "sub_icb_pcn", book.sub_icb, "PCN", str(book.scope_totals["name"])


def _totals(
    book: Book, view: Callable[[Allocation, str, str | None], pd.DataFrame | None]
) -> dict[str, object]:
    """The book's scope row of the same view (England, or the sub-ICB location): the total row."""
    a = book.allocation
    grouping, code = ("england", None) if book.national else ("sub_icb", book.sub_icb)
    # the England-wide table of every sub-ICB location, once per publication rather than once per book
    frame = a.derived(f"{view.__name__}:{grouping}", lambda: view(a, grouping, None))
    if frame is None or frame.empty:
        return {}
    row = frame if code is None else frame[frame["code"] == code]
    return {str(k): v for k, v in row.iloc[0].to_dict().items()}


def _keys(noun: str) -> list[Col]:
    return [Col(f"{noun} code", "code", width=11), Col(f"{noun} name", "name", width=30)]


def fair_share_cols(noun: str) -> list[Col]:
    cols = [
        *_keys(noun),
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
        Col("NHS England population", "nhse_population", "number", total=True),
        Col("Capitation this run (£)", "capitation_pence", "money", total=True),
    ]
    for c, text in NEED_COMPONENTS:
        cols += [
            Col(f"Fair share: {text} (£)", f"fair_share_pence__{c}", "money", total=True),
            Col(f"Distance from it: {text} (£)", f"distance_pence__{c}", "money", total=True),
            Col(
                f"Distance: {text} (%)",
                f"distance__{c}",
                "pct",
                ratio_of=(f"Distance from it: {text} (£)", f"Fair share: {text} (£)"),
            ),
        ]
    return cols


def fair_shares(level: str | None = None) -> Callable[[Book, Sheet], None]:
    """Capitation beside the need-based fair share per component (the par. 69 view)."""

    def write(book: Book, sheet: Sheet) -> None:
        a = book.allocation
        grouping, within, noun, scope = _scope(book)
        if level is not None:
            grouping, within, noun = level, None, "ICB"
        table = SV.fair_share_table(a, grouping, within)
        if table is None:
            _notice(book, sheet, "Need-based fair shares", NOT_SUPPLIED)
            return
        write_table(
            book.wb,
            book.wb.add_worksheet(sheet.name),
            book.st,
            title=f"Need-based fair shares by {noun}: {scope}",
            note=f"This run's capitation ({label(a.selected_variant)}) beside its fair share of the same "
            "envelope by each NHS England need component; distance = capitation minus fair share. Pounds.",
            df=table,
            cols=fair_share_cols(noun),
            name=f"{sheet.name.replace(' ', '_')}_table",
            freeze_cols=2,
            totals=_totals(book, SV.fair_share_table),
        )

    return write


MISSING_COLS = [
    Col("Practice code", "practice_code", width=11),
    Col("Which side", "side", width=36),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("ICB code", "icb_code", width=9),
    Col("Registered patients", "registered_patients", "int", total=True),
    Col("NHS England population", "nhse_population", "number"),
]


def missing(book: Book, sheet: Sheet) -> None:
    table = SV.missing_practices(book.allocation, book.sub_icb)
    if table is None:
        _notice(book, sheet, "Practices on one side only", NOT_SUPPLIED)
        return
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Practices in this run or in NHS England's file, not both",
        note="Listed, never dropped: a run practice NHS England lacks is weighted at the national average "
        "need; a file practice the run lacks has no registered list here.",
        df=table,
        cols=MISSING_COLS,
        name="Need_missing_table",
    )


def place_cols() -> list[Col]:
    cols = [
        Col("Place type", "place_type", width=16),
        Col("Place code", "place_code", width=11),
        Col("Place name", "place_name", width=30),
        Col("ICB code", "icb_code", width=9),
        Col("Practices", "practices", "int"),
        Col("Practices not in NHS England's file", "practices_missing", "int"),
        Col("Which", "missing_practices", width=20),
        Col("Population", "population", "number"),
    ]
    cols += [Col(f"Need index: {text}", f"index__{c}", "number") for c, text in NEED_COMPONENTS]
    cols += [Col(f"3 places: {text}", f"index_3dp__{c}", "decimal") for c, text in NEED_COMPONENTS]
    return cols


def places(book: Book, sheet: Sheet) -> None:
    table = SV.place_table(book.allocation, book.sub_icb)
    if table is None:
        _notice(book, sheet, "Place-based need indices", NOT_SUPPLIED)
        return
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Place-based need indices (NHS England's ICB Place Based Allocation Tool)",
        note="Index = (place weighted population / place population) / (ICB weighted population / ICB "
        "population), rounded half up to 3 places as the tool downloads it, then to 2 places as it shows "
        "it on screen. 1.00 = the ICB's need.",
        df=table,
        cols=place_cols(),
        name="Places_table",
        freeze_cols=3,
    )


def _recycling_cols(noun: str, book: Book) -> list[Col]:
    cols = [
        *_keys(noun),
        Col("Registered patients", "registered_patients", "int", total=True),
        Col("MPIG paid (£)", "paid_mpig_pence", "money", total=True),
        Col("Seniority paid (£)", "paid_seniority_pence", "money", total=True),
    ]
    for v in SV.recycling_variants(book.allocation):
        name = label(v)
        for line, text in (("mpig_recycled", "MPIG recycled"), ("seniority_recycled", "seniority recycled")):
            cols.append(Col(f"{name}: {text} (£)", f"{line}_pence__{v}", "money", total=True))
        cols += [
            Col(f"{name}: capitation change (£)", f"capitation_change_pence__{v}", "money", total=True),
            Col(f"{name}: money moved (£)", f"moved_pence__{v}", "money", total=True),
        ]
    return cols


def recycling(book: Book, sheet: Sheet) -> None:
    a = book.allocation
    grouping, within, noun, scope = _scope(book)
    table = SV.recycling_table(a, grouping, within)
    present = set(table.columns)
    cols = [c for c in _recycling_cols(noun, book) if not isinstance(c.key, str) or c.key in present]
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"MPIG and seniority recycled into capitation: {scope}",
        note="Money moved = change in capitation against the global sum less the payments phased out "
        "(par. 48): what the organisation gains or loses when the payment stops. Pounds.",
        df=table,
        cols=cols,
        name="Recycling_table",
        freeze_cols=2,
        totals=_totals(book, SV.recycling_table),
    )


def over_75s(book: Book, sheet: Sheet) -> None:
    a = book.allocation
    grouping, within, noun, scope = _scope(book)
    table = SV.over_75s_table(a, grouping, within)
    assert table is not None  # the sheet applies only when the variant was computed
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"Funding for patients aged 75 and over: {scope}",
        note="Scenario amount per head (Parameters) x registered patients aged 75+; a sub-ICB location's "
        "total is the CCG's funding (NHS England planning guidance 2014/15). Pounds.",
        df=table,
        cols=[
            *_keys(noun),
            Col("Registered patients", "registered_patients", "int", total=True),
            Col("Patients aged 75+", "patients_75_and_over", "int", total=True),
            Col(
                "Share aged 75+",
                "share_75_and_over",
                "pct",
                ratio_of=("Patients aged 75+", "Registered patients"),
            ),
            Col("75+ funding (£)", "over_75s_pence", "money", total=True),
            Col("Per head aged 75+ (£)", "gbp_per_head_75_and_over", "gbp"),
        ],
        name="Over_75s_table",
        freeze_cols=2,
        totals=_totals(book, SV.over_75s_table),
    )


TRANSITION_SUMMARY_COLS = [
    Col("Transition", "transition_label", width=30),
    Col("Year", "year", "int"),
    Col("Code", "code", width=10),
    Col("Name", "name", width=30),
    Col("Amount (£)", "amount_pence", "money"),
    Col("Change on the year (£)", "change_pence", "money"),
    Col("Practices gaining", "gainers", "int"),
    Col("Practices losing", "losers", "int"),
    Col("Held at the floor", "at_floor", "int"),
    Col("Held at the cap", "at_cap", "int"),
]
TRANSITION_PRACTICE_COLS = [
    Col("Transition", "transition_label", width=30),
    Col("Year", "year", "int"),
    Col("Practice code", "practice_code", width=11),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("Amount (£)", "amount_pence", "money"),
    Col("Change on the year (£)", "change_pence", "money"),
    Col("Change on the year (%)", "change", "pct"),
    Col("Still to the target (£)", "to_target_pence", "money"),
    Col("Held by", "held", width=8),
]


def transition(book: Book, sheet: Sheet) -> None:
    a = book.allocation
    if book.national:
        table, cols = SV.transition_summary(a, "sub_icb"), TRANSITION_SUMMARY_COLS
        note = "Per year and sub-ICB location: the amount, its change, gainers and losers (year 0 = today)."
    else:
        table, cols = SV.transition_practices(a, book.sub_icb), TRANSITION_PRACTICE_COLS
        note = "Per year and practice: the amount, its change, how far from the target, and any bound held."
    if table is None:
        _notice(book, sheet, "Transition protection", "No transition was computed in this run.")
        return
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Transition protection: from today's formula to the target, floors and caps each year",
        note=note + " Envelope-neutral each year; floors, caps and years in Parameters. Pounds.",
        df=table,
        cols=cols,
        name="Transition_table",
        freeze_cols=3,
    )


def _has_variant(*names: str) -> Callable[[Book], bool]:
    return lambda book: any(n in book.allocation.variants for n in names)


def _has_table(name: str) -> Callable[[Book], bool]:
    return lambda book: name in book.allocation.tables


SUB_ICB_SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "Fair shares",
        "Capitation beside NHS England need-based fair shares by PCN, distance £ and %",
        fair_shares(),
    ),
    Sheet("Need missing", "Practices in this run or in NHS England's file, not both", missing),
    Sheet("Places", "Place-based need indices as NHS England's allocation tool computes them", places),
    Sheet(
        "Recycling",
        "MPIG and seniority recycled into capitation: money moved by PCN",
        recycling,
        _has_variant("seniority_recycled", "mpig_recycled", "mpig_and_seniority_recycled"),
    ),
    Sheet(
        "Patients 75+",
        "Funding per patient aged 75 and over, by PCN",
        over_75s,
        _has_variant(SV.OVER_75S_VARIANT),
    ),
    Sheet(
        "Transition", "Transition protection year by year per practice", transition, _has_table("transition")
    ),
)
NATIONAL_SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "Fair shares",
        "Capitation beside NHS England need-based fair shares by sub-ICB, distance £ and %",
        fair_shares(),
    ),
    Sheet("Fair shares ICB", "The same by integrated care board", fair_shares("icb")),
    Sheet("Need missing", "Practices in this run or in NHS England's file, not both", missing),
    Sheet("Places", "Place-based need indices as NHS England's allocation tool computes them", places),
    Sheet(
        "Recycling",
        "MPIG and seniority recycled into capitation: money moved by sub-ICB",
        recycling,
        _has_variant("seniority_recycled", "mpig_recycled", "mpig_and_seniority_recycled"),
    ),
    Sheet(
        "Patients 75+",
        "Funding per patient aged 75 and over, by sub-ICB (the CCG's funding)",
        over_75s,
        _has_variant(SV.OVER_75S_VARIANT),
    ),
    Sheet(
        "Transition",
        "Transition protection year by year: gainers and losers per sub-ICB",
        transition,
        _has_table("transition"),
    ),
)
