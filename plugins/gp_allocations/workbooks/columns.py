"""Column specifications of every table the workbooks show: declared here, never guessed from names.

Keys are the column names of the views (``gp_allocations.views``) and of the engine's tables; labels and
kinds (``xlsx.KINDS``) are what a finance reader sees. Per-variant columns come from the registry.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from gp_allocations.engine.parameters import COMPONENTS
from gp_allocations.variants import DEFAULT_VARIANT, label

from .xlsx import Col

COMPONENT_LABELS: dict[str, str] = {
    "age_sex": "Age-sex index",
    "additional_needs": "Additional needs index",
    "list_turnover": "List turnover index",
    "care_homes": "Care homes index",
    "market_forces": "Market forces index",
    "rurality": "Rurality index",
    "deprivation": "Deprivation index",
}
assert set(COMPONENT_LABELS) == set(COMPONENTS), "every component needs a label"

QUINTILE_HEADER = "Deprivation quintile (1 = most deprived)"


def change_header(v: str) -> str:
    return f"Change, {label(v)} minus global sum (£)"


def _others(variants: list[str]) -> list[str]:
    return [v for v in variants if v != DEFAULT_VARIANT]


def money_cols(variants: list[str], *, changes_pct: bool = True, weighted: bool = True) -> list[Col]:
    """Weighted lists, payable capitation, changes against the global sum, QOF and totals per variant."""
    cols = []
    if weighted:
        cols += [
            Col(f"Weighted list: {label(v)}", f"weighted_list__{v}", "number", total=True) for v in variants
        ]
    cols += [
        Col(f"Capitation: {label(v)} (£)", f"capitation_pence__{v}", "money", total=True) for v in variants
    ]
    base = f"Capitation: {label(DEFAULT_VARIANT)} (£)"
    for v in _others(variants):
        cols.append(Col(change_header(v), f"difference_pence__{v}", "money", total=True))
        if changes_pct:
            cols.append(
                Col(f"Change, {label(v)} (%)", f"change__{v}", "pct", ratio_of=(change_header(v), base))
            )
    return cols


def totals_cols(variants: list[str]) -> list[Col]:
    return [Col(f"Total: {label(v)} (£)", f"total_pence__{v}", "money", total=True) for v in variants]


def summary_cols(first: list[Col], variants: list[str]) -> list[Col]:
    """An organisation table: its key columns, practices, list, money per variant, QOF, totals."""
    return [
        *first,
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
        *money_cols(variants),
        Col("QOF (£)", "qof_pence", "money", total=True),
        *totals_cols(variants),
    ]


LEVEL_KEYS: dict[str, list[Col]] = {
    "sub_icb": [
        Col("Sub-ICB code", "code", width=10),
        Col("Sub-ICB name", "name", width=40),
        Col("ICB code", "icb_code", width=10),
        Col("Region code", "region_code", width=11),
    ],
    "icb": [
        Col("ICB code", "code", width=10),
        Col("ICB name", "name", width=40),
        Col("Region code", "region_code"),
    ],
    "region": [Col("Region code", "code", width=11), Col("Region name", "name", width=30)],
}

PAID_COLS = [
    Col("Paid: registered patients", "paid_registered_patients", "number", total=True),
    Col("Paid: weighted patients", "paid_weighted_patients", "number", total=True),
    Col("Paid: Global Sum (£)", "paid_global_sum_pence", "money", total=True),
    Col("Paid: MPIG (£)", "paid_mpig_pence", "money", total=True),
    Col("Paid: QOF (£)", "paid_qof_pence", "money", total=True),
    Col("Global sum capitation minus Global Sum paid (£)", "difference_from_paid_pence", "money", total=True),
]


def practice_cols(variants: list[str], *, national: bool, paid: bool) -> list[Col]:
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
        *(Col(text, f"index_{name}", "index") for name, text in COMPONENT_LABELS.items()),
        Col("IMD score", "imd_score", "number", width=10),
        Col("Health deprivation score", "health_deprivation_score", "index"),
        Col(QUINTILE_HEADER, "deprivation_quintile", "int"),
        *money_cols(variants, changes_pct=False),
        Col("QOF points", "qof_points", "number", total=True),
        Col("QOF (£)", "qof_pence", "money", total=True),
        Col("QOF method", "qof_path", width=20),
        *totals_cols(variants),
    ]
    return cols + (PAID_COLS if paid else [])


def _quintile_number(df: pd.DataFrame) -> pd.Series:
    q = df["deprivation_quintile"].astype(str)
    return pd.to_numeric(q.where(q.str.fullmatch(r"[1-5]")), errors="coerce").astype("Int64")


def quintile_cols(variants: list[str], *, paid: bool) -> list[Col]:
    cols = [
        Col(QUINTILE_HEADER, _quintile_number, "int", width=14),
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
        Col("IMD score (patient-weighted mean)", "imd_score", "number"),
        Col("Weighted list: Global sum", f"weighted_list__{DEFAULT_VARIANT}", "number", total=True),
        *(
            Col(f"Capitation: {label(v)} (£)", f"capitation_pence__{v}", "money", total=True)
            for v in variants
        ),
        *(
            Col(f"Capitation per registered patient: {label(v)} (£)", f"gbp_per_registered__{v}", "gbp")
            for v in variants
        ),
        *(
            Col(
                f"Capitation per global sum weighted patient: {label(v)} (£)", f"gbp_per_weighted__{v}", "gbp"
            )
            for v in variants
        ),
    ]
    if paid:
        cols += [
            Col("Paid: Global Sum (£)", "paid_global_sum_pence", "money", total=True),
            Col("Paid Global Sum per registered patient (£)", "paid_gbp_per_registered", "gbp"),
            Col("Paid Global Sum per weighted patient (£)", "paid_gbp_per_weighted", "gbp"),
        ]
    return cols


PAID_RECONCILIATION_COLS = [
    Col("Level", "level", width=10),
    Col("Code", "code", width=10),
    Col("Name", "name", width=40),
    Col("Practices", "practices", "int"),
    Col("Practices paid", "practices_paid", "int"),
    Col("Paid: registered patients", "paid_registered_patients", "number"),
    Col("Paid: weighted patients", "paid_weighted_patients", "number"),
    Col("Paid: Global Sum (£)", "paid_global_sum_pence", "money"),
    Col("Paid: MPIG (£)", "paid_mpig_pence", "money"),
    Col("Paid: QOF (£)", "paid_qof_pence", "money"),
    Col("Run: registered patients", "run_registered_patients", "int"),
    Col("Run: weighted patients", "run_weighted_patients", "number"),
    Col("Recomputed capitation (£)", "recomputed_capitation_pence", "money"),
    Col("Recomputed QOF (£)", "recomputed_qof_pence", "money"),
    Col("Capitation minus Global Sum paid (£)", "difference_capitation_vs_global_sum_pence", "money"),
    Col(
        "Capitation minus Global Sum and MPIG paid (£)",
        "difference_capitation_vs_global_sum_and_mpig_pence",
        "money",
    ),
    Col("Recomputed minus paid QOF (£)", "difference_qof_pence", "money"),
]

PAYMENTS_EQUITY_COLS = [
    Col(QUINTILE_HEADER, "deprivation_quintile", width=16),
    Col("Practices", "practices", "int"),
    Col("Registered patients", "registered_patients", "number"),
    Col("Weighted patients", "weighted_patients", "number"),
    Col("Total NHS payments (£)", "total_payments_pence", "money"),
    Col("Global Sum (£)", "global_sum_pence", "money"),
    Col("IMD score", "imd_score", "number"),
    Col("Payments per registered patient (£)", "payments_gbp_per_registered", "gbp"),
    Col("Payments per weighted patient (£)", "payments_gbp_per_weighted", "gbp"),
    Col("Global Sum per registered patient (£)", "global_sum_gbp_per_registered", "gbp"),
    Col("Global Sum per weighted patient (£)", "global_sum_gbp_per_weighted", "gbp"),
]

IMPLIED_PRICE_COLS = [Col("Measure", "measure", width=48), Col("Value", "value", width=20)]

IMPLIED_PRICE_OUTLIER_COLS = [
    Col("Practice code", "practice_code", width=10),
    Col("Practice name", "practice_name", width=36),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("Registered patients", "registered_patients", "number"),
    Col("Weighted patients", "weighted_patients", "number"),
    Col("Global Sum (£)", "global_sum_gbp", "gbp"),
    Col("Implied price per weighted patient (£)", "implied_price_gbp", "gbp"),
]

PRACTICE_CHANGE_COLS = [
    Col("Practice code", "practice_code", width=12),
    Col("Practice name", "practice_name", width=36),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("Change", "change", width=22),
    Col("Extracts that disagree", "extracts", width=40),
    Col("Detail", "detail", width=70),
]

WARNING_COLS = [
    Col("Rule", "rule", width=30),
    Col("Extract", "extract", width=14),
    Col("Column", "column", width=22),
    Col("Severity", "severity", width=10),
    Col("Failing rows", "failing_rows", "int", total=True),
    Col("Message", "message", width=70),
]

PARAMETER_COLS = [
    Col("Parameter", "parameter", width=28),
    Col("Key", "key", width=16),
    Col("Value", "value", width=16),
    Col("Unit", "unit", width=16),
    Col("Source", "source", width=70),
    Col("Status", "status", width=16),
]

COMPONENT_COLS = [
    Col("Component", "component", width=22),
    Col("Status", "status", width=12),
    Col("Reason", "reason", width=80),
    Col("Variants", "variants", width=40),
]


def _text(key: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[key].map(
        lambda x: None if x is None or (isinstance(x, float) and pd.isna(x)) else str(x)
    )


CHECK_COLS = [
    Col("Check", "check", width=70),
    Col("Expected", _text("expected"), width=18),
    Col("Actual", _text("actual"), width=18),
    Col("Passed", lambda df: df["passed"].map(lambda x: "yes" if bool(x) else "NO"), width=8),
    Col("Detail", "detail", width=40),
]

NOTE_COLS = [Col("Topic", "topic", width=26), Col("Note", "note", width=120)]
