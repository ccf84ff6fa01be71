"""Read a recognised NHS file and map it onto the canonical schema of its extract.

Row numbers (``_row``) are spreadsheet row numbers: the header record is row 1 and the first data
record row 2, whatever number of physical lines a quoted header cell spans (the 2022/23 QOF summary
header is 3 physical lines but is row 1). A headerless file (epraccur) starts at row 1; an xlsx
sheet uses Excel's own row numbers. Blank lines keep their number. Rows dropped by a layout filter
(ALL totals, non-GP organisations) keep the numbers of the rows that stay.

Everything is read as text with the pandas C engine and converted column-wise (``conversions.py``:
numbers as published and nothing else, money to exact pennies, bounded by include/limits.yaml).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from gp_allocations import rowchecks
from gp_allocations.conversions import convert
from gp_allocations.errors import InputError, LayoutError, PipelineError
from gp_allocations.extracts import check_one_file
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
from gp_allocations.limits import limits
from gp_allocations.sources import read_csv_arrow

log = logging.getLogger(__name__)
_T = TypeVar("_T")
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
    period_from: str | None = None
    #: the file's aggregate rows over every other value (region ... PCN totals), for the map check
    aggregates: pd.DataFrame | None = None


# ------------------------------------------------------------------------------------------ reading


def _read_csv_text(
    src: Source, usecols: list[Any], header: Literal["infer"] | None = "infer"
) -> pd.DataFrame:
    """pandas' reader, every cell as text as published: no NA guessing, blank lines kept (row numbers)."""
    return pd.read_csv(
        io.BytesIO(src.raw),
        encoding=src.encoding(),
        header=header,
        usecols=usecols,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=False,
    )


def _read_table(src: Source, spec: LayoutSpec, header: list[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read the needed columns as text; returns the frame (with _row) and key -> published name."""
    if not spec.header:
        usecols = [p - 1 for p in spec.positions]
        frame = _read_csv_text(src, usecols, header=None)
        frame.columns = pd.Index([f"field {int(c) + 1}" for c in frame.columns])
        found = {k: k for k in spec.columns}
        first_row = 1
    else:
        found = spec.resolve(header)
        wanted = list(dict.fromkeys(found.values()))
        if spec.fmt == "xlsx":
            frame = pd.read_excel(
                io.BytesIO(src.raw), sheet_name=spec.sheet or 0, dtype=str, usecols=wanted, engine="openpyxl"
            )
        else:
            arrow = read_csv_arrow(src, header, wanted)
            frame = arrow if arrow is not None else _read_csv_text(src, wanted)
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
        if len(length) and length.max() > limits().max_field_chars:
            _check_cell_lengths(src, header, arr, newlines, starts, ends)
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
    top = limits().max_field_chars
    previous = csv.field_size_limit()
    csv.field_size_limit(top)  # a cell past the limit stops the csv module at once
    try:
        counts = np.fromiter((len(r) for r in reader), dtype=np.int64)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InputError(
                f"a cell is longer than the {top:,} characters a cell may hold (limit max_field_chars)",
                file=src.display,
                row=reader.line_num,
                rule="limit:field-chars",
            ) from None
        raise InputError(
            f"the file cannot be read as CSV after row {reader.line_num}: {exc} (an unclosed quote, or "
            "the file was cut short)",
            file=src.display,
            row=reader.line_num,
            rule="file:csv",
        ) from exc
    finally:
        csv.field_size_limit(previous)
    return counts, not data.endswith(b"\n")


def _check_cell_lengths(
    src: Source,
    header: list[str],
    arr: np.ndarray,
    newlines: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> None:
    """Cells of an unquoted file past ``max_field_chars``: lengths in bytes (a character is at least one
    byte) are the gaps between delimiters; a candidate's line is then looked at in characters."""
    seps = np.flatnonzero((arr == 44) | (arr == 10))
    cell_bytes = np.diff(np.concatenate(([-1], seps, [len(arr)]))) - 1
    for at in np.flatnonzero(cell_bytes > limits().max_field_chars)[:100]:
        line = int(np.searchsorted(newlines, seps[at - 1] + 1 if at else 0))
        cells = bytes(arr[starts[line] : ends[line]]).decode(src.encoding(), errors="replace").split(",")
        _field_too_long(src, header, line + 1, cells)


def _field_too_long(src: Source, header: list[str], row: int, cells: list[str]) -> None:
    """Raise for the first cell of a record longer than ``max_field_chars`` (none: return)."""
    top = limits().max_field_chars
    for i, cell in enumerate(cells):
        if len(cell) > top:
            raise InputError(
                f"the cell is {len(cell):,} characters long, more than the {top:,} a cell may hold "
                "(limit max_field_chars)",
                file=src.display,
                row=row,
                column=display(header[i]) if i < len(header) else None,
                rule="limit:field-chars",
            )


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


# ------------------------------------------------------------------------------------ standardising


def _header_value(spec: LayoutSpec, canonical: str, header: list[str]) -> str | None:
    pattern = spec.header_values.get(canonical)
    if not pattern:
        return None
    for col in header:
        match = re.search(pattern, normalise(col))
        if match:
            return match.group(1)
    return None


def _standardise_source(
    src: Source, spec: LayoutSpec, header: list[str]
) -> tuple[pd.DataFrame, list[str], pd.DataFrame | None]:
    schema = schema_for(spec.extract)
    if spec.fmt == "csv" and spec.header:
        check_field_counts(src, header)
    raw, found = _read_table(src, spec, header)
    # blank lines (and Excel's empty trailing rows) carry no data
    blank = pd.Series(True, index=raw.index)
    for name in raw.columns:
        if name != "_row":
            blank &= raw[name].isna() | raw[name].astype("str").str.strip().eq("")
    raw = raw[~blank]
    if raw.empty:
        raise InputError("file has a header but no data rows", file=src.display, rule="file:no-rows")
    # every row is checked before any is dropped: a filter's values first, then every cell's type
    rowchecks.check_known_values(raw, spec, found, src.display)
    rows = raw["_row"]
    out: dict[str, pd.Series] = {}
    by_canonical: dict[str, str] = {}
    for key, canonical in spec.columns.items():
        if canonical is not None and key in found and canonical not in by_canonical:
            by_canonical[canonical] = key
    for col in schema.columns:
        source_key = by_canonical.get(col.name)
        if source_key is None:
            constant = _header_value(spec, col.name, header)
            values = pd.Series(constant, index=raw.index, dtype="str")
            published = f"header of {spec.name}" if constant is not None else col.name
        else:
            values = raw[found[source_key]]
            published = display(found[source_key])
        values = _clean_text(values, spec.null_values)
        if col.name in spec.values:  # this era's spelling of a canonical value ('UNKNOWN': 'Unknown')
            values = values.replace(spec.values[col.name])
        out[col.name] = convert(
            values,
            col.dtype,
            rows,
            src.display,
            published,
            nullable=col.nullable,
            date_formats=spec.date_formats,
        )
        if col.name == "extract_date":
            _one_extract_date(out[col.name], values, rows, src.display, published)
    frame = pd.DataFrame(out, index=raw.index)
    keep = rowchecks.kept_rows(raw, spec, found)
    aggregates = None
    if not keep.all():
        aggregates = rowchecks.check_dropped_rows(raw, frame, spec, found, src.display)
        frame, rows = frame[keep], rows[keep]
    frame["_file"] = src.display
    frame["_row"] = rows.astype("int64")
    source_columns = [display(c) for c in header] if header else list(spec.columns)
    return frame.reset_index(drop=True), source_columns, aggregates


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


_YEAR = re.compile(r"(?<!\d)(20\d{2})(?!\d)")


def _period_hint(
    frame: pd.DataFrame, spec: LayoutSpec, names: list[str], raw_periods: list[str]
) -> tuple[str | None, str | None]:
    """The period a file is of, and where that was read: its contents (extract date, a period column),
    its file name (a financial year), or for a reference file the latest date it holds or a year in
    its name (an edition: LSOA 2011 to LSOA 2021)."""
    published = frame.attrs.get("source_columns", {})
    if "extract_date" in frame.columns and frame["extract_date"].notna().any():
        return frame["extract_date"].max().date().isoformat(), f"contents ({published.get('extract_date')})"
    if raw_periods:
        return max(raw_periods), f"contents ({spec.published.get(spec.period_column or '', '')})"
    for name in names:
        hint = period_from_name(Path(name).name, qof=spec.extract.startswith("qof"))
        if hint:
            return hint, "file name"
    dates = [c for c in frame.columns if c in published and pd.api.types.is_datetime64_any_dtype(frame[c])]
    latest = max((frame[c].max() for c in dates if frame[c].notna().any()), default=None)
    if latest is not None:
        cols = ", ".join(published[c] for c in dates)
        return latest.date().isoformat(), f"contents (latest date in {cols})"
    for name in names:
        years = _YEAR.findall(Path(name).name)
        if years:
            return max(years), "file name (edition year)"
    return None, None


def _sources_for(
    extract: str, path: Path, display_name: str | None
) -> list[tuple[Source, LayoutSpec, list[str]]]:
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
    members = [src.display.rsplit(":", 1)[-1] for src, _, _ in matched]
    check_one_file(extract, members, display_name or Path(path).name, "in the zip")
    return matched


def _guard(file: str, read: Callable[[], _T]) -> _T:
    """Run ``read``; anything but our own error becomes an InputError naming the file (no traceback
    reaches a user from any input). Only the exception's type is shown: its text may quote the file."""
    try:
        return read()
    except PipelineError:
        raise
    except Exception as exc:
        log.debug("reading %s failed", file, exc_info=True)
        raise InputError(
            f"the file cannot be read ({type(exc).__name__}): it is damaged or not in a published layout",
            file=file,
            rule="file:unreadable",
        ) from None


def _read_guarded(
    extract: str, path: Path, display_name: str | None
) -> list[tuple[Source, LayoutSpec, list[str]]]:
    return _guard(display_name or path.name, lambda: _sources_for(extract, path, display_name))


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
    aggregates: list[pd.DataFrame] = []
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
        for src, spec, header in _read_guarded(extract, Path(path), name):
            frame, cols, totals = _guard(src.display, lambda: _standardise_source(src, spec, header))  # noqa: B023
            frames.append(frame)
            if totals is not None:
                aggregates.append(totals)
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
    frame.attrs["layout"] = layout  # the suite applies each era's own rules (era_rules.py)
    era = "; ".join(dict.fromkeys(s.era for s in specs))
    period_hint, period_from = _period_hint(frame, specs[0], names + period_names, raw_periods)
    return Standardised(
        extract=extract,
        layout=layout,
        era=era,
        frame=frame,
        period_hint=period_hint,
        period_from=period_from,
        source_columns=source_columns,
        encoding=",".join(dict.fromkeys(encodings)),
        files=names,
        aggregates=pd.concat(aggregates, ignore_index=True) if aggregates else None,
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


def inspect_file(path: Path) -> dict[str, Any]:
    """What the ``inspect`` command prints: extract, layout, era, period, rows, column map."""
    path = Path(path)
    extract, spec = _guard(path.name, lambda: recognise(path))
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
        "period_from": result.period_from,
        "rows": len(result.frame),
        "columns": columns,
        "ignored_columns": [c for c in header if c not in used] if spec.header else [],
    }
