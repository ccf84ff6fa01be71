"""QOF raw data: achievement by region, prevalence and the indicator mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .draws import random_stream
from .output import published_frame, write_csv, write_published
from .tables import DOMAINS, GROUPS, INDICATORS, MEASURE_ORDER

# The eras written (include/layouts): the header of each file comes from there.
ACHIEVEMENT_LAYOUT = "qof_achievement_regional"
PREVALENCE_LAYOUT = "qof_prevalence"
INDICATORS_LAYOUT = "qof_indicators_2020"


def list_for_type(age_sex: np.ndarray, list_type: str) -> np.ndarray:
    """Patients in the age-restricted list (TOTAL, 06OV, 17OV ...), approximated from 5-year bands."""
    both = age_sex.sum(axis=1)  # (n, 20)
    if list_type == "TOTAL":
        return np.asarray(both.sum(axis=1), dtype=np.int64)
    age = int(list_type[:2])
    band, part = divmod(age, 5)
    rest = both[:, band + 1 :].sum(axis=1) + np.round(both[:, band] * (5 - part) / 5).astype(np.int64)
    return np.asarray(rest, dtype=np.int64)


def qof_indicators() -> pd.DataFrame:
    """The sample QOF indicator set in the 2020/21 MAPPING_INDICATORS column layout."""
    frame = pd.DataFrame(
        {
            "indicator_code": [i[0] for i in INDICATORS],
            "indicator_point_value": [i[1] for i in INDICATORS],
            "group_code": [i[2] for i in INDICATORS],
            "group_description": [GROUPS[i[2]][0] for i in INDICATORS],
            "domain_code": [i[3] for i in INDICATORS],
            "domain_description": [DOMAINS[i[3]] for i in INDICATORS],
            "patient_list_type": [GROUPS[i[2]][1] for i in INDICATORS],
        }
    )
    return published_frame(INDICATORS_LAYOUT, frame)


Blocks = tuple[tuple[str, np.ndarray], ...]  # (MEASURE, value per practice), in the order written


def _registers(
    rng: np.random.Generator, prac: pd.DataFrame, age_sex: np.ndarray, p_dep: np.ndarray
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Registers per disease group (prevalence rises with age and deprivation) and the PREVALENCE rows."""
    n = len(prac)
    old_share = age_sex[:, :, 13:].sum(axis=(1, 2)) / age_sex.sum(axis=(1, 2))
    old_rel = old_share / old_share.mean()
    register: dict[str, np.ndarray] = {}
    rows = []
    for group, (_desc, list_type, prevalence) in GROUPS.items():
        if prevalence == 0:
            continue
        size = list_for_type(age_sex, list_type)
        rate = prevalence * old_rel**0.8 * np.exp(0.12 * p_dep) * rng.lognormal(0, 0.15, n)
        register[group] = rng.binomial(size, np.clip(rate, 0, 0.6))
        rows.append(
            pd.DataFrame(
                {
                    "practice_code": prac["practice_code"],
                    "group_code": group,
                    "register": register[group],
                    "patient_list_type": list_type,
                    "practice_list_size": size,
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True).sort_values(["practice_code", "group_code"], kind="stable")
    return register, frame


def _outcome(
    rng: np.random.Generator, pool: np.ndarray, quality: np.ndarray, indicator: tuple[int, float, float]
) -> tuple[np.ndarray, Blocks]:
    """An outcome indicator's points and NUMERATOR, DENOMINATOR, PCAS, ACHIEVED_POINTS from its pool."""
    max_points, lower, upper = indicator
    n = len(pool)
    eligible = rng.binomial(pool, rng.uniform(0.4, 1.0))
    pcas = rng.binomial(eligible, np.clip(rng.normal(0.08, 0.04, n), 0, 0.4))
    denominator = eligible - pcas
    mean_rate = (lower + upper) / 200 if upper > lower else 0.8
    rate = np.clip(mean_rate + 0.12 + quality + rng.normal(0, 0.08, n), 0, 1)
    numerator = rng.binomial(denominator, rate)
    achieved = np.divide(numerator * 100.0, denominator, out=np.zeros(n), where=denominator > 0)
    fraction = np.clip((achieved - lower) / max(upper - lower, 1e-9), 0, 1)
    # Floor at 2 decimals so rounding never lifts points above the indicator's maximum.
    points = np.floor(fraction * max_points * 100) / 100
    blocks: Blocks = (
        ("NUMERATOR", numerator.astype(float)),
        ("DENOMINATOR", denominator.astype(float)),
        ("PCAS", pcas.astype(float)),
        ("ACHIEVED_POINTS", points),
    )
    return points, blocks


def _achievement(
    rng: np.random.Generator, register: dict[str, np.ndarray], age_sex: np.ndarray, p_dep: np.ndarray
) -> tuple[np.ndarray, list[tuple[str, Blocks]]]:
    """Points per practice and each indicator's measure blocks, in the indicator set's order."""
    n = len(p_dep)
    points_total = np.zeros(n)
    quality = rng.normal(0, 0.06, n) - 0.02 * p_dep  # practice-level achievement tendency
    out: list[tuple[str, Blocks]] = []
    for code, max_points, group, _domain, kind, lower, upper in INDICATORS:
        blocks: Blocks
        if kind == "R":
            reg = register[group]
            points = np.where(reg > 0, float(max_points), 0.0)
            blocks = (("REGISTER", reg.astype(float)), ("ACHIEVED_POINTS", points))
        else:
            if group in register:
                pool = register[group]
            else:  # public health / QI / vaccination: a slice of the relevant list
                share = rng.uniform(0.05, 0.5)
                pool = np.round(list_for_type(age_sex, GROUPS[group][1]) * share).astype(np.int64)
            points, blocks = _outcome(rng, pool, quality, (max_points, lower, upper))
            if group in register:
                blocks = (("REGISTER", register[group].astype(float)), *blocks)
        points_total += points
        out.append((code, blocks))
    return points_total, out


def _achievement_frame(prac: pd.DataFrame, indicators: list[tuple[str, Blocks]]) -> pd.DataFrame:
    """The long ACHIEVEMENT rows, ordered by region, practice, indicator and measure."""
    n = len(prac)
    pairs = [(code, measure, vals) for code, blocks in indicators for measure, vals in blocks]
    p_all = np.concatenate([np.arange(n) for _ in pairs])
    measure_all = np.concatenate([np.full(n, measure) for _, measure, _ in pairs])
    value_all = np.concatenate([vals for _, _, vals in pairs])
    value_text = np.where(
        measure_all == "ACHIEVED_POINTS",
        np.char.mod("%.2f", value_all),
        np.char.mod("%d", value_all.astype(np.int64)),
    )
    achievement = pd.DataFrame(
        {
            "region_ods_code": prac["region_code"].to_numpy(str)[p_all],
            "region_ons_code": prac["region_ons_code"].to_numpy(str)[p_all],
            "region_name": prac["region_name"].to_numpy(str)[p_all],
            "practice_code": prac["practice_code"].to_numpy(str)[p_all],
            "indicator_code": np.concatenate([np.full(n, code) for code, _, _ in pairs]),
            "measure": measure_all,
            "value": value_text,
            "_order": np.vectorize(MEASURE_ORDER.get)(measure_all),
        }
    ).sort_values(["region_ods_code", "practice_code", "indicator_code", "_order"], kind="stable")
    return achievement.drop(columns="_order")


def write_qof(
    out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, p_dep: np.ndarray, fy: str, seed: int
) -> tuple[np.ndarray, dict[str, list[Path]]]:
    """ACHIEVEMENT_<REGION>, PREVALENCE and MAPPING_INDICATORS files; returns points per practice."""
    rng = random_stream(seed, 10)
    register, prevalence = _registers(rng, prac, age_sex, p_dep)
    points_total, indicators = _achievement(rng, register, age_sex, p_dep)
    achievement = _achievement_frame(prac, indicators)
    files: dict[str, list[Path]] = {"qof_achievement": []}
    for region_name, part in achievement.groupby("region_name", sort=True):
        stem = str(region_name).upper().replace(" ", "_")
        path = out_dir / f"ACHIEVEMENT_{stem}_{fy}.csv"
        files["qof_achievement"].append(write_published(path, ACHIEVEMENT_LAYOUT, part))
    files["qof_prevalence"] = [
        write_published(out_dir / f"PREVALENCE_{fy}.csv", PREVALENCE_LAYOUT, prevalence)
    ]
    files["qof_indicators"] = [write_csv(out_dir / f"MAPPING_INDICATORS_{fy}.csv", qof_indicators())]
    return points_total, files
