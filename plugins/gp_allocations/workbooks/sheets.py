"""Sheet definitions: a name, the one-line entry on the Contents sheet, when it applies, and a writer.

Writers lay out views of the ledger (``gp_allocations.views``) with declared columns (``columns``); they
do no arithmetic. A total row's stored values are the aggregates of the book's scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from gp_allocations import views
from gp_allocations.ledger import Allocation
from gp_allocations.periods import Period
from gp_allocations.variants import DEFAULT_VARIANT, label

from . import columns as C
from .prose import WARNING_COLUMNS, RunInfo, notes, plain, quarantine_text
from .xlsx import HEADER_ROW, MISSING, ROW, Col, Styles, bar_chart, insert_chart, wrapped_lines, write_table


@dataclass
class Book:
    """One workbook being written: its scope (a sub-ICB code, or None for England) and shared views."""

    wb: xlsxwriter.Workbook
    st: Styles
    allocation: Allocation
    run: RunInfo
    sub_icb: str | None
    practices: pd.DataFrame = field(init=False)
    scope_totals: dict[str, Any] = field(init=False)
    traces: dict[str, views.Trace] = field(init=False)
    #: the numbered notes (Notes sheet) and the sheets each qualifies
    notes: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.notes = notes(self.allocation, self.run, self.sub_icb)
        self.practices = views.traced_practice_table(self.allocation, self.sub_icb)
        self.traces = views.traces(self.allocation)
        grouping, code = ("sub_icb", self.sub_icb) if self.sub_icb else ("england", None)
        table = views.summary_table(self.allocation, grouping, facts=_ADDITIVE_FACTS)
        row = table[table["code"] == code] if code else table
        self.scope_totals = {str(k): v for k, v in row.iloc[0].to_dict().items()}
        paid = self.practices.get("difference_from_paid_pence")
        if paid is not None:
            self.scope_totals["difference_from_paid_pence"] = (
                self.scope_totals[f"capitation_pence__{DEFAULT_VARIANT}"]
                - self.scope_totals["paid_global_sum_pence"]
            )

    @property
    def national(self) -> bool:
        return self.sub_icb is None

    @property
    def variants(self) -> list[str]:
        return self.allocation.variants

    def practice_cols(self) -> list[Col]:
        return C.practice_cols(self.variants, national=self.national, paid=self.has_paid, traces=self.traces)

    @property
    def has_paid(self) -> bool:
        return "paid_global_sum_pence" in self.allocation.practices.columns


_ADDITIVE_FACTS = (
    "qof_points",
    "paid_registered_patients",
    "paid_weighted_patients",
    "paid_global_sum_pence",
    "paid_mpig_pence",
    "paid_qof_pence",
)


@dataclass(frozen=True)
class Sheet:
    name: str
    contents: str
    write: Callable[[Book, Sheet], None]
    applies: Callable[[Book], bool] = lambda _book: True


def _others(book: Book) -> list[str]:
    return [v for v in book.variants if v != DEFAULT_VARIANT]


# ---------------------------------------------------------------------------------------------------
# writers


def summary(book: Book, sheet: Sheet) -> None:
    """Totals by PCN (sub-ICB book) or region (England), with a chart of the change against the global sum."""
    ws = book.wb.add_worksheet(sheet.name)
    if book.national:
        table = views.summary_table(book.allocation, "region")
        keys = [Col("Region code", "code", width=12), Col("Region name", "name", width=28)]
        title, note = "Summary by NHS England region", "Totals by region for each formula variant."
    else:
        table = views.summary_table(book.allocation, "sub_icb_pcn", book.sub_icb)
        keys = [Col("PCN code", "code", width=12), Col("PCN name", "name", width=28)]
        name = book.scope_totals["name"]
        title, note = f"Summary by primary care network: {name}", "Totals by PCN for each formula variant."
    cols = C.summary_cols(keys, book.variants)
    w = write_table(
        book.wb,
        ws,
        book.st,
        title=title,
        note=note + " Money in pounds; change is against the global sum.",
        df=table,
        cols=cols,
        name="Summary_table",
        freeze_cols=2,
        totals=book.scope_totals,
    )
    others = _others(book)
    if not others or not len(table):
        return
    if book.national:
        series = [(w.col_index[C.change_header(v)], f"{label(v)} minus global sum") for v in others]
        chart = bar_chart(
            book.wb,
            title="Change in capitation by region against the global sum",
            sheet=sheet.name,
            cat_col=1,
            val_cols=series,
            first=w.first_data_row,
            last=w.last_data_row,
            y_title="£ change, annual amounts",
        )
    else:
        headers = [c.header for c in book.practice_cols()]
        series = [(headers.index(C.change_header(v)), f"{label(v)} minus global sum") for v in others]
        first = HEADER_ROW + 1
        chart = bar_chart(
            book.wb,
            title="Change in capitation by practice against the global sum",
            sheet="Practices",
            cat_col=0,
            val_cols=series,
            first=first,
            last=first + len(book.practices) - 1,
            y_title="£ change, annual amounts",
        )
        chart.set_x_axis({"name": "Practice code", "num_font": {"rotation": -45}, "label_position": "low"})
    by = "NHS England region" if book.national else "practice"
    where = "the table above" if book.national else "the Practices sheet's change columns"
    insert_chart(
        ws,
        chart,
        alt_text=f"Column chart of the change in annual capitation against the global sum by {by}, one "
        f"series per formula variant ({', '.join(label(v) for v in others)}). The figures are in {where}.",
    )


def levels(level: str, noun: str) -> Callable[[Book, Sheet], None]:
    def write(book: Book, sheet: Sheet) -> None:
        ws = book.wb.add_worksheet(sheet.name)
        facts = tuple(c.key for c in C.LEVEL_KEYS[level][2:] if isinstance(c.key, str))
        table = views.summary_table(book.allocation, level, facts=facts)
        write_table(
            book.wb,
            ws,
            book.st,
            title=f"{sheet.name}: allocations by {noun}",
            note="Exact sums of the practices in each organisation. Money in pounds.",
            df=table,
            cols=C.summary_cols(C.LEVEL_KEYS[level], book.variants),
            name=f"{sheet.name.replace('-', '_')}_table",
            freeze_cols=1,
            totals=book.scope_totals,
        )

    return write


def icb_view(book: Book, sheet: Sheet) -> None:
    """The sub-ICB location beside its sister sub-ICB locations, totalled to their ICB."""
    a = book.allocation
    icb = str(a.practices.loc[a.practices["sub_icb_code"] == book.sub_icb, "icb_code"].iloc[0])
    table = views.summary_table(a, "sub_icb", facts=("icb_code",))
    table = table[table["icb_code"].astype(str) == icb].reset_index(drop=True)
    icb_row = views.summary_table(a, "icb")
    icb_row = icb_row[icb_row["code"].astype(str) == icb]
    totals = {str(k): v for k, v in icb_row.iloc[0].to_dict().items()}
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"ICB: {totals['name']} ({icb})",
        note=f"Every sub-ICB location of the ICB, this one ({book.sub_icb}) among them; the total row is "
        "the ICB's. Money in pounds, annual; change is against the global sum.",
        df=table,
        cols=C.summary_cols(C.LEVEL_KEYS["sub_icb"][:2], book.variants),
        name="ICB_table",
        freeze_cols=2,
        total_label=f"Total: {icb}",
        totals=totals,
    )


def contract_types(book: Book, sheet: Sheet) -> None:
    ws = book.wb.add_worksheet(sheet.name)
    grouping = "contract_type" if book.national else "sub_icb_contract_type"
    table = views.summary_table(book.allocation, grouping, book.sub_icb)
    write_table(
        book.wb,
        ws,
        book.st,
        title="Totals by contract type",
        note="Money in pounds; change is against the global sum.",
        df=table,
        cols=C.summary_cols([Col("Contract type", "code", width=12)], book.variants),
        name="Contract_types_table",
        freeze_cols=1,
        totals=book.scope_totals,
    )


def quintiles(book: Book, sheet: Sheet) -> None:
    ws = book.wb.add_worksheet(sheet.name)
    table = views.quintile_table(book.allocation, book.sub_icb)
    cols = C.quintile_cols(book.variants, paid=book.national and book.has_paid)
    scope = "England" if book.national else book.scope_totals["name"]
    totals = {**book.scope_totals}
    w = write_table(
        book.wb,
        ws,
        book.st,
        title=f"Capitation per patient by deprivation quintile: {scope}",
        note="Each variant's capitation across fifths of patients by deprivation (1 = most deprived). "
        f"{MISSING} = no practice in that quintile.",
        df=table,
        cols=cols,
        name="Equity_table" if book.national else "Deprivation_table",
        freeze_cols=1,
        totals=totals,
    )
    per_reg = [
        (w.col_index[c.header], label(str(c.key).split("__")[1]))
        for c in cols
        if str(c.key).startswith("gbp_per_registered__")
    ]
    chart = bar_chart(
        book.wb,
        title="Capitation per registered patient by deprivation quintile",
        sheet=sheet.name,
        cat_col=0,
        val_cols=per_reg,
        first=w.first_data_row,
        last=w.first_data_row + 4,
        y_title="£ per registered patient, annual",
        from_zero=True,
    )
    chart.set_x_axis({"name": C.QUINTILE_HEADER})
    insert_chart(
        ws,
        chart,
        alt_text="Column chart of annual capitation per registered patient by deprivation quintile (1 = most "
        f"deprived), one series per formula variant ({', '.join(name for _, name in per_reg)}). The figures "
        "are in the table above.",
    )


def practices(book: Book, sheet: Sheet) -> None:
    ws = book.wb.add_worksheet(sheet.name)
    # the code in the title, the name in the note: the title's ten note markers then fit the first page
    scope = "England" if book.national else str(book.sub_icb)
    rows = "One row per practice" if book.national else f"{book.scope_totals['name']}: one row per practice"
    write_table(
        book.wb,
        ws,
        book.st,
        title=f"Practices: {scope}",
        note=f"{rows}. Money in pounds; indices against the national average (1.0). "
        f"{MISSING} = not available.",
        df=book.practices,
        cols=book.practice_cols(),
        name="Practices_table",
        freeze_cols=2,
        totals=book.scope_totals,
    )


def payments(book: Book, sheet: Sheet) -> None:
    """The quarter's payable capitation and its month-by-month schedule, for the selected variant."""
    a = book.allocation
    v = a.selected_variant
    period = Period.parse(a.period)
    months = views.month_names(a.period)
    if book.national:
        df = views.summary_table(a, "sub_icb", facts=("icb_code",))
        keys = [
            Col("Sub-ICB code", "code", width=10),
            Col("Sub-ICB name", "name", width=40),
            Col("ICB code", "icb_code", width=10),
        ]
        annual_ref = None
        rows = "sub-ICB location (its practices' months added up)"
    else:
        df = book.practices
        keys = [
            Col("Practice code", "practice_code", width=10),
            Col("Practice name", "practice_name", width=30),
            Col("PCN code", "pcn_code", width=10),
        ]
        headers = [c.header for c in book.practice_cols()]
        letter = xl_col_to_name(headers.index(C.capitation_header(v)))
        annual_ref = f"='Practices'!{letter}{ROW}"
        rows = "practice"
    cols = [*keys, *C.schedule_cols(v, months, views.months_of_year(a.period), period.label, annual_ref)]
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title=f"Payment schedule {period.label}: {label(v)}",
        note=f"One row per {rows}: the quarter's months and the quarter, in pounds; a twelfth of the "
        "annual amount a month.",
        df=df,
        cols=cols,
        name="Payments_table",
        freeze_cols=2,
        totals=book.scope_totals,
    )


def parameters(book: Book, sheet: Sheet) -> None:
    """Every value used, as numbers; the price, the out-of-hours deduction, each variant's normalisation
    factor and recycled-line rates get defined names that the Practices sheet's formulas use."""
    a = book.allocation
    df = views.parameter_table(a)
    ws = book.wb.add_worksheet(sheet.name)
    w = write_table(
        book.wb,
        ws,
        book.st,
        title=f"Parameters: {a.parameter_set_title}",
        note=f"{Period.parse(a.period).financial_year} values: every value used by the formula, with its "
        "source.",
        df=df,
        cols=C.PARAMETER_COLS,
        name="Parameters_table",
    )
    value_col = w.col_index["Value"]
    for i, name in enumerate(df["name"]):
        if isinstance(name, str) and name:
            cell = xl_rowcol_to_cell(w.first_data_row + i, value_col, row_abs=True, col_abs=True)
            book.wb.define_name(name, f"='{sheet.name}'!{cell}")


def components(book: Book, sheet: Sheet) -> None:
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Carr-Hill components: applied or neutral",
        note="A neutral component has index 1.0 for every practice; the reason says why.",
        df=book.allocation.components,
        cols=C.COMPONENT_COLS,
        name="Components_table",
    )


def data_quality(book: Book, sheet: Sheet) -> None:
    run = book.run
    df = run.warnings.copy()
    for c in WARNING_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df = df[WARNING_COLUMNS].sort_values(["extract", "rule", "column"], kind="stable")
    kept = quarantine_text(views.quarantine(book.allocation, run.quarantined_rows, book.sub_icb))
    note = f"Validation {run.validation_status}. {kept} " + (
        "No warnings." if df.empty else "Warnings below did not stop the run."
    )
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Data quality: validation warnings",
        note=note,
        df=df,
        cols=C.WARNING_COLS,
        name="Data_quality_table",
    )


def reconciliation(book: Book, sheet: Sheet) -> None:
    df = book.allocation.checks
    failed = int((~df["passed"].astype(bool)).sum())
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Reconciliation checks",
        note=f"{len(df)} checks, {failed} failed (a failed check stops the run: nothing is published). "
        "Amounts in pennies as computed by the engine.",
        df=df,
        cols=C.CHECK_COLS,
        name="Reconciliation_table",
    )


def paid_vs_recomputed(book: Book, sheet: Sheet) -> None:
    """Paid beside recomputed: the book's sub-ICB location, or every sub-ICB location with England as the
    totals row (one table; the paid practices without a list in this run are on their own sheet)."""
    df = views.paid_reconciliation(book.allocation, book.sub_icb)
    if df is None:  # the sheet applies only when a contracts extract was given
        raise ValueError("no contracts extract: no paid reconciliation")
    england = df[df["level"] == "england"]
    totals = {str(k): v for k, v in england.iloc[0].to_dict().items()} if len(england) else None
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Paid (contracts extract) against this run's recomputation",
        note="Money in pounds. Differences are recomputed minus paid. Recomputed capitation is the global "
        "sum variant at this run's registered lists and parameters; the paid figures are the published "
        "year's."
        + (
            " The total row is England's; paid practices this run has no list for are on the next sheet."
            if totals
            else ""
        ),
        df=df[df["level"] == "sub_icb"].reset_index(drop=True),
        cols=C.paid_reconciliation_cols(totals=totals is not None),
        name="Paid_reconciliation_table",
        freeze_cols=2,
        total_label="England",
        totals=totals,
    )


def paid_not_in_run(book: Book, sheet: Sheet) -> None:
    """What the contracts extract paid practices this run has no registered list for (so England's
    published total is accounted for in full)."""
    write_table(
        book.wb,
        book.wb.add_worksheet(sheet.name),
        book.st,
        title="Paid practices without a registered list in this run",
        note="Closed, merged or missing from the registrations extract: paid in the published year, not "
        "recomputed here. With the England row of Paid vs recomputed they make up everything paid.",
        df=book.allocation.tables["paid_not_in_run"].reset_index(drop=True),
        cols=C.PAID_NOT_IN_RUN_COLS,
        name="Paid_not_in_run_table",
    )


def _table_writer(
    table: str, cols: list[Col], title: str, note: str, by_sub_icb: bool = False
) -> Callable[[Book, Sheet], None]:
    def write(book: Book, sheet: Sheet) -> None:
        df = book.allocation.tables[table]
        if by_sub_icb and book.sub_icb is not None:
            df = df[df["sub_icb_code"].astype(str) == book.sub_icb]
        write_table(
            book.wb,
            book.wb.add_worksheet(sheet.name),
            book.st,
            title=title,
            note=note.format(rows=len(df)),
            df=df.reset_index(drop=True),
            cols=cols,
            name=f"{sheet.name.replace(' ', '_')}_table",
        )

    return write


def payments_equity(book: Book, sheet: Sheet) -> None:
    equity = book.allocation.tables["payments_equity"]
    ws = book.wb.add_worksheet(sheet.name)
    gap = equity[equity["deprivation_quintile"].astype(str) == "gap_q1_minus_q5"]
    gap_text = (
        f" Most minus least deprived fifth: £{float(gap['payments_gbp_per_weighted'].iloc[0]):,.2f} "
        "payments per "
        "weighted patient."
        if len(gap)
        else ""
    )
    w = write_table(
        book.wb,
        ws,
        book.st,
        title="Payments equity: published payments per patient by practice deprivation quintile",
        note="From the contracts (payments) extract and practice deprivation scores. Quintiles of registered "
        "population, 1 = most deprived fifth. Per-patient figures in pounds." + gap_text,
        df=equity.reset_index(drop=True),
        cols=C.PAYMENTS_EQUITY_COLS,
        name="Payments_equity_table",
        freeze_cols=1,
    )
    n = int(equity["deprivation_quintile"].astype(str).str.fullmatch(r"[1-5]").sum())
    if n:
        keys = [c.key for c in C.PAYMENTS_EQUITY_COLS]
        series = [
            (keys.index(k), C.PAYMENTS_EQUITY_COLS[keys.index(k)].header)
            for k in ("payments_gbp_per_weighted", "global_sum_gbp_per_weighted")
        ]
        chart = bar_chart(
            book.wb,
            title="Payments per weighted patient by deprivation quintile",
            sheet=sheet.name,
            cat_col=0,
            val_cols=series,
            first=w.first_data_row,
            last=w.first_data_row + n - 1,
            y_title="£ per weighted patient, annual",
            from_zero=True,
        )
        chart.set_x_axis({"name": C.QUINTILE_HEADER})
        insert_chart(
            ws,
            chart,
            alt_text="Column chart of published payments and of the Global Sum paid per weighted patient by "
            "deprivation quintile (1 = most deprived). The figures are in the table above.",
        )


def notes_sheet(book: Book, sheet: Sheet) -> None:
    ws = book.wb.add_worksheet(sheet.name)
    df = book.notes
    write_table(
        book.wb,
        ws,
        book.st,
        title="Notes: definitions, method and input files",
        note="Read with the Cover sheet. Input files are identified by their SHA-256 checksum.",
        df=df,
        cols=C.NOTE_COLS,
        name="Notes_table",
        protected=False,
    )
    # long notes wrap: give each row the height it needs (no reader fits row heights to wrapped text)
    text_col = [c.header for c in C.NOTE_COLS].index("Text")
    text_width, tables_width = (float(c.width or 0) for c in C.NOTE_COLS[text_col:])
    for i, (text, tables) in enumerate(zip(df["note"], df["qualifies"], strict=True)):
        shown = plain(text)
        ws.write_string(HEADER_ROW + 1 + i, text_col, shown, book.st.wrap)
        lines = max(wrapped_lines(shown, text_width), wrapped_lines(", ".join(tables), tables_width))
        ws.set_row(HEADER_ROW + 1 + i, 13 * lines)


def has_table(name: str, *, national_only: bool = False) -> Callable[[Book], bool]:
    return lambda book: name in book.allocation.tables and (book.national or not national_only)


PRACTICE_CHANGES = _table_writer(
    "practice_changes",
    C.PRACTICE_CHANGE_COLS,
    "Practice changes: practices the extracts disagree about",
    "{rows} rows. Practices missing from an extract, possible mergers (same postcode), moves between sub-ICB "
    "locations and practices closed in ODS. None is dropped silently.",
    by_sub_icb=True,
)
IMPLIED_PRICE = _table_writer(
    "implied_price",
    C.IMPLIED_PRICE_COLS,
    "Implied price per weighted patient: Global Sum paid / weighted patients (GMS practices)",
    "From the contracts (payments) extract. Compare the median with the year's price less the out-of-hours "
    "deduction; practices without a Global Sum or weighted list are counted only.",
)
IMPLIED_PRICE_BY_YEAR = _table_writer(
    "implied_price_by_year",
    C.IMPLIED_PRICE_BY_YEAR_COLS,
    "Implied price per weighted patient in every loaded payments year, beside the parameter file's price",
    "GMS practices with a positive Global Sum and weighted list: total Global Sum / total weighted patients "
    "(and the median practice), against the year's parameter price less the out-of-hours deduction. "
    "'yes' where they disagree by more than 1%: the parameter value, or the year's payments (mid-year "
    "price changes, MPIG and seniority reinvested in the Global Sum), needs a look. {rows} years.",
)
PAYMENTS_EQUITY_BY_YEAR = _table_writer(
    "payments_equity_by_year",
    C.PAYMENTS_EQUITY_BY_YEAR_COLS,
    "Payments per weighted patient by practice deprivation quintile, every loaded payments year",
    "Quintiles of registered population, 1 = most deprived fifth, by the latest IMD edition published by "
    "the year's end; all practices, then GMS practices alone. Most of the all-practice gap in Global Sum "
    "is contract mix: PMS practices are paid mainly through the PMS balance, not the Global Sum, and more "
    "of them serve deprived areas; among GMS practices the Global Sum per weighted patient is nearly flat "
    "(the formula pays by weighted patient). {rows} rows.",
)
IMPLIED_PRICE_OUTLIERS = _table_writer(
    "implied_price_outliers",
    C.IMPLIED_PRICE_OUTLIER_COLS,
    "GMS practices whose implied price is more than 10% from the median",
    "Often practices that opened, closed or merged during the year (part-year payments).",
)
