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

from dataclasses import dataclass, field

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
