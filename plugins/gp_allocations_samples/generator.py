"""Every nightly extract of a period, written from one seed: the order the components are drawn in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.periods import Period

from .draws import random_stream
from .hierarchy import build_hierarchy, given_hierarchy
from .need import write_additional_needs, write_characteristics, write_iod
from .output import extract_date_text
from .payments import write_payments
from .qof import write_qof
from .registrations import (
    age_sex_bands,
    lsoa_geography,
    practice_lsoa_rows,
    write_age_sex,
    write_lsoa_rows,
    write_map,
)
from .tables import ENGLAND_LSOAS, ENGLAND_PRACTICES


def generate_samples(
    out_dir: Path,
    *,
    period: Period,
    practices: int = ENGLAND_PRACTICES,
    seed: int = 20261122,
    lsoas: int | None = None,
    practice_map: pd.DataFrame | None = None,
    list_sizes: pd.Series | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, list[Path]]:
    """Write every nightly extract for ``period`` into ``out_dir``; return extract name -> files.

    Same seed, size and period give byte-identical files. ``lsoas`` defaults to England's ratio of
    LSOAs to practices (33,755 at full size), at least 300.

    ``practice_map`` (a canonical practice_map frame, e.g. a real published map) fixes the practices and
    their hierarchy instead of generating them; ``practices`` is then ignored and every other extract is
    generated for exactly those practice codes (PCN-less practices are written with an empty PCN).
    ``list_sizes`` (practice code -> patients, e.g. a real payments file's registered patients) fixes
    each practice's list instead of drawing it; every practice of the map must have one.
    ``only`` limits the extracts written (e.g. ``("capitation_age_sex", "capitation_lsoa")`` next to real
    files); the numbers of the extracts written do not depend on it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if practice_map is not None:
        prac = given_hierarchy(practice_map)
        practices = len(prac)
    else:
        prac = build_hierarchy(practices, seed).practices
    n_lsoa = lsoas if lsoas is not None else max(300, round(practices * ENGLAND_LSOAS / ENGLAND_PRACTICES))
    n = len(prac)
    list_size = _list_sizes(prac, seed, list_sizes)

    lsoa = lsoa_geography(n_lsoa, seed)
    rows = practice_lsoa_rows(prac, list_size, n_lsoa, seed)
    # Practice deprivation = patient-weighted mean of its LSOAs' latent deprivation.
    p_dep = np.bincount(rows["p"], weights=rows["n"] * lsoa["z"][rows["l"]], minlength=n) / list_size
    p_dep = (p_dep - p_dep.mean()) / (p_dep.std() or 1.0)
    age_sex = age_sex_bands(list_size, p_dep, seed)  # (n, 2, 20) patients

    extract_date = extract_date_text(period.start_date)
    fy = f"{period.start_year % 100:02d}{(period.start_year + 1) % 100:02d}"
    files: dict[str, list[Path]] = {}

    def wanted(*names: str) -> bool:
        return only is None or any(n in only for n in names)

    # each writer draws from its own random stream, so skipping one does not change the others' bytes
    if wanted("practice_map"):
        files["practice_map"] = [write_map(out_dir, prac, extract_date)]
    if wanted("capitation_age_sex"):
        files["capitation_age_sex"] = [write_age_sex(out_dir, prac, age_sex, extract_date)]
    if wanted("capitation_lsoa"):
        files["capitation_lsoa"] = [write_lsoa_rows(out_dir, prac, rows, extract_date, seed)]
    if wanted("deprivation_lsoa"):
        files["deprivation_lsoa"] = [write_iod(out_dir, lsoa, seed)]
    if wanted("additional_needs"):
        files["additional_needs"] = [write_additional_needs(out_dir, lsoa, seed)]
    if wanted("practice_characteristics"):
        files["practice_characteristics"] = [write_characteristics(out_dir, prac, age_sex, p_dep, seed)]
    if wanted("qof_achievement", "qof_prevalence", "qof_indicators", "contracts"):
        qof_points, qof_files = write_qof(out_dir, prac, age_sex, p_dep, fy, seed)
        files.update({k: v for k, v in qof_files.items() if wanted(k)})
        if wanted("contracts"):
            files["contracts"] = [write_payments(out_dir, prac, age_sex, p_dep, qof_points, period, seed)]
        for k, paths in qof_files.items():
            if not wanted(k):  # written only because contracts need the points: remove
                for path in paths:
                    path.unlink()
    return files


def _list_sizes(prac: pd.DataFrame, seed: int, given: pd.Series | None) -> np.ndarray:
    """Each practice's list: lognormal, median ~8.5k, up to 60k+, ~1% small practices of a few hundred;
    or the ``given`` sizes (drawn all the same: no other stream depends on it)."""
    n = len(prac)
    rng = random_stream(seed, 2)
    list_size = np.clip(rng.lognormal(np.log(8500), 0.55, n), 800, 90000)
    small = rng.random(n) < 0.01
    list_size[small] = rng.uniform(250, 900, small.sum())
    if given is not None:
        sizes = prac["practice_code"].map(given)
        if sizes.isna().any() or (sizes < 1).any():
            raise ValueError("list_sizes must give every practice of the map at least one patient")
        list_size = sizes.to_numpy(float)
    return np.round(list_size).astype(np.int64)
