"""Carr-Hill component indices per practice, each relative to the national average (patient-weighted = 1).

Every function is vectorised (groupby/merge): England is about 6,500 practices and 1.5 M practice x LSOA
rows. A component whose input is absent is neutral (index 1.0 exactly) and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError
from gp_allocations.hierarchy import one_row_per

from .parameters import ParameterSet

#: Published 5-year bands -> Carr-Hill bands. 85_89, 90_94 and the top-coded 95+ all count as 85+
#: (the HF dashboard's `AGE > 85` bug drops age 85 exactly; this mapping does not).
BAND_PREFIX = "patients_"
BAND_MAP: dict[str, str] = {
    "0_4": "0-4",
    "5_9": "5-14",
    "10_14": "5-14",
    **{f"{a}_{a + 4}": "15-44" for a in range(15, 45, 5)},
    **{f"{a}_{a + 4}": "45-64" for a in range(45, 65, 5)},
    "65_69": "65-74",
    "70_74": "65-74",
    "75_79": "75-84",
    "80_84": "75-84",
    "85_89": "85+",
    "90_94": "85+",
    "95+": "85+",
}

_TOTAL_MARKERS = {"ALL", "TOTAL"}


@dataclass
class Component:
    """One component's practice indices (aligned to the practice index) and how it was derived."""

    name: str
    index: pd.Series
    status: str  # 'applied' | 'neutral'
    reason: str


def positions(keys: pd.Series, index: pd.Index) -> np.ndarray:
    """Position of each key in ``index`` (-1 when absent); factorised first, so a few thousand distinct
    keys over millions of rows cost one hash lookup each."""
    codes, uniques = pd.factorize(keys)
    at = index.get_indexer(uniques)
    return np.where(codes >= 0, at[codes] if len(at) else -1, -1)


def lookup(keys: pd.Series, table: pd.Series) -> np.ndarray:
    """``table[key]`` for each key as float (NaN when absent), vectorised through factorize."""
    codes, uniques = pd.factorize(keys)
    values = table[~table.index.duplicated()].reindex(uniques).to_numpy(dtype=float)
    return np.where(codes >= 0, values[codes] if len(values) else np.nan, np.nan)


def relative(raw: pd.Series, weights: pd.Series) -> pd.Series:
    """``raw`` divided by its national patient-weighted mean, so the national average is 1."""
    national = float((raw * weights).sum() / weights.sum())
    return raw / national


def _bad_rows(df: pd.DataFrame, mask: pd.Series, column: str, rule: str, message: str) -> InputError:
    first = df.loc[mask].iloc[0]
    row = int(first["_row"]) if "_row" in df.columns and pd.notna(first.get("_row")) else None
    file = str(first["_file"]) if "_file" in df.columns and pd.notna(first.get("_file")) else None
    return InputError(
        f"{message}: {first[column]!r} ({int(mask.sum())} rows)",
        file=file or "capitation_age_sex",
        row=row,
        column=column,
        rule=rule,
    )


def age_sex(capitation: pd.DataFrame, params: ParameterSet) -> tuple[pd.DataFrame, Component]:
    """Registered list and age-sex index per practice from the 5-year-band extract.

    Returns (frame indexed by practice_code, sorted, with ``registered_patients`` int64, ``age_sex_raw``
    float = weighted patients / patients), and the index component. Total rows (sex or band ALL) are
    ignored; any other unknown sex or band is an InputError naming the row.
    """
    df = capitation[["practice_code", "sex", "age_band", "patients"]].copy()
    extra = [c for c in ("_file", "_row") if c in capitation.columns]
    for c in extra:
        df[c] = capitation[c]
    df["sex"] = df["sex"].astype(str).str.strip().str.upper()
    df["age_band"] = df["age_band"].astype(str).str.strip().str.replace(" ", "", regex=False)
    df = df[~(df["sex"].isin(_TOTAL_MARKERS) | df["age_band"].str.upper().isin(_TOTAL_MARKERS))]
    bad_sex = ~df["sex"].isin(["MALE", "FEMALE"])
    if bad_sex.any():
        raise _bad_rows(df, bad_sex, "sex", "sex-in-set", "sex is not MALE or FEMALE")
    df["band"] = df["age_band"].map(BAND_MAP)
    bad_band = df["band"].isna()
    if bad_band.any():
        raise _bad_rows(
            df, bad_band, "age_band", "age-band-in-set", "age band is not a published 5-year band"
        )
    patients = pd.to_numeric(df["patients"], errors="coerce")
    if patients.isna().any() or (patients < 0).any():
        raise _bad_rows(
            df,
            patients.isna() | (patients < 0),
            "patients",
            "patients-non-negative",
            "patients is not a non-negative number",
        )
    weights = {f"{sex}|{band}": w for (sex, band), w in params.age_sex_weights.items()}
    w = (df["sex"] + "|" + df["band"]).map(weights).astype(float)
    df = df.assign(patients=patients.astype("int64"), weighted=patients.astype(float) * w)
    grouped = df.groupby("practice_code", sort=True)[["patients", "weighted"]].sum()
    out = pd.DataFrame(index=grouped.index)
    out["registered_patients"] = grouped["patients"].astype("int64")
    national = grouped["weighted"].sum() / grouped["patients"].sum()
    raw = (grouped["weighted"] / grouped["patients"].where(grouped["patients"] > 0)).fillna(national)
    out["age_sex_raw"] = raw
    # patients per published 5-year band (both sexes), for scenarios paid per head of an age group
    bands = df.pivot_table(index="practice_code", columns="age_band", values="patients", aggfunc="sum")
    for band in BAND_MAP:
        out[f"{BAND_PREFIX}{band}"] = (
            bands[band].reindex(out.index).fillna(0).astype("int64") if band in bands else 0
        )
    index = raw / national
    return out, Component(
        "age_sex", index, "applied", "age-sex workload weights by Carr-Hill band, relative to England"
    )


def neutral(name: str, practices: pd.Index, reason: str) -> Component:
    """Index 1.0 exactly for every practice, with the reason it is neutral."""
    return Component(name, pd.Series(1.0, index=practices), "neutral", reason)


def additional_needs(
    capitation_lsoa: pd.DataFrame | None,
    needs: pd.DataFrame | None,
    registered: pd.Series,
    params: ParameterSet,
) -> tuple[Component, list[str]]:
    """Additional-needs index: constant + a x SLLI + b x SMR<65 by LSOA, patient-weighted per practice.

    Practices with none of their LSOAs in the needs file keep index 1.0 (counted in the notes).
    """
    practices = registered.index
    if needs is None or capitation_lsoa is None:
        missing = "additional_needs" if needs is None else "capitation_lsoa"
        return neutral("additional_needs", practices, f"no {missing} extract given: neutral 1.0"), []
    coef = params.additional_needs
    area = one_row_per(needs, "lsoa_code", "additional_needs")
    value = (
        coef["constant"]
        + coef["slli"] * area["slli"].astype(float)
        + coef["smr_under_65"] * area["smr_under_65"].astype(float)
    )
    pos = positions(capitation_lsoa["practice_code"], practices)
    val = lookup(capitation_lsoa["lsoa_code"], value)
    pat = capitation_lsoa["patients"].to_numpy(dtype=float)
    inside = pos >= 0
    ok = inside & ~np.isnan(val)
    n = len(practices)
    pv = np.bincount(pos[ok], weights=pat[ok] * val[ok], minlength=n)
    pp = np.bincount(pos[ok], weights=pat[ok], minlength=n)
    if pp.sum() <= 0:
        return neutral("additional_needs", practices, "no practice LSOA is in the additional_needs file"), []
    raw = pd.Series(np.where(pp > 0, pv / np.where(pp > 0, pp, 1.0), np.nan), index=practices)
    covered = raw.notna()
    # national average weighted by registered patients, as every other component, so the mean index is 1
    n_reg = registered.astype(float)
    national = float((raw[covered] * n_reg[covered]).sum() / n_reg[covered].sum())
    uncovered = int((~covered).sum())
    index = (raw / national).fillna(1.0)
    notes = []
    unmatched = inside & np.isnan(val)
    if unmatched.any():
        notes.append(
            f"additional needs: {int(unmatched.sum())} practice-LSOA rows ({int(pat[unmatched].sum())} "
            "patients) have no SLLI/SMR value; the practice mean uses its LSOAs that have one"
        )
    if uncovered:
        notes.append(
            f"additional needs: {uncovered} practices have no LSOA with SLLI/SMR; index 1.0 for them"
        )
    return Component(
        "additional_needs",
        index,
        "applied",
        "SLLI and SMR<65 by LSOA, patient-weighted per practice, relative to England",
    ), notes


def _share_component(
    name: str, column: str, weight: float, characteristics: pd.DataFrame | None, registered: pd.Series
) -> tuple[Component, list[str]]:
    """1 + (w - 1) x share of the list, relative to the national figure (list turnover, care homes)."""
    practices = registered.index
    if characteristics is None:
        return neutral(name, practices, "no practice_characteristics extract given: neutral 1.0"), []
    counts = characteristics.groupby("practice_code")[column].sum().reindex(practices)
    known = counts.notna()
    n = registered.astype(float)
    national_share = counts[known].sum() / n[known].sum() if n[known].sum() > 0 else 0.0
    share = (counts / n.where(n > 0)).where(known)
    raw = 1.0 + (weight - 1.0) * share
    index = (raw / (1.0 + (weight - 1.0) * national_share)).fillna(1.0)
    notes = []
    if (~known).sum():
        notes.append(f"{name}: {int((~known).sum())} practices not in practice_characteristics; index 1.0")
    return Component(
        name, index, "applied", f"1 + ({weight} - 1) x {column} / list, relative to England"
    ), notes


def list_turnover(
    characteristics: pd.DataFrame | None, registered: pd.Series, params: ParameterSet
) -> tuple[Component, list[str]]:
    """List-turnover index from patients newly registered in the last 12 months."""
    return _share_component(
        "list_turnover", "new_registrations", params.list_turnover_weight, characteristics, registered
    )


def care_homes(
    characteristics: pd.DataFrame | None, registered: pd.Series, params: ParameterSet
) -> tuple[Component, list[str]]:
    """Nursing/residential home index from patients living in such homes."""
    return _share_component(
        "care_homes", "care_home_patients", params.care_home_weight, characteristics, registered
    )


def market_forces(registered: pd.Series, params: ParameterSet) -> Component:
    """MFF applied to the staff-cost share only: (1 - s) + s x MFF, relative to England."""
    if not params.market_forces_table:
        return neutral(
            "market_forces",
            registered.index,
            "no market forces table in the parameter set: neutral default 1.0",
        )
    mff = pd.Series(params.market_forces_table, dtype=float).reindex(registered.index)
    mff = mff.fillna(params.market_forces_default)
    s = params.market_forces_staff_cost_share
    raw = (1.0 - s) + s * mff
    return Component(
        "market_forces",
        relative(raw, registered.astype(float)),
        "applied",
        f"staff market forces factor on a {s:.0%} staff-cost share, relative to England",
    )


def rurality(registered: pd.Series, params: ParameterSet) -> Component:
    """Rurality index from the parameter set's table, relative to England."""
    if not params.rurality_table:
        return neutral(
            "rurality", registered.index, "no rurality table in the parameter set: neutral default 1.0"
        )
    raw = (
        pd.Series(params.rurality_table, dtype=float)
        .reindex(registered.index)
        .fillna(params.rurality_default)
    )
    return Component(
        "rurality",
        relative(raw, registered.astype(float)),
        "applied",
        "rurality index from the parameter set's table, relative to England",
    )
