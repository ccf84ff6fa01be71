"""The organisation tree of a sample: practices, PCNs, sub-ICB locations, ICBs and regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .draws import apportion_counts, place_names, random_stream, unique_codes
from .tables import (
    ALNUM,
    ENGLAND_PRACTICES,
    LETTERS,
    POSTCODE_UNIT,
    PRACTICE_SUFFIXES,
    PRACTICES_PER_PCN,
    REGION_LETTERS,
    REGION_POSTCODES,
    REGIONS,
)

#: The canonical practice_map columns a hierarchy has, one row per practice.
HIERARCHY_COLUMNS = (
    "practice_code", "practice_name", "practice_postcode", "pcn_code", "pcn_name",
    "sub_icb_code", "sub_icb_ons_code", "sub_icb_name", "icb_code", "icb_ons_code", "icb_name",
    "region_code", "region_ons_code", "region_name",
)  # fmt: skip


def scaled_counts(practices: int) -> dict[str, int]:
    """Numbers of regions, ICBs, sub-ICB locations and PCNs for a run of ``practices`` practices."""
    if practices < 10:
        raise ValueError("practices must be at least 10")
    share = practices / ENGLAND_PRACTICES
    regions = min(7, max(2, round(7 * share**0.5)))
    icbs = max(regions, 2, round(42 * share))
    sub_icbs = max(icbs, 3, round(106 * share))
    return {"regions": regions, "icbs": icbs, "sub_icbs": min(sub_icbs, practices)}


@dataclass(frozen=True)
class Hierarchy:
    """The organisation tree: one row per practice with every level's code, ONS code and name."""

    practices: pd.DataFrame

    @property
    def regions(self) -> list[str]:
        return sorted(self.practices["region_code"].unique())

    @property
    def icbs(self) -> list[str]:
        return sorted(self.practices["icb_code"].unique())

    @property
    def sub_icbs(self) -> list[str]:
        return sorted(self.practices["sub_icb_code"].unique())

    @property
    def pcns(self) -> list[str]:
        return sorted(self.practices["pcn_code"].unique())


@dataclass(frozen=True)
class _Tree:
    """Who is in what, by position: each ICB's region, each sub-ICB's ICB, each practice's sub-ICB and
    PCN, each sub-ICB's region (indices into the chosen regions and the levels' own lists)."""

    regions: list[tuple[str, str, str, int, int, float]]
    icb_region: np.ndarray
    sub_icb_icb: np.ndarray
    sub_region: np.ndarray
    practice_sub: np.ndarray
    practice_pcn: np.ndarray
    n_pcn: int


def _tree(rng: np.random.Generator, practices: int) -> _Tree:
    """Which regions, how many ICBs and sub-ICBs each (England's proportions), practices per sub-ICB
    and PCNs of about 5.2 practices nested inside them."""
    counts = scaled_counts(practices)
    chosen = np.sort(rng.choice(len(REGIONS), size=counts["regions"], replace=False))
    regions = [REGIONS[i] for i in chosen]
    icbs_per_region = apportion_counts(counts["icbs"], np.array([r[3] for r in regions], float), 1)
    sub_weights = np.array([r[4] / r[3] for r in regions], float)
    icb_region = np.repeat(np.arange(len(regions)), icbs_per_region)
    subs_per_icb = apportion_counts(counts["sub_icbs"], sub_weights[icb_region], 1)
    sub_icb_icb = np.repeat(np.arange(len(icb_region)), subs_per_icb)
    n_sub = len(sub_icb_icb)

    # Practices per sub-ICB: region share spread over its sub-ICBs, with sub-ICB size variation.
    region_share = np.array([r[5] for r in regions])
    sub_region = icb_region[sub_icb_icb]
    sub_weight = (region_share / np.bincount(sub_region))[sub_region] * rng.lognormal(0, 0.45, n_sub)
    per_sub = apportion_counts(practices, sub_weight, 1)
    practice_sub = np.repeat(np.arange(n_sub), per_sub)

    pcns_per_sub = np.maximum(1, np.round(per_sub / PRACTICES_PER_PCN).astype(int))
    practice_pcn = np.empty(practices, dtype=np.int64)
    first_pcn = np.concatenate([[0], np.cumsum(pcns_per_sub)[:-1]])
    start = 0
    for s in range(n_sub):  # 106 sub-ICBs at most: a loop over organisations, not rows
        sizes = apportion_counts(int(per_sub[s]), rng.lognormal(0, 0.35, pcns_per_sub[s]), 1)
        practice_pcn[start : start + per_sub[s]] = first_pcn[s] + np.repeat(np.arange(len(sizes)), sizes)
        start += per_sub[s]
    n_pcn = int(pcns_per_sub.sum())
    return _Tree(regions, icb_region, sub_icb_icb, sub_region, practice_sub, practice_pcn, n_pcn)


def _organisation_codes(rng: np.random.Generator, tree: _Tree) -> dict[str, list[str]]:
    """Codes in the published formats, drawn without replacement so they are unique, and names."""
    n_icb, n_sub = len(tree.icb_region), len(tree.sub_icb_icb)
    sub_space = np.arange(1, max(400, 2 * n_sub))
    out = {
        "sub_icb": unique_codes(rng, n_sub, (10, 10, 26), lambda d: f"{d[0]}{d[1]}{LETTERS[d[2]]}"),
        "icb": unique_codes(rng, n_icb, (36, 36), lambda d: f"Q{ALNUM[d[0]]}{ALNUM[d[1]]}"),
        "sub_icb_ons": [f"E38{n:06d}" for n in np.sort(rng.choice(sub_space, n_sub, replace=False))],
    }
    # the code space grows only past England size, so the default sample stays as it was
    icb_space = np.arange(1, max(80, 2 * n_icb))
    out["icb_ons"] = [f"E54{n:06d}" for n in np.sort(rng.choice(icb_space, n_icb, replace=False))]
    out["pcn"] = [f"U{n:05d}" for n in rng.choice(np.arange(10000, 100000), tree.n_pcn, replace=False)]
    icb_places = place_names(rng, 2 * n_icb)
    out["icb_name"] = [
        f"{icb_places[2 * i].title()} and {icb_places[2 * i + 1].title()}" for i in range(n_icb)
    ]
    out["pcn_name"] = [f"{name} PCN" for name in place_names(rng, tree.n_pcn)]
    return out


def _practice_identities(rng: np.random.Generator, tree: _Tree) -> dict[str, object]:
    """Practice codes (a region-typical letter, Y for ~2% special/APMS practices, 5 unique digits),
    names and postcodes (each sub-ICB sits in one postcode area of its region)."""
    practices = len(tree.practice_sub)
    p_region = tree.sub_region[tree.practice_sub]
    letters = np.array([rng.choice(list(REGION_LETTERS[tree.regions[r][0]])) for r in p_region], dtype=object)
    letters[rng.random(practices) < 0.02] = "Y"
    practice_codes = np.empty(practices, dtype=object)
    for letter in sorted(set(letters)):
        idx = np.flatnonzero(letters == letter)
        numbers = rng.choice(np.arange(1000, 100000), size=len(idx), replace=False)
        practice_codes[idx] = [f"{letter}{n:05d}" for n in numbers]
    places = place_names(rng, practices)
    suffix = rng.choice(len(PRACTICE_SUFFIXES), practices)
    sub_area = [rng.choice(REGION_POSTCODES[tree.regions[r][0]]) for r in tree.sub_region]
    district = rng.integers(1, 30, practices)
    sector = rng.integers(1, 10, practices)
    unit = rng.integers(0, len(POSTCODE_UNIT), (practices, 2))
    return {
        "practice_code": practice_codes.astype(str),
        "practice_name": [f"{p} {PRACTICE_SUFFIXES[s]}" for p, s in zip(places, suffix, strict=True)],
        "practice_postcode": [
            f"{sub_area[s]}{d} {k}{POSTCODE_UNIT[u[0]]}{POSTCODE_UNIT[u[1]]}"
            for s, d, k, u in zip(tree.practice_sub, district, sector, unit, strict=True)
        ],
    }


def build_hierarchy(practices: int = ENGLAND_PRACTICES, seed: int = 20261122) -> Hierarchy:
    """Practices -> PCN -> sub-ICB location -> ICB -> region, England-shaped and scaled to ``practices``.

    Cheap (no extract is built), so tests can check the England-size organisation counts directly.
    """
    rng = random_stream(seed, 1)
    tree = _tree(rng, practices)
    codes = _organisation_codes(rng, tree)
    identities = _practice_identities(rng, tree)
    sub = tree.practice_sub
    icb_of_practice = tree.sub_icb_icb[sub]
    p_region = tree.sub_region[sub]
    frame = pd.DataFrame(
        {
            **identities,
            "pcn_code": np.array(codes["pcn"])[tree.practice_pcn],
            "pcn_name": np.array(codes["pcn_name"])[tree.practice_pcn],
            "sub_icb_code": np.array(codes["sub_icb"])[sub],
            "sub_icb_ons_code": np.array(codes["sub_icb_ons"])[sub],
            "sub_icb_name": [
                f"NHS {codes['icb_name'][icb_of_practice[i]]} ICB - {codes['sub_icb'][sub[i]]}"
                for i in range(practices)
            ],
            "icb_code": np.array(codes["icb"])[icb_of_practice],
            "icb_ons_code": np.array(codes["icb_ons"])[icb_of_practice],
            "icb_name": [f"NHS {codes['icb_name'][i]} Integrated Care Board" for i in icb_of_practice],
            "region_code": [tree.regions[r][0] for r in p_region],
            "region_ons_code": [tree.regions[r][1] for r in p_region],
            "region_name": [tree.regions[r][2] for r in p_region],
        }
    )
    # Order as published: by sub-ICB then practice code (position in the frame is the geography order).
    return Hierarchy(frame)


def given_hierarchy(practice_map: pd.DataFrame) -> pd.DataFrame:
    """A canonical practice_map frame in the generator's hierarchy shape, ordered by sub-ICB then code."""
    cols = list(HIERARCHY_COLUMNS)
    missing = [c for c in cols if c not in practice_map.columns]
    if missing:
        raise ValueError(f"practice_map lacks canonical columns {missing}")
    frame = practice_map.drop_duplicates("practice_code")[cols].copy()
    if len(frame) < 10:
        raise ValueError("practice_map must have at least 10 practices")
    for c in ("practice_postcode", "pcn_code", "pcn_name"):
        frame[c] = frame[c].fillna("").astype(str)
    # position in the frame is the geography order the LSOA placement relies on
    frame = frame.sort_values(["sub_icb_code", "practice_code"], kind="mergesort")
    return frame.reset_index(drop=True).astype({c: str for c in cols})


def payments_year_map(contracts: pd.DataFrame, reference_map: pd.DataFrame) -> pd.DataFrame:
    """A canonical practice_map frame for the practices of a CCG-era payments year (2014/15-2018/19),
    for generating that year's lists: every practice with at least one registered patient, its CCG as
    the sub-ICB location and its area team / local office (the file's region column, Q..) as the parent
    above it, as the payments file gives them; no PCN (code U, as the maps publish it). The file names
    no region or ONS code: each area team takes the region (of ``reference_map``, a later real map) that
    most of its practices are in there, and the ONS codes are generated (E38 9....., E54 9.....)."""
    c = contracts[contracts["registered_patients"] >= 1].drop_duplicates("practice_code")
    frame = pd.DataFrame(
        {
            "practice_code": c["practice_code"],
            "practice_name": c["practice_name"],
            "practice_postcode": c["practice_postcode"],
            "pcn_code": "U",  # before PCNs (July 2019): every practice as the maps publish one in none
            "pcn_name": "Unallocated",
            "sub_icb_code": c["sub_icb_code"],
            "sub_icb_name": c["sub_icb_name"],
            "icb_code": c["region_code"],
            "icb_name": c["region_name"],
        }
    )
    for level, prefix in (("sub_icb", "E38"), ("icb", "E54")):
        codes = sorted(frame[f"{level}_code"].unique())
        ons = {code: f"{prefix}{900001 + i}" for i, code in enumerate(codes)}
        frame[f"{level}_ons_code"] = frame[f"{level}_code"].map(ons)
    ref = reference_map.drop_duplicates("practice_code").set_index("practice_code")
    placed = frame.join(ref[["region_code"]], on="practice_code")
    region_of = placed.groupby("icb_code")["region_code"].agg(lambda s: s.mode().iloc[0])
    if len(region_of) < frame["icb_code"].nunique():
        raise ValueError("an area team has no practice in the reference map")
    regions = ref.drop_duplicates("region_code").set_index("region_code")
    frame["region_code"] = frame["icb_code"].map(region_of)
    for col in ("region_ons_code", "region_name"):
        frame[col] = frame["region_code"].map(regions[col])
    return given_hierarchy(frame)
