"""What the workbooks say in words: the run's facts on the Cover, and the Notes (definitions, method)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gp_allocations import __version__
from gp_allocations.ledger import Allocation
from gp_allocations.periods import Period
from gp_allocations.variants import LINES, REGISTRY, label

from .xlsx import MISSING

WARNING_COLUMNS = ["rule", "extract", "column", "severity", "failing_rows", "message"]
INPUT_FIELDS = ["extract", "file", "sha256", "bytes", "source", "fetched_at"]
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

    def __post_init__(self) -> None:
        if self.validation_status not in {"passed", "passed with warnings"}:
            raise ValueError(
                f"validation_status {self.validation_status!r}: a workbook is only written for a run that "
                "passed validation ('passed' or 'passed with warnings')"
            )


def created_datetime(period: str) -> dt.datetime:
    """The fixed 'created' timestamp of a workbook: midnight on the first day of its period."""
    return dt.datetime.combine(Period.parse(period).start_date, dt.time())


def cover_facts(allocation: Allocation, run: RunInfo) -> list[tuple[str, str]]:
    """The Cover's 'Item / Detail' rows."""
    return [
        ("Period", run.period_label),
        ("Run ID", run.run_id),
        ("Parameter set", f"{allocation.parameter_set_title} ({allocation.parameter_set})"),
        ("Formula variants", ", ".join(label(v) for v in allocation.variants)),
        ("Selected variant", label(allocation.selected_variant)),
        ("Validation status", run.validation_status),
        ("Quarantined input rows", str(run.quarantined_rows)),
        ("Validation report", run.data_docs or MISSING),
        ("Produced for", run.generated_for),
        ("Produced by", f"gp-allocations {__version__} (open source)"),
        ("Money", "Pounds and pence; every figure is computed in whole pennies and reconciles exactly."),
        ("Missing values", f"{MISSING} means the value is not available; see the Notes sheet."),
    ]


_METHOD = [
    (
        "Missing values",
        f"{MISSING} marks a value that is not available (for example a practice with no patients in any "
        "scored LSOA has no deprivation score or quintile). It is never zero.",
    ),
    (
        "Money",
        "Amounts are computed in whole pennies. Cells hold pounds (pennies / 100) shown to the penny. "
        "Totals are live SUM formulas over the rows above; their stored values are the engine's own totals, "
        "so a total that differs after recalculation means a row was changed.",
    ),
    (
        "Rounding rule",
        "A single amount is rounded to the nearest penny, halves away from zero (ROUND_HALF_UP). An "
        "envelope is split between practices by the largest-remainder method, so practice amounts add up "
        "to the envelope exactly; ties go to the lower practice code.",
    ),
    (
        "Weighted list",
        "Registered patients multiplied by the product of the component indices, then normalised so the "
        "national weighted list equals the national registered list.",
    ),
    (
        "Component indices",
        "Each component is an index against the national patient-weighted average (1.0 = average; exactly "
        "1.0 when the component is neutral). See the Components sheet.",
    ),
    (
        "Deprivation quintile",
        "Practices ranked by patient-weighted IMD score and cut into fifths of the registered population "
        "(1 = most deprived fifth), not fifths of practices.",
    ),
    (
        "QOF",
        "QOF points x pounds per point x (practice list / national average list), adjusted for prevalence "
        "where prevalence data was given; the QOF method column says which.",
    ),
    ("Change columns", "Variant capitation minus global sum capitation for the same practice or group."),
    ("Protection", UNPROTECT_NOTE),
]


def notes(allocation: Allocation, run: RunInfo) -> pd.DataFrame:
    """The Notes sheet's rows: method, each variant and ledger line (from the registry), engine notes,
    validation and the input files with their SHA-256."""
    rows: list[tuple[str, str]] = list(_METHOD)
    rows += [
        (f"Variant: {REGISTRY.get(v).label}", REGISTRY.get(v).description)
        for v in allocation.variants
        if v in REGISTRY
    ]
    used = set(allocation.ledger["line"])
    rows += [(f"Line: {line.label}", line.description) for name, line in LINES.items() if name in used]
    rows.append(
        (
            "Validation",
            f"Inputs {run.validation_status} Great Expectations validation; {run.quarantined_rows} input "
            "rows "
            f"were quarantined. Report: {run.data_docs or MISSING}.",
        )
    )
    rows += [(f"Engine note {i}", text) for i, text in enumerate(allocation.notes, start=1)]
    for item in sorted(run.inputs, key=lambda d: (str(d.get("extract", "")), str(d.get("file", "")))):
        detail = "; ".join(f"{k}: {item.get(k, MISSING)}" for k in INPUT_FIELDS if k != "extract")
        rows.append((f"Input file: {item.get('extract', MISSING)}", detail))
    return pd.DataFrame(rows, columns=["topic", "note"])
