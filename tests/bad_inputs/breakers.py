"""Small, named transformations that break one file of a freshly generated good sample.

Each catalogue case names an ``op`` and its arguments; ``apply_break`` finds the extract's file in the
case's copy of the sample and rewrites it. Rows are spreadsheet rows: the header is row 1, the first data
row is row 2, so the row a case breaks is the row the user's message must name.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

from gp_allocations.extracts import EXTRACTS
from gp_allocations.pull import locate

_BOM = b"\xef\xbb\xbf"


class CsvFile:
    """A CSV file as a list of records, written back with the same BOM and line ending."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        self.path = path
        self.bom = raw.startswith(_BOM)
        text = raw[len(_BOM) :].decode("utf-8") if self.bom else raw.decode("utf-8")
        self.newline = "\r\n" if "\r\n" in text[:10000] else "\n"
        self.records = list(csv.reader(io.StringIO(text, newline="")))

    @property
    def header(self) -> list[str]:
        return self.records[0]

    def index(self, column: str) -> int:
        return self.header.index(column)

    def record(self, row: int) -> list[str]:
        """The record at spreadsheet row ``row`` (header = 1)."""
        return self.records[row - 1]

    def text(self) -> str:
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator=self.newline).writerows(self.records)
        return out.getvalue()

    def save(self, encoding: str = "utf-8", bom: bool | None = None) -> None:
        data = self.text().encode(encoding)
        if self.bom if bom is None else bom:
            data = _BOM + data
        self.path.write_bytes(data)


def extract_file(sample: Path, extract: str, index: int = 0) -> Path:
    """The ``index``-th file the pull stage would pick for ``extract`` in ``sample``."""
    uris = locate(extract, str(sample))
    if not uris:
        raise FileNotFoundError(f"no {extract} file in {sample} (patterns {EXTRACTS[extract].file_patterns})")
    return Path(uris[index])


# ----------------------------------------------------------------------------------------------- ops


def _delete(path: Path) -> None:
    path.unlink()


def _write_bytes(path: Path, data: str = "", hex: str | None = None) -> None:
    path.write_bytes(bytes.fromhex(hex) if hex is not None else data.encode("utf-8"))


def _header_only(path: Path) -> None:
    f = CsvFile(path)
    f.records = f.records[:1]
    f.save()


def _rename_column(path: Path, column: str, to: str) -> None:
    f = CsvFile(path)
    f.records[0][f.index(column)] = to
    f.save()


def _drop_column(path: Path, column: str) -> None:
    f = CsvFile(path)
    i = f.index(column)
    f.records = [r[:i] + r[i + 1 :] for r in f.records]
    f.save()


def _add_column(path: Path, column: str, value: str) -> None:
    f = CsvFile(path)
    f.records = [[*f.records[0], column]] + [[*r, value] for r in f.records[1:]]
    f.save()


def _set_value(path: Path, row: int, column: str, value: str) -> None:
    f = CsvFile(path)
    f.record(row)[f.index(column)] = value
    f.save()


def _set_values(path: Path, column: str, value: str, rows: list[int] | None = None, start: int = 2) -> None:
    """Set ``column`` to ``value`` on the given rows, or on every row from ``start`` on."""
    f = CsvFile(path)
    i = f.index(column)
    chosen = rows if rows is not None else range(start, len(f.records) + 1)
    for row in chosen:
        f.record(row)[i] = value
    f.save()


def _duplicate_row(path: Path, row: int) -> None:
    """Insert a copy of ``row`` straight after it, so the copy is row ``row + 1``."""
    f = CsvFile(path)
    f.records.insert(row, list(f.record(row)))
    f.save()


def _extra_field(path: Path, row: int, value: str) -> None:
    """Append one more field than the header has to ``row`` (an unquoted comma in a name)."""
    f = CsvFile(path)
    f.record(row).append(value)
    f.save()


def _delimiter(path: Path, sep: str) -> None:
    f = CsvFile(path)
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=sep, lineterminator=f.newline).writerows(f.records)
    path.write_bytes((_BOM if f.bom else b"") + out.getvalue().encode("utf-8"))


def _encode(path: Path, encoding: str, bom: bool = False, set_value: dict | None = None) -> None:
    """Re-encode the file (optionally after putting a non-ASCII value in one cell)."""
    f = CsvFile(path)
    if set_value:
        f.record(set_value["row"])[f.index(set_value["column"])] = set_value["value"]
    f.save(encoding=encoding, bom=bom)


def _truncate(path: Path, keep_bytes_before_end: int) -> None:
    """Cut the file ``keep_bytes_before_end`` bytes before its end, mid-record, as a broken download."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep_bytes_before_end])


def _newline_in_header(path: Path, column: str, at: str = " ") -> None:
    """Replace the first ``at`` in a header cell with a line break (the cell is then quoted)."""
    f = CsvFile(path)
    i = f.index(column)
    f.records[0][i] = f.records[0][i].replace(at, "\n", 1)
    f.save()


def _zip_without_csv(path: Path, name: str) -> None:
    """Replace the file with a zip (named ``name``) holding no CSV member."""
    path.unlink()
    with zipfile.ZipFile(path.with_name(name), "w") as zf:
        zf.writestr("README.pdf", b"%PDF-1.4 not a table")


def _not_a_zip(path: Path, name: str) -> None:
    """Replace the file with a file named ``name`` (a .zip) that is not a zip archive."""
    data = path.read_bytes()
    path.unlink()
    path.with_name(name).write_bytes(data[:500])


def _replace_with(path: Path, sample: Path, other: str) -> None:
    """Put another extract's file under this file's name (the wrong download)."""
    path.write_bytes(extract_file(sample, other).read_bytes())


OPS: dict[str, Callable[..., None]] = {
    "delete": _delete,
    "write_bytes": _write_bytes,
    "header_only": _header_only,
    "rename_column": _rename_column,
    "drop_column": _drop_column,
    "add_column": _add_column,
    "set_value": _set_value,
    "set_values": _set_values,
    "duplicate_row": _duplicate_row,
    "extra_field": _extra_field,
    "delimiter": _delimiter,
    "encode": _encode,
    "truncate": _truncate,
    "newline_in_header": _newline_in_header,
    "zip_without_csv": _zip_without_csv,
    "not_a_zip": _not_a_zip,
    "replace_with": _replace_with,
}


def apply_break(sample: Path, steps: list[dict]) -> None:
    """Apply a case's breakage steps, in order, to the sample copy in ``sample``."""
    for step in steps:
        args = dict(step)
        extract = args.pop("extract")
        op = args.pop("op")
        path = extract_file(sample, extract, int(args.pop("index", 0)))
        if op == "replace_with":
            args["sample"] = sample
        OPS[op](path, **args)
