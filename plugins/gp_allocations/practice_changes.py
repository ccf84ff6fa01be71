"""Practice codes that change between extracts: closures, mergers and moves between sub-ICB locations.

Extracts are taken at different dates (the practice map quarterly, payments and QOF for a whole year, the
ODS reference whenever it was downloaded), so a practice can be in one and not another, or sit in a
different sub-ICB location in each. Such practices are reported - which practice, which extracts
disagree - never silently dropped. Pure pandas, canonical frames in (see ``extracts``).
"""

from __future__ import annotations

import pandas as pd

#: extracts that list the practices of a period (presence is compared across them), in report order
LISTING_EXTRACTS: tuple[str, ...] = (
    "practice_map",
    "capitation_age_sex",
    "contracts",
    "qof_practice_summary",
)
#: extracts that carry a practice's sub-ICB location (compared when a practice is in two or more)
SUB_ICB_EXTRACTS: tuple[str, ...] = ("practice_map", "contracts", "qof_practice_summary", "ods_practices")

CHANGE_COLUMNS = ["practice_code", "practice_name", "sub_icb_code", "change", "extracts", "detail"]

CLOSED = "closed_in_ods"
MISSING = "missing_from_extracts"
MOVED = "sub_icb_differs"
MERGER = "possible_merger"


def _codes(frame: pd.DataFrame) -> pd.Index:
    codes: pd.Index = pd.Index(frame["practice_code"].astype(str).str.strip().unique(), dtype=str)
    return codes


def _per_practice(frame: pd.DataFrame, column: str) -> pd.Series:
    f = frame.dropna(subset=[column]).drop_duplicates("practice_code")
    return f.set_index(f["practice_code"].astype(str).str.strip())[column].astype(str).str.strip()


def detect_practice_changes(extracts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Practices the given extracts disagree about, one row per practice and kind of change.

    ``extracts`` maps extract name -> canonical frame (any subset; absent or empty ones are skipped).
    Kinds (column ``change``):

    - ``missing_from_extracts``: listed by some of practice_map / capitation_age_sex / contracts /
      qof_practice_summary but not all of those given (``extracts`` names the ones without it);
    - ``possible_merger``: such a missing practice shares its postcode with a practice that IS in the
      extracts it is missing from (``detail`` names that practice);
    - ``sub_icb_differs``: the practice's sub-ICB code differs between practice_map, contracts,
      qof_practice_summary and ods_practices (``detail`` gives each extract's code);
    - ``closed_in_ods``: ODS (epraccur) says closed (status C or a close date) but another extract lists it.

    Sorted by change then practice code, so the report is reproducible.
    """
    given = {n: f for n, f in extracts.items() if f is not None and len(f)}
    rows: list[pd.DataFrame] = []
    names = _names(given)
    sub_icbs = {n: _per_practice(given[n], "sub_icb_code") for n in SUB_ICB_EXTRACTS if n in given}
    home = _home_sub_icb(sub_icbs)

    listing = [n for n in LISTING_EXTRACTS if n in given]
    rows += _missing_rows(given, listing)
    rows += _moved_rows(sub_icbs)
    rows += _closed_rows(given, listing)

    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    out = pd.concat(rows, ignore_index=True)
    out["practice_name"] = out["practice_code"].map(names).fillna("")
    out["sub_icb_code"] = out["practice_code"].map(home).fillna("")
    out = out.sort_values(["change", "practice_code"], kind="mergesort").reset_index(drop=True)
    return out[CHANGE_COLUMNS]


def _missing_rows(given: dict[str, pd.DataFrame], listing: list[str]) -> list[pd.DataFrame]:
    rows: list[pd.DataFrame] = []
    if len(listing) >= 2:
        codes = {n: _codes(given[n]) for n in listing}
        everyone = pd.Index(sorted(set().union(*codes.values())))
        present = pd.DataFrame({n: everyone.isin(codes[n]) for n in listing}, index=everyone)
        partial = present[~present.all(axis=1)]
        if len(partial):
            absent_from = partial.apply(lambda r: ", ".join(n for n in listing if not r[n]), axis=1)
            present_in = partial.apply(lambda r: ", ".join(n for n in listing if r[n]), axis=1)
            rows.append(
                pd.DataFrame(
                    {
                        "practice_code": partial.index,
                        "change": MISSING,
                        "extracts": absent_from.to_numpy(),
                        "detail": ("listed by " + present_in).to_numpy(),
                    }
                )
            )
            rows.append(_mergers(given, partial, listing, codes))
    return rows


def _moved_rows(sub_icbs: dict[str, pd.Series]) -> list[pd.DataFrame]:
    rows: list[pd.DataFrame] = []
    if len(sub_icbs) >= 2:
        table = pd.DataFrame(sub_icbs)
        known = table.notna().sum(axis=1) >= 2
        differs = known & (table.nunique(axis=1, dropna=True) > 1)
        moved = table[differs]
        if len(moved):
            detail = moved.apply(
                lambda r: "; ".join(f"{n}={r[n]}" for n in table.columns if pd.notna(r[n])), axis=1
            )
            rows.append(
                pd.DataFrame(
                    {
                        "practice_code": moved.index,
                        "change": MOVED,
                        "extracts": ", ".join(table.columns),
                        "detail": detail.to_numpy(),
                    }
                )
            )
    return rows


def _closed_rows(given: dict[str, pd.DataFrame], listing: list[str]) -> list[pd.DataFrame]:
    rows: list[pd.DataFrame] = []
    if "ods_practices" in given and listing:
        ods = given["ods_practices"].drop_duplicates("practice_code")
        status = ods["status_code"].astype(str).str.strip().str.upper()
        closed = ods[(status == "C") | ods["close_date"].notna()]
        closed = closed.set_index(closed["practice_code"].astype(str).str.strip())
        listed_in = {n: _codes(given[n]) for n in listing}
        hit = closed.index[closed.index.isin(pd.Index(sorted(set().union(*listed_in.values()))))]
        if len(hit):
            by = [", ".join(n for n in listing if code in listed_in[n]) for code in hit]
            when = closed.loc[hit, "close_date"]
            rows.append(
                pd.DataFrame(
                    {
                        "practice_code": hit,
                        "change": CLOSED,
                        "extracts": [f"ods_practices vs {b}" for b in by],
                        "detail": [
                            f"ODS status {s}" + (f", closed {pd.Timestamp(d).date()}" if pd.notna(d) else "")
                            for s, d in zip(closed.loc[hit, "status_code"], when, strict=True)
                        ],
                    }
                )
            )
    return rows


def _names(given: dict[str, pd.DataFrame]) -> pd.Series:
    parts = [
        _per_practice(given[n], "practice_name")
        for n in ("practice_map", "contracts", "ods_practices")
        if n in given and "practice_name" in given[n]
    ]
    if not parts:
        return pd.Series(dtype=str)
    out = pd.concat(parts)
    kept: pd.Series = out[~out.index.duplicated()]
    return kept


def _home_sub_icb(sub_icbs: dict[str, pd.Series]) -> pd.Series:
    # a practice's row is reported under the first extract (SUB_ICB_EXTRACTS order) that has its sub-ICB
    if not sub_icbs:
        return pd.Series(dtype=str)
    out = pd.concat(list(sub_icbs.values()))
    kept: pd.Series = out[~out.index.duplicated()]
    return kept


def _postcodes(given: dict[str, pd.DataFrame]) -> pd.Series:
    parts = [
        _per_practice(given[n], "practice_postcode")
        for n in ("practice_map", "contracts", "ods_practices")
        if n in given and "practice_postcode" in given[n]
    ]
    if not parts:
        return pd.Series(dtype=str)
    out = pd.concat(parts)
    out = out.str.upper().str.replace(" ", "", regex=False)
    kept: pd.Series = out[~out.index.duplicated()]
    return kept


def _mergers(
    given: dict[str, pd.DataFrame], partial: pd.DataFrame, listing: list[str], codes: dict[str, pd.Index]
) -> pd.DataFrame:
    """Missing practices whose postcode is shared by a practice present where they are missing."""
    postcode = _postcodes(given)
    if postcode.empty:
        return pd.DataFrame(columns=["practice_code", "change", "extracts", "detail"])
    by_postcode = postcode.groupby(postcode).groups
    out = []
    for code, row in partial.iterrows():  # only the practices that disagree: a few hundred at England size
        pc = postcode.get(code)
        if pc is None:
            continue
        absent = [n for n in listing if not row[n]]
        partners = [p for p in by_postcode.get(pc, []) if p != code and all(p in codes[n] for n in absent)]
        if partners:
            out.append(
                {
                    "practice_code": code,
                    "change": MERGER,
                    "extracts": ", ".join(absent),
                    "detail": f"same postcode as {', '.join(sorted(partners))}, "
                    f"listed by {', '.join(absent)}",
                }
            )
    return pd.DataFrame(out, columns=["practice_code", "change", "extracts", "detail"])


def summarise(changes: pd.DataFrame) -> list[str]:
    """One note per kind of change, with counts and a few example codes (for result.notes)."""
    notes = []
    labels = {
        MISSING: "practices are not in every practice-listing extract",
        MERGER: "missing practices share a postcode with a practice that is listed (possible merger)",
        MOVED: "practices have a different sub-ICB code in different extracts",
        CLOSED: "practices are closed in ODS but listed by another extract",
    }
    for kind in (MISSING, MERGER, MOVED, CLOSED):
        sub = changes[changes["change"] == kind]
        if len(sub):
            eg = ", ".join(sub["practice_code"].head(5))
            notes.append(
                f"practice changes: {len(sub)} {labels[kind]} (e.g. {eg}); see the Practice changes table"
            )
    return notes
