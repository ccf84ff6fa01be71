"""Practice statements: one printable A4 page per practice, to send to the practice.

A statements workbook has one sheet per practice of a sub-ICB location (named by practice code), each
one table on one portrait page: the practice, the publication (version, status, contact), its registered
list, every index, the normalisation factor and the weighted list, the price, the out-of-hours deduction,
the penny adjustment, the annual, quarterly and monthly amounts, QOF, and the change since the previous
quarter's publication with the place for its bridge. Amounts are live formulas of the cells above them,
as on the Practices and Payments sheets, cached with the engine's pennies (never summed here); extract
text is written as text. A Contents sheet links every statement and a Notes sheet holds the rules; the
PDF (``for_print``) is the statements alone, one practice per page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from gp_allocations import views
from gp_allocations.bridge import CHANGE, PREVIOUS, STEPS, Comparison
from gp_allocations.ledger import Allocation
from gp_allocations.plausibility import cover_text as plausibility_cover_text
from gp_allocations.variants import LINES, label

from .columns import COMPONENT_LABELS, NOTE_COLS
from .prose import RunInfo, created_datetime, plain
from .xlsx import HEADER_ROW, MISSING, Col, Styles, new_workbook, write_table, write_xlsx

NO_PREVIOUS = "Not worked out for this run: there is no change to show"
_VALUE_COLUMN = "C"  # Section, Item, Value, How it is worked out
#: widths in characters: about 110 in all, so an A4 portrait page shows the text at over 90% (9 pt)
COLS = [
    Col("Section", "section", width=12),
    Col("Item", "item", width=36),
    Col("Value", "value", "decimal", width=26, kind_from="kind"),  # longer text wraps
    Col("How it is worked out", "how", width=36),
]
_NOTES: list[tuple[str, str]] = [
    (
        "Money and rounding",
        "Amounts are in pounds and pence, computed in whole pennies. A single amount is rounded to the "
        "nearest penny, halves away from zero; the national envelope is shared between practices by the "
        "largest-remainder method, and the penny adjustment is this practice's share of the pennies left "
        "over, so every practice's amount adds up to the envelope exactly.",
    ),
    (
        "Annual, quarterly and monthly",
        "Every £ amount is annual (a full year at this quarter's registered list) unless it says quarterly "
        "or monthly. The annual payable capitation is paid a twelfth each month, the pennies left over "
        "going to the earliest months of the financial year; it is recalculated each quarter. QOF is paid "
        "on its own timetable.",
    ),
    (
        "Change since last quarter",
        "This publication's annual payable capitation against the last published version of the previous "
        "quarter, for the same formula variant.",
    ),
]


class _Rows:
    """A statement's rows, in order; each remembers its key so later formulas can refer to its cell."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.cells: dict[str, str] = {}
        self.section = ""

    def add(self, item: str, value: object, kind: str = "text", how: str = "", key: str = "") -> None:
        if kind == "text" and isinstance(value, str):
            value = plain(value)
        self.rows.append(
            {"section": self.section, "item": item, "value": value, "kind": kind, "how": how, "formula": None}
        )
        if key:
            self.cells[key] = f"${_VALUE_COLUMN}${HEADER_ROW + len(self.rows) + 1}"

    def formula(self, key: str, item: str, kind: str, formula: str, cached: object, how: str = "") -> None:
        self.add(item, cached, kind, how, key)
        self.rows[-1]["formula"] = formula.format(**self.cells)


@dataclass(frozen=True)
class _Book:
    """What every statement of one book shares."""

    allocation: Allocation
    run: RunInfo
    trace: views.Trace
    price: float
    out_of_hours: float
    #: the bridge against the previous quarter's last publication (None: not worked out for this run)
    previous: Comparison | None
    #: its practice rows by code: previous, current, change and each step in pennies
    bridges: Mapping[str, Mapping[str, Any]]


def _spreadsheet_pence(pounds_times_100: float) -> int:
    return int(views.round_like_a_spreadsheet(np.array([pounds_times_100]))[0])


def _who(r: _Rows, b: _Book, row: Mapping[str, Any]) -> None:
    run = b.run
    r.section = "Practice"
    r.add("Practice code", row["practice_code"])
    r.add("Practice name", row["practice_name"])
    r.add("Primary care network", f"{row['pcn_name']} ({row['pcn_code']})")
    r.add("Sub-ICB location", f"{row['sub_icb_name']} ({row['sub_icb_code']})")
    r.add("Integrated care board", f"{row['icb_name']} ({row['icb_code']})")
    r.add("Contract type", row["contract_type"])
    r.section = "Publication"
    r.add("Period", run.period_label)
    r.add(
        "Version", f"Publication {run.version}" if run.version is not None else f"{MISSING} (not published)"
    )
    r.add("Status", "DRAFT: do not pay from it" if run.status == "draft" else "Final")
    if run.sign_off:  # runs that needed sign-off: who approved it, when, and why (as on the Cover)
        r.add("Sign-off", run.sign_off)
    override = plausibility_cover_text(run.overrides)  # published over breached gates: never silent
    if override:
        r.add("Plausibility override", override)
    r.add("Publication date", run.publication_date or MISSING)
    r.add("Published by", run.organisation)
    r.add("Contact for questions", run.contact or MISSING)
    r.add("Formula variant", label(b.allocation.selected_variant))


def _weighted_list(r: _Rows, b: _Book, row: Mapping[str, Any], v: str) -> None:
    r.section = "List"
    r.add("Registered patients", row["registered_patients"], "int", "At the start of the quarter", "list")
    for name, text in COMPONENT_LABELS.items():
        r.add(text, row[f"index_{name}"], "index", "1.0000 = national average", f"index_{name}")
    t = b.trace
    weighted = float(row[f"weighted_list__{v}"])
    if t.components and t.factor is not None:
        factor = float(views.as_stored([t.factor])[0])
        r.add(
            "Normalisation factor",
            factor,
            "factor",
            "Makes England's weighted list its registered list",
            "factor",
        )
        product = "*".join(f"{{index_{c}}}" for c in t.components)
        r.formula(
            "weighted",
            "Weighted list",
            "number",
            f"={{list}}*{product}*{{factor}}",
            weighted,
            "Registered patients x each index used x the normalisation factor",
        )
    else:
        r.add("Weighted list", weighted, "number", "The formula variant's own weighting", "weighted")


def _capitation(r: _Rows, b: _Book, row: Mapping[str, Any], v: str) -> None:
    """Price, deduction, other lines, penny adjustment and the annual payable amount, each a formula of
    the cells above; each line is the change in the rounded running amount, so they add up exactly."""
    r.section = "Capitation"
    r.add("Price per weighted patient (£, annual)", b.price, "rate", "The year's global sum price", "price")
    r.add(
        "Out-of-hours deduction", b.out_of_hours, "pct", "Share of the price, for practices opted out", "ooh"
    )
    wl = float(row[f"weighted_list__{v}"])
    gross = _spreadsheet_pence(wl * b.price * 100)
    r.formula(
        "gross",
        "Capitation before deductions (£, annual)",
        "money",
        "=ROUND({weighted}*{price}*100,0)/100",
        gross,
        "Weighted list x price",
    )
    expr = "{weighted}*{price}*(1-{ooh})"
    running = wl * b.price * (1 - b.out_of_hours)
    before = _spreadsheet_pence(running * 100)
    r.formula(
        "deduction",
        "Out-of-hours deduction (£, annual)",
        "money",
        f"=ROUND({expr}*100,0)/100-{{gross}}",
        before - gross,
        "Weighted list x price x deduction",
    )
    shown = ["{gross}", "{deduction}"]
    for i, (line, exact) in enumerate(b.trace.extra):
        rate = float(views.as_stored([exact])[0])
        name = plain(line)
        r.add(f"{name} per weighted patient (£, annual)", rate, "rate", "", f"rate_{i}")
        running += wl * rate
        expr = f"{expr}+{{weighted}}*{{rate_{i}}}"
        now = _spreadsheet_pence(running * 100)
        r.formula(
            f"line_{i}",
            f"{name} (£, annual)",
            "money",
            f"=ROUND(({expr})*100,0)/100-({'+'.join(shown)})",
            now - before,
            "Weighted list x rate",
        )
        shown.append(f"{{line_{i}}}")
        before = now
    for i, (line, exact, fact) in enumerate(b.trace.per_head):
        rate, heads = float(views.as_stored([exact])[0]), int(row[fact])
        label_of = LINES[line].per_label
        r.add(label_of, heads, "int", "Registered patients counted for this line", f"heads_{i}")
        r.add(f"{plain(line)} per head (£, annual)", rate, "rate", "", f"per_head_{i}")
        running += heads * rate
        expr = f"{expr}+{{heads_{i}}}*{{per_head_{i}}}"
        now = _spreadsheet_pence(running * 100)
        r.formula(
            f"per_head_line_{i}",
            f"{plain(line)} (£, annual)",
            "money",
            f"=ROUND(({expr})*100,0)/100-({'+'.join(shown)})",
            now - before,
            f"{label_of} x rate",
        )
        shown.append(f"{{per_head_line_{i}}}")
        before = now
    _payable(r, int(row[f"capitation_pence__{v}"]), expr, before)


def _payable(r: _Rows, payable: int, expr: str, before: int) -> None:
    """The penny adjustment (payable less the rounded running amount ``before``) and the payable amount."""
    r.add(
        "Penny adjustment (pence)",
        payable - before,
        "int",
        "This practice's share of the envelope's spare pennies",
        "adjustment",
    )
    r.formula(
        "annual",
        "Capitation payable (£, annual)",
        "money",
        f"=(ROUND(({expr})*100,0)+{{adjustment}})/100",
        payable,
        "The lines above plus the penny adjustment",
    )


def _payments(r: _Rows, b: _Book, row: Mapping[str, Any], v: str) -> None:
    period = b.allocation.period
    r.section = "Payments"
    pence = "ROUND({annual}*100,0)"
    months = []
    names, numbers = views.month_names(period), views.months_of_year(period)
    for i, (name, m) in enumerate(zip(names, numbers, strict=True), start=1):
        months.append(f"{{month_{i}}}")
        r.formula(
            f"month_{i}",
            f"{name} (£, monthly)",
            "money",
            f"=SIGN({pence})*(INT(ABS({pence})/12)+IF({m}<=MOD(ABS({pence}),12),1,0))/100",
            row[f"month_{i}_pence__{v}"],
            "A twelfth of the annual amount (note 2)",
        )
    r.formula(
        "quarter",
        f"{b.run.period_label} payable (£, quarterly)",
        "money",
        "=" + "+".join(months),
        row[f"quarter_pence__{v}"],
        "The three months",
    )


def _qof(r: _Rows, row: Mapping[str, Any], v: str) -> None:
    r.section = "QOF"
    r.add("QOF points", row["qof_points"], "number")
    r.add("QOF method", row["qof_path"])
    r.add("QOF (£, annual)", row["qof_pence"], "money", "Paid on its own timetable", "qof")
    r.formula("total", "Capitation and QOF (£, annual)", "money", "={annual}+{qof}", row[f"total_pence__{v}"])


def _change(r: _Rows, b: _Book, row: Mapping[str, Any]) -> None:
    """The change since the previous quarter's last publication and its bridge (``bridge.STEPS``, whole
    pennies adding up to the change exactly), or why there is none."""
    r.section = "Change"
    c = b.previous
    if c is None or not c.available:
        r.add("Previous publication", MISSING, how=c.reason or NO_PREVIOUS if c else NO_PREVIOUS)
        return
    line = b.bridges.get(str(row["practice_code"]), {})
    r.add("Previous publication", f"{c.period_label} (run {c.run_id})")
    if c.variant_change is not None:  # the bridge holds the switch: say so where the practice reads it
        r.add("Formula variant then", label(c.variant_change[0]), how="Changed since: in the bridge below")
    before = int(line.get(PREVIOUS, 0))
    how = "" if before or not line else "The practice was not in that publication"
    r.add("Capitation payable then (£, annual)", before, "money", how, "before")
    r.formula(
        "change",
        "Change (£, annual)",
        "money",
        "={annual}-{before}",
        int(line.get(CHANGE, 0)),
        "Now minus then",
    )
    r.formula(
        "change_pct",
        "Change (%)",
        "pct",
        "=IF({before}=0,0,{change}/{before})",
        int(line.get(CHANGE, 0)) / before if before else 0.0,
    )
    for step in STEPS:
        r.add(
            f"Bridge: {step.label} (£, annual)",
            int(line.get(step.name, 0)),
            "money",
            step.description.capitalize(),
        )


def statement_rows(b: _Book, row: Mapping[str, Any]) -> pd.DataFrame:
    """One practice's statement: section, item, value, kind, how, formula (or None)."""
    v = b.allocation.selected_variant
    r = _Rows()
    _who(r, b, row)
    _weighted_list(r, b, row, v)
    _capitation(r, b, row, v)
    _payments(r, b, row, v)
    _qof(r, row, v)
    _change(r, b, row)
    return pd.DataFrame(r.rows)


def _statement(wb: xlsxwriter.Workbook, st: Styles, b: _Book, row: Mapping[str, Any]) -> None:
    code = str(row["practice_code"])
    ws: Worksheet = wb.add_worksheet(code)
    df = statement_rows(b, row)
    write_table(
        wb,
        ws,
        st,
        title=f"Practice statement {b.run.period_label}: {row['practice_name']} ({code})",
        note="GP capitation and QOF of one practice. Money in pounds and pence; each amount says whether it "
        "is annual, quarterly or monthly.",
        df=df,
        cols=COLS,
        name=f"Statement_{re.sub(r'[^A-Za-z0-9]', '_', code)}_table",
        fitted=True,  # one A4 page, below
    )
    for i, formula in enumerate(df["formula"]):
        if isinstance(formula, str):
            kind = str(df["kind"].iloc[i])
            value = df["value"].iloc[i]
            cached = int(value) / 100 if kind == "money" else float(value)
            ws.write_formula(HEADER_ROW + 1 + i, 2, formula, st.kinds[kind], cached)
    ws.set_column(2, 2, COLS[2].width)
    # A4 portrait, the whole statement on one page
    ws.set_portrait()
    ws.fit_to_pages(1, 1)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
    footer = f"{b.run.organisation}: practice statement {b.run.period_label}".replace("&", "&&")[:120]
    ws.set_footer(f"&L{footer}&R{code}: page &P of &N")


def _contents(wb: xlsxwriter.Workbook, st: Styles, table: pd.DataFrame) -> None:
    ws = wb.add_worksheet("Contents")
    write_table(
        wb,
        ws,
        st,
        title="Contents",
        note="One sheet per practice, named by its code; select a code to go to its statement.",
        df=pd.concat(
            [
                table,
                pd.DataFrame(
                    {"practice_code": ["Notes"], "practice_name": ["Notes: the rules behind every statement"]}
                ),
            ],
            ignore_index=True,
        ),
        cols=[Col("Sheet", "practice_code", width=12), Col("Practice", "practice_name", width=50)],
        name="Contents_table",
        protected=False,
    )
    for i, code in enumerate([*table["practice_code"], "Notes"]):
        ws.write_url(HEADER_ROW + 1 + i, 0, f"internal:'{code}'!A1", st.link, string=str(code))


def _notes(wb: xlsxwriter.Workbook, st: Styles) -> None:
    frame = pd.DataFrame(
        {
            "reference": [f"note {i}" for i in range(1, len(_NOTES) + 1)],
            "topic": [t for t, _ in _NOTES],
            "note": [n for _, n in _NOTES],
            "qualifies": [("every practice sheet",)] * len(_NOTES),
        }
    )
    write_table(
        wb,
        wb.add_worksheet("Notes"),
        st,
        title="Notes",
        note="The rules behind every statement.",
        df=frame,
        cols=NOTE_COLS,
        name="Notes_table",
        protected=False,
    )


def write_statements_workbook(
    allocation: Allocation,
    sub_icb_code: str,
    path: Path,
    *,
    run: RunInfo,
    for_print: bool = False,
) -> int:
    """Write the practice statements of one sub-ICB location (a sheet, one A4 page, per practice) with a
    Contents and a Notes sheet (``for_print``: the statements alone, for the PDF); return how many."""
    table = views.traced_practice_table(allocation, sub_icb_code)
    v = allocation.selected_variant
    price, ooh = (float(x) for x in views.as_stored(views.prices(allocation)))
    previous = next((c for c in run.comparisons if c.kind == "previous_quarter"), None)
    bridges: dict[str, dict[str, Any]] = {}
    if previous is not None and previous.available:
        practices = previous.table("practice", sub_icb_code)
        bridges = {
            str(x["code"]): {str(k): val for k, val in x.items()} for x in practices.to_dict("records")
        }
    book = _Book(allocation, run, views.traces(allocation)[v], price, ooh, previous, bridges)
    name = str(table["sub_icb_name"].iloc[0])

    def build(target: io.BytesIO) -> None:
        wb = new_workbook(
            target,
            title=f"Practice statements {run.period_label}: {name} ({sub_icb_code})",
            subject=f"GP practice statements {run.period_label}, sub-ICB location {sub_icb_code}",
            comments=f"Parameter set {allocation.parameter_set}",
            created=created_datetime(allocation.period),
        )
        footer = f"{run.organisation}: practice statements {run.period_label}"
        st = Styles(wb, footer=footer)
        codes = [str(c) for c in table["practice_code"]]
        st.note_refs = {code: tuple(range(1, len(_NOTES) + 1)) for code in codes}
        if not for_print:
            _contents(wb, st, table[["practice_code", "practice_name"]])
        for row in table.to_dict("records"):
            _statement(wb, st, book, {str(k): val for k, val in row.items()})
        if not for_print:
            _notes(wb, st)
        wb.close()

    write_xlsx(Path(path), build)
    return len(table)
