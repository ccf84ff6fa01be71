"""The engine's product: one long allocation ledger plus per-practice facts, and its hand-off files.

- ``ledger``: one row per practice x variant x line (``variants.LINES``: capitation,
  out_of_hours_deduction, mpig_recycled, qof ...), ``pence`` an exact integer. A variant's payable
  capitation is the sum of its capitation lines; its total adds QOF.
- ``practices`` (facts): one row per practice, sorted by code: practice_code, practice_name,
  pcn_code, pcn_name, sub_icb_code, sub_icb_name, icb_code, icb_name, region_code, region_name,
  contract_type, registered_patients, index_<component> (1.0 = national average), imd_score,
  health_deprivation_score, health_multiplier, deprivation_quintile, qof_points, qof_path, and the
  paid_* figures of the contracts extract when it was given.
- ``weights``: practice x variant normalised weighted list; ``variant_table``: one row per variant
  (label, envelope-neutral, normalisation factor); ``envelopes``: variant x line national pennies.
- ``totals``: every aggregate, computed once from the above by ``aggregates.aggregate``.

Every view (workbooks, manifest, marts) reads these tables; none re-sums money.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from .aggregates import Totals, read_frame

T = TypeVar("T")
LEDGER_COLUMNS = ["practice_code", "variant", "line", "pence"]
LEVELS: tuple[str, ...] = ("pcn", "sub_icb", "icb", "region", "england")


@dataclass
class Allocation:
    """One period's allocation for every variant the run could compute (see the module docstring)."""

    period: str
    parameter_set: str
    parameter_set_title: str
    variants: list[str]
    selected_variant: str
    practices: pd.DataFrame
    ledger: pd.DataFrame
    weights: pd.DataFrame
    variant_table: pd.DataFrame
    envelopes: pd.DataFrame
    totals: Totals
    #: every formula value used: parameter, key, value, unit, source, status
    parameters: pd.DataFrame
    #: one row per Carr-Hill component: component, status, reason, variants
    components: pd.DataFrame
    #: the reconciliation gates: check, expected, actual, passed
    checks: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: LSOA coverage of the deprivation file: lsoa_class, rows, patients, practices, lsoa_codes
    lsoa_coverage: pd.DataFrame | None = None
    #: analyses of the input extracts (not of the ledger): ``paid_not_in_run``, ``payments_equity``,
    #: ``implied_price``, ``implied_price_outliers``, ``practice_changes``, when the inputs allow them
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    _derived: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, name: str, compute: Callable[[], T]) -> T:
        """A view of the whole allocation worked out once per publication, not once per workbook
        (each of ~106 workbooks asks for it); worked out again if one of the tables was replaced."""
        frames = (self.practices, self.ledger, self.weights, self.variant_table, self.envelopes, self.totals)
        key = (name, *(id(f) for f in (*frames, *self.tables.values())))
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]  # type: ignore[no-any-return]

    def envelope_pence(self, variant: str) -> int:
        """The variant's net national envelope (sum of its envelope lines)."""
        e = self.envelopes
        return int(e.loc[e["variant"] == variant, "pence"].sum())

    @property
    def envelopes_pence(self) -> dict[str, int]:
        return {v: self.envelope_pence(v) for v in self.variants}

    @property
    def sub_icb_codes(self) -> list[str]:
        return sorted(str(c) for c in self.practices["sub_icb_code"].unique())


_FRAMES = (
    "practices",
    "ledger",
    "weights",
    "variant_table",
    "envelopes",
    "parameters",
    "components",
    "checks",
)


def save_allocation(allocation: Allocation, folder: Path) -> None:
    """Write an allocation as Parquet tables plus a JSON of the scalars (hand-off between tasks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FRAMES:
        getattr(allocation, name).to_parquet(folder / f"{name}.parquet", index=False)
    allocation.totals.save(folder / "totals")
    if allocation.lsoa_coverage is not None:
        allocation.lsoa_coverage.to_parquet(folder / "lsoa_coverage.parquet", index=False)
    for name, frame in allocation.tables.items():
        frame.to_parquet(folder / f"table_{name}.parquet", index=False)
    scalars: dict[str, Any] = {
        "period": allocation.period,
        "parameter_set": allocation.parameter_set,
        "parameter_set_title": allocation.parameter_set_title,
        "variants": allocation.variants,
        "selected_variant": allocation.selected_variant,
        "notes": allocation.notes,
        "has_lsoa_coverage": allocation.lsoa_coverage is not None,
        "tables": sorted(allocation.tables),
    }
    (folder / "allocation.json").write_text(json.dumps(scalars, indent=2, sort_keys=True))


def load_allocation(folder: Path) -> Allocation:
    scalars = json.loads((folder / "allocation.json").read_text())
    frames = {name: read_frame(folder / f"{name}.parquet") for name in _FRAMES}
    return Allocation(
        period=scalars["period"],
        parameter_set=scalars["parameter_set"],
        parameter_set_title=scalars["parameter_set_title"],
        variants=scalars["variants"],
        selected_variant=scalars["selected_variant"],
        totals=Totals.load(folder / "totals"),
        notes=scalars["notes"],
        lsoa_coverage=(
            read_frame(folder / "lsoa_coverage.parquet") if scalars["has_lsoa_coverage"] else None
        ),
        tables={n: read_frame(folder / f"table_{n}.parquet") for n in scalars["tables"]},
        **frames,
    )
