"""Column specifications of every table the workbooks show: declared here, never guessed from names.

Keys are the column names of the views (``gp_allocations.views``) and of the engine's tables; labels and
kinds (``xlsx.KINDS``) are what a finance reader sees. Per-variant columns come from the registry.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from gp_allocations.engine.parameters import COMPONENTS
from gp_allocations.variants import DEFAULT_VARIANT, LINES, label
from gp_allocations.views import OUT_OF_HOURS_NAME, PRICE_NAME, Trace, factor_name, rate_name

from .prose import plain
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


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x)) or x is pd.NA


def _number_text(x: object) -> str | None:
    """A check's expected or actual value as a reader writes it: whole numbers with thousands separators,
    fractions to at most six places (no binary artefacts such as 63774784.00000001)."""
    if _missing(x):
        return None
    try:
        number = float(str(x))
    except ValueError:
        return plain(x)
    if abs(number - round(number)) < 1e-6:
        return f"{round(number):,}"
    return f"{number:,.6f}".rstrip("0").rstrip(".")


def _shown(key: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df[key].map(_number_text) if key in df.columns else pd.Series([None] * len(df))


def _plain(key: str) -> Callable[[pd.DataFrame], pd.Series]:
    """A column of machine-written text (check names, rules, notes) in words."""
    return lambda df: (
        df[key].map(lambda x: None if _missing(x) else plain(x))
        if key in df.columns
        else pd.Series([None] * len(df), dtype=object)
    )


QUINTILE_HEADER = "Deprivation quintile (1 = most deprived)"

#: the period basis of every money column, in its header
ANNUAL, QUARTERLY, MONTHLY = "£, annual", "£, quarterly", "£, monthly"


def change_header(v: str) -> str:
    return f"Change, {label(v)} minus global sum ({ANNUAL})"


def capitation_header(v: str) -> str:
    return f"Capitation: {label(v)} ({ANNUAL})"


def weighted_header(v: str) -> str:
    return f"Weighted list: {label(v)}"


def adjustment_header(v: str) -> str:
    return f"Penny adjustment: {label(v)} (pence, annual)"


def total_header(v: str) -> str:
    return f"Total: {label(v)} ({ANNUAL})"


QOF_HEADER = f"QOF ({ANNUAL})"


def _others(variants: list[str]) -> list[str]:
    return [v for v in variants if v != DEFAULT_VARIANT]


def money_cols(variants: list[str], *, changes_pct: bool = True, weighted: bool = True) -> list[Col]:
    """Weighted lists, payable capitation, changes against the global sum, QOF and totals per variant."""
    cols = []
    if weighted:
        cols += [Col(weighted_header(v), f"weighted_list__{v}", "number", total=True) for v in variants]
    cols += [Col(capitation_header(v), f"capitation_pence__{v}", "money", total=True) for v in variants]
    base = capitation_header(DEFAULT_VARIANT)
    for v in _others(variants):
        cols.append(Col(change_header(v), f"difference_pence__{v}", "money", total=True))
        if changes_pct:
            cols.append(
                Col(f"Change, {label(v)} (%)", f"change__{v}", "pct", ratio_of=(change_header(v), base))
            )
    return cols


def totals_cols(variants: list[str], *, live: bool = False) -> list[Col]:
    """Capitation plus QOF per variant (``live``: as a formula of the row's cells)."""
    return [
        Col(
            total_header(v),
            f"total_pence__{v}",
            "money",
            total=True,
            formula=f"={{{{{capitation_header(v)}}}}}+{{{{{QOF_HEADER}}}}}" if live else None,
        )
        for v in variants
    ]


def traced_money_cols(variants: list[str], traces: dict[str, Trace]) -> list[Col]:
    """A practice's money as live formulas: weighted list = registered patients x its indices x the
    normalisation factor; capitation = ROUND(weighted list x price x (1 - out-of-hours) [+ weighted list x
    each recycled line's rate] [+ heads x each per-head line's rate], to the penny) + the penny adjustment
    of the largest-remainder split."""
    cols: list[Col] = []
    for v in variants:
        t = traces[v]
        wl = None
        if t.components:
            product = "*".join(f"{{{{{COMPONENT_LABELS[c]}}}}}" for c in t.components)
            wl = f"={{{{Registered patients}}}}*{product}*{factor_name(v)}"
        cols.append(Col(weighted_header(v), f"weighted_list__{v}", "number", total=True, formula=wl))
    for v in variants:
        t = traces[v]
        w = f"{{{{{weighted_header(v)}}}}}"
        amount = f"{w}*{PRICE_NAME}*(1-{OUT_OF_HOURS_NAME})"
        amount += "".join(f"+{w}*{rate_name(line, v)}" for line, _ in t.extra)
        amount += "".join(
            f"+{{{{{LINES[line].per_label}}}}}*{rate_name(line, v)}" for line, _, _ in t.per_head
        )
        cols.append(Col(adjustment_header(v), f"penny_adjustment__{v}", "int", width=12))
        cols.append(
            Col(
                capitation_header(v),
                f"capitation_pence__{v}",
                "money",
                total=True,
                formula=f"=(ROUND(({amount})*100,0)+{{{{{adjustment_header(v)}}}}})/100",
            )
        )
    base = f"{{{{{capitation_header(DEFAULT_VARIANT)}}}}}"
    for v in _others(variants):
        cols.append(
            Col(
                change_header(v),
                f"difference_pence__{v}",
                "money",
                total=True,
                formula=f"={{{{{capitation_header(v)}}}}}-{base}",
            )
        )
    return cols


def summary_cols(first: list[Col], variants: list[str]) -> list[Col]:
    """An organisation table: its key columns, practices, list, money per variant, QOF, totals."""
    return [
        *first,
        Col("Practices", "practices", "int", total=True),
        Col("Registered patients", "registered_patients", "int", total=True),
        *money_cols(variants),
        Col(QOF_HEADER, "qof_pence", "money", total=True),
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
    Col(f"Paid: Global Sum ({ANNUAL})", "paid_global_sum_pence", "money", total=True),
    Col(f"Paid: MPIG ({ANNUAL})", "paid_mpig_pence", "money", total=True),
    Col(f"Paid: QOF ({ANNUAL})", "paid_qof_pence", "money", total=True),
    Col(
        f"Global sum capitation minus Global Sum paid ({ANNUAL})",
        "difference_from_paid_pence",
        "money",
        total=True,
    ),
]


def _per_head_cols(traces: dict[str, Trace] | None) -> list[Col]:
    """The practice facts a line is paid per head of (the traced formulas refer to them)."""
    lines = dict.fromkeys(line for t in (traces or {}).values() for line, _, _ in t.per_head)
    return [Col(LINES[line].per_label, str(LINES[line].per), "int", total=True) for line in lines]


def practice_cols(
    variants: list[str], *, national: bool, paid: bool, traces: dict[str, Trace] | None = None
) -> list[Col]:
    """One row per practice; with ``traces`` the money columns are live formulas (``traced_money_cols``)."""
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
        *_per_head_cols(traces),
        *(traced_money_cols(variants, traces) if traces else money_cols(variants, changes_pct=False)),
        Col("QOF points", "qof_points", "number", total=True),
        Col(QOF_HEADER, "qof_pence", "money", total=True),
        Col("QOF method", _plain("qof_path"), width=20),
        *totals_cols(variants, live=traces is not None),
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
            Col(f"Capitation: {label(v)} ({ANNUAL})", f"capitation_pence__{v}", "money", total=True)
            for v in variants
        ),
        *(
            Col(
                f"Capitation per registered patient: {label(v)} ({ANNUAL})", f"gbp_per_registered__{v}", "gbp"
            )
            for v in variants
        ),
        *(
            Col(
                f"Capitation per global sum weighted patient: {label(v)} ({ANNUAL})",
                f"gbp_per_weighted__{v}",
                "gbp",
            )
            for v in variants
        ),
    ]
    if paid:
        cols += [
            Col(f"Paid: Global Sum ({ANNUAL})", "paid_global_sum_pence", "money", total=True),
            Col(f"Paid Global Sum per registered patient ({ANNUAL})", "paid_gbp_per_registered", "gbp"),
            Col(f"Paid Global Sum per weighted patient ({ANNUAL})", "paid_gbp_per_weighted", "gbp"),
        ]
    return cols


def paid_reconciliation_cols(*, totals: bool) -> list[Col]:
    """Paid beside recomputed, one row per organisation; ``totals``: the counts and money total (the
    national book's England row is the table's totals row)."""
    return [
        Col("Code", "code", width=10),
        Col("Name", "name", width=40),
        Col("Practices", "practices", "int", total=totals),
        Col("Practices paid", "practices_paid", "int", total=totals),
        Col("Paid: registered patients", "paid_registered_patients", "number", total=totals),
        Col("Paid: weighted patients", "paid_weighted_patients", "number", total=totals),
        Col(f"Paid: Global Sum ({ANNUAL})", "paid_global_sum_pence", "money", total=totals),
        Col(f"Paid: MPIG ({ANNUAL})", "paid_mpig_pence", "money", total=totals),
        Col(f"Paid: QOF ({ANNUAL})", "paid_qof_pence", "money", total=totals),
        Col("Run: registered patients", "run_registered_patients", "int", total=totals),
        Col("Run: weighted patients", "run_weighted_patients", "number", total=totals),
        Col(f"Recomputed capitation ({ANNUAL})", "recomputed_capitation_pence", "money", total=totals),
        Col(f"Recomputed QOF ({ANNUAL})", "recomputed_qof_pence", "money", total=totals),
        Col(
            f"Capitation minus Global Sum paid ({ANNUAL})",
            "difference_capitation_vs_global_sum_pence",
            "money",
            total=totals,
        ),
        Col(
            f"Capitation minus Global Sum and MPIG paid ({ANNUAL})",
            "difference_capitation_vs_global_sum_and_mpig_pence",
            "money",
            total=totals,
        ),
        Col(f"Recomputed minus paid QOF ({ANNUAL})", "difference_qof_pence", "money", total=totals),
    ]


PAID_NOT_IN_RUN_COLS = [
    Col("Practices", "practices", "int"),
    Col("Practices paid", "practices_paid", "int"),
    Col("Paid: registered patients", "paid_registered_patients", "number"),
    Col("Paid: weighted patients", "paid_weighted_patients", "number"),
    Col(f"Paid: Global Sum ({ANNUAL})", "paid_global_sum_pence", "money"),
    Col(f"Paid: MPIG ({ANNUAL})", "paid_mpig_pence", "money"),
    Col(f"Paid: QOF ({ANNUAL})", "paid_qof_pence", "money"),
]

PAYMENTS_EQUITY_COLS = [
    Col(QUINTILE_HEADER, "deprivation_quintile", width=16),
    Col("Practices", "practices", "int"),
    Col("Registered patients", "registered_patients", "number"),
    Col("Weighted patients", "weighted_patients", "number"),
    Col(f"Total NHS payments ({ANNUAL})", "total_payments_pence", "money"),
    Col(f"Global Sum ({ANNUAL})", "global_sum_pence", "money"),
    Col("IMD score", "imd_score", "number"),
    Col(f"Payments per registered patient ({ANNUAL})", "payments_gbp_per_registered", "gbp"),
    Col(f"Payments per weighted patient ({ANNUAL})", "payments_gbp_per_weighted", "gbp"),
    Col(f"Global Sum per registered patient ({ANNUAL})", "global_sum_gbp_per_registered", "gbp"),
    Col(f"Global Sum per weighted patient ({ANNUAL})", "global_sum_gbp_per_weighted", "gbp"),
]

IMPLIED_PRICE_COLS = [Col("Measure", _plain("measure"), width=48), Col("Value", _shown("value"), width=20)]

IMPLIED_PRICE_BY_YEAR_COLS = [
    Col("Financial year", "financial_year", width=10),
    Col("GMS practices (Global Sum and weighted list > 0)", "gms_practices", "int"),
    Col("Implied price: Global Sum / weighted patients", "implied_price_national_gbp", "gbp"),
    Col("Implied price: median practice", "implied_price_median_gbp", "gbp"),
    Col("Parameter file: price per weighted patient", "price_per_weighted_patient_gbp", "gbp"),
    Col("Parameter file: out-of-hours deduction", "out_of_hours_deduction", "pct"),
    Col("Parameter price less out-of-hours", "expected_price_after_ooh_gbp", "gbp"),
    Col("Implied vs parameter price", "implied_vs_expected_relative", "pct"),
    Col("Disagree by more than 1%", _plain("disagrees_over_1pct"), width=12),
    Col("Status of the parameter values", _plain("parameter_status"), width=22),
    Col("Weighted vs registered patients (all practices)", "weighted_minus_registered_relative", "pct"),
]

PAYMENTS_EQUITY_BY_YEAR_COLS = [
    Col("Financial year", "financial_year", width=10),
    Col("Practices", _plain("practices"), width=16),
    Col("Practices ranked", "practices_ranked", "int"),
    Col("IMD edition", "imd_edition", width=8),
    *(
        Col(f"Payments per weighted patient, quintile {q}", f"payments_gbp_per_weighted_q{q}", "gbp")
        for q in range(1, 6)
    ),
    Col("Payments per weighted patient, quintile 1 minus 5", "payments_gbp_per_weighted_gap", "gbp"),
    *(
        Col(f"Global Sum per weighted patient, quintile {q}", f"global_sum_gbp_per_weighted_q{q}", "gbp")
        for q in range(1, 6)
    ),
    Col("Global Sum per weighted patient, quintile 1 minus 5", "global_sum_gbp_per_weighted_gap", "gbp"),
]

IMPLIED_PRICE_OUTLIER_COLS = [
    Col("Practice code", "practice_code", width=10),
    Col("Practice name", "practice_name", width=36),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("Registered patients", "registered_patients", "number"),
    Col("Weighted patients", "weighted_patients", "number"),
    Col(f"Global Sum ({ANNUAL})", "global_sum_gbp", "gbp"),
    Col(f"Implied price per weighted patient ({ANNUAL})", "implied_price_gbp", "gbp"),
]

PRACTICE_CHANGE_COLS = [
    Col("Practice code", "practice_code", width=12),
    Col("Practice name", "practice_name", width=36),
    Col("Sub-ICB code", "sub_icb_code", width=10),
    Col("Change", _plain("change"), width=22),
    Col("Extracts that disagree", _plain("extracts"), width=40),
    Col("Detail", _plain("detail"), width=70),
]

WARNING_COLS = [
    Col("Rule", _plain("rule"), width=30),
    Col("Extract", _plain("extract"), width=14),
    Col("Column", _plain("column"), width=22),
    Col("Severity", "severity", width=10),
    Col("Failing rows", "failing_rows", "int", total=True),
    Col("Message", _plain("message"), width=70),
]

PARAMETER_COLS = [
    Col("Parameter", "parameter", width=34),
    Col("Key", "key", width=26),
    Col(
        "Value",
        lambda df: df["value"].map(lambda v: plain(v) if isinstance(v, str) else v),
        "decimal",
        width=18,
        kind_from="kind",
    ),
    Col("Unit", "unit", width=50),
    Col("Source", "source", width=70),
    Col("Status", "status", width=24),
]

COMPONENT_COLS = [
    Col(
        "Component",
        lambda df: df["component"].map(lambda c: COMPONENT_LABELS.get(str(c), plain(c))),
        width=24,
    ),
    Col("Status", "status", width=12),
    Col("Reason", _plain("reason"), width=80),
    Col("Variants", lambda df: df["variants"].map(lambda x: plain(x).replace("All", "all")), width=40),
]


CHECK_COLS = [
    Col("Check", _plain("check"), width=70),
    Col("Expected", _shown("expected"), width=18),
    Col("Actual", _shown("actual"), width=18),
    Col("Passed", lambda df: df["passed"].map(lambda x: "yes" if bool(x) else "NO"), width=8),
    Col("Detail", _plain("detail"), width=40),
]

#: widths that print on one A4 landscape page (seen on LibreOffice's pages), the text wrapping in its column
NOTE_COLS = [
    Col("Note number", "reference", width=9),
    Col("Topic", _plain("topic"), width=20),
    Col("Text", _plain("note"), width=48),
    Col("Tables it qualifies (sheets)", lambda df: df["qualifies"].map(", ".join), width=26),
]


def schedule_cols(
    variant: str,
    month_names: list[str],
    months_of_year: list[int],
    quarter_label: str,
    annual_ref: str | None,
) -> list[Col]:
    """The quarter's payment schedule of one variant's payable capitation: the annual amount, each month
    (a twelfth, the remainder's pennies to the earliest months of the year) and the quarter (their sum).

    ``annual_ref``: a formula giving the annual amount (a practice row, from the Practices sheet), or None
    for organisations (then every month is the sum of its practices' months, a value)."""
    annual = f"Capitation payable: {label(variant)} ({ANNUAL})"
    cols = [Col(annual, f"capitation_pence__{variant}", "money", total=True, formula=annual_ref)]
    pence = f"ROUND({{{{{annual}}}}}*100,0)"
    headers = [f"{name} ({MONTHLY})" for name in month_names]
    for i, (header, m) in enumerate(zip(headers, months_of_year, strict=True), start=1):
        formula = (
            f"=SIGN({pence})*(INT(ABS({pence})/12)+IF({m}<=MOD(ABS({pence}),12),1,0))/100"
            if annual_ref
            else None
        )
        cols.append(Col(header, f"month_{i}_pence__{variant}", "money", total=True, formula=formula))
    cols.append(
        Col(
            f"{quarter_label} payable ({QUARTERLY})",
            f"quarter_pence__{variant}",
            "money",
            total=True,
            formula="=" + "+".join(f"{{{{{h}}}}}" for h in headers),
        )
    )
    return cols
