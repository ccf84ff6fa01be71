"""Realistic Allocation fixtures for the workbook, publish and delivery tests.

2 sub-ICB locations, 3 PCNs, 8 practices, variants global_sum and deprivation_weighted, built the way
the engine builds one (ledger lines split by ``engine.steps.pennies``, aggregates by
``aggregates.aggregate``, checks by ``checks.engine_checks``), from hand-set indices.
"""

from __future__ import annotations

import copy
import functools
from decimal import Decimal

import numpy as np
import pandas as pd

from gp_allocations.aggregates import aggregate
from gp_allocations.checks import engine_checks
from gp_allocations.engine.steps import VariantResult, pennies
from gp_allocations.ledger import Allocation
from gp_allocations.money import round_pence
from gp_allocations.variants import LINES, Envelope
from gp_allocations.workbooks import RunInfo

VARIANTS = ["global_sum", "deprivation_weighted"]
PRICE_PENCE = 12334  # £123.34 per weighted patient
OOH = Decimal("0.0475")

# code, name, pcn, pcn name, sub-ICB, sub-ICB name, ICB, ICB name, contract, list, age-sex, needs, IMD,
# health score, quintile (None = no scored LSOA), QOF points
_ROWS = [
    (
        "L83001",
        "Barnfield Surgery",
        "U11111",
        "Exeter Central PCN",
        "15N",
        "NHS Devon ICB - 15N",
        "QJK",
        "NHS Devon ICB",
        "GMS",
        9120,
        0.97,
        0.99,
        31.2,
        0.81,
        1,
        512.4,
    ),
    (
        "L83002",
        "Heavitree Practice",
        "U11111",
        "Exeter Central PCN",
        "15N",
        "NHS Devon ICB - 15N",
        "QJK",
        "NHS Devon ICB",
        "PMS",
        12480,
        1.01,
        0.98,
        18.4,
        0.12,
        3,
        601.0,
    ),
    (
        "L83003",
        "St Thomas Medical Group",
        "U11111",
        "Exeter Central PCN",
        "15N",
        "NHS Devon ICB - 15N",
        "QJK",
        "NHS Devon ICB",
        "GMS",
        15010,
        1.03,
        1.01,
        22.9,
        0.35,
        2,
        590.25,
    ),
    (
        "L83004",
        "Moor Lane Surgery",
        "U22222",
        "Moorland PCN",
        "15N",
        "NHS Devon ICB - 15N",
        "QJK",
        "NHS Devon ICB",
        "GMS",
        4305,
        1.12,
        0.93,
        9.8,
        -0.62,
        5,
        488.0,
    ),
    (
        "L83005",
        "Dartside Health Centre",
        "U22222",
        "Moorland PCN",
        "15N",
        "NHS Devon ICB - 15N",
        "QJK",
        "NHS Devon ICB",
        "APMS",
        2990,
        0.91,
        1.00,
        None,
        None,
        None,
        410.5,
    ),
    (
        "L81001",
        "Ashley Down Surgery",
        "U33333",
        "Bristol North PCN",
        "15C",
        "NHS Bristol, North Somerset and South Gloucestershire ICB - 15C",
        "QUY",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        "GMS",
        11020,
        0.95,
        1.00,
        38.7,
        1.21,
        1,
        560.0,
    ),
    (
        "L81002",
        "Horfield Health Centre",
        "U33333",
        "Bristol North PCN",
        "15C",
        "NHS Bristol, North Somerset and South Gloucestershire ICB - 15C",
        "QUY",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        "PMS",
        8760,
        0.99,
        1.02,
        25.0,
        0.44,
        2,
        533.75,
    ),
    (
        "L81003",
        "Southmead Family Practice",
        "U33333",
        "Bristol North PCN",
        "15C",
        "NHS Bristol, North Somerset and South Gloucestershire ICB - 15C",
        "QUY",
        "NHS Bristol, North Somerset and South Gloucestershire ICB",
        "GMS",
        6540,
        1.02,
        0.97,
        14.1,
        -0.21,
        4,
        505.5,
    ),
]

HOSTILE_NAMES = {
    "L83001": '=HYPERLINK("http://example.invalid","click")',
    "L83002": "+1",
    "L83003": "-2",
    "L83004": "@SUM(1)",
}


def envelope_pence(registered: int) -> int:
    """National envelope: registered x price, less the out-of-hours deduction, rounded half up."""
    return round_pence(Decimal(registered) * PRICE_PENCE * (1 - OOH))


def _envelope(registered: int) -> Envelope:
    gross = registered * PRICE_PENCE
    deduction = gross - envelope_pence(registered)
    return Envelope((("capitation", gross), ("out_of_hours_deduction", -deduction)))


def make_result(*, hostile_names: bool = False, qof_moved: int = 0) -> Allocation:
    """The 8-practice allocation; ``hostile_names`` gives four practices formula-like names;
    ``qof_moved`` pennies are added to the first practice's QOF (a run whose content differs).
    Each call returns its own copy."""
    return copy.deepcopy(_build(hostile_names, qof_moved))


@functools.cache
def _build(hostile_names: bool, qof_moved: int) -> Allocation:
    cols = [
        "practice_code",
        "practice_name",
        "pcn_code",
        "pcn_name",
        "sub_icb_code",
        "sub_icb_name",
        "icb_code",
        "icb_name",
        "contract_type",
        "registered_patients",
        "index_age_sex",
        "index_additional_needs",
        "imd_score",
        "health_deprivation_score",
        "deprivation_quintile",
        "qof_points",
    ]
    p = pd.DataFrame(_ROWS, columns=cols)
    if hostile_names:
        p["practice_name"] = [
            HOSTILE_NAMES.get(c, n) for c, n in zip(p["practice_code"], p["practice_name"], strict=True)
        ]
    p["region_code"] = "Y58"
    p["region_name"] = "South West"
    p["registered_patients"] = p["registered_patients"].astype("int64")
    p["deprivation_quintile"] = pd.array(p["deprivation_quintile"], dtype="Int64")
    p["imd_score"] = p["imd_score"].astype("float64")
    p["health_deprivation_score"] = p["health_deprivation_score"].astype("float64")
    for name in ["index_list_turnover", "index_care_homes", "index_market_forces", "index_rurality"]:
        p[name] = 1.0
    health = p["health_deprivation_score"].fillna(0.0)
    regs = p["registered_patients"].to_numpy(dtype=float)
    raw_dep = 1.054 ** health.to_numpy()
    p["health_multiplier"] = np.where(p["health_deprivation_score"].notna(), raw_dep, np.nan)
    p["index_deprivation"] = raw_dep / np.average(raw_dep, weights=regs)
    # QOF: points x £225.49 x list / 9,632 national average list, rounded half up
    qof = [
        round_pence(Decimal(str(pts)) * 22549 * reg / Decimal(9632))
        for pts, reg in zip(p["qof_points"], p["registered_patients"], strict=True)
    ]
    p["qof_path"] = "practice_points"
    p = p.assign(_qof=qof).sort_values("practice_code").reset_index(drop=True)
    # one input row flagged by a warning rule at the first 15N practice (the run has one more, untied)
    p["quarantined_rows"] = p["practice_code"] == p.loc[p["sub_icb_code"] == "15N", "practice_code"].min()
    p["quarantined_rows"] = p["quarantined_rows"].astype("int64")
    p.loc[0, "_qof"] += qof_moved
    codes = pd.Index(p["practice_code"])
    registered = int(p["registered_patients"].sum())
    formulas = {
        "global_sum": ("age_sex", "additional_needs"),
        "deprivation_weighted": ("age_sex", "deprivation"),
    }
    ledger, weights, factors = [], [], {}
    for v, formula in formulas.items():
        raw = p["registered_patients"].astype(float)
        for c in formula:
            raw = raw * p[f"index_{c}"]
        factors[v] = registered / raw.sum()
        wl = pd.Series((raw * factors[v]).to_numpy(), index=codes)
        ledger.append(pennies(VariantResult(v, wl, _envelope(registered), factors[v], formula), codes))
        ledger.append(pd.DataFrame({"practice_code": codes, "variant": v, "line": "qof", "pence": p["_qof"]}))
        weights.append(pd.DataFrame({"practice_code": codes, "variant": v, "weighted_list": wl.to_numpy()}))
    facts = p.drop(columns=["_qof"])
    ledger_frame = pd.concat(ledger, ignore_index=True).astype({"pence": "int64"})
    weight_frame = pd.concat(weights, ignore_index=True)
    envelopes = pd.DataFrame(
        [{"variant": v, "line": k, "pence": x} for v in VARIANTS for k, x in _envelope(registered).lines]
    )
    parameters = pd.DataFrame(
        [
            (
                "price_per_weighted_patient",
                "2025/26",
                "123.34",
                "GBP",
                "NHS England GMS SFE 2025/26",
                "VERIFIED",
            ),
            ("out_of_hours_deduction", "", "0.0475", "share", "GMS contract", "SECONDARY"),
            (
                "deprivation_elasticity",
                "",
                "1.054",
                "per point",
                "Health Foundation 'Level or not?'",
                "SECONDARY",
            ),
            ("qof_pounds_per_point", "2025/26", "225.49", "GBP", "QOF guidance 2025/26", "VERIFIED"),
        ],
        columns=["parameter", "key", "value", "unit", "source", "status"],
    )
    components = pd.DataFrame(
        [
            ("age_sex", "applied", "age-sex extract given", "all"),
            ("additional_needs", "applied", "SLLI/SMR given", "global_sum"),
            ("list_turnover", "neutral", "no list turnover data", "all"),
            ("care_homes", "neutral", "no care home data", "all"),
            ("market_forces", "neutral", "no MFF table in the parameter set", "all"),
            ("rurality", "neutral", "no rurality table in the parameter set", "all"),
            ("deprivation", "applied", "1.054 ^ health score", "deprivation_weighted"),
        ],
        columns=["component", "status", "reason", "variants"],
    )
    capitation_lines = {n for n, line in LINES.items() if line.capitation}
    allocation = Allocation(
        period="2025-26-Q2",
        parameter_set="carr_hill_2004",
        parameter_set_title="Carr-Hill (2004) as republished",
        variants=list(VARIANTS),
        selected_variant="global_sum",
        practices=facts,
        ledger=ledger_frame,
        weights=weight_frame,
        variant_table=pd.DataFrame(
            {
                "variant": VARIANTS,
                "normalisation_factor": [factors[v] for v in VARIANTS],
                "components": [",".join(formulas[v]) for v in VARIANTS],
            }
        ),
        envelopes=envelopes,
        totals=aggregate(facts, ledger_frame, weight_frame, capitation_lines, quarter=2),
        parameters=parameters,
        components=components,
        checks=pd.DataFrame(),
        notes=["1 practice (L83005) has no patients in a scored LSOA: no deprivation score, index 1.0."],
    )
    allocation.checks = engine_checks(allocation)
    assert allocation.checks["passed"].all(), allocation.checks
    return allocation


def make_run(*, warnings: bool = True) -> RunInfo:
    w = pd.DataFrame(
        [
            (
                "expect_column_values_to_not_be_null",
                "qof",
                "achievement_points",
                "warning",
                3,
                "3 rows had no points; treated as 0",
            )
        ]
        if warnings
        else [],
        columns=["rule", "extract", "column", "severity", "failing_rows", "message"],
    )
    return RunInfo(
        run_id="manual__2025-10-01T02:00:00",
        period_label="2025/26 Q2",
        generated_for="NHS commissioning finance teams",
        validation_status="passed with warnings" if warnings else "passed",
        warnings=w,
        quarantined_rows=2,
        inputs=[
            {
                "extract": "capitation_age_sex",
                "file": "gp-reg-pat-prac-quin-age.csv",
                "sha256": "ab" * 32,
                "bytes": 123456,
                "source": "/srv/gp-allocations/extracts/gp-reg-pat-prac-quin-age.csv",
                "fetched_at": "2025-10-01T02:00:05+00:00",
            },
            {
                "extract": "qof",
                "file": "ACHIEVEMENT_2425.csv",
                "sha256": "cd" * 32,
                "bytes": 65432,
                "source": "sample-extracts",
                "fetched_at": "2025-10-01T02:00:06+00:00",
            },
        ],
        data_docs="/var/lib/gp-allocations/runs/2025-26-Q2/validation/data_docs/index.html",
        organisation="NHS Devon ICB primary care finance",
        contact="Primary care finance, england.gp-allocations@nhs.net",
        version=3,
        publication_date="2025-10-01",
    )
