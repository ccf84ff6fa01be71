"""Settings and the run context: resolved once, when a run is prepared; no machine path in code.

Each setting comes from the Airflow Variable (when a lookup is given: in Airflow, and in the UI plugin),
else the environment variable, else the documented default (``resolve_settings``):

| Airflow Variable | environment variable | default | meaning |
|---|---|---|---|
| | GP_ALLOC_PROJECT_ROOT | the folder holding ``plugins/`` | where ``include/`` and ``expectations/`` are |
| gp_alloc_data_dir | GP_ALLOC_DATA_DIR | ``<root>/var`` | run-scoped raw and working areas, local warehouse |
| gp_alloc_source | GP_ALLOC_SOURCE | ``<data dir>/sample-extracts`` | folder or fsspec URI of the extracts |
| gp_alloc_source_<extract> | GP_ALLOC_SOURCE_<EXTRACT> | the source above | one extract's location |
| (connection gp_warehouse) | GP_ALLOC_WAREHOUSE_URL | ``sqlite:///<data dir>/warehouse.sqlite`` | warehouse |
| gp_alloc_output_root | GP_ALLOC_OUTPUT_ROOT | ``<data dir>/outputs`` | where workbooks are published |
| gp_alloc_extract_periods | GP_ALLOC_EXTRACT_PERIODS | ``include/extract_periods.yaml`` | extracts' periods |
| gp_alloc_places_file | GP_ALLOC_PLACES_FILE | none (PCNs and sub-ICBs only) | places for need indices |

``RunContext.prepare`` checks the run's choices (period, variant from the registry, parameter set and its
file for the year, a Decimal price, the extracts) and fixes every location, including each extract's
source; later stages and retries read the same values back with ``RunContext.from_dict``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .periods import Period

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    env = os.environ.get("GP_ALLOC_PROJECT_ROOT")
    return Path(env).resolve() if env else PACKAGE_DIR.parent.parent


def include_dir() -> Path:
    return project_root() / "include"


def sql_dir() -> Path:
    return include_dir() / "sql"


def parameters_dir() -> Path:
    return include_dir() / "parameters"


def expectations_dir() -> Path:
    return project_root() / "expectations"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A string made safe as one path component: no separators, no '..', never empty."""
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned or "_"


VariableLookup = Callable[[str], "str | None"]
SOURCE_VARIABLE = "gp_alloc_source"
OUTPUT_VARIABLE = "gp_alloc_output_root"
DATA_DIR_VARIABLE = "gp_alloc_data_dir"
#: who publishes the workbooks and whom a reader asks (every Cover and footer shows them)
ORGANISATION_VARIABLE = "gp_alloc_organisation"
CONTACT_VARIABLE = "gp_alloc_contact"
EXTRACT_PERIODS_VARIABLE = "gp_alloc_extract_periods"
#: a file of places (place -> practice codes) whose need indices are shown beside the PCNs' and sub-ICBs'
PLACES_FILE_VARIABLE = "gp_alloc_places_file"
DEFAULT_ORGANISATION = "NHS primary care commissioning"


@dataclass(frozen=True)
class Settings:
    """Where things are: resolved from Variable, then environment, then default."""

    data_dir: Path
    source: str
    sources: dict[str, str]  # an extract's own location, where one is set
    warehouse_url: str
    output_root: Path
    organisation: str = DEFAULT_ORGANISATION
    contact: str | None = None
    #: the rules of which period each extract may be for (``period_rules``)
    extract_periods_file: Path | None = None
    #: a PDF of each sub-ICB's practice statements beside its statements workbook (LibreOffice; off by
    #: default: measured at about 10 minutes of CPU for England, see docs/workbook.md)
    statement_pdfs: bool = False
    #: places for the need indices (``places.read_places``); None: every PCN and sub-ICB location only
    places_file: Path | None = None

    def source_of(self, extract: str) -> str:
        return self.sources.get(extract) or self.source


def resolve_settings(variable: VariableLookup | None = None, *, warehouse: str | None = None) -> Settings:
    """The one resolution of the settings (see the module docstring). ``variable`` looks an Airflow
    Variable up (None when unset); ``warehouse`` is the URL of an Airflow connection, when there is one."""
    from .extracts import EXTRACTS

    def pick(var: str | None, env: str) -> str | None:
        value = variable(var) if variable is not None and var else None
        return (value or "").strip() or os.environ.get(env) or None

    data = Path(pick(DATA_DIR_VARIABLE, "GP_ALLOC_DATA_DIR") or project_root() / "var").resolve()
    source = pick(SOURCE_VARIABLE, "GP_ALLOC_SOURCE") or str(data / "sample-extracts")
    sources = {}
    for name in sorted(EXTRACTS):
        own = pick(f"{SOURCE_VARIABLE}_{name}", f"GP_ALLOC_SOURCE_{name.upper()}")
        if own:
            sources[name] = own
    url = warehouse or os.environ.get("GP_ALLOC_WAREHOUSE_URL") or f"sqlite:///{data / 'warehouse.sqlite'}"
    out = Path(pick(OUTPUT_VARIABLE, "GP_ALLOC_OUTPUT_ROOT") or data / "outputs").resolve()
    return Settings(
        data_dir=data,
        source=source,
        sources=sources,
        warehouse_url=url,
        output_root=out,
        organisation=pick(ORGANISATION_VARIABLE, "GP_ALLOC_ORGANISATION") or DEFAULT_ORGANISATION,
        contact=pick(CONTACT_VARIABLE, "GP_ALLOC_CONTACT"),
        extract_periods_file=Path(
            pick(EXTRACT_PERIODS_VARIABLE, "GP_ALLOC_EXTRACT_PERIODS")
            or include_dir() / "extract_periods.yaml"
        ).resolve(),
        statement_pdfs=(os.environ.get("GP_ALLOC_STATEMENT_PDFS") or "").strip().lower()
        in {"1", "true", "yes", "on"},
        places_file=_path_or_none(pick(PLACES_FILE_VARIABLE, "GP_ALLOC_PLACES_FILE")),
    )


def _path_or_none(text: object) -> Path | None:
    return Path(str(text)).resolve() if text else None


def _run_error(message: str, column: str) -> Exception:
    from .errors import InputError

    return InputError(message, column=column, rule="run-parameter")


def _price(value: object) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _run_error(
            f"price per weighted patient {value!r} is not a number", "price_per_weighted_patient"
        )
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise _run_error(
            f"price per weighted patient {value!r} is not a number", "price_per_weighted_patient"
        ) from None
    if not price.is_finite() or not Decimal(0) < price <= Decimal(1000):
        raise _run_error(
            f"price per weighted patient {value!r} must be more than 0 and at most 1000 pounds",
            "price_per_weighted_patient",
        )
    return price


#: Longest override reason kept (characters); a longer one is refused, not cut.
OVERRIDE_REASON_MAX = 2000


def _override(reason: str | None, by: str | None) -> dict[str, str | None]:
    """The override fixed when the run is prepared: reason (blank: none), who (default: the OS user) and
    when (now, UTC). Whitespace is collapsed: the reason is shown on one Cover line."""
    import datetime as dt
    import getpass

    text = " ".join(str(reason or "").split())
    if not text:
        return {"override_reason": None, "override_by": None, "override_at": None}
    if len(text) > OVERRIDE_REASON_MAX:
        raise _run_error(
            f"override reason has {len(text)} characters; at most {OVERRIDE_REASON_MAX}", "override_reason"
        )
    who = " ".join(str(by or "").split())
    if not who:
        try:
            who = getpass.getuser()
        except Exception:  # no user name in this environment (e.g. a container without one)
            who = "unknown user"
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"override_reason": text, "override_by": who, "override_at": at}


@dataclass(frozen=True)
class RunContext:
    """Everything a stage needs to know about one run, resolved and checked once (``prepare``); plain
    data, handed between tasks as a dict (``to_dict`` / ``from_dict``)."""

    run_id: str
    period: Period
    variant: str
    parameter_set: str
    price_per_weighted_patient: Decimal | None
    extracts: tuple[str, ...]
    #: every extract of the run -> where it is pulled from (fixed when the run is prepared)
    sources: dict[str, str]
    warehouse_url: str
    output_root: Path
    data_dir: Path
    organisation: str = DEFAULT_ORGANISATION
    contact: str | None = None
    #: which period each extract may be for (None: the project's include/extract_periods.yaml)
    extract_periods_file: Path | None = None
    statement_pdfs: bool = False
    places_file: Path | None = None
    #: an explicit, audited override of breached plausibility gates (``plausibility``): why, who, when
    #: (UTC, ISO 8601); None: no override, a breach stops the run
    override_reason: str | None = None
    override_by: str | None = None
    override_at: str | None = None

    @classmethod
    def prepare(
        cls,
        *,
        run_id: str,
        period: str | Period,
        variant: str | None = None,
        parameter_set: str | None = None,
        price_per_weighted_patient: object = None,
        extracts: Sequence[str] | None = None,
        source: str | None = None,
        sources: Mapping[str, str] | None = None,
        warehouse_url: str | None = None,
        output_root: str | Path | None = None,
        data_dir: str | Path | None = None,
        settings: Settings | None = None,
        override_reason: str | None = None,
        override_by: str | None = None,
    ) -> RunContext:
        """Check the run's choices and fix every setting; explicit arguments win over ``settings``
        (default: ``resolve_settings()``). Raises InputError naming the bad choice."""
        from .engine.parameters import load_parameter_set
        from .extracts import EXTRACTS, NIGHTLY_EXTRACTS
        from .variants import DEFAULT_VARIANT, REGISTRY

        got = settings or resolve_settings()
        try:
            when = period if isinstance(period, Period) else Period.parse(period)
        except ValueError as exc:
            raise _run_error(str(exc), "period") from None
        chosen = variant or DEFAULT_VARIANT
        REGISTRY.get(chosen)  # InputError naming the registered variants
        pset = parameter_set or "carr_hill_2004"
        if not re.fullmatch(r"[a-z0-9_]+", pset):
            raise _run_error(f"parameter set {pset!r} is not a parameter set name", "parameter_set")
        load_parameter_set(pset, when.financial_year)  # ParameterError naming the file and key
        names = tuple(extracts) if extracts else NIGHTLY_EXTRACTS
        unknown = sorted(set(names) - set(EXTRACTS))
        if unknown:
            raise _run_error(f"unknown extract(s) {unknown}; known: {sorted(EXTRACTS)}", "extracts")
        base = source or got.source
        own = {**got.sources, **(sources or {})}
        return cls(
            run_id=run_id,
            period=when,
            variant=chosen,
            parameter_set=pset,
            price_per_weighted_patient=_price(price_per_weighted_patient),
            extracts=names,
            sources={name: own.get(name) or base for name in names},
            warehouse_url=warehouse_url or got.warehouse_url,
            output_root=Path(output_root).resolve() if output_root is not None else got.output_root,
            data_dir=Path(data_dir).resolve() if data_dir is not None else got.data_dir,
            organisation=got.organisation,
            contact=got.contact,
            extract_periods_file=got.extract_periods_file,
            statement_pdfs=got.statement_pdfs,
            places_file=got.places_file,
            **_override(override_reason, override_by),
        )

    @property
    def run_dir(self) -> Path:
        """Run-scoped working area: ``<data dir>/runs/<period>/<run id>/``."""
        return self.data_dir / "runs" / self.period.slug / safe_name(self.run_id)

    @property
    def raw_dir(self) -> Path:
        return self.run_dir / "raw"

    @property
    def standardised_dir(self) -> Path:
        return self.run_dir / "standardised"

    @property
    def validation_dir(self) -> Path:
        return self.run_dir / "validation"

    @property
    def compute_dir(self) -> Path:
        return self.run_dir / "compute"

    def source_of(self, extract: str) -> str:
        """Where the extract is pulled from, as fixed when the run was prepared."""
        try:
            return self.sources[extract]
        except KeyError:
            raise _run_error(
                f"extract {extract!r} is not one of this run's extracts ({', '.join(self.extracts)})",
                "extracts",
            ) from None

    def to_dict(self) -> dict[str, object]:
        """JSON-safe: the period as its slug, the price as text, paths as text."""
        return {
            "run_id": self.run_id,
            "period": self.period.slug,
            "variant": self.variant,
            "parameter_set": self.parameter_set,
            "price_per_weighted_patient": (
                str(self.price_per_weighted_patient) if self.price_per_weighted_patient is not None else None
            ),
            "extracts": list(self.extracts),
            "sources": dict(self.sources),
            "warehouse_url": self.warehouse_url,
            "output_root": str(self.output_root),
            "data_dir": str(self.data_dir),
            "organisation": self.organisation,
            "contact": self.contact,
            "extract_periods_file": str(self.extract_periods_file) if self.extract_periods_file else None,
            "statement_pdfs": self.statement_pdfs,
            "places_file": str(self.places_file) if self.places_file else None,
            "override_reason": self.override_reason,
            "override_by": self.override_by,
            "override_at": self.override_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RunContext:
        """The context ``to_dict`` wrote (no setting is looked up again)."""
        price = data.get("price_per_weighted_patient")
        extracts = data["extracts"]
        sources = data["sources"]
        assert isinstance(extracts, list) and isinstance(sources, dict)
        return cls(
            run_id=str(data["run_id"]),
            period=Period.parse(str(data["period"])),
            variant=str(data["variant"]),
            parameter_set=str(data["parameter_set"]),
            price_per_weighted_patient=_price(price),
            extracts=tuple(str(e) for e in extracts),
            sources={str(k): str(v) for k, v in sources.items()},
            warehouse_url=str(data["warehouse_url"]),
            output_root=Path(str(data["output_root"])),
            data_dir=Path(str(data["data_dir"])),
            organisation=str(data.get("organisation") or DEFAULT_ORGANISATION),
            contact=str(data["contact"]) if data.get("contact") else None,
            extract_periods_file=Path(str(data["extract_periods_file"]))
            if data.get("extract_periods_file")
            else None,
            statement_pdfs=bool(data.get("statement_pdfs", False)),
            places_file=_path_or_none(data.get("places_file")),
            override_reason=str(data["override_reason"]) if data.get("override_reason") else None,
            override_by=str(data["override_by"]) if data.get("override_by") else None,
            override_at=str(data["override_at"]) if data.get("override_at") else None,
        )
