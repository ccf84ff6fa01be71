"""Realistic AllocationResult fixtures for the workbook, publish and delivery tests.

2 sub-ICB locations, 3 PCNs, 8 practices, variants global_sum and deprivation_weighted, built the way
results.py describes (money in integer pennies, levels as exact sums, envelopes conserved).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from gp_allocations.money import apportion, round_pence
from gp_allocations.results import AllocationResult
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


def make_result(*, hostile_names: bool = False) -> AllocationResult:
    """The 8-practice result; ``hostile_names`` gives four practices formula-like names."""
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
    p["index_deprivation"] = raw_dep / np.average(raw_dep, weights=regs)

    env = envelope_pence(int(p["registered_patients"].sum()))
    product_gs = p["index_age_sex"] * p["index_additional_needs"]
    product_dw = p["index_age_sex"] * p["index_deprivation"]
    for v, product in [("global_sum", product_gs), ("deprivation_weighted", product_dw)]:
        raw = p["registered_patients"] * product
        p[f"weighted_list__{v}"] = raw * p["registered_patients"].sum() / raw.sum()
        p[f"capitation_pence__{v}"] = apportion(env, p[f"weighted_list__{v}"].to_numpy())
    for v in VARIANTS:
        p[f"difference_pence__{v}"] = p[f"capitation_pence__{v}"] - p["capitation_pence__global_sum"]
    # QOF: points x £225.49 x list / 9,632 national average list, rounded half up
    p["qof_pence"] = [
        round_pence(Decimal(str(pts)) * 22549 * reg / Decimal(9632))
        for pts, reg in zip(p["qof_points"], p["registered_patients"], strict=True)
    ]
    p["qof_pence"] = p["qof_pence"].astype("int64")
    p["qof_path"] = "practice_points"
    for v in VARIANTS:
        p[f"total_pence__{v}"] = p[f"capitation_pence__{v}"] + p["qof_pence"]
    p = p.sort_values("practice_code").reset_index(drop=True)

    levels = {lvl: _aggregate(p, lvl) for lvl in ["pcn", "sub_icb", "icb", "region", "england"]}
    parameters = pd.DataFrame(
        [
            (
                "price_per_weighted_patient",
                "2025/26",
                "123.34",
                "GBP",
                "NHS England GMS SFE 2025/26 (VERIFIED)",
            ),
            ("out_of_hours_deduction", "", "0.0475", "share", "GMS contract (SECONDARY)"),
            (
                "deprivation_elasticity",
                "",
                "1.054",
                "per point",
                "Health Foundation 'Level or not?' (SECONDARY)",
            ),
            ("qof_pounds_per_point", "2025/26", "225.49", "GBP", "QOF guidance 2025/26 (VERIFIED)"),
        ],
        columns=["parameter", "key", "value", "unit", "source"],
    )
    components = pd.DataFrame(
        [
            ("age_sex", "applied", "age-sex extract given"),
            ("additional_needs", "applied", "SLLI/SMR given"),
            ("list_turnover", "neutral", "no list turnover data"),
            ("care_homes", "neutral", "no care home data"),
            ("market_forces", "neutral", "no MFF table in the parameter set"),
            ("rurality", "neutral", "no rurality table in the parameter set"),
        ],
        columns=["component", "status", "reason"],
    )
    recon = [
        (
            f"practices sum to envelope: {v}",
            env,
            int(p[f"capitation_pence__{v}"].sum()),
            env == int(p[f"capitation_pence__{v}"].sum()),
        )
        for v in VARIANTS
    ]
    recon.append(
        (
            "national weighted list equals registered list",
            int(p["registered_patients"].sum()),
            round(float(p["weighted_list__global_sum"].sum()), 6),
            True,
        )
    )
    reconciliation = pd.DataFrame(recon, columns=["check", "expected", "actual", "passed"])
    return AllocationResult(
        period="2025-26-Q2",
        parameter_set="carr_hill_2004",
        parameter_set_title="Carr-Hill (2004) as republished",
        variants=list(VARIANTS),
        selected_variant="global_sum",
        practices=p,
        levels=levels,
        parameters=parameters,
        components=components,
        envelopes_pence={v: env for v in VARIANTS},
        reconciliation=reconciliation,
        notes=["1 practice (L83005) has no patients in a scored LSOA: no deprivation score, index 1.0."],
        equity=_equity(p),
    )


def _aggregate(p: pd.DataFrame, level: str) -> pd.DataFrame:
    keyed = p.assign(england_code="E92000001", england_name="England") if level == "england" else p
    keys = [f"{level}_code", f"{level}_name"]
    sums = ["registered_patients"] + [f"weighted_list__{v}" for v in VARIANTS]
    sums += (
        [f"capitation_pence__{v}" for v in VARIANTS] + ["qof_pence"] + [f"total_pence__{v}" for v in VARIANTS]
    )
    g = keyed.groupby(keys, sort=True)
    out = g[sums].sum()
    out.insert(0, "practices", g.size())
    return out.reset_index()


def _equity(p: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for q in range(1, 6):
        part = p[p["deprivation_quintile"] == q]
        reg = int(part["registered_patients"].sum())
        wl = float(part["weighted_list__global_sum"].sum())
        row = {
            "deprivation_quintile": q,
            "practices": len(part),
            "registered_patients": reg,
            "weighted_list__global_sum": wl,
        }
        for v in VARIANTS:
            cap = int(part[f"capitation_pence__{v}"].sum())
            row[f"capitation_per_registered_pence__{v}"] = cap / reg
            row[f"capitation_per_weighted_pence__{v}"] = cap / wl
        rows.append(row)
    return pd.DataFrame(rows)


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
                "source": "sample-extracts",
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
        data_docs="data_docs/index.html",
    )
