"""Published layouts of every NHS file we read, and recognising which one a file is.

The layouts are data (``include/layouts/<extract>.yaml``): one alias set per canonical column (every
spelling a publication has used, in order of preference), the extract's required columns, and its
eras, each recognised from which columns are present (``markers``), separately from mapping them.
Headers are matched by ``column_key``: case, whitespace and newlines, footnote digits, punctuation
and parenthetical qualifiers such as "(Last Known Figure)" or "(Region, local office)" do not count,
so a new year's spelling of a known heading needs no change (the keys: header_keys.py). This module
loads the tables and picks the extract and era of a source (files, zip members and xlsx sheets are
opened by sources.py: UTF-8 with or without BOM, else latin-1). It never guesses: a file that
matches no layout raises LayoutError naming the closest layouts, what each is missing and the columns
found. docs/layouts.md explains the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from gp_allocations import config
from gp_allocations.errors import LayoutError
from gp_allocations.extracts import AGE_BANDS_5, EXTRACTS, SEXES, Column
from gp_allocations.header_keys import alias_matches, column_key, display, normalise, resolve_aliases
from gp_allocations.sources import (
    Source,
    check_delimiter,
    check_text,
    first_records,
    iter_sources,
    xlsx_header,
)

# The layout API in one place: what this module defines, and the header keys (header_keys.py) and
# sources (sources.py) a reader uses with it.
__all__ = [
    "VALUE_SETS",
    "LayoutSpec",
    "Schema",
    "Source",
    "all_layouts",
    "check_delimiter",
    "check_duplicate_columns",
    "check_text",
    "column_key",
    "display",
    "iter_sources",
    "layout_named",
    "layouts_dir",
    "normalise",
    "recognise",
    "recognise_source",
    "schema_for",
    "unmapped_known_columns",
    "xlsx_header",
]

#: Named value sets a YAML filter may refer to as "@NAME".
VALUE_SETS: dict[str, tuple[str, ...]] = {"AGE_BANDS_5": AGE_BANDS_5, "SEXES": SEXES}
#: Reading options an extract sets once and an era may override.
_OPTIONS = (
    "format",
    "sheet",
    "date_formats",
    "null_values",
    "keep",
    "drop",
    "allowed",
    "header_values",
    "period_column",
    "totals",
)
#: What an era's ``rules`` entry may say (era_rules.py applies them to the extract's suite).
_ERA_RULE_KEYS = {"rule", "column", "why", "regex", "value_set", "severity", "compared"}


@dataclass(frozen=True)
class LayoutSpec:
    """One era of one extract: its alias sets, required columns, markers and reading options.

    ``columns`` maps a column name to its canonical column: the canonical name itself, or None for a
    recognised published column that is not canonical (a filter column such as ORG_TYPE, or one an
    era marker names). ``aliases`` holds each name's published spellings in order of preference.
    """

    extract: str
    name: str
    era: str
    columns: dict[str, str | None]
    published: dict[str, str]  # name -> its first spelling, for messages
    optional: frozenset[str]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    markers: tuple[tuple[str, ...], ...] = ()
    absent: tuple[str, ...] = ()
    #: the era's full published header, where the project writes it (the sample generator): each cell
    #: and its name (a column name, or the name the YAML gives a cell the reader does not map)
    header_row: tuple[str, ...] = ()
    header_names: tuple[str, ...] = ()
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
    #: which rows of the file are sums of which others, by column name (checked on reading: rowchecks.py)
    totals: dict[str, Any] = field(default_factory=dict)
    period_column: str | None = None
    source: str = ""
    #: how this era's files meet a rule of the extract's suite differently (era_rules.py), as data
    rules: tuple[dict[str, Any], ...] = ()
    #: this era's spellings of a canonical value, by column ({contract_type: {UNKNOWN: Unknown}})
    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def resolve(self, file_columns: Iterable[str]) -> dict[str, str]:
        """Map each column name to the file's own header cell, for the names the file has.

        Aliases are tried in order; within one alias a cell whose lightly normalised spelling is the
        alias's own wins over one that only shares its key ("LSOA code (2011)" over "(2021)")."""
        return dict(resolve_aliases(self.aliases_key(), tuple(file_columns)))

    def aliases_key(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(self.aliases.items())

    def required_groups(self) -> list[tuple[str, ...]]:
        """Required columns, each as the tuple of its accepted spellings."""
        return [self.aliases[n] for n in self.columns if n not in self.optional]

    def missing(self, file_columns: list[str]) -> list[str]:
        """Human-readable list of the required columns the file lacks (empty when it fits)."""
        found = self.resolve(file_columns)
        out = []
        for name in self.columns:
            if name in self.optional or name in found:
                continue
            names = [a for a in self.aliases[name] if not a.startswith("re:")] or list(self.aliases[name])
            out.append(names[0] if len(names) == 1 else " or ".join(repr(n) for n in names))
        return out

    def similarity(self, file_columns: list[str]) -> float:
        """Jaccard similarity of the file's columns and this layout's columns."""
        found = self.resolve(file_columns)
        file_keys = {column_key(c) for c in file_columns}
        matched = {column_key(c) for c in found.values()}
        union = len(file_keys | matched) + len(self.columns) - len(found)
        return len(found) / union if union else 0.0

    def marker_missing(self, file_columns: list[str]) -> list[str]:
        """The era markers a file lacks, and the absent-markers it has (empty when the era fits)."""
        found = self.resolve(file_columns)
        out = []
        for group in self.markers:
            if not any(self._present(m, file_columns, found) for m in group):
                out.append(" or ".join(group))
        out.extend(f"no {m}" for m in self.absent if self._present(m, file_columns, found))
        return out

    def _present(self, marker: str, file_columns: list[str], found: dict[str, str]) -> bool:
        if marker in self.columns:
            return marker in found
        return any(alias_matches(marker, c) for c in file_columns)

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


def _spellings(raw: object) -> tuple[str, ...]:
    return tuple(str(a) for a in raw) if isinstance(raw, list | tuple) else (str(raw),)


def _filters(raw: dict[str, Any] | None, names: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Filter keys may be a column name or one of its published spellings."""
    return {names.get(str(k), names.get(column_key(k), str(k))): _values(v) for k, v in (raw or {}).items()}


def _build_layout(
    extract: str, raw: dict[str, Any], source: str, schema: Schema, base: dict[str, Any]
) -> LayoutSpec:
    """One LayoutSpec (era) from an era block of an extract block (``base``: the alias sets and the
    reading options an era may override)."""
    opts = {k: raw.get(k, base.get(k)) for k in _OPTIONS}
    header = bool(raw.get("header", True))
    positions = {int(k): v for k, v in (raw.get("positions") or {}).items()}
    aliases: dict[str, tuple[str, ...]] = {}
    columns: dict[str, str | None] = {}
    if not header:
        for p, canonical in positions.items():
            aliases[f"field {p}"] = (f"field {p}",)
            columns[f"field {p}"] = canonical
    else:
        for canonical, spelled in (base.get("columns") or {}).items():
            aliases[canonical], columns[canonical] = _spellings(spelled), canonical
        for name, spelled in (base.get("also") or {}).items():
            aliases[name], columns[name] = _spellings(spelled), None
    names = {n: n for n in columns} | {
        column_key(a): n for n, al in aliases.items() for a in al if not a.startswith("re:")
    }
    keep, drop, allowed = (_filters(opts[k], names) for k in ("keep", "drop", "allowed"))
    header_names, header_row = _published_header(raw.get("published") or (), aliases)
    period_column = names.get(str(opts["period_column"]), names.get(column_key(opts["period_column"] or "")))
    header_values = dict(opts["header_values"] or {})
    optional: set[str] = set()
    if header:
        required = base.get("required")
        needed = (
            set(required)
            if required is not None
            else {c.name for c in schema.columns if not c.nullable and c.name not in header_values}
        )
        needed |= {*keep, *drop, *allowed} | ({period_column} if period_column else set())
        optional = {n for n in columns if n not in needed}
    markers = tuple(_spellings(m) for m in raw.get("markers") or ())
    spec = LayoutSpec(
        extract=extract,
        name=raw["name"],
        era=str(raw.get("era", "")),
        columns=columns,
        published={n: next((a for a in al if not a.startswith("re:")), al[0]) for n, al in aliases.items()},
        optional=frozenset(optional),
        aliases=aliases,
        markers=markers,
        absent=_spellings(raw["absent"]) if raw.get("absent") else (),
        header_row=header_row,
        header_names=header_names,
        fmt=opts["format"] or "csv",
        header=header,
        sheet=opts["sheet"],
        field_count=raw.get("field_count"),
        signature={int(k): v for k, v in (raw.get("signature") or {}).items()},
        positions=positions,
        date_formats=tuple(opts["date_formats"] or ()),
        null_values=tuple(str(v) for v in opts["null_values"] or ()),
        keep=keep,
        drop=drop,
        allowed=allowed,
        header_values=header_values,
        totals=dict(opts["totals"] or {}),
        period_column=period_column,
        source=source,
        rules=tuple(dict(r) for r in raw.get("rules") or ()),
        values={str(c): {str(k): str(v) for k, v in m.items()} for c, m in (raw.get("values") or {}).items()},
    )
    _check_layout(spec, schema)
    return spec


def _published_header(
    raw: Iterable[object], aliases: dict[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names, cells) of an era's ``published`` header: an entry is a column name (the cell is that
    column's first spelling) or ``{name: "Cell"}`` (an era's own spelling of a column, or a cell the
    reader does not map, named so the sample generator can fill it). Each spelling lives here once."""
    names: list[str] = []
    cells: list[str] = []
    for entry in raw:
        if isinstance(entry, dict):
            ((name, cell),) = entry.items()
        elif str(entry) in aliases:
            name = str(entry)
            cell = next(a for a in aliases[name] if not a.startswith("re:"))
        else:
            raise ValueError(f"published header entry {entry!r} is no column name; write {{name: {entry!r}}}")
        names.append(str(name))
        cells.append(str(cell))
    return tuple(names), tuple(cells)


def _check_layout(spec: LayoutSpec, schema: Schema) -> None:
    """A broken alias table is a programming error: fail when loading, not on a night run."""
    where = f"{spec.source}: layout {spec.name}"
    names = set(schema.column_names)
    targets = {v for v in spec.columns.values() if v is not None}
    unknown = targets - names
    if unknown:
        raise ValueError(f"{where} maps to unknown columns {sorted(unknown)}")
    for col in schema.columns:
        if not col.nullable and col.name not in targets and col.name not in spec.header_values:
            raise ValueError(f"{where} has no column for required {col.name!r}")
    for key in (*spec.keep, *spec.drop, *spec.allowed):
        if key not in spec.columns:
            raise ValueError(f"{where} filters on unmapped column {key!r}")
    for column in spec.values:
        if column not in names:
            raise ValueError(f"{where}: values are given for {column!r}, not a canonical column")
    for rule in spec.rules:
        if rule.get("column") not in names or not rule.get("rule") or not rule.get("why"):
            raise ValueError(f"{where}: an era rule needs rule, a canonical column and why: {rule}")
        if extra := set(rule) - _ERA_RULE_KEYS:
            raise ValueError(f"{where}: era rule {rule['rule']} has unknown keys {sorted(extra)}")
        if rule.get("severity", "error") not in ("error", "warning"):
            raise ValueError(f"{where}: era rule {rule['rule']} severity is error or warning")
    seen: dict[str, str] = {}
    for name, spellings in spec.aliases.items():
        for alias in spellings:
            key = alias if alias.startswith("re:") else column_key(alias)
            if seen.get(key, name) != name:
                raise ValueError(f"{where}: spelling {alias!r} is an alias of both {seen[key]} and {name}")
            seen[key] = name
    if spec.header_row:
        found = spec.resolve(list(spec.header_row))
        lost = [n for n in spec.columns if n not in spec.optional and n not in found]
        if lost or spec.marker_missing(list(spec.header_row)):
            raise ValueError(f"{where}: its published header does not fit it ({lost or 'markers'})")
        if len(set(spec.header_names)) != len(spec.header_names):
            raise ValueError(f"{where}: a name is given to two cells of its published header")
        named = dict(zip(spec.header_names, spec.header_row, strict=True))
        wrong = [n for n, cell in named.items() if n in spec.columns and found.get(n) != cell]
        if wrong:
            raise ValueError(f"{where}: published cells {wrong} are not read as the columns they name")


def _schema_from_yaml(extract: str, raw: list[dict[str, Any]] | None) -> Schema:
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
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        blocks = doc.get("extracts") or [doc]
        for block in blocks:
            extract = block["extract"]
            schema = _schema_from_yaml(extract, block.get("schema"))
            schemas[extract] = schema
            if "layouts" in block:
                raise ValueError(
                    f"{path.name}: 'layouts:' blocks are replaced by columns + eras (docs/layouts.md)"
                )
            for raw in block.get("eras", []):
                layouts.append(_build_layout(extract, raw, path.name, schema, block))
    seen: set[str] = set()
    for spec in layouts:
        if spec.name in seen:
            raise ValueError(f"layout name {spec.name!r} is defined twice")
        seen.add(spec.name)
    return schemas, tuple(layouts)


def all_layouts() -> tuple[LayoutSpec, ...]:
    """Every known layout (era), in file order."""
    return _load(str(layouts_dir()))[1]


def blank_in_some_era(extract: str) -> frozenset[str]:
    """Columns an era publishes blank ("not available") and reports as a warning, not an error: the
    row is kept as read, so its staging column must hold NULL."""
    return frozenset(
        str(rule["column"])
        for spec in all_layouts()
        if spec.extract == extract
        for rule in spec.rules
        if rule.get("rule") == "not_null" and rule.get("severity") == "warning"
    )


def schema_for(extract: str) -> Schema:
    """Canonical schema of an extract (pipeline or reference)."""
    schemas = _load(str(layouts_dir()))[0]
    if extract not in schemas:
        raise KeyError(f"no layouts are defined for extract {extract!r}")
    return schemas[extract]


def layout_named(name: str) -> LayoutSpec:
    """The layout (era) of this name; KeyError when there is none."""
    for spec in all_layouts():
        if spec.name == name:
            return spec
    raise KeyError(f"no layout named {name!r}")


def unmapped_known_columns(spec: LayoutSpec, header: list[str]) -> list[tuple[str, str]]:
    """(published column, canonical column) for every header cell the layout leaves unmapped although
    it is spelled like a canonical column of the extract: the column's own name ("PCN_CODE" is
    pcn_code) or any alias another layout (of any extract) has for it. Empty when nothing is lost."""
    found = spec.resolve(header) if spec.header else {}
    mapped = set(found.values())
    canonical = set(schema_for(spec.extract).column_names)
    known: dict[str, str] = {column_key(c): c for c in canonical}
    for other in all_layouts():
        for name, target in other.columns.items():
            if target in canonical:
                for alias in other.aliases.get(name, ()):
                    if not alias.startswith("re:"):
                        known.setdefault(column_key(alias), target)
    have = {spec.columns[n] for n in found} - {None}
    lost = []
    for col in header:
        target = known.get(column_key(col))
        if col not in mapped and target is not None and target not in have:
            lost.append((display(col), target))
    return lost


def check_duplicate_columns(src: Source, header: list[str], layouts: list[LayoutSpec]) -> None:
    """Two header cells with one key that a layout reads: which one holds the data?"""
    used = {
        column_key(a)
        for spec in layouts
        for al in spec.aliases.values()
        for a in al
        if not a.startswith("re:")
    }
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(header, 1):
        positions.setdefault(column_key(col), []).append(i)
    for key, where in positions.items():
        if len(where) > 1 and key in used:
            cells = {re.sub(r"[^a-z0-9]", "", normalise(header[w - 1])) for w in where}
            if len(cells) == len(where) and any(_exact_alias(layouts, header[w - 1]) for w in where):
                continue  # "LSOA code (2011)" beside "LSOA code (2021)": an alias names one exactly
            name = display(header[where[0] - 1])
            raise LayoutError(
                f"the header has {len(where)} columns named {name!r} (columns "
                f"{' and '.join(str(w) for w in where)}): which one holds the data is ambiguous",
                file=src.display,
                row=1,
                column=name,
                rule="layout:duplicate-column",
            )


def _exact_alias(layouts: list[LayoutSpec], cell: str) -> bool:
    light = normalise(cell)
    return any(normalise(a) == light for spec in layouts for al in spec.aliases.values() for a in al)


# ------------------------------------------------------------------------------------- recognition


def _rank(candidates: list[LayoutSpec], file_columns: list[str]) -> list[tuple[float, LayoutSpec]]:
    """Layouts by similarity; of the eras of one extract (one alias set), the one whose markers fit."""
    scored = sorted(
        (
            (s.similarity(file_columns), -len(s.marker_missing(file_columns)), len(s.markers), s)
            for s in candidates
        ),
        key=lambda t: (-t[0], -t[1], -t[2], t[3].name),
    )
    out: list[tuple[float, LayoutSpec]] = []
    shared: set[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = set()
    for score, _, _, spec in scored:
        family = (spec.extract, spec.aliases_key())
        if family not in shared:
            shared.add(family)
            out.append((score, spec))
    return out


def recognise_source(src: Source, extract: str | None = None) -> tuple[LayoutSpec, list[str]]:
    """Pick the layout (extract and era) of one source; returns it and the file's header (empty if
    headerless). The extract is the one whose required columns the file has (the most specific, when
    several fit: regional QOF achievement over national); its era is the one whose markers the file
    has (the most markers, when several fit)."""
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
        records = first_records(src)
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
        eras = [s for s in fits if not s.marker_missing(header)]
        if not eras:
            raise _era_error(src.display, header, fits)
        best = max(eras, key=lambda s: (len(s.resolve(header)), len(s.markers), s.similarity(header)))
        return best, header
    raise _layout_error(src.display, header, candidates, extract)


def _era_error(display_name: str, header: list[str], fits: list[LayoutSpec]) -> LayoutError:
    """Every required column is there but no era's markers are: say what each era looks for."""
    extracts = sorted({s.extract for s in fits})
    lines = [f"  {s.name} ({s.era}): needs {s.marker_missing(header)}" for s in fits]
    return LayoutError(
        f"the columns of {' / '.join(extracts)} are all found, but the file is no known era of it "
        f"(found columns: {[display(c) for c in header]}). Eras and what each looks for:\n"
        + "\n".join(lines)
        + "\nAdd an era to include/layouts (docs/layouts.md).",
        file=display_name,
        row=1,
        rule="layout:era",
    )


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
