"""Opening a file the pipeline reads: CSV files, CSV members of a zip, xlsx workbooks, within the
size limits; checking that a CSV is text in one known encoding and comma-separated; its first records;
reading a CSV's columns as text with pyarrow where that reads what pandas would.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gp_allocations import limits
from gp_allocations.errors import InputError, LayoutError

_BOM = b"\xef\xbb\xbf"
_CSV_SUFFIXES = (".csv", ".txt")
_XLSX_SUFFIXES = (".xlsx", ".xlsm")


@dataclass
class Source:
    """One readable table: a CSV file, a CSV member of a zip, or an xlsx workbook."""

    display: str
    kind: str  # csv | xlsx
    raw: bytes

    def encoding(self) -> str:
        """utf-8-sig when there is a BOM, utf-8 when the bytes decode, else latin-1."""
        if self.kind != "csv":
            return "xlsx"
        if self.raw.startswith(_BOM):
            return "utf-8-sig"
        try:
            self.raw.decode("utf-8")
        except UnicodeDecodeError:
            return "latin-1"
        return "utf-8"


def iter_sources(path: Path, display_name: str | None = None) -> Iterator[Source]:
    """Open a path: a zip yields its CSV members, anything else yields itself (sizes within limits)."""
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise InputError("file not found", file=name, rule="file:exists")
    limits.check_file_size(path.stat().st_size, name)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                members = [
                    m for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(_CSV_SUFFIXES)
                ]
                if not members:
                    raise InputError("zip contains no CSV", file=name, rule="file:zip")
                for member in members:
                    yield Source(f"{name}:{member.filename}", "csv", limits.read_member(zf, member, name))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
            raise InputError(f"not a readable zip file ({exc})", file=name, rule="file:zip") from exc
        return
    kind = "xlsx" if suffix in _XLSX_SUFFIXES else "csv"
    raw = path.read_bytes()
    if kind == "xlsx":
        limits.check_workbook(raw, name)
    yield Source(name, kind, raw)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DELIMITERS = (";", "\t", "|")
#: C0 controls but tab, line feed and carriage return, and DEL (one byte in every encoding read here);
#: deleting every other byte (one C pass) tells whether there is one, the regex then finds where
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_CONTROL = b"\t\n\r" + bytes(range(32, 127)) + bytes(range(128, 256))


def check_text(src: Source) -> None:
    """A CSV must be text: UTF-16 (Excel's "Unicode Text") and binary files fail here, clearly."""
    if not src.raw.replace(_BOM, b"").strip():
        raise InputError("file is empty", file=src.display, rule="file:empty")
    if src.raw.startswith(_UTF16_BOMS):
        raise InputError(
            "file is UTF-16 encoded (it starts with a UTF-16 byte order mark); save it as CSV in UTF-8 or "
            "latin-1",
            file=src.display,
            row=1,
            rule="file:encoding",
        )
    nul = src.raw.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        raise InputError(
            f"file is not text (a NUL byte at byte {nul}): is it a spreadsheet, image or archive saved "
            "under a .csv name?",
            file=src.display,
            row=1,
            rule="file:encoding",
        )
    control = _CONTROL.search(src.raw) if src.raw.translate(None, _NOT_CONTROL) else None
    if control:
        at = control.start()
        line = src.raw.count(b"\n", 0, at) + 1
        raise InputError(
            f"a control character (byte 0x{src.raw[at]:02X}) at line {line}, byte {at}: a published file "
            "holds printable text, tabs and line breaks only",
            file=src.display,
            rule="file:control-character",
        )


def check_delimiter(src: Source, header: list[str]) -> None:
    """A header read as one column holding ';', tab or '|' is a file saved with another delimiter."""
    if len(header) != 1:
        return
    for sep in _DELIMITERS:
        count = header[0].count(sep)
        if count:
            shown = "tab" if sep == "\t" else repr(sep)
            raise LayoutError(
                f"the header is one column holding {count} {shown} characters: the file looks "
                f"{shown}-separated; published NHS files are comma-separated, save it as CSV "
                "(comma delimited)",
                file=src.display,
                row=1,
                rule="file:delimiter",
            )


def first_records(src: Source, n: int = 2) -> list[list[str]]:
    """The first n non-blank records, all as text (header included, if there is one), read from the
    first bytes only; the header's width and cell lengths are checked against the limits first."""
    check_text(src)
    prefix = src.raw[: limits.header_prefix_bytes()]
    first_line = prefix.split(b"\n", 1)[0]
    if b'"' not in first_line and first_line.count(b",") >= limits.limits().max_columns:
        limits.check_header([""] * (first_line.count(b",") + 1), src.display)
    text = prefix.decode(src.encoding(), errors="ignore")
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline="")):
            if record:  # a blank line is no record
                records.append(record)
                if not records[1:]:
                    limits.check_header(record, src.display)
            if len(records) == n:
                break
    except csv.Error as exc:
        raise InputError(
            f"the first records cannot be read as CSV ({exc}): an unclosed quote?",
            file=src.display,
            row=1,
            rule="file:csv",
        ) from None
    return records


def xlsx_header(src: Source, sheet: str) -> list[str] | None:
    """Header row of a sheet, or None if the workbook has no such sheet."""
    book = pd.ExcelFile(io.BytesIO(src.raw), engine="openpyxl")
    if sheet not in book.sheet_names:
        return None
    return [str(c) for c in pd.read_excel(book, sheet_name=sheet, nrows=0).columns]


def read_csv_arrow(src: Source, header: list[str], wanted: list[str]) -> pd.DataFrame | None:
    """The wanted columns as text with pyarrow's multi-threaded reader (the benchmark floor's), or None
    where it could read differently from pandas: blank lines (pandas keeps them, so row numbers stay
    spreadsheet rows), repeated header names, a file that is not UTF-8. Same frame as pandas' read."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    data = src.raw[len(_BOM) :] if src.raw.startswith(_BOM) else src.raw
    unique = len(set(header)) == len(header) and set(wanted) <= set(header)
    if not unique or src.encoding() == "latin-1" or any(b in data for b in (b"\n\n", b"\n\r\n", b"\r\r")):
        return None
    columns = sorted(set(wanted), key=header.index)  # pandas' usecols keeps the file's order
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            parse_options=pa_csv.ParseOptions(newlines_in_values=b'"' in data),
            convert_options=pa_csv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None  # pandas reads it (or says what is wrong) as before
    if table.column_names != columns:
        return None
    frame: pd.DataFrame = table.to_pandas()
    return frame
