"""Small canonical frames (the shape standardisation produces) for warehouse and pipeline tests."""

from __future__ import annotations

import pandas as pd

from gp_allocations.extracts import AGE_BANDS_5


def canonical_frames(practices: int = 4) -> dict[str, pd.DataFrame]:
    codes = [f"A8{1001 + i:04d}" for i in range(practices)]
    sub_icbs = ["16C", "00L"]
    date = pd.Timestamp("2025-07-01")
    pmap = pd.DataFrame(
        {
            "extract_date": date,
            "practice_code": codes,
            "practice_name": [f"Practice {i}" for i in range(practices)],
            "practice_postcode": "TS18 1HU",
            "pcn_code": [f"U{10000 + i % 2}" for i in range(practices)],
            "pcn_name": [f"PCN {i % 2}" for i in range(practices)],
            "sub_icb_code": [sub_icbs[i % 2] for i in range(practices)],
            "sub_icb_ons_code": [("E38000247", "E38000130")[i % 2] for i in range(practices)],
            "sub_icb_name": [f"NHS Sub ICB {sub_icbs[i % 2]}" for i in range(practices)],
            "icb_code": "QHM",
            "icb_ons_code": "E54000050",
            "icb_name": "NHS North East and North Cumbria ICB",
            "region_code": "Y63",
            "region_ons_code": "E40000012",
            "region_name": "North East and Yorkshire",
        }
    )
    rows = []
    for i, code in enumerate(codes):
        for sex in ("MALE", "FEMALE"):
            for j, band in enumerate(AGE_BANDS_5):
                rows.append((date, code, sex, band, 10 + i + j))
    age_sex = pd.DataFrame(rows, columns=["extract_date", "practice_code", "sex", "age_band", "patients"])
    totals = age_sex.groupby("practice_code")["patients"].sum()
    lsoa = pd.DataFrame(
        [
            (date, code, lsoa, int(totals[code]) // 2 + (k == 0) * (int(totals[code]) % 2))
            for code in codes
            for k, lsoa in enumerate(("E01000001", "E01000002"))
        ],
        columns=["extract_date", "practice_code", "lsoa_code", "patients"],
    )
    deprivation = pd.DataFrame(
        {
            "lsoa_code": ["E01000001", "E01000002"],
            "lsoa_name": ["City of London 001A", "City of London 001B"],
            "lad_code": "E09000001",
            "lad_name": "City of London",
            "imd_score": [6.2, 40.1],
            "imd_rank": [29199, 1200],
            "imd_decile": [9, 1],
            "health_deprivation_score": [-1.2, 1.5],
            "population": [1500, 1700],
        }
    )
    for frame in (pmap, age_sex, lsoa, deprivation):
        frame["_file"] = "test.csv"
        frame["_row"] = range(2, len(frame) + 2)
    return {
        "practice_map": pmap,
        "capitation_age_sex": age_sex,
        "capitation_lsoa": lsoa,
        "deprivation_lsoa": deprivation,
    }
