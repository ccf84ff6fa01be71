"""What the workbooks say in words: the run's facts on the Cover, and the Notes (definitions, method)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gp_allocations import __version__, views
from gp_allocations.bridge import Comparison, decomposition_order
from gp_allocations.ledger import Allocation
from gp_allocations.periods import Period
from gp_allocations.plausibility import cover_text as plausibility_cover_text
from gp_allocations.variants import LINES, PAID_WORDS, REGISTRY, label

from .xlsx import MISSING

WARNING_COLUMNS = ["rule", "extract", "column", "severity", "failing_rows", "message"]
INPUT_FIELDS = {
    "file": "file",
    "sha256": "SHA-256",
    "bytes": "bytes",
    "source": "source",
    "fetched_at": "fetched at",
}


def _input_value(key: str, value: object) -> str:
    """An input file's detail; a source that is a path on the server reads as 'a file given to the run'
    (a reader cannot open it, and paths expose the deployment)."""
    if value is None or value == "":
        return MISSING
    text = str(value)
    if key == "source" and not re.match(r"https?://", text):
        return "a file given to the run (not a public address)"
    if key == "bytes" and text.isdigit():
        return f"{int(text):,}"
    return text


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
    inputs: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None
    #: the publisher (configuration) and the publication: its number for the period, day and status
    organisation: str = "NHS primary care commissioning"
    contact: str | None = None
    version: int | None = None
    publication_date: str | None = None
    status: str = "final"  # "draft" | "final"
    #: the approver's decision ("Approved by ... on ... UTC: comment"), on runs that needed sign-off
    sign_off: str | None = None
    #: extract -> the period it is for, where that was read and the rule (``period_rules.ExtractPeriod``)
    extract_periods: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: this publication against earlier ones (``bridge.comparisons``); empty: not worked out
    comparisons: tuple[Comparison, ...] = ()
    #: breached plausibility gates the run was published over (manifest ``overrides``: gate, message,
    #: reason, by, at); empty for a run that breached none
    overrides: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in {"draft", "final"}:
            raise ValueError(f"status {self.status!r}: a publication is 'draft' or 'final'")
        if self.validation_status not in {"passed", "passed with warnings"}:
            raise ValueError(
                f"validation_status {self.validation_status!r}: a workbook is only written for a run that "
                "passed validation ('passed' or 'passed with warnings')"
            )


#: the sheets of what changed since earlier publications (workbooks.changes writes them)
CHANGE_SHEETS = (
    "Change since last quarter",
    "Change since a year ago",
    "Sub-ICBs since last quarter",
    "ICBs since last quarter",
    "Sub-ICBs since a year ago",
    "ICBs since a year ago",
    "ICB since last quarter",
    "ICB since a year ago",
    "Largest movers",
)

_MACHINE_NAME = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
GROUPING_WORDS = {
    "sub_icb_pcn": "PCNs within a sub-ICB location",
    "sub_icb": "sub-ICB locations",
    "icb": "ICBs",
    "region": "regions",
    "england": "England",
    "practice": "practices",
    "pcn": "PCNs",
    "contract_type": "contract types",
    "quintile": "deprivation quintiles",
    "sub_icb_contract_type": "contract types within a sub-ICB location",
    "sub_icb_quintile": "deprivation quintiles within a sub-ICB location",
}


def _machine_word(name: str) -> str:
    from gp_allocations.views import PARAMETER_LABELS, words

    if name in REGISTRY:
        return REGISTRY.get(name).label
    if name in LINES:
        return LINES[name].label.lower()
    if name in PAID_WORDS:
        return PAID_WORDS[name]
    if name in GROUPING_WORDS:
        return GROUPING_WORDS[name]
    if name in PARAMETER_LABELS:
        return PARAMETER_LABELS[name].lower()
    w = words(name)
    return w if w[:2].isupper() else w[:1].lower() + w[1:]


def plain(text: object) -> str:
    """Text for a reader: machine names (``global_sum``, ``out_of_hours_deduction``, ``sub_icb``) become
    their labels or words, so no snake_case key reaches a workbook."""
    raw = str(text)
    out = _MACHINE_NAME.sub(lambda m: _machine_word(m.group(0)), raw)
    return out[:1].upper() + out[1:] if out != raw and _MACHINE_NAME.match(raw) else out


def quarantine_text(q: views.Quarantine) -> str:
    """What happened to the input rows flagged by warning rules, for one book: its own rows first."""
    if q.run_rows == 0:
        return "No input rows were flagged by warning rules."
    head = (
        f"No flagged input row at a practice of {q.scope}"
        if q.rows == 0
        else f"{q.rows:,} flagged input row(s) at {q.practices:,} practice(s) of {q.scope}"
    ) + (
        (
            f" ({q.registered_patients:,} registered patients; their total allocation "
            f"{_pounds(q.total_pence)}, {label(q.variant)})"
            if q.practices
            else ""
        )
        + ". Rows flagged by warning rules are kept: the calculation uses them as read (none is removed "
        "or corrected)."
    )
    untied = (
        f", {q.untied_rows:,} of them not tied to a practice paid in this run (area, indicator or "
        "reference tables, or practices without registered patients)"
        if q.untied_rows
        else ""
    )
    return f"{head} Whole run: {q.run_rows:,} flagged row(s){untied}; every one is listed in quarantine.csv."


def _period_text(item: dict[str, Any]) -> str:
    from gp_allocations.period_rules import where_read

    if not item.get("period"):
        return "no period stated in the file or its name"
    read = item.get("read_from")
    return f"{item['period']} (from {where_read(read)})" if read else str(item["period"])


def extract_periods_text(run: RunInfo) -> str | None:
    """The Cover's line: which period (year, quarter, edition or date) each extract is for."""
    if not run.extract_periods:
        return None
    return "; ".join(
        f"{plain(name)}: {_period_text(run.extract_periods[name])}" for name in sorted(run.extract_periods)
    )


def validation_report_text(run: RunInfo) -> str:
    """Where the validation report is, without a server path (a path tells a reader nothing and exposes
    the deployment)."""
    if run.data_docs:
        return (
            "The Great Expectations report of this run's inputs is kept by the data engineering team "
            "with the run (ask the contact named on the Cover)"
        )
    return "No validation report was produced for this run"


def created_datetime(period: str) -> dt.datetime:
    """The fixed 'created' timestamp of a workbook: midnight on the first day of its period."""
    return dt.datetime.combine(Period.parse(period).start_date, dt.time())


@dataclass(frozen=True)
class CoverScope:
    """What a Cover line may read: the allocation, the run, and the book's scope (a sub-ICB code and its
    totals, or None for England)."""

    allocation: Allocation
    run: RunInfo
    sub_icb: str | None = None
    totals: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CoverFact:
    """One 'Item / Detail' line of every Cover, declared as data: its label and how to read its value
    (None leaves the line out, e.g. a fact a run does not have)."""

    label: str
    value: Callable[[CoverScope], str | None]


def _pounds(pence: object) -> str:
    p = int(str(pence))
    return f"-£{-p / 100:,.2f}" if p < 0 else f"£{p / 100:,.2f}"


def _payable_this_quarter(c: CoverScope) -> str | None:
    v = c.allocation.selected_variant
    quarter, annual = c.totals.get(f"quarter_pence__{v}"), c.totals.get(f"capitation_pence__{v}")
    if quarter is None or annual is None:
        return None
    period = Period.parse(c.allocation.period)
    return (
        f"{_pounds(quarter)} capitation payable in {period.label} ({label(v)}; annual {_pounds(annual)}). "
        "Month by month on the Payments sheet."
    )


def _status(run: RunInfo) -> str:
    if run.status == "draft":
        return "DRAFT: a scenario or a publication not yet final; do not pay from it"
    return "Final"


def _version(run: RunInfo) -> str:
    if run.version is None:
        return f"{MISSING} (not published through the pipeline)"
    return f"Publication {run.version} for {run.period_label}"


def _date(iso: str | None) -> str:
    if not iso:
        return MISSING
    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


#: the Cover's lines, in order. Other parts of the project add theirs here (one CoverFact each).
COVER_FACTS: list[CoverFact] = [
    CoverFact("Period", lambda c: c.run.period_label),
    CoverFact("Status", lambda c: _status(c.run)),
    CoverFact("Plausibility override", lambda c: plausibility_cover_text(c.run.overrides)),
    CoverFact("Version", lambda c: _version(c.run)),
    CoverFact("Publication date", lambda c: _date(c.run.publication_date)),
    CoverFact("Published by", lambda c: c.run.organisation),
    CoverFact("Contact", lambda c: c.run.contact or f"{MISSING} (no contact configured: GP_ALLOC_CONTACT)"),
    CoverFact(
        "Period basis",
        lambda c: (
            "Every £ amount is annual (a full year at this quarter's registered list) unless its "
            "column says quarterly or monthly. The global sum is paid monthly and recalculated each quarter."
        ),
    ),
    CoverFact("Payable this quarter", _payable_this_quarter),
    CoverFact("Run ID", lambda c: c.run.run_id),
    CoverFact(
        "Parameter set",
        lambda c: (
            f"{c.allocation.parameter_set_title}, {Period.parse(c.allocation.period).financial_year} values"
        ),
    ),
    CoverFact("Formula variants", lambda c: ", ".join(label(v) for v in c.allocation.variants)),
    CoverFact("Selected variant", lambda c: label(c.allocation.selected_variant)),
    # an earlier publication compared with paid by another variant: its bridge holds the switch
    CoverFact(
        "Change of formula variant",
        lambda c: " ".join(x.variant_text for x in c.run.comparisons if x.variant_text) or None,
    ),
    CoverFact("Validation status", lambda c: c.run.validation_status),
    CoverFact(
        "Quarantined input rows",
        lambda c: quarantine_text(views.quarantine(c.allocation, c.run.quarantined_rows, c.sub_icb)),
    ),
    CoverFact("Validation report", lambda c: validation_report_text(c.run)),
    CoverFact("Extract periods", lambda c: extract_periods_text(c.run)),
    CoverFact("Sign-off", lambda c: c.run.sign_off),  # runs that needed sign-off: who, when, comment
    CoverFact("Produced for", lambda c: c.run.generated_for),
    CoverFact("Produced by", lambda c: f"gp-allocations {__version__} (open source)"),
    CoverFact(
        "Money",
        lambda c: "Pounds and pence; every figure is computed in whole pennies and reconciles exactly.",
    ),
    CoverFact(
        "Missing values", lambda c: f"{MISSING} means the value is not available; see the Notes sheet."
    ),
]


def cover_facts(
    allocation: Allocation, run: RunInfo, sub_icb: str | None = None, totals: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """The Cover's 'Item / Detail' rows (``COVER_FACTS`` that have a value for this book)."""
    scope = CoverScope(allocation, run, sub_icb, dict(totals or {}))
    rows = [(fact.label, fact.value(scope)) for fact in COVER_FACTS]
    return [(k, v) for k, v in rows if v is not None]


#: the method notes: (topic, text, the sheets whose tables they qualify)
_METHOD: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "Missing values",
        f"{MISSING} marks a value that is not available (for example a practice with no patients in any "
        "scored LSOA has no deprivation score or quintile). It is never zero.",
        ("Practices", "By deprivation", "Equity"),
    ),
    (
        "Money",
        "Amounts are computed in whole pennies. Cells hold pounds (pennies / 100) shown to the penny. "
        "Totals are live SUM formulas over the rows above; their stored values are the engine's own totals, "
        "so a total that differs after recalculation means a row was changed.",
        ("Summary", "Payments", "Practices", "Contract types"),
    ),
    (
        "Rounding rule",
        "A single amount is rounded to the nearest penny, halves away from zero (ROUND_HALF_UP). An "
        "envelope is split between practices by the largest-remainder method, so practice amounts add up "
        "to the envelope exactly; ties go to the lower practice code.",
        ("Practices", "Payments", "Reconciliation"),
    ),
    (
        "Weighted list",
        "Registered patients multiplied by the product of the component indices, then normalised so the "
        "national weighted list equals the national registered list.",
        ("Practices",),
    ),
    (
        "Component indices",
        "Each component is an index against the national patient-weighted average (1.0 = average; exactly "
        "1.0 when the component is neutral). See the Components sheet.",
        ("Components", "Practices"),
    ),
    (
        "Deprivation quintile",
        "Practices ranked by patient-weighted IMD score and cut into fifths of the registered population "
        "(1 = most deprived fifth), not fifths of practices.",
        ("By deprivation", "Equity", "Payments equity"),
    ),
    (
        "QOF",
        "QOF points x pounds per point x (practice list / national average list), adjusted for prevalence "
        "where prevalence data was given; the QOF method column says which.",
        ("Practices",),
    ),
    (
        "Change columns",
        "Variant capitation minus global sum capitation for the same practice or group.",
        ("Summary", "Contract types", "ICB", "Sub-ICBs", "ICBs", "Regions", "Practices"),
    ),
    ("Protection", UNPROTECT_NOTE, ("Practices", "Parameters")),
    (
        "Payment schedule",
        "The annual payable capitation is paid a twelfth each month; the pennies left over go to the "
        "earliest months of the financial year, so the twelve months add up to the annual amount exactly. "
        "The amounts are recalculated each quarter from that quarter's registered list. QOF is paid on its "
        "own timetable and is not in this schedule.",
        ("Payments",),
    ),
    (
        "Parameters",
        "Values marked COMPUTED are worked out by this run; the Practices sheet's formulas refer to the "
        "named cells (price, out-of-hours deduction, normalisation factors).",
        ("Parameters",),
    ),
]


def notes(allocation: Allocation, run: RunInfo, sub_icb: str | None = None) -> pd.DataFrame:
    """The Notes sheet's rows, numbered: method, each variant and ledger line (from the registry), engine
    notes, validation and the input files with their SHA-256; ``qualifies`` names the sheets whose tables
    each note qualifies (their titles carry its ``[note n]`` marker)."""
    rows: list[tuple[str, str, tuple[str, ...]]] = list(_METHOD)
    # one note for the variants and one for the lines, so the Practices title's markers print on a line
    variants = [REGISTRY.get(v) for v in allocation.variants if v in REGISTRY]
    if variants:
        rows.append(
            ("Variants", _labelled((x.label, x.description) for x in variants), ("Summary", "Practices"))
        )
    present = set(allocation.ledger["line"].unique())  # once: the ledger has a row per practice x line
    used = [line for name, line in LINES.items() if name in present]
    if used:
        rows.append(("Lines", _labelled((line.label, line.description) for line in used), ("Practices",)))
    quality = ("Data quality",)
    rows.append(
        (
            "Validation",
            f"Inputs {run.validation_status} Great Expectations validation. "
            f"{quarantine_text(views.quarantine(allocation, run.quarantined_rows, sub_icb))} "
            f"{validation_report_text(run)}.",
            quality,
        )
    )
    rows += [("About this run's inputs", text[:1].upper() + text[1:], quality) for text in allocation.notes]
    for name in sorted(run.extract_periods):
        item = run.extract_periods[name]
        rule = f"allowed for this run: {item.get('allowed')}. {item.get('reason', '')}".strip()
        rows.append((f"Extract period: {plain(name)}", f"{_period_text(item)}; {rule}", quality))
    if run.comparisons:
        rows.append(("What changed and why: order of decomposition", decomposition_order(), CHANGE_SHEETS))
    for item in sorted(run.inputs, key=lambda d: (str(d.get("extract", "")), str(d.get("file", "")))):
        detail = "; ".join(f"{label}: {_input_value(k, item.get(k))}" for k, label in INPUT_FIELDS.items())
        rows.append((f"Input file: {plain(item.get('extract', MISSING))}", detail, quality))
    frame = pd.DataFrame(rows, columns=["topic", "note", "qualifies"])
    frame.insert(0, "number", range(1, len(frame) + 1))
    frame.insert(1, "reference", [f"note {n}" for n in frame["number"]])
    return frame


def _labelled(items: Iterable[tuple[str, str]]) -> str:
    """``label: description.`` sentences, one per item."""
    return " ".join(f"{name}: {text.rstrip('.')}." for name, text in items)


def note_refs(frame: pd.DataFrame, sheets: list[str]) -> dict[str, tuple[int, ...]]:
    """Sheet name -> the numbers of the notes that qualify its table, for the sheets of one book. Every
    note must qualify at least one of them (a note no table refers to is a declaration error)."""
    refs: dict[str, list[int]] = {name: [] for name in sheets}
    for number, topic, qualifies in zip(frame["number"], frame["topic"], frame["qualifies"], strict=True):
        present = [name for name in qualifies if name in refs]
        if not present:
            raise ValueError(f"note {number} ({topic}) qualifies no table of this workbook: {qualifies}")
        for name in present:
            refs[name].append(int(number))
    return {name: tuple(numbers) for name, numbers in refs.items() if numbers}
