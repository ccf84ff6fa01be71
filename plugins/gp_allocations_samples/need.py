"""Need inputs by LSOA and practice: IoD 2019 File 7, additional needs, practice characteristics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .draws import place_names, random_stream, rank_desc
from .output import write_published
from .tables import IOD_DOMAINS, IOD_FILE_NAME

# The eras written (include/layouts): the header of each file comes from there.
IOD_LAYOUT = "iod2019_file7"
ADDITIONAL_NEEDS_LAYOUT = "carr_hill_additional_needs"
CHARACTERISTICS_LAYOUT = "carr_hill_practice_inputs"


def write_iod(out_dir: Path, lsoa: dict[str, np.ndarray], seed: int) -> Path:
    """IoD2019 File 7 layout: 16 domain scores with ranks and deciles, then population denominators."""
    rng = random_stream(seed, 7)
    z = lsoa["z"]
    n = len(z)

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0, sd, n)

    imd = np.clip(np.exp(2.85 + 0.62 * z + noise(0.08)), 0.5, 92.7)
    income = np.clip(0.012 + 0.0045 * imd + noise(0.015), 0.003, 0.65)
    scores = [
        imd,
        income,
        np.clip(0.01 + 0.0035 * imd + noise(0.012), 0.002, 0.55),
        np.clip(imd * 0.95 + noise(7), 0.02, 99.0),
        np.clip(0.8 * z + noise(0.45), -3.2, 3.6),
        np.clip(0.6 * z + noise(0.55), -3.0, 3.3),
        np.clip(22 + 4 * z + noise(9), 0.5, 75),
        np.clip(20 + 8 * z + noise(10), 0.3, 90),
        np.clip(income * 1.3 + noise(0.03), 0.0, 0.9),
        np.clip(income * 1.2 + noise(0.03), 0.0, 0.9),
        np.clip(0.7 * z + noise(0.5), -3.0, 3.5),
        np.clip(0.15 + 0.06 * z + noise(0.04), 0.0, 0.7),
        noise(1.0),
        np.clip(0.4 * z + noise(0.8), -3.0, 3.5),
        np.clip(0.4 * z + noise(0.8), -3.0, 3.5),
        np.clip(0.3 * z + noise(0.9), -3.0, 3.5),
    ]
    lad_size = 106
    lad = np.arange(n) // lad_size
    n_lad = int(lad.max()) + 1
    lad_names = [name.title() for name in place_names(rng, n_lad)]
    prefixes = rng.choice(["E06", "E07", "E08", "E09"], n_lad, p=[0.2, 0.55, 0.12, 0.13])
    lad_codes = [f"{pre}{i + 1:06d}" for i, pre in enumerate(prefixes)]
    within = np.arange(n) - lad * lad_size
    lsoa_names = [f"{lad_names[lad[i]]} {within[i] // 5 + 1:03d}{'ABCDE'[within[i] % 5]}" for i in range(n)]
    cols: dict[str, object] = {
        "lsoa_code": lsoa["code"],
        "lsoa_name": lsoa_names,
        "lad_code": np.array(lad_codes)[lad],
        "lad_name": np.array(lad_names)[lad],
    }
    for domain, values in zip(IOD_DOMAINS, scores, strict=True):
        values = np.round(values, 3)
        rank = rank_desc(values)
        cols[f"{domain}_score"] = values
        cols[f"{domain}_rank"] = rank
        cols[f"{domain}_decile"] = np.ceil(rank * 10 / n).astype(int)
    pop = np.clip(np.round(rng.normal(1650, 280, n)), 1000, 4000).astype(np.int64)
    children = np.round(pop * np.clip(0.19 + 0.03 * z + noise(0.02), 0.05, 0.35)).astype(np.int64)
    older = np.round(pop * np.clip(0.24 - 0.05 * z + noise(0.04), 0.04, 0.5)).astype(np.int64)
    cols["population"] = pop
    cols["children_population"] = children
    cols["working_age_16_59_population"] = pop - children - older
    cols["older_population"] = older
    cols["employment_denominator"] = np.round((pop - children - older) * 0.97 + older * 0.08).astype(np.int64)
    return write_published(out_dir / IOD_FILE_NAME, IOD_LAYOUT, pd.DataFrame(cols))


def write_additional_needs(out_dir: Path, lsoa: dict[str, np.ndarray], seed: int) -> Path:
    rng = random_stream(seed, 8)
    z = lsoa["z"]
    frame = pd.DataFrame(
        {
            "lsoa_code": lsoa["code"],
            "slli": np.round(100 * np.exp(0.22 * z + rng.normal(0, 0.08, len(z))), 2),
            "smr_under_65": np.round(100 * np.exp(0.3 * z + rng.normal(0, 0.15, len(z))), 2),
        }
    )
    return write_published(out_dir / "carr-hill-additional-needs.csv", ADDITIONAL_NEEDS_LAYOUT, frame)


def write_characteristics(
    out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, p_dep: np.ndarray, seed: int
) -> Path:
    rng = random_stream(seed, 9)
    total = age_sex.sum(axis=(1, 2))
    old_share = age_sex[:, :, 15:].sum(axis=(1, 2)) / total
    new_rate = np.clip(0.08 + 0.01 * p_dep + rng.normal(0, 0.015, len(total)), 0.05, 0.12)
    care_rate = np.where(
        rng.random(len(total)) < 0.3,
        0.0,
        np.clip(old_share * 0.08 * rng.lognormal(0, 0.6, len(total)), 0, 0.03),
    )
    frame = pd.DataFrame(
        {
            "practice_code": prac["practice_code"],
            "new_registrations": np.round(total * new_rate).astype(np.int64),
            "care_home_patients": np.round(total * care_rate).astype(np.int64),
        }
    ).sort_values("practice_code", kind="stable")
    return write_published(out_dir / "carr-hill-practice-inputs.csv", CHARACTERISTICS_LAYOUT, frame)
