"""Small, named transformations that break one file of a freshly generated good sample.

Each catalogue case names an ``op`` and its arguments; ``apply_break`` finds the extract's file in the
case's copy of the sample and rewrites it. Rows are spreadsheet rows: the header is row 1, the first data
row is row 2, so the row a case breaks is the row the user's message must name.
"""

from __future__ import annotations

import csv
import io
import os
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


def _rename_file(path: Path, name: str) -> None:
    """Give the file another name (a download saved under another year's name, or under no year)."""
    path.rename(path.with_name(name))


def _replace_with(path: Path, sample: Path, other: str) -> None:
    """Put another extract's file under this file's name (the wrong download)."""
    path.write_bytes(extract_file(sample, other).read_bytes())


def _symlink_to(path: Path, target: str) -> None:
    """Replace the file with a symbolic link to ``target`` (e.g. /dev/zero)."""
    path.unlink()
    path.symlink_to(target)


def _symlink_outside(path: Path, name: str, text: str) -> None:
    """Write ``text`` to ``name`` beside the source folder and replace the file with a link to it."""
    outside = path.parent.parent / name
    outside.write_text(text, encoding="utf-8")
    path.unlink()
    path.symlink_to(outside)


def _fifo(path: Path) -> None:
    """Replace the file with a named pipe (reading it would wait for ever)."""
    path.unlink()
    os.mkfifo(path)


def _zip_bomb(path: Path, name: str, zeros: int) -> None:
    """Replace the file with a zip (named ``name``) holding the file followed by ``zeros`` zero digits."""
    data = path.read_bytes() + b"0" * zeros
    path.unlink()
    with zipfile.ZipFile(path.with_name(name), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name, data)


def _zip_file(path: Path, name: str) -> None:
    """Replace the file with a zip (named ``name``) holding it, as published downloads often are."""
    data = path.read_bytes()
    path.unlink()
    with zipfile.ZipFile(path.with_name(name), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name, data)


def _copy_file(path: Path, name: str) -> None:
    """Put a copy of the file beside it under ``name`` (a second download of the same extract)."""
    (path.parent / name).write_bytes(path.read_bytes())


def _zip_members(path: Path, name: str, members: list[str]) -> None:
    """Replace the file with a zip (named ``name``) holding it once under each of ``members``."""
    data = path.read_bytes()
    path.unlink()
    with zipfile.ZipFile(path.with_name(name), "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            zf.writestr(member, data)


def _lower_case_code(path: Path, column: str, code: str) -> None:
    """Write ``code`` in lower case on every row that holds it (a code typed by hand)."""
    f = CsvFile(path)
    i = f.index(column)
    rows = [r for r in f.records[1:] if r and r[i] == code]
    if not rows:
        raise ValueError(f"no row of {code} in {path.name}")
    for r in rows:
        r[i] = code.lower()
    f.save()


def _wide_header(path: Path, columns: int) -> None:
    """Append ``columns`` more cells to the header (a header of hundreds of thousands of columns)."""
    f = CsvFile(path)
    f.records[0] = [*f.records[0], *(f"C{i}" for i in range(columns))]
    f.save()


def _long_value(path: Path, row: int, column: str, length: int) -> None:
    """Put a value of ``length`` characters in one cell."""
    f = CsvFile(path)
    f.record(row)[f.index(column)] = "W" * length
    f.save()


_PARENT_COLUMNS = ("PCN_CODE", "SUB_ICB_LOCATION_CODE", "ICB_CODE", "COMM_REGION_CODE")


def _parents(sample: Path) -> dict[str, set[str]]:
    """Practice code -> the codes of its PCN, sub-ICB location, ICB and region (the practice map)."""
    f = CsvFile(extract_file(sample, "practice_map"))
    code, cols = f.index("PRACTICE_CODE"), [f.index(c) for c in _PARENT_COLUMNS]
    return {r[code]: {r[i] for i in cols} for r in f.records[1:] if r}


def _practice_patients(
    path: Path,
    sample: Path,
    practices: list[str],
    factor: float | None = None,
    value: int | None = None,
    sex: str | None = None,
    age_band: str | None = None,
) -> None:
    """Change practices' patients in the age-sex file consistently, as a wrong but self-consistent extract
    would: each chosen band (``sex`` and ``age_band``, default all) becomes ``value`` or its count times
    ``factor`` (rounded), and the practice's ALL rows and every aggregate row above it (PCN, sub-ICB, ICB,
    region) move by the same amounts, so the file's own totals still add up. ``practices``: codes, or
    ``["*"]`` for every practice."""
    f = CsvFile(path)
    org, kind = f.index("ORG_CODE"), f.index("ORG_TYPE")
    sx, band, n = f.index("SEX"), f.index("AGE_GROUP_5"), f.index("NUMBER_OF_PATIENTS")
    parents = _parents(sample)
    chosen = set(parents) if practices == ["*"] else set(practices)
    delta: dict[tuple[str, str, str], int] = {}  # (aggregate code, sex, band) -> patients added
    for r in f.records[1:]:
        if not r or r[kind] != "GP" or r[org] not in chosen or "ALL" in (r[sx], r[band]):
            continue
        if (sex and r[sx] != sex) or (age_band and r[band] != age_band):
            continue
        old = int(r[n])
        new = int(value) if value is not None else round(old * float(factor or 1))
        r[n] = str(new)
        for key in [(r[org], r[sx], r[band]), (r[org], r[sx], "ALL"), (r[org], "ALL", r[band])]:
            delta[key] = delta.get(key, 0) + new - old
        delta[(r[org], "ALL", "ALL")] = delta.get((r[org], "ALL", "ALL"), 0) + new - old
        for parent in parents[r[org]]:
            for key in [(parent, r[sx], r[band]), (parent, r[sx], "ALL"), (parent, "ALL", r[band])]:
                delta[key] = delta.get(key, 0) + new - old
            delta[(parent, "ALL", "ALL")] = delta.get((parent, "ALL", "ALL"), 0) + new - old
    if not delta:  # a breakage that changes nothing would make its case pass for the wrong reason
        raise ValueError(f"no age-sex rows of {sorted(chosen)[:5]} match sex={sex!r} age_band={age_band!r}")
    for r in f.records[1:]:
        if r and (r[kind] != "GP" or "ALL" in (r[sx], r[band])):
            r[n] = str(int(r[n]) + delta.get((r[org], r[sx], r[band]), 0))
    f.save()


def _practice_value(
    path: Path,
    practices: list[str],
    column: str,
    factor: float | None = None,
    value: str | None = None,
    code_column: str = "Practice Code",
) -> None:
    """Set ``column`` of the practices' rows to ``value``, or multiply it by ``factor`` (``["*"]``: all)."""
    f = CsvFile(path)
    code, i = f.index(code_column), f.index(column)
    changed = 0
    for r in f.records[1:]:
        if r and (practices == ["*"] or r[code] in practices):
            r[i] = value if value is not None else f"{float(r[i]) * float(factor or 1):.2f}"
            changed += 1
    if not changed:
        raise ValueError(f"no row of {practices} in {path.name}")
    f.save()


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
    "rename_file": _rename_file,
    "symlink_to": _symlink_to,
    "symlink_outside": _symlink_outside,
    "fifo": _fifo,
    "zip_bomb": _zip_bomb,
    "zip_file": _zip_file,
    "copy_file": _copy_file,
    "zip_members": _zip_members,
    "lower_case_code": _lower_case_code,
    "wide_header": _wide_header,
    "long_value": _long_value,
    "practice_patients": _practice_patients,
    "practice_value": _practice_value,
}


def apply_break(sample: Path, steps: list[dict]) -> None:
    """Apply a case's breakage steps, in order, to the sample copy in ``sample``."""
    for step in steps:
        args = dict(step)
        extract = args.pop("extract")
        op = args.pop("op")
        path = extract_file(sample, extract, int(args.pop("index", 0)))
        if op in ("replace_with", "practice_patients"):
            args["sample"] = sample
        OPS[op](path, **args)
