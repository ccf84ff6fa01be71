"""Every row of a file is checked before any row is dropped (issue 14.1, 14.2).

A layout may keep some rows and drop others (``keep`` / ``drop``: the patients file's region, ICB,
sub-ICB and PCN rows, its ``ALL`` rows; the LSOA file's MALE/FEMALE rows). Before that filter runs:

- ``check_known_values``: a filtered column is a closed set (``keep`` + ``allowed`` + ``drop`` + the
  aggregate levels of ``totals``); any other value (``Gp``, ``X``) is an error naming the row, never
  a silent drop;
- the reader converts every column of every row (counts, dates), so a bad count on a dropped row fails;
- ``check_dropped_rows``, when the filter drops anything: no duplicated row in the whole file, every
  aggregate row's code has its level's shape, and the file's own totals hold (``totals`` in the layout):
  an ``ALL`` row equals the sum of its parts, and each aggregate level adds up to the practice rows.

Errors name the file, the row, the published column, the rule and both figures; never the contents of
other cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError
from gp_allocations.extracts import EXTRACTS
from gp_allocations.layouts import LayoutSpec, display


def _text(raw: pd.DataFrame, found: dict[str, str], key: str) -> pd.Series:
    return raw[found[key]].astype("str").str.strip()


def known_values(spec: LayoutSpec) -> dict[str, tuple[str, ...]]:
    """Filtered column (normalised key) -> every value it may hold; columns with ``keep`` or
    ``allowed`` are closed sets (a ``drop``-only column keeps whatever it does not drop)."""
    closed: dict[str, list[str]] = {}
    for mapping in (spec.keep, spec.allowed):
        for key, values in mapping.items():
            closed.setdefault(key, []).extend(values)
    levels = spec.totals.get("levels")
    if levels:
        key = levels["column"]
        closed.setdefault(key, []).extend([str(levels["practice"]), *map(str, levels["of"])])
    for key, values in spec.drop.items():
        if key in closed:
            closed[key].extend(values)
    return {key: tuple(dict.fromkeys(values)) for key, values in closed.items()}


def check_known_values(raw: pd.DataFrame, spec: LayoutSpec, found: dict[str, str], src: str) -> None:
    for key, known in known_values(spec).items():
        values = _text(raw, found, key)
        bad = ~values.isin(known)
        if not bad.any():
            continue
        at = int(bad.to_numpy().nonzero()[0][0])
        value = values.iloc[at]
        count = int(bad.sum())
        more = f" ({count - 1} more row(s) like it)" if count > 1 else ""
        near = [k for k in known if k.casefold() == value.casefold()]
        hint = (
            f": values are matched exactly, and {value!r} differs from {near[0]!r} only in case"
            if near
            else ""
        )
        raise InputError(
            f"value {value!r} is not one of {list(known)}{hint}{more}",
            file=src,
            row=int(raw["_row"].iloc[at]),
            column=display(found[key]),
            rule="allowed-values",
        )


def kept_rows(raw: pd.DataFrame, spec: LayoutSpec, found: dict[str, str]) -> pd.Series:
    """The rows the layout's filter keeps (``keep`` values, and not a ``drop`` value)."""
    keep = pd.Series(True, index=raw.index)
    for key, allowed in spec.keep.items():
        keep &= _text(raw, found, key).isin(allowed)
    for key, dropped in spec.drop.items():
        keep &= ~_text(raw, found, key).isin(dropped)
    return keep


@dataclass
class _File:
    """What the checks need of one file: its text cells, typed frame, row numbers and names."""

    raw: pd.DataFrame
    frame: pd.DataFrame
    found: dict[str, str]
    spec: LayoutSpec
    src: str

    @property
    def rows(self) -> np.ndarray:
        return self.raw["_row"].to_numpy()

    def text(self, key: str) -> pd.Series:
        return _text(self.raw, self.found, key)

    def name(self, key: str) -> str:
        return display(self.found[key])

    def canonical(self, key: str) -> str:
        target = self.spec.columns[key]
        assert target is not None, f"{self.spec.name}: totals column {key!r} is not mapped"
        return target


def check_dropped_rows(
    raw: pd.DataFrame, frame: pd.DataFrame, spec: LayoutSpec, found: dict[str, str], src: str
) -> pd.DataFrame | None:
    """The checks on the rows a filter would drop (run on the whole file, before it drops them).
    Returns the aggregate rows totalling every other value (for ``check_aggregates_against_map``)."""
    f = _File(raw, frame, found, spec, src)
    key = _row_key(f)
    if key:
        _check_unique(f, key)
    totals = spec.totals
    if totals.get("levels"):
        _check_level_codes(f)
    for column, all_value in (totals.get("all") or {}).items():
        _check_all_rows(f, key, column, str(all_value))
    if totals.get("levels"):
        _check_levels(f)
        return _aggregates(f)
    return None


def _aggregates(f: _File) -> pd.DataFrame:
    """Aggregate rows whose every ``all`` column holds ALL: level, ORG_TYPE, code, figure, file, row."""
    levels = f.spec.totals["levels"]
    types = f.text(levels["column"])
    mask = types.isin(list(levels["of"]))
    for column, all_value in (f.spec.totals.get("all") or {}).items():
        if column in f.found:
            mask &= f.text(column).eq(str(all_value))
    level_of = {t: spec["level"] for t, spec in levels["of"].items()}
    return pd.DataFrame(
        {
            "level": types[mask].map(level_of),
            "org_type": types[mask],
            "code": f.text(f.spec.totals["code"])[mask],
            "figure": f.frame.loc[mask, f.canonical(f.spec.totals["measure"])].astype("int64"),
            "_file": f.src,
            "_row": f.raw.loc[mask, "_row"].astype("int64"),
            "_column": f.name(f.spec.totals["measure"]),
            "_measure": f.canonical(f.spec.totals["measure"]),
        }
    ).reset_index(drop=True)


#: the map's levels from the practice up: a level's code must be one per code of every level below it
_MAP_LEVELS = ("pcn_code", "sub_icb_code", "icb_code", "region_code")


def _map_is_a_function(placed: pd.DataFrame, column: str) -> bool:
    """True when every code of the levels below ``column`` has one ``column`` code in the map."""
    if column not in _MAP_LEVELS:
        return True
    below = [c for c in _MAP_LEVELS[1 : _MAP_LEVELS.index(column)] if c in placed.columns]
    return all(int(placed.groupby(c)[column].nunique().max() or 0) <= 1 for c in below)


def check_aggregates_against_map(
    aggregates: pd.DataFrame, practices: pd.DataFrame, practice_map: pd.DataFrame
) -> None:
    """Each aggregate row (a sub-ICB's, ICB's, region's or PCN's total) equals the sum of the practice
    rows of the practices the practice map puts in it (level ``x`` is the map's ``x_code`` column)."""
    if aggregates.empty:
        return
    per_practice = practices.groupby("practice_code")[str(aggregates["_measure"].iloc[0])].sum()
    placed = practice_map.drop_duplicates("practice_code").set_index("practice_code")
    if not per_practice.index.isin(placed.index).all():
        return  # a practice the map does not place (or a code it spells otherwise) is validate's to name
    map_file = str(practice_map["_file"].iloc[0]) if "_file" in practice_map and len(practice_map) else "map"
    for level, rows in aggregates.groupby("level", sort=False):
        column = f"{level}_code"
        if column not in placed.columns or not _map_is_a_function(placed, column):
            continue  # a map that gives a sub-ICB two ICBs is the hierarchy rule's to name (validate)
        codes = placed[column].reindex(per_practice.index)
        expected = per_practice.groupby(codes).agg(["sum", "size"])
        got = rows.join(expected, on="code")
        got[["sum", "size"]] = got[["sum", "size"]].fillna(0).astype("int64")
        wrong = got[got["figure"] != got["sum"]]
        if wrong.empty:
            continue
        first = wrong.iloc[0]
        said, added = int(first["figure"]), int(first["sum"])
        raise InputError(
            f"the {first['org_type']} {first['code']!r} total row (every sex and age) says {said:,} but the "
            f"{int(first['size'])} practice(s) the practice map ({map_file}) puts in it add up to {added:,} "
            f"in this file's GP rows, a difference of {said - added:+,} ({len(wrong)} {level} total row(s) "
            "like it): the file's totals and the map disagree about which practices are where",
            file=str(first["_file"]),
            row=int(first["_row"]),
            column=str(first["_column"]),
            rule="aggregate_totals_match_map",
        )


def _row_key(f: _File) -> list[str]:
    """Published columns that identify a row: the extract's key plus every filtered column."""
    spec = EXTRACTS.get(f.spec.extract)
    if spec is None:
        return []
    by_canonical = {v: k for k, v in f.spec.columns.items() if v is not None and k in f.found}
    key = [by_canonical[c] for c in spec.key if c in by_canonical]
    filtered = [k for k in (*known_values(f.spec), *f.spec.drop) if k in f.found]
    order = list(f.raw.columns)
    return sorted(dict.fromkeys([*filtered, *key]), key=lambda k: order.index(f.found[k]))


def _check_unique(f: _File, key: list[str]) -> None:
    cells = pd.DataFrame({k: f.text(k) for k in key})
    dup = cells.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    later = cells.duplicated(keep="first").to_numpy()
    at = int(later.nonzero()[0][0])
    same = (cells == cells.iloc[at]).all(axis=1).to_numpy()
    first = int(same.nonzero()[0][0])
    what = "; ".join(f"{f.name(k)}={cells.iloc[at][k]}" for k in key)
    raise InputError(
        f"row {f.rows[at]} repeats row {f.rows[first]} ({what}): one row per "
        f"{' + '.join(f.name(k) for k in key)}, checked on every row before any is dropped "
        f"({int(later.sum())} repeated row(s) in all)",
        file=f.src,
        row=int(f.rows[at]),
        column=",".join(f.name(k) for k in key),
        rule="unique_key",
    )


def _check_level_codes(f: _File) -> None:
    """Every row's code has the shape of its level: the practice rows' too (``practice_codes``), so a
    code spelt otherwise ('a81001') is named here, not as a total that does not add up."""
    levels = f.spec.totals["levels"]
    if levels.get("practice_codes"):
        _check_codes(f, str(levels["practice"]), str(levels["practice_codes"]), "practice_code_format")
    for org_type, level in levels["of"].items():
        if level.get("codes"):
            _check_codes(f, org_type, str(level["codes"]), "aggregate_code_format")


def _check_codes(f: _File, org_type: str, pattern: str, rule: str) -> None:
    rows = f.text(f.spec.totals["levels"]["column"]).eq(org_type)
    if not rows.any():
        return
    codes = f.text(f.spec.totals["code"])
    bad = (rows & ~codes.str.fullmatch(pattern)).to_numpy()
    if bad.any():
        at = int(bad.nonzero()[0][0])
        raise InputError(
            f"value {codes.iloc[at]!r} on an ORG_TYPE {org_type!r} row is not a code of that level "
            f"(pattern {pattern}; {int(bad.sum())} row(s) like it)",
            file=f.src,
            row=int(f.rows[at]),
            column=f.name(f.spec.totals["code"]),
            rule=rule,
        )


def _rows_text(rows: np.ndarray) -> str:
    rows = np.sort(rows)
    if len(rows) <= 3:
        return "row" + ("s " if len(rows) > 1 else " ") + ", ".join(str(r) for r in rows)
    return f"{len(rows)} rows, {rows[0]} to {rows[-1]}"


def _check_all_rows(f: _File, key: list[str], column: str, all_value: str) -> None:
    """A row with ``all_value`` in ``column`` is the sum of the rows with the other values of that
    column and the same values elsewhere in the row key (where the file has such rows)."""
    if column not in f.found:
        return
    measure = f.frame[f.canonical(f.spec.totals["measure"])].to_numpy(dtype=np.int64)
    group_cols = [k for k in key if k != column]
    groups = pd.DataFrame({k: f.text(k) for k in group_cols})
    gid = groups.groupby(group_cols, sort=False).ngroup().to_numpy()
    is_all = f.text(column).eq(all_value).to_numpy()
    parts = np.bincount(gid[~is_all], weights=measure[~is_all], minlength=gid.max() + 1)
    n_parts = np.bincount(gid[~is_all], minlength=gid.max() + 1)
    # every other value present: the ALL row is their sum; some absent (a zero left out): at least it
    values = len(known_values(f.spec).get(column, ())) - 1
    at_all = is_all.nonzero()[0]
    count, added_up = n_parts[gid[at_all]], parts[gid[at_all]].astype(np.int64)
    said_all = measure[at_all]
    wrong = at_all[(count > 0) & np.where(count >= values, said_all != added_up, said_all < added_up)]
    if not len(wrong):
        return
    at = int(wrong[0])
    said, added = int(measure[at]), int(parts[gid[at]])
    part_rows = f.rows[(gid == gid[at]) & ~is_all]
    where = ", ".join(f"{f.name(k)} {groups.iloc[at][k]!r}" for k in group_cols)
    complete = len(part_rows) >= values
    listed = _rows_text(part_rows) + ("" if complete else f"; not every {f.name(column)} is listed")
    added_text = f"add up to {added:,}" if complete else f"already add up to {added:,}, more than the total"
    raise InputError(
        f"{where}: the {f.name(column)} {all_value!r} row (row {f.rows[at]}) says {said:,} but the other "
        f"{f.name(column)} rows ({listed}) {added_text}, a difference of "
        f"{said - added:+,} ({len(wrong)} total row(s) in the file do not add up)",
        file=f.src,
        row=int(f.rows[at]),
        column=f.name(f.spec.totals["measure"]),
        rule="file_totals",
    )


def _check_levels(f: _File) -> None:
    """Each aggregate level's rows add up to the practice rows, for every other row-key value (sex and
    age band); a level not every practice belongs to (``partial: true``, e.g. PCN) adds up to no more."""
    levels = f.spec.totals["levels"]
    types = f.text(levels["column"])
    measure = f.frame[f.canonical(f.spec.totals["measure"])].astype("int64")
    rest = [k for k in _row_key(f) if k not in {levels["column"], f.spec.totals["code"]}]
    cells = pd.DataFrame({k: f.text(k) for k in rest})
    cells["_measure"] = measure.to_numpy()
    cells["_row"] = f.rows
    practice = types.eq(str(levels["practice"])).to_numpy()
    want = cells[practice].groupby(rest, sort=True).agg(total=("_measure", "sum"), rows=("_row", "size"))
    by_level: dict[str, list[str]] = {}
    for org_type, level in levels["of"].items():
        by_level.setdefault(level["level"], []).append(org_type)
    for org_types in by_level.values():
        mask = types.isin(org_types).to_numpy()
        if not mask.any():
            continue
        org_types = [t for t in org_types if types.eq(t).any()]
        partial = any(bool(levels["of"][t].get("partial")) for t in org_types)
        got = (
            cells[mask]
            .groupby(rest, sort=True)
            .agg(total=("_measure", "sum"), rows=("_row", "size"), first=("_row", "min"))
        )
        both = got.join(want, how="left", lsuffix="_level").fillna(0)
        bad = both["total_level"] > both["total"] if partial else both["total_level"] != both["total"]
        if not bad.any():
            continue
        at = both[bad].index[0]
        row = both.loc[at]
        said, added = int(row["total_level"]), int(row["total"])
        what = ", ".join(
            f"{f.name(k)} {v!r}" for k, v in zip(rest, at if isinstance(at, tuple) else (at,), strict=True)
        )
        first = int(row["first"])
        but = "more than" if partial else "but"
        raise InputError(
            f"{what}: the {int(row['rows_level'])} {'/'.join(org_types)} rows (first row {first}) add up to "
            f"{said:,}, {but} the {int(row['rows'])} {levels['practice']} rows add up to {added:,}, a "
            f"difference of {said - added:+,} ({int(bad.sum())} total(s) at this level do not add up)",
            file=f.src,
            row=first,
            column=f.name(f.spec.totals["measure"]),
            rule="file_totals",
        )
