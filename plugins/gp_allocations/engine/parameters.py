"""Formula parameters as versioned data files, every value with its source.

Layout: ``include/parameters/<set name>/<financial year>.yaml``, e.g.
``include/parameters/carr_hill_2004/2025-26.yaml``. A new financial year, or an official weight table
replacing a republished one, is a new file: no code changes. Each entry under ``parameters:`` is a
mapping with ``value`` (a number) or ``values`` (a mapping of numbers), an optional ``unit`` and a
``source`` mapping holding ``url`` or ``document`` plus ``status``:

- VERIFIED: read in the cited primary text or file;
- SECONDARY: reported by trade press / LMC / accountant pages, not the primary document;
- REPUBLISHED-NOT-CHECKED: republished by a third party, not yet checked against the primary document;
- ASSUMED: no public figure found; a labelled neutral default or a carried-forward value;
- SCENARIO: an analyst's choice for comparison, not an official figure.

A file with a missing value, an empty value or a value without a source is rejected with an error
naming the file and the key.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from gp_allocations.config import parameters_dir
from gp_allocations.errors import InputError

STATUSES: tuple[str, ...] = ("VERIFIED", "SECONDARY", "REPUBLISHED-NOT-CHECKED", "ASSUMED", "SCENARIO")

#: Carr-Hill age bands (the weight tables' columns), youngest first.
CARR_HILL_BANDS: tuple[str, ...] = ("0-4", "5-14", "15-44", "45-64", "65-74", "75-84", "85+")

#: Components a formula may multiply together; order is the order they are reported in.
COMPONENTS: tuple[str, ...] = (
    "age_sex",
    "additional_needs",
    "list_turnover",
    "care_homes",
    "market_forces",
    "rurality",
    "deprivation",
)

# Entries every file must have, and those needed only when a component is in the formula.
_ALWAYS = (
    "age_sex_weights",
    "price_per_weighted_patient",
    "out_of_hours_deduction",
    "deprivation_elasticity",
    "qof_pounds_per_point",
    "qof_national_average_list_size",
)
_BY_COMPONENT = {
    "additional_needs": "additional_needs",
    "list_turnover": "list_turnover_weight",
    "care_homes": "care_home_weight",
    "market_forces": "market_forces",
    "rurality": "rurality",
}
_OPTIONAL = ("market_forces_staff_cost_share", "imd_quintile_uplifts")


class ParameterError(InputError):
    """A parameter file that is missing, malformed, or has a value without a source."""


@dataclass(frozen=True)
class ParameterSet:
    """One parameter set for one financial year, as loaded and checked from its file."""

    name: str
    title: str
    financial_year: str
    path: Path
    components: tuple[str, ...]
    age_sex_weights: dict[tuple[str, str], float]
    price_per_weighted_patient: Decimal
    out_of_hours_deduction: Decimal
    deprivation_elasticity: float
    qof_pounds_per_point: Decimal
    qof_national_average_list_size: int
    additional_needs: dict[str, float] = field(default_factory=dict)
    list_turnover_weight: float = 1.0
    care_home_weight: float = 1.0
    market_forces_default: float = 1.0
    market_forces_staff_cost_share: float = 1.0
    market_forces_table: dict[str, float] = field(default_factory=dict)
    rurality_default: float = 1.0
    rurality_table: dict[str, float] = field(default_factory=dict)
    imd_quintile_uplifts: dict[int, float] | None = None
    #: parameter, key, value, unit, source, status: one row per value, for the workbook
    sources: tuple[tuple[str, str, str, str, str, str], ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Every value used, with unit, source and status (Allocation.parameters)."""
        return pd.DataFrame(
            list(self.sources), columns=["parameter", "key", "value", "unit", "source", "status"]
        )

    def statuses(self) -> set[str]:
        return {row[5] for row in self.sources}


def _year_slug(financial_year: str) -> str:
    """``2025/26`` or ``2025-26`` -> ``2025-26`` (the file name)."""
    text = financial_year.strip().replace("/", "-")
    parts = text.split("-")
    if len(parts) != 2 or not (parts[0].isdigit() and parts[1].isdigit() and len(parts[0]) == 4):
        raise ParameterError(
            f"financial year {financial_year!r} is not like '2025/26'", rule="financial-year"
        )
    return f"{parts[0]}-{int(parts[1]):02d}"


def _fail(path: Path, key: str, message: str) -> ParameterError:
    return ParameterError(message, file=str(path), column=key, rule="parameter-file")


def _number(path: Path, key: str, raw: Any) -> Decimal:
    # Decimal from the text form, so 123.34 stays 123.34 exactly.
    if raw is None or isinstance(raw, bool) or (isinstance(raw, str) and not raw.strip()):
        raise _fail(path, key, "value is missing")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise _fail(path, key, f"value {raw!r} is not a number") from exc
    if not value.is_finite():
        raise _fail(path, key, f"value {raw!r} is not a finite number")
    return value


def _source(path: Path, key: str, entry: dict[str, Any]) -> tuple[str, str]:
    src = entry.get("source")
    if not isinstance(src, dict):
        raise _fail(path, key, "value has no source (needs source: {url or document, status})")
    where = src.get("url") or src.get("document")
    if not where or not str(where).strip():
        raise _fail(path, f"{key}.source", "source needs a url or a document")
    status = str(src.get("status") or "").strip()
    if status not in STATUSES:
        raise _fail(path, f"{key}.source.status", f"status {status!r} is not one of {', '.join(STATUSES)}")
    return str(where).strip(), status


def _flatten(path: Path, key: str, values: Any, prefix: str = "") -> list[tuple[str, Decimal]]:
    """(sub-key, number) pairs of a ``values`` mapping, nested one or two levels."""
    if not isinstance(values, dict) or not values:
        raise _fail(path, key, "values must be a non-empty mapping")
    out: list[tuple[str, Decimal]] = []
    for sub, raw in values.items():
        name = f"{prefix}{sub}"
        if isinstance(raw, dict):
            out.extend(_flatten(path, key, raw, prefix=f"{name}."))
        else:
            out.append((name, _number(path, f"{key}.{name}", raw)))
    return out


def _read_table(path: Path, key: str, file_name: str) -> dict[str, float]:
    """A practice_code,value CSV next to the parameter file (MFF or rurality by practice)."""
    table_path = (path.parent / file_name).resolve()
    if not table_path.is_file():
        raise _fail(
            path, f"{key}.table_file", f"table file {file_name!r} not found next to the parameter file"
        )
    out: dict[str, float] = {}
    with table_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"practice_code", "value"} <= set(reader.fieldnames):
            raise _fail(path, f"{key}.table_file", f"{file_name} needs columns practice_code,value")
        for i, row in enumerate(reader, start=2):
            code = (row.get("practice_code") or "").strip()
            try:
                out[code] = float(_number(table_path, f"row {i}", row.get("value")))
            except ParameterError as exc:
                raise ParameterError(
                    exc.detail, file=str(table_path), row=i, column="value", rule="parameter-table"
                ) from exc
    return out


def _document(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _fail(path, "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise _fail(path, "(file)", "a parameter file is a YAML mapping")
    for key in ("name", "title", "financial_year", "formula", "parameters"):
        if doc.get(key) in (None, "", {}):
            raise _fail(path, key, "missing")
    if not isinstance(doc["parameters"], dict):
        raise _fail(path, "parameters", "must be a mapping")
    return doc


def _components(path: Path, formula: Any) -> tuple[str, ...]:
    if not isinstance(formula, dict) or not formula.get("components"):
        raise _fail(path, "formula.components", "missing")
    _source(path, "formula", formula)
    components = tuple(str(c) for c in formula["components"])
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise _fail(path, "formula.components", f"unknown components {unknown}; known: {list(COMPONENTS)}")
    if "age_sex" not in components:
        raise _fail(path, "formula.components", "age_sex must be a component")
    if "additional_needs" in components and "deprivation" in components:
        raise _fail(path, "formula.components", "additional_needs and deprivation are alternatives")
    return components


def _check_keys(path: Path, params: dict[str, Any], components: tuple[str, ...]) -> None:
    needed = list(_ALWAYS) + [_BY_COMPONENT[c] for c in components if c in _BY_COMPONENT]
    if "market_forces" in components:
        needed.append("market_forces_staff_cost_share")
    for key in needed:
        if key not in params or params[key] is None:
            raise _fail(path, f"parameters.{key}", "missing")
    known = set(_ALWAYS) | set(_BY_COMPONENT.values()) | set(_OPTIONAL)
    extra = sorted(set(params) - known)
    if extra:
        raise _fail(path, "parameters", f"unknown entries {extra}")


class _Entries:
    """The file's entries read once: single values, mappings, and one sourced row per value."""

    def __init__(self, path: Path, params: dict[str, Any]) -> None:
        self.path = path
        self.rows: list[tuple[str, str, str, str, str, str]] = []
        self.scalars: dict[str, Decimal] = {}
        self.mappings: dict[str, dict[str, Decimal]] = {}
        for key, entry in params.items():
            if not isinstance(entry, dict):
                raise _fail(path, f"parameters.{key}", "must be a mapping with value/values and source")
            where, status = _source(path, f"parameters.{key}", entry)
            unit = str(entry.get("unit") or "")
            if "values" in entry:
                pairs = _flatten(path, f"parameters.{key}", entry["values"])
                self.mappings[key] = dict(pairs)
            elif "value" in entry:
                pairs = [("", _number(path, f"parameters.{key}", entry["value"]))]
                self.scalars[key] = pairs[0][1]
            else:
                raise _fail(path, f"parameters.{key}", "value is missing (needs value: or values:)")
            self.rows.extend((key, sub, str(val), unit, where, status) for sub, val in pairs)

    def scalar(self, key: str) -> Decimal:
        if key not in self.scalars:
            raise _fail(self.path, f"parameters.{key}", "needs a single value:")
        return self.scalars[key]

    def mapping(self, key: str, required: tuple[str, ...]) -> dict[str, Decimal]:
        got = self.mappings.get(key)
        if got is None:
            raise _fail(self.path, f"parameters.{key}", "needs values:")
        missing = [k for k in required if k not in got]
        if missing:
            raise _fail(self.path, f"parameters.{key}", f"value is missing for {missing}")
        return got


def _weights(path: Path, e: _Entries) -> dict[tuple[str, str], float]:
    raw = e.mapping("age_sex_weights", tuple(f"{s}.{b}" for s in ("MALE", "FEMALE") for b in CARR_HILL_BANDS))
    weights = {(s, b): float(raw[f"{s}.{b}"]) for s in ("MALE", "FEMALE") for b in CARR_HILL_BANDS}
    if any(w <= 0 for w in weights.values()):
        raise _fail(path, "parameters.age_sex_weights", "weights must be positive")
    return weights


def _component_values(
    path: Path, params: dict[str, Any], e: _Entries, components: tuple[str, ...]
) -> dict[str, Any]:
    """The values of the formula's optional components (and the IMD quintile uplifts)."""
    kwargs: dict[str, Any] = {}
    if "additional_needs" in components:
        an = e.mapping("additional_needs", ("constant", "slli", "smr_under_65"))
        kwargs["additional_needs"] = {k: float(v) for k, v in an.items()}
    if "list_turnover" in components:
        kwargs["list_turnover_weight"] = float(e.scalar("list_turnover_weight"))
    if "care_homes" in components:
        kwargs["care_home_weight"] = float(e.scalar("care_home_weight"))
    for comp in ("market_forces", "rurality"):
        if comp in components:
            kwargs[f"{comp}_default"] = float(e.mapping(comp, ("default",))["default"])
            table: dict[str, float] = {}
            if params[comp].get("table_file"):
                table.update(_read_table(path, f"parameters.{comp}", str(params[comp]["table_file"])))
            table.update({k: float(v) for k, v in e.mappings[comp].items() if k.startswith("table.")})
            kwargs[f"{comp}_table"] = {k.removeprefix("table."): v for k, v in table.items()}
    if "market_forces" in components:
        share = float(e.scalar("market_forces_staff_cost_share"))
        if not 0 <= share <= 1:
            raise _fail(path, "parameters.market_forces_staff_cost_share", "must be between 0 and 1")
        kwargs["market_forces_staff_cost_share"] = share
    if "imd_quintile_uplifts" in params:
        up = e.mapping("imd_quintile_uplifts", ("1", "2", "3", "4", "5"))
        kwargs["imd_quintile_uplifts"] = {int(k): float(v) for k, v in up.items()}
        if any(v <= 0 for v in kwargs["imd_quintile_uplifts"].values()):
            raise _fail(path, "parameters.imd_quintile_uplifts", "uplifts must be positive")
    return kwargs


def _parse(path: Path) -> ParameterSet:
    doc = _document(path)
    components = _components(path, doc["formula"])
    params = doc["parameters"]
    _check_keys(path, params, components)
    e = _Entries(path, params)
    ooh = e.scalar("out_of_hours_deduction")
    if not Decimal(0) <= ooh < Decimal(1):
        raise _fail(path, "parameters.out_of_hours_deduction", "must be a share between 0 and 1")
    avg_list = e.scalar("qof_national_average_list_size")
    if avg_list <= 0:
        raise _fail(path, "parameters.qof_national_average_list_size", "must be positive")
    return ParameterSet(
        name=str(doc["name"]),
        title=str(doc["title"]),
        financial_year=str(doc["financial_year"]),
        path=path,
        components=components,
        age_sex_weights=_weights(path, e),
        price_per_weighted_patient=e.scalar("price_per_weighted_patient"),
        out_of_hours_deduction=ooh,
        deprivation_elasticity=float(e.scalar("deprivation_elasticity")),
        qof_pounds_per_point=e.scalar("qof_pounds_per_point"),
        qof_national_average_list_size=int(avg_list),
        sources=tuple(e.rows),
        **_component_values(path, params, e, components),
    )


def load_parameter_set(name: str, financial_year: str, *, directory: Path | None = None) -> ParameterSet:
    """Load and check ``<directory>/<name>/<year>.yaml`` (directory defaults to include/parameters).

    Raises ParameterError naming the file and key when a value or its source is missing.
    """
    base = Path(directory) if directory is not None else parameters_dir()
    slug = _year_slug(financial_year)
    path = base / name / f"{slug}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in (base / name).glob("*.yaml")) if (base / name).is_dir() else []
        raise ParameterError(
            f"no parameter file for set {name!r} and year {financial_year}; "
            f"available years: {have or 'none'}",
            file=str(path),
            rule="parameter-file",
        )
    params = _parse(path)
    if params.name != name or _year_slug(params.financial_year) != slug:
        raise _fail(path, "name/financial_year", f"file says {params.name} {params.financial_year}")
    return params


def list_parameter_sets(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every parameter file found: name, financial_year, title, path, valid, error, statuses."""
    base = Path(directory) if directory is not None else parameters_dir()
    out: list[dict[str, Any]] = []
    for path in sorted(base.glob("*/*.yaml")):
        row: dict[str, Any] = {
            "name": path.parent.name,
            "financial_year": path.stem.replace("-", "/"),
            "path": str(path),
            "title": "",
            "valid": True,
            "error": "",
            "statuses": [],
        }
        try:
            params = _parse(path)
            row.update(title=params.title, statuses=sorted(params.statuses()))
        except ParameterError as exc:
            row.update(valid=False, error=str(exc))
        out.append(row)
    return out
