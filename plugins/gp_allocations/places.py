"""Place-based need indices as NHS England's ICB Place Based Allocation Tool computes them (17.4).

A place is a group of practices (a file: place -> practice codes; by default every PCN and every
sub-ICB location of the run). For each component, the tool's need index of a place is

    (place weighted population / place population) / (ICB weighted population / ICB population)

over the practices of NHS England's file, the ICB being the place's ICB in that file. The arithmetic
is the tool's (nhsengland/ICB_Allocation_Tool_update, 2025/26): sums and divisions in binary floating
point, the index rounded half up to 3 places (its download), and that figure rounded half up to 2
places (what it shows on screen). The double rounding matters: an index of 1.0046 is 1.005 in the
download and 1.01 on screen, where rounding it once would show 1.00. A place whose practices lie in
two ICBs gets one row per ICB part (flagged); practices of a place missing from the file are listed.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd

from .errors import InputError
from .fair_shares import NEED_COMPONENTS

TWO_DP = Decimal("0.01")
THREE_DP = Decimal("0.001")
PRACTICE_CODE = re.compile(r"^[A-Z]\d{5}$")
MAX_PLACES_BYTES = 20 * 1024 * 1024
PLACE_COLUMNS = ("place_code", "place_name", "practice_code")


def tool_rounding(index: float) -> tuple[Decimal, Decimal]:
    """The tool's two roundings of a float index: half up to 3 places from its shortest decimal text
    (the download), then that half up to 2 places (the screen)."""
    three = Decimal(repr(float(index))).quantize(THREE_DP, rounding=ROUND_HALF_UP)
    return three, three.quantize(TWO_DP, rounding=ROUND_HALF_UP)


def read_places(path: Path) -> pd.DataFrame:
    """A places file: CSV with a header ``place_code,place_name,practice_code`` (place_name may be
    blank), one row per practice of a place. Errors name the file, row and column."""
    name = Path(path).name
    if not Path(path).is_file():
        raise InputError(f"places file {path} does not exist", file=name, rule="places-file")
    if Path(path).stat().st_size > MAX_PLACES_BYTES:
        raise InputError(f"places file is larger than {MAX_PLACES_BYTES} bytes", file=name, rule="file:size")
    text = Path(path).read_bytes().decode("utf-8-sig", errors="strict")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if header[:3] != list(PLACE_COLUMNS):
        raise InputError(
            f"places file header must be {','.join(PLACE_COLUMNS)}, found {','.join(header) or 'none'}",
            file=name,
            row=1,
            rule="places-header",
        )
    rows, seen = [], set()
    for number, raw in enumerate(reader, start=2):
        values = [str(v or "").strip() for v in list(raw.values())[:3]]
        place, label, practice = values
        if not place:
            raise InputError(
                "place_code is blank", file=name, row=number, column="place_code", rule="required"
            )
        if not PRACTICE_CODE.match(practice):
            raise InputError(
                f"practice_code {practice!r} is not an ODS practice code",
                file=name,
                row=number,
                column="practice_code",
                rule="practice_code_format",
            )
        if (place, practice) in seen:
            raise InputError(
                f"practice {practice} is listed twice in place {place}",
                file=name,
                row=number,
                column="practice_code",
                rule="unique_key",
            )
        seen.add((place, practice))
        rows.append((place, label or place, practice))
    if not rows:
        raise InputError("places file has no rows", file=name, rule="file:no-rows")
    return pd.DataFrame(rows, columns=list(PLACE_COLUMNS)).assign(place_type="place file")


def default_places(practices: pd.DataFrame) -> pd.DataFrame:
    """Every PCN and every sub-ICB location of the run as a place (from the practice facts)."""
    pcn = pd.DataFrame(
        {
            "place_code": practices["pcn_code"].astype(str),
            "place_name": practices["pcn_name"].astype(str),
            "practice_code": practices["practice_code"].astype(str),
            "place_type": "PCN",
        }
    )
    sub = pd.DataFrame(
        {
            "place_code": practices["sub_icb_code"].astype(str),
            "place_name": practices["sub_icb_name"].astype(str),
            "practice_code": practices["practice_code"].astype(str),
            "place_type": "sub-ICB location",
        }
    )
    return pd.concat([sub, pcn], ignore_index=True)


def place_indices(nhse: pd.DataFrame, places: pd.DataFrame) -> pd.DataFrame:
    """One row per place (per ICB part): type, code, name, ICB, practices found / missing, population,
    and each component's index as the tool downloads it (``index_3dp__<c>``) and shows it
    (``index__<c>``)."""
    cols = ["population", *(c for c, _ in NEED_COMPONENTS)]
    file = nhse.drop_duplicates("practice_code").reset_index(drop=True)
    file = file.assign(practice_code=file["practice_code"].astype(str), icb_code=file["icb_code"].astype(str))
    # float sums in the file's row order, as the tool's pandas groupby sums them
    icb_sums = file.groupby("icb_code", sort=False)[cols].sum()
    codes = places.assign(practice_code=places["practice_code"].astype(str))
    found = codes.merge(file[["practice_code", "icb_code", *cols]].reset_index(names="_order"), how="inner")
    keys = ["place_type", "place_code", "icb_code"]
    ordered = found.sort_values("_order", kind="stable").assign(practices=1)
    sums = {
        key: part.set_index("icb_code")
        for key, part in ordered.groupby(keys, sort=True)[[*cols, "practices"]]
        .sum()
        .reset_index()
        .groupby(["place_type", "place_code"])
    }
    out = []
    for (ptype, code), members in codes.groupby(["place_type", "place_code"], sort=True):
        missing = sorted(set(members["practice_code"]) - set(file["practice_code"]))
        base = {
            "place_type": ptype,
            "place_code": code,
            "place_name": str(members["place_name"].iloc[0]),
            "practices_missing": len(missing),
            "missing_practices": ", ".join(missing),
        }
        parts = sums.get((ptype, code))
        if parts is None:
            out.append({**base, "icb_code": "", "practices": 0, "spans_icbs": False, "population": 0.0})
            continue
        for icb, part in parts.iterrows():
            row = {
                **base,
                "icb_code": icb,
                "practices": int(part["practices"]),
                "spans_icbs": len(parts) > 1,
                "population": float(part["population"]),
            }
            icb_row = icb_sums.loc[str(icb)]
            for c, _ in NEED_COMPONENTS:
                # the tool's order of operations: place WP / place pop, over ICB WP / ICB pop
                index = part[c] / part["population"] / (icb_row[c] / icb_row["population"])
                three, two = tool_rounding(index)
                row[f"index_3dp__{c}"], row[f"index__{c}"] = float(three), float(two)
            out.append(row)
    return pd.DataFrame(out)
