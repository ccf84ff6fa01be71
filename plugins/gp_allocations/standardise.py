"""Read a recognised NHS file and map it onto the canonical schema of its extract.

Row numbers (``_row``) are spreadsheet row numbers: the header record is row 1 and the first data
record row 2, whatever number of physical lines a quoted header cell spans (the 2022/23 QOF summary
header is 3 physical lines but is row 1). A headerless file (epraccur) starts at row 1; an xlsx
sheet uses Excel's own row numbers. Blank lines keep their number. Rows dropped by a layout filter
(ALL totals, non-GP organisations) keep the numbers of the rows that stay.

Everything is read as text with the pandas C engine and converted column-wise; no Python loop runs
per row except for money values outside the plain ``-1234.56`` form (rare; money.pounds_to_pence).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError, LayoutError
from gp_allocations.layouts import (
    LayoutSpec,
    Source,
    display,
    iter_sources,
    normalise,
    recognise,
    recognise_source,
    schema_for,
)
from gp_allocations.money import pounds_to_pence

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
_BOM = b"\xef\xbb\xbf"


@dataclass
class Standardised:
    """One extract on its canonical schema, plus ``_file`` and ``_row`` provenance columns."""

    extract: str
    layout: str
    era: str
    frame: pd.DataFrame
    period_hint: str | None
    source_columns: list[str]
    encoding: str = ""
    files: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading


def _read_table(src: Source, spec: LayoutSpec, header: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read the needed columns as text; returns the frame (with _row) and key -> published name."""
    if not spec.header:
        usecols = [p - 1 for p in spec.positions]
        frame = pd.read_csv(
            io.BytesIO(src.raw),
            encoding=src.encoding(),
            header=None,
            usecols=usecols,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
        frame.columns = [f"field {c + 1}" for c in frame.columns]
        found = {k: k for k in spec.columns}
        first_row = 1
    else:
        found = spec.resolve(header)
        wanted = list(dict.fromkeys(found.values()))
        if spec.fmt == "xlsx":
            frame = pd.read_excel(
                io.BytesIO(src.raw), sheet_name=spec.sheet, dtype=str, usecols=wanted, engine="openpyxl"
            )
        else:
            frame = pd.read_csv(
                io.BytesIO(src.raw),
                encoding=src.encoding(),
                usecols=wanted,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
            )
        first_row = 2
    frame = frame.reset_index(drop=True)
    frame["_row"] = np.arange(first_row, first_row + len(frame), dtype=np.int64)
    return frame, found


def check_field_counts(src: Source, header: list[str]) -> None:
    """Every record has as many fields as the header: a short last record is a cut-off download, any
    other short or long record an unquoted delimiter. pandas would pad or drop the fields silently."""
    data = src.raw[len(_BOM) :] if src.raw.startswith(_BOM) else src.raw
    expected = len(header)
    if b'"' in data:
        counts, ends_open = _field_counts_quoted(data, src)
    else:
        # no quotes: a record is a line and its fields are its commas + 1, counted without a Python loop
        arr = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(arr == 10)
        line_of_comma = np.searchsorted(newlines, np.flatnonzero(arr == 44))
        n_lines = len(newlines) + (0 if data.endswith(b"\n") else 1)
        counts = np.bincount(line_of_comma, minlength=n_lines)[:n_lines] + 1
        starts = np.concatenate(([0], newlines + 1))[:n_lines]
        ends = np.concatenate((newlines, [len(arr)]))[:n_lines]
        length = ends - starts - (arr[np.maximum(ends - 1, 0)] == 13)  # a CR before LF is not content
        counts[length <= 0] = 0  # blank lines carry no data and keep their row number
        ends_open = not data.endswith(b"\n")
    bad = np.flatnonzero((counts != expected) & (counts != 0))
    bad = bad[bad > 0]  # the header defines the count
    if not len(bad):
        return
    first = int(bad[0])
    row, fields = first + 1, int(counts[first])
    if fields < expected and ends_open and first == len(counts) - 1:
        raise InputError(
            f"the file ends part-way through row {row} ({fields} of {expected} fields): the download or "
            "copy was cut short; fetch the file again",
            file=src.display,
            row=row,
            column=display(header[fields - 1]),
            rule="file:truncated",
        )
    more = f" ({len(bad) - 1} more row(s) like it)" if len(bad) > 1 else ""
    where = display(header[-1]) if fields > expected else display(header[fields - 1])
    what = "more" if fields > expected else "fewer"
    raise InputError(
        f"row {row} has {fields} fields where the header has {expected}: {what} fields than columns "
        f"(an unquoted comma in a value, or a value left out), so the columns would shift{more}",
        file=src.display,
        row=row,
        column=where,
        rule="file:field-count",
    )


def _field_counts_quoted(data: bytes, src: Source) -> tuple[np.ndarray, bool]:
    """Fields per record (0 for a blank line) of a file with quoted cells, in the csv module's reading."""
    text = data.decode(src.encoding().replace("utf-8-sig", "utf-8"))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        counts = np.fromiter((len(r) for r in reader), dtype=np.int64)
    except csv.Error as exc:
        raise InputError(
            f"the file cannot be read as CSV after row {reader.line_num}: {exc} (an unclosed quote, or "
            "the file was cut short)",
            file=src.display,
            row=reader.line_num,
            rule="file:csv",
        ) from exc
    return counts, not data.endswith(b"\n")


def _one_extract_date(dates: pd.Series, values: pd.Series, rows: pd.Series, src: str, column: str) -> None:
    """A file is one extract: two extract dates in it are two periods mixed (concatenated files)."""
    distinct = dates.dropna().unique()
    if len(distinct) <= 1:
        return
    known = dates.notna().to_numpy()
    base = known.nonzero()[0][0]
    other = (dates != dates.iloc[base]) & dates.notna()
    at = other.to_numpy().nonzero()[0][0]
    count = int(other.sum())
    raise InputError(
        f"extract date {values.iloc[at]!r} differs from {values.iloc[base]!r} on row {int(rows.iloc[base])} "
        f"({count} row(s) carry another date; {len(distinct)} dates in all): one file holds one extract, "
        "so two periods are mixed in this file",
        file=src,
        row=int(rows.iloc[at]),
        column=column,
        rule="file:one-extract-date",
    )


def _clean_text(series: pd.Series, null_values: tuple[str, ...]) -> pd.Series:
    """Strip, and make empty strings and the layout's null markers missing."""
    text = series.astype("str").str.strip()
    missing = series.isna() | text.eq("") | text.isin(null_values)
    return text.mask(missing)


# --------------------------------------------------------------------------------------- converting


def _fail(values: pd.Series, bad: pd.Series, rows: pd.Series, src: str, column: str, rule: str, what: str):
    first = bad.to_numpy().nonzero()[0][0]
    count = int(bad.sum())
    more = f" ({count - 1} more row(s) like it)" if count > 1 else ""
    text = (
        "the cell is blank but a value is required"
        if rule == "required"
        else (f"value {values.iloc[first]!r} is not {what}")
    )
    raise InputError(
        f"{text}{more}",
        file=src,
        row=int(rows.iloc[first]),
        column=column,
        rule=rule,
    )


def _to_int(values: pd.Series, rows, src, column, nullable: bool) -> pd.Series:
    # fast path: plain digits parse straight to int64; only odd values ("1,204", "12.0") take the slow way
    numbers = pd.to_numeric(values, errors="coerce")
    odd = values.notna() & numbers.isna()
    if odd.any():
        text = (
            values[odd].str.replace(",", "", regex=False).str.replace(r"^([+-]?\d+)\.0*$", r"\1", regex=True)
        )
        ok = text.str.fullmatch(r"[+-]?\d+").fillna(False).astype(bool)
        if not ok.all():
            bad = pd.Series(False, index=values.index)
            bad[ok.index[~ok.to_numpy()]] = True
            _fail(values, bad, rows, src, column, "type:integer", "a whole number")
        numbers = numbers.astype("float64")
        numbers[odd] = pd.to_numeric(text).astype("float64")
    whole = numbers.isna() | (numbers == numbers.round())
    if not whole.all():
        _fail(values, ~whole, rows, src, column, "type:integer", "a whole number")
    if not nullable and values.isna().any():
        _fail(values.fillna(""), values.isna(), rows, src, column, "required", "present (required)")
    return numbers.astype("Int64") if nullable else numbers.astype("int64")


def _to_float(values: pd.Series, rows, src, column) -> pd.Series:
    text = values.str.replace(",", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = values.notna() & (numbers.isna() | ~np.isfinite(numbers.fillna(0.0)))
    if bad.any():
        _fail(values, bad, rows, src, column, "type:number", "a number")
    return numbers


def _to_pence(values: pd.Series, rows, src, column, nullable: bool) -> pd.Series:
    text = values.str.replace(",", "", regex=False)
    parts = text.str.extract(r"^(-?)(\d{1,15})(?:\.(\d{0,2}))?$")
    simple = parts[1].notna()
    pence = pd.Series(np.zeros(len(values), dtype=np.int64), index=values.index)
    if simple.any():
        whole = parts.loc[simple, 1].astype("int64")
        frac = parts.loc[simple, 2].fillna("").str.ljust(2, "0").astype("int64")
        sign = np.where(parts.loc[simple, 0].eq("-"), -1, 1)
        pence[simple] = (whole * 100 + frac) * sign
    # anything else (pound signs, more than 2 decimals, exponents) goes through Decimal, exactly
    rest = values.notna() & ~simple
    for idx in rest[rest].index:
        try:
            pence[idx] = pounds_to_pence(values[idx])
        except ValueError:
            bad = pd.Series(False, index=values.index)
            bad[idx] = True
            _fail(values, bad, rows, src, column, "type:money", "an amount of money in pounds")
    if values.isna().any():
        if not nullable:
            _fail(values.fillna(""), values.isna(), rows, src, column, "required", "present (required)")
        return pence.astype("Int64").mask(values.isna())
    return pence


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


def _to_date(values: pd.Series, rows, src, column, formats) -> pd.Series:
    dates = parse_dates(values, formats)
    bad = values.notna() & dates.isna()
    if bad.any():
        _fail(values, bad, rows, src, column, "type:date", "a date in a known format")
    return dates


# ------------------------------------------------------------------------------------ standardising


def _apply_filters(frame: pd.DataFrame, spec: LayoutSpec, found: dict[str, str], src: str) -> pd.DataFrame:
    def col(key: str) -> pd.Series:
        return frame[found[key]].astype("str").str.strip()

    keep = pd.Series(True, index=frame.index)
    for key, allowed in spec.keep.items():
        keep &= col(key).isin(allowed)
    for key, dropped in spec.drop.items():
        keep &= ~col(key).isin(dropped)
    frame = frame[keep]
    for key, allowed in spec.allowed.items():
        values = col(key)
        bad = ~values.isin(allowed)
        if bad.any():
            _fail(
                values,
                bad,
                frame["_row"],
                src,
                display(found[key]),
                "allowed-values",
                f"one of {list(allowed)}",
            )
    return frame


def _header_value(spec: LayoutSpec, canonical: str, header: list[str]) -> str | None:
    pattern = spec.header_values.get(canonical)
    if not pattern:
        return None
    for col in header:
        match = re.search(pattern, normalise(col))
        if match:
            return match.group(1)
    return None


def _standardise_source(src: Source, spec: LayoutSpec, header: list[str]) -> tuple[pd.DataFrame, list[str]]:
    schema = schema_for(spec.extract)
    if spec.fmt == "csv" and spec.header:
        check_field_counts(src, header)
    raw, found = _read_table(src, spec, header)
    # blank lines (and Excel's empty trailing rows) carry no data
    blank = pd.Series(True, index=raw.index)
    for col in raw.columns:
        if col != "_row":
            blank &= raw[col].isna() | raw[col].astype("str").str.strip().eq("")
    raw = raw[~blank]
    if raw.empty:
        raise InputError("file has a header but no data rows", file=src.display, rule="file:no-rows")
    raw = _apply_filters(raw, spec, found, src.display)
    rows = raw["_row"]
    out: dict[str, pd.Series] = {}
    by_canonical: dict[str, str] = {}
    for key, canonical in spec.columns.items():
        if canonical is not None and key in found and canonical not in by_canonical:
            by_canonical[canonical] = key
    for col in schema.columns:
        key = by_canonical.get(col.name)
        if key is None:
            constant = _header_value(spec, col.name, header)
            values = pd.Series(constant, index=raw.index, dtype="str")
            published = f"header of {spec.name}" if constant is not None else col.name
        else:
            values = raw[found[key]]
            published = display(found[key])
        values = _clean_text(values, spec.null_values)
        if col.dtype == "str":
            out[col.name] = values
        elif col.dtype == "int":
            out[col.name] = _to_int(values, rows, src.display, published, col.nullable)
        elif col.dtype == "float":
            out[col.name] = _to_float(values, rows, src.display, published)
        elif col.dtype == "pence":
            out[col.name] = _to_pence(values, rows, src.display, published, col.nullable)
        elif col.dtype == "date":
            out[col.name] = _to_date(values, rows, src.display, published, spec.date_formats)
            if col.name == "extract_date":
                _one_extract_date(out[col.name], values, rows, src.display, published)
        else:  # pragma: no cover - extracts.py only uses the five dtypes above
            raise ValueError(f"unknown dtype {col.dtype!r}")
    frame = pd.DataFrame(out, index=raw.index)
    frame["_file"] = src.display
    frame["_row"] = rows.astype("int64")
    source_columns = [display(c) for c in header] if header else list(spec.columns)
    return frame.reset_index(drop=True), source_columns


_FY_LONG = re.compile(r"(?<!\d)(20\d{2})[-_/ ]?(\d{2})(?!\d)")
_FY_SHORT = re.compile(r"(?<!\d)(\d{2})[-_](\d{2})(?!\d)")
_FY_QOF = re.compile(r"_(\d{2})(\d{2})(?!\d)")


def period_from_name(name: str, *, qof: bool = False) -> str | None:
    """Financial year named in a file name: ``nhspaymentsgp-22-23`` / ``QOF 2022-23`` / ``_2223``
    -> ``2022/23``; QOF's ``_2021`` means the year ending 2021, i.e. ``2020/21`` as well."""
    patterns = [(_FY_LONG, 0), (_FY_SHORT, 2000)] + ([(_FY_QOF, 2000)] if qof else [])
    for pattern, century in patterns:
        for match in pattern.finditer(name):
            start = int(match[1]) + century
            end = int(match[2])
            if (start + 1) % 100 == end:
                return f"{start}/{end:02d}"
    return None


def _period_hint(
    frame: pd.DataFrame, spec: LayoutSpec, names: list[str], raw_periods: list[str]
) -> str | None:
    if "extract_date" in frame.columns and frame["extract_date"].notna().any():
        return frame["extract_date"].max().date().isoformat()
    if raw_periods:
        return max(raw_periods)
    for name in names:
        hint = period_from_name(Path(name).name, qof=spec.extract.startswith("qof"))
        if hint:
            return hint
    return None


def _sources_for(extract: str, path: Path, display_name: str | None):
    """Sources of a path that are of ``extract``; a zip's other members are skipped."""
    is_zip = Path(path).suffix.lower() == ".zip"
    matched = []
    first_error: LayoutError | None = None
    for src in iter_sources(Path(path), display_name):
        try:
            spec, header = recognise_source(src)
        except LayoutError as exc:
            if not is_zip:
                # raise again restricted to this extract, so the error ranks this extract's layouts
                recognise_source(src, extract)
                raise
            first_error = first_error or exc
            continue
        if spec.extract != extract:
            if is_zip:
                continue
            raise LayoutError(
                f"this is a {spec.extract} file (layout {spec.name}), not {extract}",
                file=src.display,
                rule="layout:extract",
            )
        matched.append((src, spec, header))
    if not matched:
        if first_error is not None:
            raise first_error
        raise LayoutError(f"zip has no {extract} member", file=display_name or Path(path).name, rule="layout")
    return matched


def standardise(extract: str, paths: list[Path], *, display_names: list[str] | None = None) -> Standardised:
    """Read every file (or zip member) of one extract and return it on the canonical schema.

    Several files (e.g. the seven regional QOF achievement files) are concatenated in the order given.
    Raises InputError/LayoutError naming file, row, published column and rule on bad input.
    """
    if not paths:
        raise InputError(f"no files given for {extract}", rule="file:exists")
    schema = schema_for(extract)
    if display_names is not None and len(display_names) != len(paths):
        raise ValueError("display_names must match paths one for one")
    frames: list[pd.DataFrame] = []
    specs: list[LayoutSpec] = []
    headers: list[list[str]] = []
    source_columns: list[str] = []
    encodings: list[str] = []
    names: list[str] = []
    raw_periods: list[str] = []
    period_names: list[str] = []
    for i, path in enumerate(paths):
        name = display_names[i] if display_names else None
        period_names.append(Path(path).name)  # the real name too: a display name may be a URI
        for src, spec, header in _sources_for(extract, Path(path), name):
            frame, cols = _standardise_source(src, spec, header)
            frames.append(frame)
            specs.append(spec)
            headers.append(header)
            names.append(src.display)
            encodings.append(src.encoding())
            source_columns.extend(c for c in cols if c not in source_columns)
            if spec.period_column:
                key = spec.resolve(header)
                period_col = next((v for k, v in key.items() if k == spec.period_column), None)
                if period_col is not None:
                    raw_periods.append(_max_text(src, spec, period_col))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame[[*schema.column_names, "_file", "_row"]]
    # validation names columns as the user's file does (parquet keeps attrs between stages)
    frame.attrs["source_columns"] = _published_names(specs[0], headers[0], schema.column_names)
    layout = ",".join(dict.fromkeys(s.name for s in specs))
    era = "; ".join(dict.fromkeys(s.era for s in specs))
    return Standardised(
        extract=extract,
        layout=layout,
        era=era,
        frame=frame,
        period_hint=_period_hint(frame, specs[0], names + period_names, raw_periods),
        source_columns=source_columns,
        encoding=",".join(dict.fromkeys(encodings)),
        files=names,
    )


def _published_names(spec: LayoutSpec, header: list[str], canonical: list[str]) -> dict[str, str]:
    """Canonical column -> the column name as published in the (first) file."""
    found = spec.resolve(header) if spec.header else {k: k for k in spec.columns}
    names: dict[str, str] = {}
    for key, target in spec.columns.items():
        if target in canonical and target not in names and key in found:
            names[target] = display(found[key])
    return names


def _max_text(src: Source, spec: LayoutSpec, column: str) -> str:
    values = pd.read_csv(io.BytesIO(src.raw), encoding=src.encoding(), usecols=[column], dtype=str)[column]
    return str(values.dropna().str.strip().max())


def inspect_file(path: Path) -> dict:
    """What the ``inspect`` command prints: extract, layout, era, period, rows, column map."""
    path = Path(path)
    extract, spec = recognise(path)
    result = standardise(extract, [path])
    header = result.source_columns
    resolved = spec.resolve(header) if spec.header else {k: k for k in spec.columns}
    columns: dict[str, str | None] = {c: None for c in schema_for(extract).column_names}
    for key, canonical in spec.columns.items():
        if canonical is not None and key in resolved and columns.get(canonical) is None:
            columns[canonical] = display(resolved[key])
    for canonical in columns:
        if columns[canonical] is None and canonical in spec.header_values:
            columns[canonical] = "(from header)"
    used = {display(v) for v in resolved.values()}
    return {
        "file": path.name,
        "extract": extract,
        "layout": result.layout,
        "era": result.era,
        "encoding": result.encoding,
        "period": result.period_hint,
        "rows": len(result.frame),
        "columns": columns,
        "ignored_columns": [c for c in header if c not in used] if spec.header else [],
    }
