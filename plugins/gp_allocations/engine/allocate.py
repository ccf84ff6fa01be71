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

from gp_allocations.aggregates import PAYABLE, Totals, aggregate
from gp_allocations.checks import engine_checks
from gp_allocations.errors import InputError
from gp_allocations.fair_shares import NeedWeights, fair_share_facts
from gp_allocations.ledger import Allocation
from gp_allocations.periods import Period
from gp_allocations.places import default_places, place_indices, read_places
from gp_allocations.practice_changes import detect_practice_changes
from gp_allocations.practice_changes import summarise as summarise_changes
from gp_allocations.transition import load_transitions
from gp_allocations.variants import DEFAULT_VARIANT, LINES, PAID_WORDS, REGISTRY, aged_75_and_over

from . import steps
from .reconcile import implied_price_report, paid_not_in_run, payments_equity


def _start_words(variant: str, paid: tuple[str, ...]) -> str:
    return " + ".join((REGISTRY.get(variant).label, *(PAID_WORDS.get(c, c) for c in paid)))


#: A places file (place_code, place_name, practice_code) whose need indices are shown beside the
#: default places (every PCN and sub-ICB location).


def compute_allocations(
    extracts: dict[str, pd.DataFrame],
    *,
    period: Period,
    parameter_set: str = "carr_hill_2004",
    selected_variant: str = DEFAULT_VARIANT,
    price_per_weighted_patient: Decimal | None = None,
    parameters_directory: Path | None = None,
    quarantined_rows: pd.Series | None = None,
    places_file: Path | None = None,
) -> Allocation:
    """Every variant's ledger, the per-practice facts, the aggregates and the checks for one period.

    Pure: no I/O but the parameter file. Requires capitation_age_sex and practice_map; every other
    extract is optional and its component is neutral (and reported) when absent. ``quarantined_rows``
    (practice code -> input rows flagged by warning rules, all kept in the calculation) becomes the
    practice fact ``quarantined_rows``, summed for every grouping like the other facts. ``places_file``
    (the run's setting, ``config.Settings.places_file``) adds its places to the need indices.
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
    need = steps.need(inputs, ident, plist)
    computed = steps.variants(steps.variant_inputs(plist, comps, dep, parms, paid, need))
    names = list(computed.computed)
    _check_selected(selected_variant, names)
    qof = steps.qof(inputs, plist.registered, params)
    ledger, weights = _ledger(computed, qof, plist.practices)
    practices = _practice_facts(ident, plist, comps, dep, qof, paid, need, computed, quarantined_rows)
    notes = _step_notes(parms, ident, dep, comps, paid, need, computed, qof)
    tables = _tables(inputs, parms, contracts, plist.practices)
    if need is not None:
        notes += _place_tables(tables, need, inputs, practices, places_file)
    notes += summarise_changes(tables["practice_changes"])
    notes.append(
        "amounts are annual values at the quarter's registered list; a quarter's payment is one quarter"
    )
    capitation_lines = {n for n, line in LINES.items() if line.capitation}
    totals = aggregate(practices, ledger, weights, capitation_lines, quarter=period.quarter)
    phased = _transitions(practices, totals, names)
    if phased is not None:
        long, per_year, transition_notes = phased
        practices = practices.join(per_year, on="practice_code")
        # the years' sums too
        totals = aggregate(practices, ledger, weights, capitation_lines, quarter=period.quarter)
        tables["transition"] = long
        notes += transition_notes + _transition_notes(set(long["transition"]))
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
        totals=totals,
        parameters=pd.concat(
            [parms.frame, _envelope_parameters(computed, plist), *_scenario_parameters(computed)],
            ignore_index=True,
        ),
        components=comps.table,
        checks=pd.DataFrame(),
        notes=notes,
        lsoa_coverage=dep.coverage,
        tables=tables,
    )
    allocation.checks = engine_checks(allocation)
    return allocation


def _check_selected(selected_variant: str, names: list[str]) -> None:
    """The run's variant must be one this run computed (its inputs may leave some unavailable)."""
    if selected_variant not in names:
        raise InputError(
            f"variant {selected_variant!r} is not available in this run; available: {names}",
            column="selected_variant",
            rule="run-parameter",
        )


def _practice_facts(
    ident: steps.Identity,
    plist: steps.PracticeList,
    comps: steps.Components,
    dep: steps.Deprivation,
    qof: steps.Qof,
    paid: steps.Paid | None,
    need: NeedWeights | None,
    computed: steps.Variants,
    quarantined_rows: pd.Series | None,
) -> pd.DataFrame:
    """The per-practice facts, with fair shares when NHS England's populations are supplied and the
    count of each practice's quarantined input rows."""
    practices = _facts(ident, plist, comps, dep, qof, paid)
    if need is not None:
        net = computed.computed[DEFAULT_VARIANT].envelope.net
        shares = fair_share_facts(need, plist.registered, net)
        practices = practices.join(shares, on="practice_code")
    flagged = quarantined_rows if quarantined_rows is not None else pd.Series(dtype="int64")
    practices["quarantined_rows"] = (
        practices["practice_code"].map(flagged.astype("int64")).fillna(0).astype("int64")
    )
    return practices


def _step_notes(
    parms: steps.Parameters,
    ident: steps.Identity,
    dep: steps.Deprivation,
    comps: steps.Components,
    paid: steps.Paid | None,
    need: NeedWeights | None,
    computed: steps.Variants,
    qof: steps.Qof,
) -> list[str]:
    """The notes of each step, in the order the steps run."""
    absent = "NHS England weighted populations not supplied: need-based fair shares and place indices"
    need_notes = need.notes if need is not None else [f"{absent} not computed"]
    return [
        *parms.notes,
        *ident.notes,
        *dep.notes,
        *comps.notes,
        *(paid.notes if paid else []),
        *need_notes,
        *computed.notes,
        *qof.notes,
    ]


def _place_tables(
    tables: dict[str, pd.DataFrame],
    need: NeedWeights,
    inputs: steps.EngineInputs,
    practices: pd.DataFrame,
    places_file: Path | None,
) -> list[str]:
    """Adds the practices NHS England's populations lack and the place-based need indices to
    ``tables``; returns the note saying how the indices are computed."""
    tables["nhse_missing"] = need.missing
    places = default_places(practices)
    if places_file is not None:
        places = pd.concat([read_places(places_file), places], ignore_index=True)
    tables["place_indices"] = place_indices(inputs.frames["nhse_weighted_populations"], places)
    return [
        "place-based need indices: for each component, (place weighted population / place population) "
        "/ (ICB weighted population / ICB population) over NHS England's ICB Place Based Allocation Tool "
        "data (practice-level weighted populations, OGL v3), computed as the tool computes them (floating "
        "point, half up to 3 places as it downloads them, then to 2 places as it shows them); places are "
        "every PCN and sub-ICB location"
        + (f" and those of the places file {places_file.name}" if places_file else "")
    ]


def _transition_notes(applied: set[str]) -> list[str]:
    """One note per transition applied in this run: from what, to what, over how long, within what."""
    return [
        f"transition protection, {t.label}: from {_start_words(t.from_variant, t.from_paid)} to "
        f"{REGISTRY.get(t.to_variant).label} over {t.protection.years} years, each practice's change "
        f"held between {t.protection.floor:.1%} and +{t.protection.cap:.1%} a year, envelope-neutral "
        "each year (values and sources in Parameters)"
        for t in load_transitions()
        if t.name in applied
    ]


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
    df["patients_75_and_over"] = aged_75_and_over(plist.by_age_band)
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
                "components": ",".join(v.components),
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


def _transitions(
    practices: pd.DataFrame, totals: Totals, names: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]] | None:
    """Every configured transition whose variants this run computed: the long table (transition,
    year, practice ...), the per-year amounts as per-practice facts, and notes."""
    from gp_allocations.transition import fact_column, phase

    money = totals.of("practice").money
    payable = money[money["line"] == PAYABLE].pivot(index="code", columns="variant", values="pence")
    facts = practices.set_index("practice_code")
    longs, columns, notes = [], {}, []
    for t in load_transitions():
        missing = [v for v in (t.from_variant, t.to_variant) if v not in names]
        missing += [c for c in t.from_paid if c not in facts.columns]
        if missing:
            notes.append(f"transition {t.name} not computed: this run has no {', '.join(missing)}")
            continue
        current = payable[t.from_variant].reindex(facts.index).astype("int64")
        for column in t.from_paid:
            current = current + facts[column].astype("int64")  # what the practice receives today
        target = payable[t.to_variant].reindex(facts.index).astype("int64")
        try:
            long = phase(current, target, t.protection)
        except ValueError as exc:
            raise InputError(
                f"transition {t.name}: {exc}", file="transition.yaml", rule="transition-scenario"
            ) from None
        subs = long["practice_code"].map(facts["sub_icb_code"])
        longs.append(long.assign(transition=t.name, transition_label=t.label, sub_icb_code=subs))
        for year in long["year"].drop_duplicates().tolist():
            part = long[long["year"] == year]
            columns[fact_column(t.name, int(year))] = part.set_index("practice_code")["amount_pence"]
    if not longs:
        return None
    return pd.concat(longs, ignore_index=True), pd.DataFrame(columns), notes


def _scenario_parameters(computed: steps.Variants) -> list[pd.DataFrame]:
    """The values of every scenario file a computed variant used, and the transitions (with sources)."""
    from gp_allocations.scenarios import load_scenario

    names = [*dict.fromkeys(REGISTRY.get(v).scenario for v in computed.computed), "transition"]
    return [load_scenario(n).to_frame() for n in dict.fromkeys(names) if n]


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
