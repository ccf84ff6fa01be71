"""NHS England's need-based fair shares (issue 17.3): practice weighted populations from the ICB Place
Based Allocation Tool data (extract ``nhse_weighted_populations``), turned into fair shares of this
run's global-sum envelope per component, and the coverage of the two sides (practices in one and not
the other are listed, never dropped).

A component's fair share of an organisation is the envelope split across the run's practices by the
component's weighted population (largest remainder, pennies exact), summed by ``aggregates`` like any
other fact. A practice of the run that NHS England's file does not have is given its registered list
at the national average need (national weighted population / national population of the practices
both sides have), so it is shared in, and listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .money import apportion

EXTRACT = "nhse_weighted_populations"
#: (canonical column, label): the published components, the primary care measure first.
NEED_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("final_pmc_wp", "Primary medical care with health inequalities (Final PMC WP)"),
    ("primary_medical_care_wp", "Primary medical care (PMC WP)"),
    ("general_acute_wp", "General and acute"),
    ("community_wp", "Community services"),
    ("mental_health_wp", "Mental health"),
    ("maternity_wp", "Maternity"),
    ("prescribing_wp", "Prescribing"),
    ("health_inequalities_wp", "Health inequalities"),
    ("final_wp", "Core services, all components (Final WP)"),
)
PRIMARY = "final_pmc_wp"
FAIR_SHARE_PREFIX = "fair_share_pence__"
NEED_PREFIX = "nhse_"
POPULATION = f"{NEED_PREFIX}population"


@dataclass(frozen=True)
class NeedWeights:
    """NHS England's figures on the run's practices, and who is on one side only."""

    #: by practice of the run: population and each component's weighted population (NaN if absent)
    frame: pd.DataFrame
    #: practice_code, side ('run only' / 'NHS England only'), sub_icb_code / icb_code, list, population
    missing: pd.DataFrame
    notes: list[str]


def need_weights(nhse: pd.DataFrame, practices: pd.DataFrame) -> NeedWeights:
    """NHS England's populations aligned on the run's practices (``practices``: the facts frame with
    practice_code, sub_icb_code, registered_patients)."""
    file = nhse.drop_duplicates("practice_code").set_index("practice_code")
    run = practices.set_index("practice_code")
    cols = ["population", *(c for c, _ in NEED_COMPONENTS)]
    frame = file[cols].reindex(run.index).astype(float)
    run_only = run.index.difference(file.index)
    file_only = file.index.difference(run.index)
    missing = pd.concat(
        [
            pd.DataFrame(
                {
                    "practice_code": run_only,
                    "side": "in this run, not in NHS England's file",
                    "sub_icb_code": run.loc[run_only, "sub_icb_code"].astype(str).to_numpy(),
                    "icb_code": run.loc[run_only, "icb_code"].astype(str).to_numpy(),
                    "registered_patients": run.loc[run_only, "registered_patients"]
                    .astype("int64")
                    .to_numpy(),
                    "nhse_population": np.nan,
                }
            ),
            pd.DataFrame(
                {
                    "practice_code": file_only,
                    "side": "in NHS England's file, not in this run",
                    "sub_icb_code": "",
                    "icb_code": file.loc[file_only, "icb_code"].astype(str).to_numpy(),
                    "registered_patients": 0,
                    "nhse_population": file.loc[file_only, "population"].astype(float).to_numpy(),
                }
            ),
        ],
        ignore_index=True,
    )
    notes = []
    if len(run_only):
        notes.append(
            f"NHS England weighted populations: {_practices(len(run_only))} of this run not in the file: "
            "shared in at the national average need and listed (Need missing)"
        )
    if len(file_only):
        notes.append(
            f"NHS England weighted populations: {_practices(len(file_only))} of the file not in this run "
            "(listed in Need missing; their populations are not used)"
        )
    return NeedWeights(frame, missing.astype({"registered_patients": "int64"}), notes)


def _practices(n: int) -> str:
    return f"{n:,} practice" + ("" if n == 1 else "s")


def shares_weights(weights: NeedWeights, registered: pd.Series, component: str) -> pd.Series:
    """Each practice's weighted population of ``component``; a practice the file lacks gets its
    registered list x the national need per head of the practices both sides have."""
    wp = weights.frame[component].reindex(registered.index)
    pop = weights.frame["population"].reindex(registered.index)
    known = wp.notna() & pop.notna()
    per_head = float(wp[known].sum()) / float(pop[known].sum()) if known.any() else 1.0
    return wp.where(known, registered.astype(float) * per_head)


def fair_share_facts(weights: NeedWeights, registered: pd.Series, envelope_pence: int) -> pd.DataFrame:
    """Per practice: NHS England's population and weighted populations (0 where absent), and each
    component's fair share of the envelope in pennies (largest remainder over the run's practices)."""
    out = pd.DataFrame(index=registered.index)
    out[POPULATION] = weights.frame["population"].reindex(registered.index).fillna(0.0)
    for c, _ in NEED_COMPONENTS:
        out[f"{NEED_PREFIX}{c}"] = weights.frame[c].reindex(registered.index).fillna(0.0)
    for c, _ in NEED_COMPONENTS:
        w = shares_weights(weights, registered, c).to_numpy(dtype=float)
        out[f"{FAIR_SHARE_PREFIX}{c}"] = apportion(envelope_pence, w) if w.sum() > 0 else 0
    return out
