"""NHS Payments to General Practice, practice level, in the published 2022/23+ layout.

The header (75 cells) is the ``payments_sub_icb_2022`` era's ``published`` list in
include/layouts/contracts.yaml; this module fills each cell by its name there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.periods import Period

from .draws import nearest, random_stream
from .output import money_text, published_names, write_published
from .tables import (
    BAND_WORKLOAD,
    GLOBAL_SUM_PRICE,
    MINOR_PAYMENTS,
    OOH_DEDUCTION,
    QOF_NATIONAL_AVERAGE_LIST,
    QOF_POINT_VALUE,
    STREETS,
)

LAYOUT = "payments_sub_icb_2022"  # the era written (include/layouts/contracts.yaml)
COVID_LINES = ("covid_immunisation", "covid_support_and_expansion", "long_covid")


def _between(names: tuple[str, ...], first: str, last: str) -> tuple[str, ...]:
    """The header names from ``first`` to ``last``, both included, in the published order."""
    return names[names.index(first) : names.index(last) + 1]


def _lists(
    rng: np.random.Generator, age_sex: np.ndarray, p_dep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(age-sex list, average registered list, rural, weighted list) per practice."""
    n = len(p_dep)
    list_total = age_sex.sum(axis=(1, 2)).astype(float)
    # Quarterly average list: close to, not equal to, the age-sex total, in quarter-patient steps.
    registered = np.round(list_total * (1 + rng.normal(0, 0.008, n)) * 4) / 4
    registered = np.where(registered == list_total, registered + 0.25, registered)
    workload = (age_sex.sum(axis=1) * BAND_WORKLOAD[None, :]).sum(axis=1) / list_total
    rural = rng.random(n) < 0.16
    need = workload / workload.mean() * np.exp(0.05 * p_dep) * np.where(rural, 1.04, 1.0)
    weighted = np.round(registered * need * rng.lognormal(0, 0.02, n), 2)
    return list_total, registered, rural, weighted


def _money(
    rng: np.random.Generator,
    prac: pd.DataFrame,
    lists: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    qof_points: np.ndarray,
    year: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(pounds per payment line, contract type, dispensing) per practice; lines rounded to pence."""
    list_total, registered, rural, weighted = lists
    n = len(prac)
    y_code = prac["practice_code"].str.startswith("Y").to_numpy()
    draw = rng.random(n)
    contract = np.where(y_code | (draw < 0.05), "APMS", np.where(draw < 0.30, "PMS", "GMS"))
    dispensing = rng.random(n) < np.where(rural, 0.6, 0.05)
    price = nearest(GLOBAL_SUM_PRICE, year) * (1 - OOH_DEDUCTION)
    formula = weighted * price * rng.normal(1, 0.005, n)
    global_sum = np.where(
        contract == "GMS",
        formula,
        np.where(contract == "PMS", formula * rng.uniform(0.8, 1.0, n), formula * rng.uniform(0.85, 1.2, n)),
    )
    pms_balance = np.where(contract == "PMS", formula * rng.uniform(0.05, 0.2, n), 0.0)
    mpig = np.where(rng.random(n) < 0.10, rng.uniform(500, 40000, n), 0.0)
    cpi = list_total / nearest(QOF_NATIONAL_AVERAGE_LIST, year)
    qof = qof_points * nearest(QOF_POINT_VALUE, year) * cpi * rng.normal(1, 0.03, n)
    money: dict[str, np.ndarray] = {
        "global_sum_pence": global_sum,
        "mpig_pence": mpig,
        "pms_balance": pms_balance,
        "qof_pence": qof,
    }
    for line, per_patient, share in MINOR_PAYMENTS:
        paid = rng.random(n) < share
        money[line] = np.where(paid, registered * per_patient * rng.lognormal(0, 0.5, n), 0.0)
    money["dispensing_fee_payments"] = np.where(dispensing, registered * rng.uniform(15, 40, n), 0.0)
    money["reimbursement_of_drugs"] = np.where(
        dispensing, registered * rng.uniform(40, 110, n), registered * rng.lognormal(np.log(4), 0.6, n)
    )
    return {line: np.round(pounds, 2) for line, pounds in money.items()}, contract, dispensing


def _practice_details(
    rng: np.random.Generator,
    prac: pd.DataFrame,
    contract: np.ndarray,
    dispensing: np.ndarray,
    rural: np.ndarray,
) -> dict[str, object]:
    """The practice columns: organisation, address, dates, contract and rurality."""
    n = len(prac)
    return {
        "region_code": prac["region_code"],
        "region_name": prac["region_name"].str.upper() + " COMM REGION",
        "sub_icb_code": prac["sub_icb_code"],
        "sub_icb_name": prac["sub_icb_name"].str.upper(),
        "pcn_code": prac["pcn_code"],
        "pcn_name": prac["pcn_name"],
        "practice_code": prac["practice_code"],
        "practice_name": prac["practice_name"],
        "practice_address": [
            f"{k} {STREETS[s]}  {name.split(' ')[0]}"
            for k, s, name in zip(
                rng.integers(1, 200, n), rng.integers(0, len(STREETS), n), prac["practice_name"], strict=True
            )
        ],
        "practice_postcode": prac["practice_postcode"],
        "practice_open_date": np.where(
            rng.random(n) < 0.7,
            "01/04/1974",
            [
                f"01/{m:02d}/{y}"
                for m, y in zip(rng.integers(1, 13, n), rng.integers(1975, 2020, n), strict=True)
            ],
        ),
        "practice_close_date": "",
        "contract_type": contract,
        "dispensing_practice": np.where(dispensing, "Yes", "No"),
        "practice_type": "GP practice",
        "practice_rurality": np.where(rural, "Rural", "Urban"),
        "atypical_characteristics": "",
    }


def write_payments(
    out_dir: Path,
    prac: pd.DataFrame,
    age_sex: np.ndarray,
    p_dep: np.ndarray,
    qof_points: np.ndarray,
    period: Period,
    seed: int,
) -> Path:
    """NHS Payments to General Practice, practice level, in the published 2022/23+ layout."""
    rng = random_stream(seed, 11)
    n = len(prac)
    year = period.start_year
    names = published_names(LAYOUT)
    lists = _lists(rng, age_sex, p_dep)
    _, registered, rural, weighted = lists
    money, contract, dispensing = _money(rng, prac, lists, qof_points, year)
    parts = _between(names, "global_sum_pence", "other_payments")
    total = np.round(sum(money.get(c, np.zeros(n)) for c in parts if c != "long_covid"), 2)
    deductions = -np.round(total * rng.uniform(0.04, 0.14, n), 2)
    pcn = np.zeros(n)  # PCN payments go to the PCN's nominated practice; none in the sample
    with_covid = total + money["long_covid"]
    with_pcn = total + pcn
    frame = _practice_details(rng, prac, contract, dispensing, rural)
    frame |= {
        "registered_patients": money_text(registered),
        "weighted_patients": money_text(weighted),
        "per_registered_patient": money_text(total / registered),
        "per_weighted_patient": money_text(total / weighted),
    }
    frame |= {line: money_text(money.get(line, np.zeros(n))) for line in (*parts, *COVID_LINES)}
    frame |= {line: "0" for line in _between(names, "pcn_leadership", "pcn_enhanced_access")}
    frame |= {
        "total_payments_pence": money_text(total),
        "deductions": money_text(deductions),
        "total_minus_deductions": money_text(total + deductions),
        "total_with_covid": money_text(with_covid),
        "total_with_pcn": money_text(with_pcn),
        "total_with_covid_and_pcn": money_text(with_covid + pcn),
        "total_with_covid_and_pcn_minus_deductions": money_text(with_covid + pcn + deductions),
        "per_registered_patient_with_pcn": money_text(with_pcn / registered),
        "per_weighted_patient_with_pcn": money_text(with_pcn / weighted),
        "per_registered_patient_with_covid": money_text(with_covid / registered),
        "per_weighted_patient_with_covid": money_text(with_covid / weighted),
    }
    table = pd.DataFrame(frame).sort_values(["region_code", "sub_icb_code", "practice_code"], kind="stable")
    name = f"nhspaymentsgp-{year % 100:02d}-{(year + 1) % 100:02d}-prac-csv.csv"
    return write_published(out_dir / name, LAYOUT, table, bom=True, crlf=True)
