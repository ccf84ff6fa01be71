"""Registered patients: the practice map, the age-sex file and the practice x LSOA file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.extracts import AGE_BANDS_5

from .draws import random_stream, split_groups, split_rows
from .hierarchy import HIERARCHY_COLUMNS
from .output import write_published
from .tables import BAND_MID_AGE, BAND_SHARE, FEMALE_SHARE

# The eras written (include/layouts): the header of each file comes from there.
MAP_LAYOUT = "prac_map_sub_icb_2022"
AGE_SEX_LAYOUT = "quin_age_long"
LSOA_LAYOUT = "lsoa_all"


def lsoa_geography(n_lsoa: int, seed: int) -> dict[str, np.ndarray]:
    """LSOAs on a line (neighbours are near each other) with a spatially smooth latent deprivation."""
    rng = random_stream(seed, 3)
    noise = rng.normal(0, 1, n_lsoa + 200)
    kernel = np.ones(60) / 60
    smooth = np.convolve(noise, kernel, mode="same")[100 : 100 + n_lsoa]
    z = smooth / smooth.std() * 0.8 + rng.normal(0, 0.6, n_lsoa)
    z = (z - z.mean()) / z.std()
    return {"z": z, "code": np.array([f"E01{i:06d}" for i in range(1, n_lsoa + 1)])}


def practice_lsoa_rows(
    prac: pd.DataFrame, list_size: np.ndarray, n_lsoa: int, seed: int
) -> dict[str, np.ndarray]:
    """Each practice's patients spread over nearby LSOAs; practice totals exact (vectorised)."""
    rng = random_stream(seed, 4)
    n = len(prac)
    # Practices sit in geography order (by sub-ICB), so a practice's centre follows its position.
    centre = np.floor((np.arange(n) + rng.uniform(0, 1, n)) / n * n_lsoa).astype(np.int64)
    k = np.clip(np.round(list_size / 40 * rng.lognormal(0, 0.25, n)), 24, min(800, n_lsoa // 2)).astype(
        np.int64
    )
    p = np.repeat(np.arange(n), k)
    j = np.arange(len(p)) - np.repeat(np.cumsum(k) - k, k)
    offset = np.where(j % 2 == 0, j // 2, -(j // 2 + 1))  # 0, -1, 1, -2, 2 ... around the centre
    lsoa = (centre[p] + offset) % n_lsoa
    scale = np.maximum(k / 5, 3)[p]
    weight = np.exp(-np.abs(offset) / scale) * rng.lognormal(0, 0.6, len(p))
    count = split_groups(list_size, p, weight)
    keep = count > 0
    return {"p": p[keep], "l": lsoa[keep], "n": count[keep]}


def age_sex_bands(list_size: np.ndarray, p_dep: np.ndarray, seed: int) -> np.ndarray:
    """Patients by practice x sex (MALE, FEMALE) x 5-year band; deprived lists are younger."""
    rng = random_stream(seed, 5)
    n = len(list_size)
    tilt = -0.28 * p_dep + rng.normal(0, 0.25, n)  # positive tilt = older list
    age_effect = np.exp(tilt[:, None] * (BAND_MID_AGE[None, :] - 42) / 40)
    band = BAND_SHARE[None, :] * age_effect * rng.lognormal(0, 0.08, (n, 20))
    female = np.clip(FEMALE_SHARE[None, :] + rng.normal(0, 0.01, (n, 1)), 0.3, 0.85)
    weights = np.concatenate([band * (1 - female), band * female], axis=1)
    return split_rows(list_size, weights).reshape(n, 2, 20)


def write_map(out_dir: Path, prac: pd.DataFrame, extract_date: str) -> Path:
    frame = pd.DataFrame(
        {
            "publication": "GP_PRAC_PAT_LIST",
            "extract_date": extract_date,
            **{column: prac[column] for column in HIERARCHY_COLUMNS},
            "supplier_name": np.where(np.arange(len(prac)) % 3 == 0, "TPP", "EMIS"),
        }
    ).sort_values("practice_code", kind="stable")
    return write_published(out_dir / "gp-reg-pat-prac-map.csv", MAP_LAYOUT, frame)


def write_age_sex(out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, extract_date: str) -> Path:
    """Long file with COMM_REGION, ICB, SUB_ICB_LOCATION, PCN and GP rows; ALL rows are the sums."""
    full = np.zeros((len(prac), 3, 21), dtype=np.int64)  # sex: MALE, FEMALE, ALL; band 20 = ALL
    full[:, :2, :20] = age_sex
    full[:, 2, :] = full[:, 0, :] + full[:, 1, :]
    full[:, :, 20] = full[:, :, :20].sum(axis=2)
    sexes = np.array(["MALE", "FEMALE", "ALL"])
    bands = np.array([*AGE_BANDS_5, "ALL"])
    blocks = []
    levels = (
        ("COMM_REGION", "region_code", "region_ons_code"),
        ("ICB", "icb_code", "icb_ons_code"),
        ("SUB_ICB_LOCATION", "sub_icb_code", "sub_icb_ons_code"),
        ("PCN", "pcn_code", None),
        ("GP", "practice_code", None),
    )
    for org_type, code_col, ons_col in levels:
        codes, idx = np.unique(prac[code_col].to_numpy(str), return_inverse=True)
        sums = np.zeros((len(codes), 3, 21), dtype=np.int64)
        np.add.at(sums, idx, full)
        ons = (
            prac.groupby(code_col)[ons_col].first().reindex(codes).to_numpy(str)
            if ons_col
            else np.full(len(codes), "")
        )
        post = (
            prac.set_index("practice_code")["practice_postcode"].reindex(codes).to_numpy(str)
            if org_type == "GP"
            else np.full(len(codes), "")
        )
        m = len(codes)
        blocks.append(
            pd.DataFrame(
                {
                    "org_type": org_type,
                    "practice_code": np.repeat(codes, 63),  # ORG_CODE: the code of any level
                    "ons_code": np.repeat(ons, 63),
                    "postcode": np.repeat(post, 63),
                    "sex": np.tile(np.repeat(sexes, 21), m),
                    "age_band": np.tile(bands, 3 * m),
                    "patients": sums.reshape(-1),
                }
            )
        )
    frame = pd.concat(blocks, ignore_index=True)
    frame.insert(0, "extract_date", extract_date)
    frame.insert(0, "publication", "GP_PRAC_PAT_LIST")
    return write_published(out_dir / "gp-reg-pat-prac-quin-age.csv", AGE_SEX_LAYOUT, frame)


def write_lsoa_rows(
    out_dir: Path, prac: pd.DataFrame, rows: dict[str, np.ndarray], extract_date: str, seed: int
) -> Path:
    """Practice x LSOA of residence; a few border practices have Welsh LSOAs, some an NO2011 row."""
    rng = random_stream(seed, 6)
    n = len(prac)
    lsoa_code = np.array([f"E01{i:06d}" for i in range(1, rows["l"].max() + 2)])[rows["l"]].astype(object)
    p = rows["p"]
    # Border practices (~2%): their most distant LSOA rows become distinct Welsh LSOAs.
    border = rng.random(n) < 0.02
    starts = np.searchsorted(p, np.arange(n))
    sizes = np.bincount(p, minlength=n)
    welsh_next = 1
    for i in np.flatnonzero(border):
        m = max(1, sizes[i] // 8)
        sel = np.arange(starts[i] + sizes[i] - m, starts[i] + sizes[i])
        lsoa_code[sel] = [f"W01{welsh_next + t:06d}" for t in range(m)]
        welsh_next = (welsh_next + m) % 1900 + 1
    # ~15% of practices: their last row is patients whose postcode has no LSOA (NO2011).
    unknown = (rng.random(n) < 0.15) & (sizes > 1) & ~border
    lsoa_code[starts[unknown] + sizes[unknown] - 1] = "NO2011"
    frame = pd.DataFrame(
        {
            "publication": "GP_PRAC_PAT_LIST",
            "extract_date": extract_date,
            "practice_code": prac["practice_code"].to_numpy(str)[p],
            "practice_name": prac["practice_name"].to_numpy(str)[p],
            "lsoa_code": lsoa_code.astype(str),
            "sex": "ALL",
            "patients": rows["n"],
        }
    ).sort_values(["practice_code", "lsoa_code"], kind="stable")
    return write_published(out_dir / "gp-reg-pat-prac-lsoa-all.csv", LSOA_LAYOUT, frame)
