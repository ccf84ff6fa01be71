"""The allocation result handed from the engine to the warehouse marts and the workbook writer.

Column conventions of ``AllocationResult.practices`` (one row per practice, sorted by code):

- identity: practice_code, practice_name, pcn_code, pcn_name, sub_icb_code, sub_icb_name,
  icb_code, icb_name, region_code, region_name, contract_type
- list: registered_patients (int, from the age-sex extract)
- component indices (float, 1.0 = national average; 1.0 exactly when the component is neutral):
  index_age_sex, index_additional_needs, index_list_turnover, index_care_homes,
  index_market_forces, index_rurality, index_deprivation
- deprivation: imd_score, health_deprivation_score (population-weighted over the practice's
  LSOAs), deprivation_quintile (1 = most deprived fifth, cut on registered population)
- per variant ``v`` in ``AllocationResult.variants`` (``global_sum`` first):
  ``weighted_list__v`` (float, normalised), ``capitation_pence__v`` (int, payable after the
  out-of-hours deduction), ``difference_pence__v`` (int, against global_sum)
- QOF: qof_points (float), qof_pence (int), qof_path ('prevalence_adjusted' | 'practice_points')
- ``total_pence__v`` = capitation_pence__v + qof_pence
- when a contracts extract is given: paid_global_sum_pence, paid_mpig_pence, paid_qof_pence,
  paid_registered_patients, paid_weighted_patients, difference_from_paid_pence (global_sum
  capitation minus Global Sum paid)

Money columns end in ``_pence`` and are integers. Every level in ``levels`` is the exact integer
sum of the practices under it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

LEVELS: tuple[str, ...] = ("pcn", "sub_icb", "icb", "region", "england")


@dataclass
class AllocationResult:
    period: str
    parameter_set: str
    parameter_set_title: str
    variants: list[str]
    selected_variant: str
    practices: pd.DataFrame
    #: level name -> one row per organisation at that level (``england`` has one row)
    levels: dict[str, pd.DataFrame]
    #: every formula value used: parameter, key, value, unit, source
    parameters: pd.DataFrame
    #: one row per Carr-Hill component: component, status ('applied' | 'neutral'), reason
    components: pd.DataFrame
    #: national envelope per variant, pennies
    envelopes_pence: dict[str, int]
    #: checks that every total reconciles: check, expected, actual, passed
    reconciliation: pd.DataFrame
    #: counts and notes a reader must see (LSOAs not in the deprivation file, Welsh LSOAs ...)
    notes: list[str] = field(default_factory=list)
    #: deprivation quintile summary (equity view): quintile rows, money per patient
    equity: pd.DataFrame | None = None
    #: LSOA coverage of the deprivation file: lsoa_class, rows, patients, practices, lsoa_codes
    lsoa_coverage: pd.DataFrame | None = None
    #: further named tables (name -> frame): ``paid_reconciliation`` (recomputed vs paid, per sub-ICB and
    #: England), ``payments_equity`` (published payments by practice deprivation quintile) and
    #: ``practice_changes`` (practices the extracts disagree about), when the inputs allow them
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def save_result(result: AllocationResult, folder: Path) -> None:
    """Write a result as Parquet tables plus a JSON of the scalars (hand-off between tasks)."""
    folder.mkdir(parents=True, exist_ok=True)
    result.practices.to_parquet(folder / "practices.parquet", index=False)
    result.parameters.to_parquet(folder / "parameters.parquet", index=False)
    result.components.to_parquet(folder / "components.parquet", index=False)
    result.reconciliation.to_parquet(folder / "reconciliation.parquet", index=False)
    for level, frame in result.levels.items():
        frame.to_parquet(folder / f"level_{level}.parquet", index=False)
    if result.equity is not None:
        result.equity.to_parquet(folder / "equity.parquet", index=False)
    if result.lsoa_coverage is not None:
        result.lsoa_coverage.to_parquet(folder / "lsoa_coverage.parquet", index=False)
    for name, frame in result.tables.items():
        frame.to_parquet(folder / f"table_{name}.parquet", index=False)
    scalars = {
        "period": result.period,
        "parameter_set": result.parameter_set,
        "parameter_set_title": result.parameter_set_title,
        "variants": result.variants,
        "selected_variant": result.selected_variant,
        "envelopes_pence": {k: int(v) for k, v in result.envelopes_pence.items()},
        "notes": result.notes,
        "levels": sorted(result.levels),
        "has_equity": result.equity is not None,
        "has_lsoa_coverage": result.lsoa_coverage is not None,
        "tables": sorted(result.tables),
    }
    (folder / "result.json").write_text(json.dumps(scalars, indent=2, sort_keys=True))


def load_result(folder: Path) -> AllocationResult:
    scalars = json.loads((folder / "result.json").read_text())
    return AllocationResult(
        period=scalars["period"],
        parameter_set=scalars["parameter_set"],
        parameter_set_title=scalars["parameter_set_title"],
        variants=scalars["variants"],
        selected_variant=scalars["selected_variant"],
        practices=pd.read_parquet(folder / "practices.parquet"),
        levels={lv: pd.read_parquet(folder / f"level_{lv}.parquet") for lv in scalars["levels"]},
        parameters=pd.read_parquet(folder / "parameters.parquet"),
        components=pd.read_parquet(folder / "components.parquet"),
        envelopes_pence=scalars["envelopes_pence"],
        reconciliation=pd.read_parquet(folder / "reconciliation.parquet"),
        notes=scalars["notes"],
        equity=pd.read_parquet(folder / "equity.parquet") if scalars["has_equity"] else None,
        lsoa_coverage=(
            pd.read_parquet(folder / "lsoa_coverage.parquet") if scalars.get("has_lsoa_coverage") else None
        ),
        tables={n: pd.read_parquet(folder / f"table_{n}.parquet") for n in scalars.get("tables", [])},
    )
