"""Text cells to typed columns, column-wise: counts, numbers, money in exact pennies, dates.

Numbers are read as published and nothing else: counts are ASCII digits (no sign, exponent, thousands
separator or other Unicode digit), money is ``-1234.56``, and both are bounded (include/limits.yaml).
The first bad cell raises an ``InputError`` naming file, row, column and rule, and says why in a user's
words. No Python loop runs per row. Money finer than a penny (``12.345``) is refused, not rounded:
NHS files publish pounds and pence, so a third decimal means a wrong column or a damaged file
(trailing zeros, ``12.340``, are exact and accepted).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NoReturn

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError
from gp_allocations.limits import limits

#: Tried after a layout's own date formats. ``excel_serial`` is days since 1899-12-30 (1-5 digits).
DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%d-%b-%y",  # 01-Sep-20
    "%d%b%Y",  # 01JAN2021, 01Jan2022
    "%Y-%m-%d",  # 2024-06-01 (PDS era)
    "%d/%m/%Y",  # 01/04/1974
    "%Y%m%d",  # 19740401 (ODS)
    "excel_serial",  # 31138
)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def convert(
    values: pd.Series,
    dtype: str,
    rows: pd.Series,
    src: str,
    column: str,
    *,
    nullable: bool,
    date_formats: tuple[str, ...] = (),
) -> pd.Series:
    """One column's cleaned text as its canonical dtype (``str``, ``int``, ``float``, ``pence``, ``date``)."""
    if dtype == "str":
        return values
    if dtype == "int":
        return _to_int(values, rows, src, column, nullable)
    if dtype == "float":
        return _to_float(values, rows, src, column)
    if dtype == "pence":
        return _to_pence(values, rows, src, column, nullable)
    if dtype == "date":
        return _to_date(values, rows, src, column, date_formats)
    raise ValueError(f"unknown dtype {dtype!r}")  # pragma: no cover - extracts.py only uses the five above


def _fail(
    values: pd.Series,
    bad: pd.Series,
    rows: pd.Series,
    src: str,
    column: str,
    rule: str,
    what: str,
    why: Callable[[str], str] | None = None,
    verb: str = "is not",
) -> NoReturn:
    """Raise for the first bad row; ``why`` (text -> reason) explains the first bad value."""
    first = bad.to_numpy().nonzero()[0][0]
    count = int(bad.sum())
    more = f" ({count - 1} more row(s) like it)" if count > 1 else ""
    value = values.iloc[first]
    if rule == "required":
        text = "the cell is blank but a value is required"
    else:
        reason = why(str(value)) if why is not None else ""
        text = f"value {value!r} {verb} {what}" + (f": {reason}" if reason else "")
    raise InputError(
        f"{text}{more}",
        file=src,
        row=int(rows.iloc[first]),
        column=column,
        rule=rule,
    )


#: Plain numbers as published: ASCII digits only (``\d`` would take any Unicode digit), no exponent,
#: no thousands separator, no currency sign.
_COUNT = r"[0-9]+"
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_MONEY = r"(-?)([0-9]+)(?:\.([0-9]+))?"


def _number_reason(text: str) -> str:
    """Why a value is not a plain number, in a user's words (only the first bad value is explained)."""
    stripped = text.strip()
    low = stripped.lower().lstrip("+-")
    if low in {"inf", "infinity", "nan"}:
        return "not a finite number"
    if any(c.isdigit() and not c.isascii() for c in stripped):
        return "only the digits 0-9 are read (it holds other Unicode digits)"
    if re.fullmatch(r"[+-]?[0-9.]+[eE][+-]?[0-9]+", stripped):
        return "exponent notation is not read; write the number out in full"
    if re.fullmatch(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?", stripped):
        return "thousands separators are not read; write the number without commas"
    if stripped.startswith(("£", "-£", "$", "€")):
        return "a currency sign is not read; write the amount in pounds without it"
    return ""


def _count_reason(text: str) -> str:
    stripped = text.strip()
    if re.fullmatch(r"-[0-9]+(?:\.0*)?", stripped):
        return "a count cannot be negative"
    if re.fullmatch(r"[+]?[0-9]*\.[0-9]+", stripped):
        return "a count is a whole number"
    return _number_reason(text)


def _check_cells(
    values: pd.Series,
    present: pd.Series,
    ok: pd.Series,
    rows: pd.Series,
    src: str,
    column: str,
    nullable: bool,
    rule: str,
    what: str,
    why: Callable[[str], str],
) -> None:
    """Every present cell has the published shape (``ok``), then no blank where one is required."""
    if not ok[present].all():
        _fail(values, present & ~ok, rows, src, column, rule, what, why)
    if not nullable and not present.all():
        _fail(values.fillna(""), ~present, rows, src, column, "required", "present (required)")


def _to_int(values: pd.Series, rows: pd.Series, src: str, column: str, nullable: bool) -> pd.Series:
    """Counts: plain non-negative integers in ASCII digits, at most ``max_count``."""
    present = values.notna()
    ok = values.str.fullmatch(_COUNT).fillna(False).astype(bool)
    what = "a count (a whole number of 0 or more, in the digits 0-9)"
    _check_cells(values, present, ok, rows, src, column, nullable, "type:integer", what, _count_reason)
    top = limits().max_count
    text = values.where(present, "0")
    too_long = text.str.len() > 18  # int64 holds every 18-digit number
    numbers = text.mask(too_long, "0").astype("int64")
    over = too_long | (numbers > top)
    if over.any():
        what = f"more than {top:,}, the most a count may be (limit max_count)"
        _fail(values, over, rows, src, column, "range:count", what, verb="is")
    return numbers.astype("Int64").mask(~present) if nullable else numbers


def _to_float(values: pd.Series, rows: pd.Series, src: str, column: str) -> pd.Series:
    present = values.notna()
    ok = values.str.fullmatch(_NUMBER).fillna(False).astype(bool)
    if not ok[present].all():
        _fail(values, present & ~ok, rows, src, column, "type:number", "a number", _number_reason)
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    huge = present & ~np.isfinite(numbers.fillna(0.0))  # 400 digits parse to inf
    if huge.any():
        _fail(values, huge, rows, src, column, "type:number", "a finite number")
    return numbers


def _to_pence(values: pd.Series, rows: pd.Series, src: str, column: str, nullable: bool) -> pd.Series:
    """Money in pounds, as published (``-1234.56``), to exact pennies; anything else fails."""
    present = values.notna()
    parts = values.str.extract(f"^{_MONEY}$")
    ok = parts[1].notna()
    what = "an amount of money in pounds"
    _check_cells(values, present, ok, rows, src, column, nullable, "type:money", what, _number_reason)
    top = limits().max_money_pounds
    whole_text = parts[1].where(ok, "0")
    too_long = whole_text.str.len() > 15
    whole = whole_text.mask(too_long, "0").astype("int64")
    frac = parts[2].where(ok, "").fillna("")
    sign = np.where(parts[0].eq("-"), -1, 1)
    sub_penny = present & ok & frac.str[2:].str.strip("0").ne("")
    if sub_penny.any():
        what = "in whole pennies: it has a fraction of a penny (more than two decimal places)"
        _fail(values, sub_penny, rows, src, column, "type:money", what, verb="is not")
    pence: pd.Series = (whole * 100 + frac.str[:2].str.ljust(2, "0").astype("int64")) * sign
    over = too_long | (pence.abs() > top * 100)
    if over.any():
        _fail(
            values,
            over,
            rows,
            src,
            column,
            "range:money",
            f"beyond {top:,} pounds either way, the most an amount may be (limit max_money_pounds)",
            verb="is",
        )
    if not present.all():
        return pence.astype("Int64").mask(~present)
    return pence.astype("int64")


def parse_dates(values: pd.Series, formats: tuple[str, ...] = ()) -> pd.Series:
    """Parse text dates trying each format in turn (layout formats first); NaT where none fits.

    Works on the distinct values only, so a 1.5M-row file with one extract date costs one parse.
    """
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(np.asarray(uniques, dtype=object), dtype="str")
    parsed = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[ns]")
    for fmt in (*formats, *DEFAULT_DATE_FORMATS):
        todo = parsed.isna()
        if not todo.any():
            break
        if fmt == "excel_serial":
            serial = todo & distinct.str.fullmatch(r"\d{1,5}(?:\.0*)?")
            if serial.any():
                days = distinct[serial].astype(float).astype("int64")
                parsed[serial] = _EXCEL_EPOCH + pd.to_timedelta(days, unit="D")
        else:
            parsed[todo] = pd.to_datetime(distinct[todo], format=fmt, errors="coerce")
    # factorize codes are -1 for missing: take() with a trailing NaT slot maps them to NaT
    table = np.append(parsed.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    return pd.Series(table[codes], index=values.index)


def _to_date(
    values: pd.Series, rows: pd.Series, src: str, column: str, formats: tuple[str, ...]
) -> pd.Series:
    dates = parse_dates(values, formats)
    bad = values.notna() & dates.isna()
    if bad.any():
        _fail(values, bad, rows, src, column, "type:date", "a date in a known format")
    return dates
