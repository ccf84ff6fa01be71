"""Settings from the environment, with documented defaults; no machine path is written in code.

| variable | default | meaning |
|---|---|---|
| GP_ALLOC_PROJECT_ROOT | the folder holding ``plugins/`` | where ``include/`` and ``expectations/`` are |
| GP_ALLOC_DATA_DIR | ``<root>/var`` | run-scoped raw and working areas, local warehouse |
| GP_ALLOC_SOURCE | ``<data dir>/sample-extracts`` | folder or fsspec URI the extracts are pulled from |
| GP_ALLOC_SOURCE_<EXTRACT> | (unset) | URI of one extract, overriding GP_ALLOC_SOURCE for it |
| GP_ALLOC_WAREHOUSE_URL | ``sqlite:///<data dir>/warehouse.sqlite`` | SQLAlchemy URL of the warehouse |
| GP_ALLOC_OUTPUT_ROOT | ``<data dir>/outputs`` | where workbooks are published |

In Airflow the DAG resolves connections and variables first (see ``gp_allocations_airflow``) and
passes the results in; this module is the fallback every other caller uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

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


def data_dir() -> Path:
    env = os.environ.get("GP_ALLOC_DATA_DIR")
    return Path(env).resolve() if env else project_root() / "var"


def default_source() -> str:
    return os.environ.get("GP_ALLOC_SOURCE") or str(data_dir() / "sample-extracts")


def source_for(extract: str, base: str | None = None) -> str:
    """Where one extract comes from: its own variable, else the common source folder."""
    return os.environ.get(f"GP_ALLOC_SOURCE_{extract.upper()}") or (base or default_source())


def warehouse_url() -> str:
    return os.environ.get("GP_ALLOC_WAREHOUSE_URL") or f"sqlite:///{data_dir() / 'warehouse.sqlite'}"


def output_root() -> Path:
    env = os.environ.get("GP_ALLOC_OUTPUT_ROOT")
    return Path(env).resolve() if env else data_dir() / "outputs"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A string made safe as one path component: no separators, no '..', never empty."""
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned or "_"


@dataclass
class RunContext:
    """Everything a stage needs to know about one run; plain data, passed between tasks as a dict."""

    run_id: str
    period: str
    variant: str = "global_sum"
    parameter_set: str = "carr_hill_2004"
    price_per_weighted_patient: str | None = None  # pounds as text, overrides the parameter file
    source: str = field(default_factory=default_source)
    sources: dict[str, str] = field(default_factory=dict)
    extracts: list[str] | None = None
    warehouse_url: str = field(default_factory=warehouse_url)
    output_root: str = field(default_factory=lambda: str(output_root()))
    data_dir: str = field(default_factory=lambda: str(data_dir()))

    @property
    def run_dir(self) -> Path:
        """Run-scoped working area: ``<data dir>/runs/<period>/<run id>/``."""
        return Path(self.data_dir) / "runs" / safe_name(self.period) / safe_name(self.run_id)

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
        return self.sources.get(extract) or source_for(extract, self.source)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> RunContext:
        return cls(**data)
