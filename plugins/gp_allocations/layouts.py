"""Published layouts of every NHS file we read, and recognising which one a file is.

The alias tables are data (``include/layouts/<extract>.yaml``); this module loads them, normalises
header names, opens files (CSV, zip members, xlsx sheets; UTF-8 with or without BOM, else latin-1)
and picks the layout whose required columns a file has. It never guesses: a file that matches no
layout raises LayoutError naming the closest layouts and what each is missing.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from gp_allocations import config
from gp_allocations.errors import InputError, LayoutError
from gp_allocations.extracts import AGE_BANDS_5, EXTRACTS, SEXES, Column

_BOM = b"\xef\xbb\xbf"
_CSV_SUFFIXES = (".csv", ".txt")
_XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: Named value sets a YAML filter may refer to as "@NAME".
VALUE_SETS: dict[str, tuple[str, ...]] = {"AGE_BANDS_5": AGE_BANDS_5, "SEXES": SEXES}


def normalise(name: object) -> str:
    """Normalise a published header for matching.

    Strips a BOM, collapses embedded newlines and repeated whitespace, lower-cases, removes
    "(Last Known Figure)" and footnote digits glued to the end of a name ("patients1").
    """
    text = str(name).replace("\ufeff", "")
    text = re.sub(r"\s+", " ", text).strip().lower()
    text = re.sub(r"\s*\(last known figure\)", "", text)
    # a footnote marker is 1-2 digits glued to a letter or ")"; "AGE_GROUP_5" keeps its digit
    text = re.sub(r"(?<=[a-z)])\d{1,2}$", "", text)
    return text.strip()


def display(name: object) -> str:
    """A published header as a user would type it: whitespace collapsed, case kept."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip()


@dataclass(frozen=True)
class LayoutSpec:
    """One published layout of one extract, loaded from include/layouts/*.yaml."""

    extract: str
    name: str
    era: str
    columns: dict[str, str | None]  # normalised published name (or "re:<regex>") -> canonical
    published: dict[str, str]  # normalised key -> name as written in the YAML
    optional: frozenset[str]
    fmt: str = "csv"  # csv | xlsx
    header: bool = True
    sheet: str | None = None
    field_count: int | None = None
    signature: dict[int, str] = field(default_factory=dict)
    positions: dict[int, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ()
    null_values: tuple[str, ...] = ()
    keep: dict[str, tuple[str, ...]] = field(default_factory=dict)
    drop: dict[str, tuple[str, ...]] = field(default_factory=dict)
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    header_values: dict[str, str] = field(default_factory=dict)
    period_column: str | None = None
    source: str = ""

    def resolve(self, file_columns: list[str]) -> dict[str, str]:
        """Map each layout key to the file's own header string, for the keys the file has."""
        by_norm: dict[str, str] = {}
        for col in file_columns:
            by_norm.setdefault(normalise(col), col)
        found: dict[str, str] = {}
        for key in self.columns:
            if key.startswith("re:"):
                pattern = re.compile(key[3:])
                hit = next((c for n, c in by_norm.items() if pattern.search(n)), None)
                if hit is not None:
                    found[key] = hit
            elif key in by_norm:
                found[key] = by_norm[key]
        return found

    def required_groups(self) -> list[tuple[str, ...]]:
        """Required columns: one group per canonical column (any alias will do) or filter column."""
        groups: dict[str, list[str]] = {}
        for key, canonical in self.columns.items():
            if key in self.optional:
                continue
            groups.setdefault(canonical or f"#{key}", []).append(key)
        return [tuple(keys) for keys in groups.values()]

    def missing(self, file_columns: list[str]) -> list[str]:
        """Human-readable list of the required columns the file lacks (empty when it fits)."""
        found = self.resolve(file_columns)
        out = []
        for group in self.required_groups():
            if not any(k in found for k in group):
                names = [self.published[k] for k in group]
                out.append(names[0] if len(names) == 1 else " or ".join(repr(n) for n in names))
        return out

    def similarity(self, file_columns: list[str]) -> float:
        """Jaccard similarity of the file's normalised columns and this layout's columns."""
        found = self.resolve(file_columns)
        file_norm = {normalise(c) for c in file_columns}
        matched_norm = {normalise(c) for c in found.values()}
        union = len(file_norm | matched_norm) + len(self.columns) - len(found)
        return len(found) / union if union else 0.0

    def fits_headerless(self, rows: list[list[str]]) -> bool:
        """True when the first records look like this headerless layout (field count + shapes)."""
        if self.header or not rows:
            return False
        for row in rows[:2]:
            if self.field_count is not None and len(row) != self.field_count:
                return False
            for pos, pattern in self.signature.items():
                if pos > len(row) or not re.fullmatch(pattern, (row[pos - 1] or "").strip()):
                    return False
        return True


@dataclass(frozen=True)
class Schema:
    """The canonical columns of an extract: EXTRACTS for pipeline extracts, YAML for reference files."""

    extract: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def layouts_dir() -> Path:
    return config.include_dir() / "layouts"


def _values(spec: object) -> tuple[str, ...]:
    if isinstance(spec, str) and spec.startswith("@"):
        return VALUE_SETS[spec[1:]]
    if isinstance(spec, list | tuple):
        return tuple(str(v) for v in spec)
    return (str(spec),)


def _norm_key(key: str) -> str:
    return key if key.startswith("re:") else normalise(key)


def _build_layout(extract: str, raw: dict, source: str, schema: Schema) -> LayoutSpec:
    header = bool(raw.get("header", True))
    positions = {int(k): v for k, v in (raw.get("positions") or {}).items()}
    if header:
        published = {_norm_key(str(k)): str(k) for k in raw["columns"]}
        columns = {_norm_key(str(k)): v for k, v in raw["columns"].items()}
    else:
        published = {f"field {p}": f"field {p}" for p in positions}
        columns = {f"field {p}": v for p, v in positions.items()}
    spec = LayoutSpec(
        extract=extract,
        name=raw["name"],
        era=str(raw.get("era", "")),
        columns=columns,
        published=published,
        optional=frozenset(_norm_key(str(k)) for k in raw.get("optional", []) or []),
        fmt=raw.get("format", "csv"),
        header=header,
        sheet=raw.get("sheet"),
        field_count=raw.get("field_count"),
        signature={int(k): v for k, v in (raw.get("signature") or {}).items()},
        positions=positions,
        date_formats=tuple(raw.get("date_formats") or ()),
        null_values=tuple(str(v) for v in raw.get("null_values") or ()),
        keep={normalise(k): _values(v) for k, v in (raw.get("keep") or {}).items()},
        drop={normalise(k): _values(v) for k, v in (raw.get("drop") or {}).items()},
        allowed={normalise(k): _values(v) for k, v in (raw.get("allowed") or {}).items()},
        header_values=dict(raw.get("header_values") or {}),
        period_column=normalise(raw["period_column"]) if raw.get("period_column") else None,
        source=source,
    )
    # a broken alias table is a programming error: fail when loading, not on a night run
    names = set(schema.column_names)
    targets = {v for v in spec.columns.values() if v is not None}
    unknown = targets - names
    if unknown:
        raise ValueError(f"{source}: layout {spec.name} maps to unknown columns {sorted(unknown)}")
    for col in schema.columns:
        if not col.nullable and col.name not in targets and col.name not in spec.header_values:
            raise ValueError(f"{source}: layout {spec.name} has no column for required {col.name!r}")
    for key in (*spec.keep, *spec.drop, *spec.allowed):
        if key not in spec.columns:
            raise ValueError(f"{source}: layout {spec.name} filters on unmapped column {key!r}")
    return spec


def _schema_from_yaml(extract: str, raw: list[dict] | None) -> Schema:
    if extract in EXTRACTS:
        return Schema(extract, EXTRACTS[extract].columns)
    if not raw:
        raise ValueError(f"extract {extract!r} is not in EXTRACTS and its YAML declares no schema")
    cols = tuple(
        Column(c["name"], c["dtype"], c.get("description", ""), bool(c.get("nullable", False))) for c in raw
    )
    return Schema(extract, cols)


@lru_cache(maxsize=4)
def _load(folder: str) -> tuple[dict[str, Schema], tuple[LayoutSpec, ...]]:
    schemas: dict[str, Schema] = {}
    layouts: list[LayoutSpec] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        blocks = doc.get("extracts") or [doc]
        for block in blocks:
            extract = block["extract"]
            schema = _schema_from_yaml(extract, block.get("schema"))
            schemas[extract] = schema
            for raw in block.get("layouts", []):
                layouts.append(_build_layout(extract, raw, path.name, schema))
    seen: set[str] = set()
    for spec in layouts:
        if spec.name in seen:
            raise ValueError(f"layout name {spec.name!r} is defined twice")
        seen.add(spec.name)
    return schemas, tuple(layouts)


def all_layouts() -> tuple[LayoutSpec, ...]:
    """Every known layout, in file order."""
    return _load(str(layouts_dir()))[1]


def schema_for(extract: str) -> Schema:
    """Canonical schema of an extract (pipeline or reference)."""
    schemas = _load(str(layouts_dir()))[0]
    if extract not in schemas:
        raise KeyError(f"no layouts are defined for extract {extract!r}")
    return schemas[extract]


# ----------------------------------------------------------------------------------------- sources


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
    """Open a path: a zip yields its CSV members, anything else yields itself."""
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise InputError("file not found", file=name, rule="file:exists")
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
                    yield Source(f"{name}:{member.filename}", "csv", zf.read(member))
        except zipfile.BadZipFile as exc:
            raise InputError(f"not a readable zip file ({exc})", file=name, rule="file:zip") from exc
        return
    kind = "xlsx" if suffix in _XLSX_SUFFIXES else "csv"
    yield Source(name, kind, path.read_bytes())


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_DELIMITERS = (";", "\t", "|")


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


def check_duplicate_columns(src: Source, header: list[str], layouts: list[LayoutSpec]) -> None:
    """Two header cells with one (normalised) name that a layout reads: which one holds the data?"""
    used = {k for spec in layouts for k in spec.columns}
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(header, 1):
        positions.setdefault(normalise(col), []).append(i)
    for norm, where in positions.items():
        if len(where) > 1 and norm in used:
            name = display(header[where[0] - 1])
            raise LayoutError(
                f"the header has {len(where)} columns named {name!r} (columns "
                f"{' and '.join(str(w) for w in where)}): which one holds the data is ambiguous",
                file=src.display,
                row=1,
                column=name,
                rule="layout:duplicate-column",
            )


def _first_records(src: Source, n: int = 2) -> list[list[str]]:
    """The first n records, all as text (header included, if there is one)."""
    check_text(src)
    frame = pd.read_csv(
        io.BytesIO(src.raw),
        encoding=src.encoding(),
        header=None,
        nrows=n,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=True,
    )
    return [[str(v) for v in row] for row in frame.itertuples(index=False)]


def xlsx_header(src: Source, sheet: str) -> list[str] | None:
    """Header row of a sheet, or None if the workbook has no such sheet."""
    book = pd.ExcelFile(io.BytesIO(src.raw), engine="openpyxl")
    if sheet not in book.sheet_names:
        return None
    return [str(c) for c in pd.read_excel(book, sheet_name=sheet, nrows=0).columns]


# ------------------------------------------------------------------------------------- recognition


def _rank(candidates: list[LayoutSpec], file_columns: list[str]) -> list[tuple[float, LayoutSpec]]:
    return sorted(((s.similarity(file_columns), s) for s in candidates), key=lambda t: (-t[0], t[1].name))


def recognise_source(src: Source, extract: str | None = None) -> tuple[LayoutSpec, list[str]]:
    """Pick the layout of one source; returns it and the file's header (empty if headerless)."""
    layouts = [s for s in all_layouts() if extract is None or s.extract == extract]
    if src.kind == "xlsx":
        header: list[str] = []
        fits = []
        for spec in layouts:
            if spec.fmt != "xlsx" or spec.sheet is None:
                continue
            cols = xlsx_header(src, spec.sheet)
            if cols is None:
                continue
            header = header or cols
            if not spec.missing(cols):
                fits.append(spec)
        candidates = [s for s in layouts if s.fmt == "xlsx"]
    else:
        records = _first_records(src)
        header = records[0]
        check_delimiter(src, header)
        check_duplicate_columns(src, header, [s for s in layouts if s.fmt == "csv" and s.header])
        fits = [s for s in layouts if s.fmt == "csv" and s.header and not s.missing(header)]
        if not fits:
            for spec in layouts:
                if spec.fmt == "csv" and not spec.header and spec.fits_headerless(records):
                    return spec, []
        candidates = [s for s in layouts if s.fmt == "csv" and s.header]
    if fits:
        # the most specific layout wins: regional QOF (7 columns) over national (4 columns)
        best = max(fits, key=lambda s: (len(s.resolve(header)), s.similarity(header)))
        return best, header
    raise _layout_error(src.display, header, candidates, extract)


def _layout_error(
    display_name: str, header: list[str], candidates: list[LayoutSpec], extract: str | None
) -> LayoutError:
    ranked = _rank(candidates, header)[:3]
    lines = []
    for i, (score, spec) in enumerate(ranked, 1):
        missing = spec.missing(header)
        expected = [spec.published[k] for k in spec.columns if k not in spec.optional]
        lines.append(
            f"  {i}. {spec.name} ({spec.extract}, {spec.era}; similarity {score:.2f}): "
            f"missing required column(s) {missing}; expects {expected}"
        )
    what = f"a known {extract} layout" if extract else "any known layout"
    found = [display(c) for c in header]
    message = f"columns do not match {what}. Found columns: {found}. Closest known layouts:\n" + "\n".join(
        lines
    )
    # name the columns the closest layout lacks: usually the one column renamed or left out
    closest = ranked[0][1].missing(header) if ranked and header else []
    column = ", ".join(closest) if closest else None
    return LayoutError(message, file=display_name, row=1 if header else None, column=column, rule="layout")


def recognise(path: Path, *, display_name: str | None = None) -> tuple[str, LayoutSpec]:
    """Recognise a file's extract and published layout. A zip is recognised by its first CSV member
    that matches a layout. Raises LayoutError (closest layouts ranked) when nothing fits."""
    first_error: LayoutError | None = None
    for src in iter_sources(Path(path), display_name):
        try:
            spec, _ = recognise_source(src)
        except LayoutError as exc:
            first_error = first_error or exc
            continue
        return spec.extract, spec
    assert first_error is not None
    raise first_error
