"""Practice deprivation from patients registered by LSOA, quintiles and the deprivation index.

A practice's IMD score and health deprivation score are the means of its LSOAs' scores weighted by its
registered patients in each LSOA. Its deprivation multiplier follows the Health Foundation method cited
in the parameter files ("Level or not?", 2020; HFAnalyticsLab/gp_dashboard): each LSOA's need is
multiplied by ``elasticity ^ health score``, so the practice's multiplier is the patient-weighted mean
over its LSOAs of ``elasticity ^ health score`` (not the elasticity raised to the mean score).

LSOAs not in the deprivation file are never silently dropped: they are counted (rows and patients) by
class - English codes missing from the file, Welsh codes (W...), and unknown codes (NO2011, CLOSED, ...).
Their patients stay on the practice's list; the score uses the LSOAs that have one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gp_allocations.hierarchy import one_row_per

from .weighted_list import Component, neutral, positions

LSOA_CLASSES: tuple[str, ...] = ("scored", "english_not_in_deprivation_file", "welsh", "unknown_code")


def _classify(codes: pd.Index, scored: np.ndarray) -> np.ndarray:
    """Class of each distinct LSOA code (index into LSOA_CLASSES)."""
    upper = pd.Series(codes, dtype="str").str.strip().str.upper()
    english = upper.str.match(r"^E0\d{7}$").to_numpy(dtype=bool)
    welsh = upper.str.startswith("W").to_numpy(dtype=bool)
    return np.where(scored, 0, np.where(english, 1, np.where(welsh, 2, 3)))


def _coverage(
    cls: np.ndarray, pat: np.ndarray, pos: np.ndarray, codes: np.ndarray, n: int, n_codes: int
) -> list[dict[str, object]]:
    """Rows, patients, practices and distinct codes per LSOA class."""
    rows: list[dict[str, object]] = []
    for k, name in enumerate(LSOA_CLASSES):
        mask = cls == k
        rows.append(
            {
                "lsoa_class": name,
                "rows": int(mask.sum()),
                "patients": int(pat[mask].sum()),
                "practices": int((np.bincount(pos[mask], minlength=n) > 0).sum()),
                "lsoa_codes": int((np.bincount(codes[mask], minlength=n_codes) > 0).sum()),
            }
        )
    return rows


def practice_scores(
    capitation_lsoa: pd.DataFrame,
    deprivation_lsoa: pd.DataFrame,
    practices: pd.Index,
    elasticity: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Patient-weighted IMD and health scores per practice, plus an LSOA coverage table.

    Returns (scores indexed by practice_code with imd_score, health_deprivation_score,
    health_multiplier (patient-weighted mean of ``elasticity ^ health score``), lsoa_patients,
    scored_patients; coverage with lsoa_class, rows, patients, practices, lsoa_codes; notes).
    """
    dep = one_row_per(deprivation_lsoa, "lsoa_code", "deprivation_lsoa")
    pos = positions(capitation_lsoa["practice_code"], practices)
    inside = pos >= 0
    rows = capitation_lsoa[inside]
    pos = pos[inside]
    codes, uniques = pd.factorize(rows["lsoa_code"])
    imd_u = dep["imd_score"].reindex(uniques).to_numpy(dtype=float)
    health_u = dep["health_deprivation_score"].reindex(uniques).to_numpy(dtype=float)
    # a row is scored when its LSOA has an IMD score (health score then comes from the same file row)
    scored_u = ~np.isnan(imd_u)
    class_u = _classify(uniques, scored_u)
    cls = class_u[codes]
    scored = cls == 0
    pat = rows["patients"].to_numpy(dtype=float)
    n = len(practices)
    p_all = np.bincount(pos, weights=pat, minlength=n)
    p_sc = np.bincount(pos[scored], weights=pat[scored], minlength=n)
    p_imd = np.bincount(pos[scored], weights=pat[scored] * imd_u[codes[scored]], minlength=n)
    health_rows = np.nan_to_num(health_u[codes[scored]])
    p_health = np.bincount(pos[scored], weights=pat[scored] * health_rows, minlength=n)
    p_mult = np.bincount(pos[scored], weights=pat[scored] * np.power(elasticity, health_rows), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = pd.DataFrame(
            {
                "imd_score": np.where(p_sc > 0, p_imd / p_sc, np.nan),
                "health_deprivation_score": np.where(p_sc > 0, p_health / p_sc, np.nan),
                "health_multiplier": np.where(p_sc > 0, p_mult / p_sc, np.nan),
                "lsoa_patients": p_all.astype("int64"),
                "scored_patients": p_sc.astype("int64"),
            },
            index=practices,
        )
    cov_rows = _coverage(cls, pat, pos, codes, n, len(uniques))
    coverage = pd.DataFrame(cov_rows)
    notes: list[str] = []
    labels = {
        "english_not_in_deprivation_file": "English LSOA codes not in the deprivation file",
        "welsh": "Welsh LSOA codes (W...)",
        "unknown_code": "unknown / non-LSOA codes (e.g. NO2011, CLOSED)",
    }
    for c in cov_rows:
        if c["lsoa_class"] != "scored" and c["rows"]:
            notes.append(
                f"deprivation: {c['rows']} practice-LSOA rows, {c['patients']} patients, in "
                f"{c['lsoa_codes']} "
                f"{labels[str(c['lsoa_class'])]}: kept on the practices' lists, left out of their scores"
            )
    unscored = int(scores["imd_score"].isna().sum())
    if unscored:
        notes.append(
            f"deprivation: {unscored} practices have no scored LSOA: no score or quintile, "
            "deprivation index 1.0"
        )
    if (~inside).any():
        notes.append(
            f"deprivation: {int((~inside).sum())} capitation_lsoa rows for practices not in the age-sex "
            "list ignored"
        )
    return scores, coverage, notes


def quintiles(score: pd.Series, registered: pd.Series) -> pd.Series:
    """Deprivation quintile (1 = most deprived fifth) cut on cumulative registered population.

    Practices are sorted by score descending (ties by practice code); a practice's quintile is
    ceil(5 x cumulative patients up to and including it / total), in exact integer arithmetic.
    Practices without a score get <NA>.
    """
    known = score.dropna()
    frame = pd.DataFrame({"score": known, "n": registered.reindex(known.index).astype("int64")})
    frame = frame.rename_axis("practice_code").reset_index()
    frame = frame.sort_values(["score", "practice_code"], ascending=[False, True], kind="mergesort")
    cum = frame["n"].cumsum().astype(object)
    total = int(frame["n"].sum())
    if total <= 0:
        q = pd.Series(1, index=frame.index)
    else:
        q = cum.map(lambda c: max(1, min(5, -(-5 * int(c) // total))))
    frame["q"] = q.astype("int64")
    return frame.set_index("practice_code")["q"].reindex(score.index).astype("Int64")


def deprivation_index(
    health_multiplier: pd.Series | None, registered: pd.Series, elasticity: float, reason_if_absent: str
) -> Component:
    """The practice's health multiplier (mean of elasticity ^ LSOA health score, see the module
    docstring), relative to the national patient-weighted mean. Practices without a score keep 1.0.
    """
    if health_multiplier is None or health_multiplier.notna().sum() == 0:
        return neutral("deprivation", registered.index, reason_if_absent)
    raw = health_multiplier.astype(float)
    known = raw.notna()
    n = registered.astype(float)
    national = float((raw[known] * n[known]).sum() / n[known].sum())
    index = (raw / national).fillna(1.0)
    return Component(
        "deprivation",
        index,
        "applied",
        f"patient-weighted mean over LSOAs of {elasticity} ^ IoD health deprivation score, "
        "relative to England",
    )
