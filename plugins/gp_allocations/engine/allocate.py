"""The allocation engine: canonical extracts + a parameter set -> ``ledger.Allocation``.

Formula (per practice): each Carr-Hill component is an index against the national patient-weighted
average; a variant (``gp_allocations.variants``) multiplies its components and normalises the product so
the national weighted list equals the national registered list, then splits its envelope by it.

Money and rounding: the base envelope is national registered list x price per weighted patient, in
exact Decimal pennies, rounded to a whole penny halves up; the out-of-hours deduction (share x gross) is
rounded the same way. Each variant's net envelope is split across practices, sorted by practice code,
with ``money.apportion`` (largest remainder; ties to the earlier code), so practices add up to the
envelope exactly; the ledger splits the same payable amount into its envelope lines (``steps.pennies``).
Amounts are annual values at the quarter's registered list (a quarter's payment is a quarter of them).
QOF is rounded half up once per practice (see ``qof``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

from gp_allocations.aggregates import aggregate
from gp_allocations.checks import engine_checks
from gp_allocations.errors import InputError
from gp_allocations.ledger import Allocation
from gp_allocations.periods import Period
from gp_allocations.practice_changes import detect_practice_changes
from gp_allocations.practice_changes import summarise as summarise_changes
from gp_allocations.variants import DEFAULT_VARIANT, LINES, REGISTRY

from . import steps
from .reconcile import implied_price_report, paid_not_in_run, payments_equity


def compute_allocations(
    extracts: dict[str, pd.DataFrame],
    *,
    period: Period,
    parameter_set: str = "carr_hill_2004",
    selected_variant: str = DEFAULT_VARIANT,
    price_per_weighted_patient: Decimal | None = None,
    parameters_directory: Path | None = None,
) -> Allocation:
    """Every variant's ledger, the per-practice facts, the aggregates and the checks for one period.

    Pure: no I/O but the parameter file. Requires capitation_age_sex and practice_map; every other
    extract is optional and its component is neutral (and reported) when absent.
    """
    inputs = steps.EngineInputs.of(extracts)
    parms = steps.parameters(
        period.financial_year, parameter_set, price_per_weighted_patient, parameters_directory
    )
    params = parms.params
    plist = steps.practice_list(inputs, params)
    ident = steps.identity(inputs.frames["practice_map"], plist.practices)
    dep = steps.deprivation(inputs, plist, params)
    comps = steps.components(inputs, plist, dep, params)
    contracts = inputs.get("contracts")
    paid = steps.paid(contracts, plist.practices) if contracts is not None else None
    computed = steps.variants(steps.variant_inputs(plist, comps, dep, parms, paid))
    names = list(computed.computed)
    if selected_variant not in names:
        raise InputError(
            f"variant {selected_variant!r} is not available in this run; available: {names}",
            column="selected_variant",
            rule="run-parameter",
        )
    qof = steps.qof(inputs, plist.registered, params)
    ledger, weights = _ledger(computed, qof, plist.practices)
    practices = _facts(ident, plist, comps, dep, qof, paid)
    capitation_lines = {n for n, line in LINES.items() if line.capitation}
    notes = [
        *parms.notes,
        *ident.notes,
        *dep.notes,
        *comps.notes,
        *(paid.notes if paid else []),
        *computed.notes,
        *qof.notes,
    ]
    tables = _tables(inputs, parms, contracts, plist.practices)
    notes += summarise_changes(tables["practice_changes"])
    notes.append(
        "amounts are annual values at the quarter's registered list; a quarter's payment is one quarter"
    )
    allocation = Allocation(
        period=period.slug,
        parameter_set=params.name,
        parameter_set_title=params.title,
        variants=names,
        selected_variant=selected_variant,
        practices=practices,
        ledger=ledger,
        weights=weights,
        variant_table=_variant_table(computed),
        envelopes=_envelopes(computed),
        totals=aggregate(practices, ledger, weights, capitation_lines),
        parameters=pd.concat([parms.frame, _envelope_parameters(computed, plist)], ignore_index=True),
        components=comps.table,
        checks=pd.DataFrame(),
        notes=notes,
        lsoa_coverage=dep.coverage,
        tables=tables,
    )
    allocation.checks = engine_checks(allocation)
    return allocation


def _ledger(
    computed: steps.Variants, qof: steps.Qof, practices: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger (every variant's capitation lines, then QOF) and the weighted lists, long."""
    results = list(computed.computed.values())
    ledger = pd.concat(
        [*(steps.pennies(v, practices) for v in results), steps.qof_lines(qof, [v.name for v in results])],
        ignore_index=True,
    )
    weights = pd.concat(
        [
            pd.DataFrame(
                {"practice_code": practices, "variant": v.name, "weighted_list": v.weighted.to_numpy()}
            )
            for v in results
        ],
        ignore_index=True,
    )
    return ledger, weights


def _facts(
    ident: steps.Identity,
    plist: steps.PracticeList,
    comps: steps.Components,
    dep: steps.Deprivation,
    qof: steps.Qof,
    paid: steps.Paid | None,
) -> pd.DataFrame:
    df = ident.frame.copy()
    df["contract_type"] = paid.frame["contract_type"] if paid is not None else "Unknown"
    df["registered_patients"] = plist.registered.astype("int64")
    for name, index in comps.indices.items():
        df[f"index_{name}"] = index
    for column in ("imd_score", "health_deprivation_score", "health_multiplier"):
        df[column] = dep.scores[column]
    df["deprivation_quintile"] = dep.quintiles
    df["qof_points"] = qof.frame["qof_points"].astype(float)
    df["qof_path"] = qof.frame["qof_path"]
    if paid is not None:
        for column in paid.frame.columns:
            if column.startswith("paid_"):
                df[column] = paid.frame[column]
    return df.rename_axis("practice_code").reset_index()


def _variant_table(computed: steps.Variants) -> pd.DataFrame:
    rows = []
    for v in computed.computed.values():
        decl = REGISTRY.get(v.name)
        rows.append(
            {
                "variant": v.name,
                "label": decl.label,
                "envelope_neutral": decl.envelope_neutral,
                "normalisation_factor": v.normalisation_factor,
                "description": decl.description,
            }
        )
    return pd.DataFrame(rows)


def _envelopes(computed: steps.Variants) -> pd.DataFrame:
    rows = [
        {"variant": v.name, "line": line, "pence": int(pence)}
        for v in computed.computed.values()
        for line, pence in v.envelope.lines
    ]
    return pd.DataFrame(rows).astype({"pence": "int64"})


def _envelope_parameters(computed: steps.Variants, plist: steps.PracticeList) -> pd.DataFrame:
    base = next(iter(computed.computed.values())).envelope.as_dict()
    rows = [
        ("registered_patients", str(int(plist.registered.sum())), "patients", "capitation_age_sex extract"),
        ("gross_pence", str(base["capitation"]), "pence per year", "registered x price per weighted patient"),
        (
            "out_of_hours_deduction_pence",
            str(-base["out_of_hours_deduction"]),
            "pence per year",
            "gross x out-of-hours deduction, rounded half up",
        ),
        *(
            (v.name, str(v.envelope.net), "pence per year", "net envelope of the variant")
            for v in computed.computed.values()
        ),
    ]
    return pd.DataFrame(
        [
            {"parameter": "envelope", "key": k, "value": val, "unit": u, "source": s, "status": "COMPUTED"}
            for k, val, u, s in rows
        ]
    )


def _tables(
    inputs: steps.EngineInputs, parms: steps.Parameters, contracts: pd.DataFrame | None, practices: pd.Index
) -> dict[str, pd.DataFrame]:
    """Analyses of the input extracts shown beside the ledger (none of them is the ledger's money)."""
    tables: dict[str, pd.DataFrame] = {}
    if contracts is not None:
        tables["paid_not_in_run"] = paid_not_in_run(contracts, practices)
        implied = implied_price_report(
            contracts,
            price_per_weighted_patient=parms.price,
            out_of_hours_deduction=parms.params.out_of_hours_deduction,
        )
        tables["implied_price"] = implied.summary_frame()
        tables["implied_price_outliers"] = implied.outliers.reset_index(drop=True)
        dep_practice = inputs.get("deprivation_practice")
        if dep_practice is not None:
            tables["payments_equity"] = payments_equity(contracts, dep_practice)
    tables["practice_changes"] = detect_practice_changes(inputs.frames)
    return tables
