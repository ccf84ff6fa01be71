"""QOF payment per practice (QOF guidance: points x pounds per point x list adjustment x APDF), in
pennies rounded half up once per practice.

Prevalence-adjusted path (achievement + prevalence + indicator mapping given), per indicator:
    points x pence/point x (practice list / national average list) x APDF
where APDF = practice prevalence / national prevalence for prevalence-weighted indicators (clinical domain
``CL`` whose group has a register in the prevalence file) and 1 otherwise. The per-indicator amounts are
summed in float and the practice total rounded to a whole penny, halves up.

Practice-points path (practice summary only): points x pence/point x list / national average list, in
exact Decimal arithmetic, rounded half up.

The practice list is the registered list of the age-sex extract (the same list the capitation uses).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from gp_allocations.hierarchy import one_row_per

from .weighted_list import positions

PREVALENCE_ADJUSTED = "prevalence_adjusted"
PRACTICE_POINTS = "practice_points"
NO_QOF = "none"


def _round_half_up(values: pd.Series) -> pd.Series:
    # Decimal from repr of the float: halves go up as the money rule says, not to even as numpy would.
    return values.map(
        lambda v: int(Decimal(repr(float(v))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    ).astype("int64")


def prevalence_adjusted(
    achievement: pd.DataFrame,
    prevalence: pd.DataFrame,
    indicators: pd.DataFrame,
    registered: pd.Series,
    pounds_per_point: Decimal,
    national_average_list: int,
) -> tuple[pd.DataFrame, list[str]]:
    """QOF points and pence per practice by the prevalence-adjusted path (see module docstring)."""
    notes: list[str] = []
    practices = registered.index
    n = len(practices)
    m_codes, m_uniques = pd.factorize(achievement["measure"])
    points_measure = pd.Series(m_uniques, dtype="str").str.strip().str.upper().to_numpy() == "ACHIEVED_POINTS"
    keep = np.where(m_codes >= 0, points_measure[m_codes] if len(points_measure) else False, False)
    ach = achievement[keep]
    pos = positions(ach["practice_code"], practices)
    outside = pos < 0
    if outside.any():
        notes.append(
            f"QOF: {ach.loc[outside, 'practice_code'].nunique()} practices with QOF points are not in "
            "the age-sex list; their points are not paid here"
        )
    ach, pos = ach[~outside], pos[~outside]
    value = pd.to_numeric(ach["value"], errors="coerce").fillna(0.0).to_numpy(dtype=float)

    # groups: one id per group code seen in the prevalence file
    group_index = pd.Index(pd.unique(prevalence["group_code"]))
    ind = one_row_per(indicators, "indicator_code", "qof_indicators")
    i_codes, i_uniques = pd.factorize(ach["indicator_code"])
    mapped_u = ind.index.get_indexer(i_uniques) >= 0
    group_u = group_index.get_indexer(pd.Index(ind["group_code"].reindex(i_uniques)))
    domain_u = ind["domain_code"].reindex(i_uniques).astype("str").str.strip().str.upper().to_numpy()
    # prevalence-weighted: clinical domain and the group has a register in the prevalence file
    weighted_u = (domain_u == "CL") & (group_u >= 0)
    if (~mapped_u).any():
        notes.append(
            f"QOF: {int((~mapped_u).sum())} indicators with points are not in the indicator mapping; "
            "paid without prevalence adjustment"
        )

    reg = pd.to_numeric(prevalence["register"], errors="coerce").to_numpy(dtype=float)
    size = pd.to_numeric(prevalence["practice_list_size"], errors="coerce").to_numpy(dtype=float)
    gid = group_index.get_indexer(pd.Index(prevalence["group_code"]))
    g_reg = np.bincount(gid, weights=np.nan_to_num(reg), minlength=len(group_index))
    g_size = np.bincount(gid, weights=np.nan_to_num(size), minlength=len(group_index))
    with np.errstate(invalid="ignore", divide="ignore"):
        national = np.where(g_size > 0, g_reg / g_size, np.nan)
        practice_prev = np.full((n, len(group_index)), np.nan)
        ppos = positions(prevalence["practice_code"], practices)
        ok = ppos >= 0
        practice_prev[ppos[ok], gid[ok]] = np.where(size[ok] > 0, reg[ok] / size[ok], np.nan)
        row_group = group_u[i_codes]
        row_weighted = weighted_u[i_codes]
        apdf = np.ones(len(ach))
        w = row_weighted
        ratio = practice_prev[pos[w], row_group[w]] / national[row_group[w]]
    missing = np.isnan(ratio)
    if missing.any():
        notes.append(
            f"QOF: {int(missing.sum())} practice-indicator rows of prevalence-weighted indicators have no "
            "practice prevalence; APDF 1.0 used for them"
        )
    apdf[w] = np.where(missing, 1.0, ratio)
    lists = registered.to_numpy(dtype=float)[pos]
    ppp = float(pounds_per_point * 100)
    pence = value * ppp * (lists / national_average_list) * apdf
    out = pd.DataFrame(index=practices)
    out["qof_points"] = np.bincount(pos, weights=value, minlength=n)
    out["qof_pence"] = _round_half_up(
        pd.Series(np.bincount(pos, weights=pence, minlength=n), index=practices)
    )
    out["qof_path"] = PREVALENCE_ADJUSTED
    return out, notes


def practice_points(
    summary: pd.DataFrame, registered: pd.Series, pounds_per_point: Decimal, national_average_list: int
) -> tuple[pd.DataFrame, list[str]]:
    """QOF points and pence per practice from the practice summary (no prevalence adjustment)."""
    notes: list[str] = []
    pts = summary.groupby("practice_code")["achievement_points"].sum()
    outside = ~pts.index.isin(registered.index)
    if outside.any():
        notes.append(f"QOF: {int(outside.sum())} practices in the QOF summary are not in the age-sex list")
    pts = pts.reindex(registered.index)
    missing = int(pts.isna().sum())
    if missing:
        notes.append(f"QOF: {missing} practices have no QOF summary row: 0 points")
    pts = pts.fillna(0.0)
    ppp = pounds_per_point * 100
    avg = Decimal(int(national_average_list))
    pence = [
        int(
            (Decimal(repr(float(p))) * ppp * Decimal(int(n)) / avg).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
        )
        for p, n in zip(pts.to_numpy(), registered.to_numpy(), strict=True)
    ]
    out = pd.DataFrame(index=registered.index)
    out["qof_points"] = pts.astype(float)
    out["qof_pence"] = pd.Series(pence, index=registered.index, dtype="int64")
    out["qof_path"] = PRACTICE_POINTS
    return out, notes


def no_qof(registered: pd.Series) -> pd.DataFrame:
    """Zero QOF when no QOF extract is given (qof_path 'none')."""
    return pd.DataFrame(
        {"qof_points": 0.0, "qof_pence": 0, "qof_path": NO_QOF}, index=registered.index
    ).astype({"qof_pence": "int64"})
