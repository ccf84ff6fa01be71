"""Scenario values (issue 17): amounts and settings of what-if scenarios, as versioned data.

One YAML file per scenario in ``include/scenarios/<name>.yaml``: a name, a title and ``values``, each
with value, unit, source and status (as the formula parameter files). A declaration in ``variants``
names its scenario; the run's Parameters sheet lists every value used with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from . import config
from .errors import InputError

_FIELDS = ("value", "unit", "source", "status")


def scenarios_dir() -> Path:
    return config.include_dir() / "scenarios"


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    values: dict[str, dict[str, str]]
    path: Path

    def text(self, key: str) -> str:
        if key not in self.values:
            raise InputError(
                f"scenario {self.name} has no value {key!r}",
                file=self.path.name,
                column=key,
                rule="scenario-value",
            )
        return self.values[key]["value"]

    def decimal(self, key: str) -> Decimal:
        text = self.text(key)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InputError(
                f"scenario {self.name}: {key} = {text!r} is not a number",
                file=self.path.name,
                column=key,
                rule="scenario-value",
            ) from None
        if not value.is_finite():
            raise InputError(
                f"scenario {self.name}: {key} is not finite", file=self.path.name, rule="scenario-value"
            )
        return value

    def to_frame(self) -> pd.DataFrame:
        """The values as Parameters-sheet rows: parameter, key, value, unit, source, status."""
        rows = [
            {"parameter": f"scenario {self.name}", "key": key, **{f: v[f] for f in _FIELDS}}
            for key, v in self.values.items()
        ]
        return pd.DataFrame(rows, columns=["parameter", "key", *_FIELDS])


def load_scenario(name: str, directory: Path | None = None) -> Scenario:
    """The scenario file ``<name>.yaml``; a missing or malformed file is an InputError naming it."""
    return _load(name, str(directory or scenarios_dir()))


@lru_cache(maxsize=16)
def _load(name: str, folder: str) -> Scenario:
    path = Path(folder) / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"no scenario file {path.name} in {folder}", file=path.name, rule="scenario-file")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw = doc.get("values")
    if doc.get("name") != name or not isinstance(raw, dict) or not raw:
        raise InputError(
            f"scenario file {path.name} must name itself {name!r} and declare values",
            file=path.name,
            rule="scenario-file",
        )
    values: dict[str, dict[str, str]] = {}
    for key, entry in raw.items():
        missing = [f for f in _FIELDS if not isinstance(entry, dict) or entry.get(f) in (None, "")]
        if missing:
            raise InputError(
                f"scenario {name}: value {key!r} lacks {', '.join(missing)} (every value has a source)",
                file=path.name,
                column=str(key),
                rule="scenario-file",
            )
        values[str(key)] = {f: str(entry[f]).strip() for f in _FIELDS}
    return Scenario(name, str(doc.get("title") or name), values, path)
