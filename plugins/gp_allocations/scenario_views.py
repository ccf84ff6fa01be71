"""Views of the fair-shares work (issue 17) for the workbooks and the manifest.

Like ``views``, these pick rows of ``Totals`` (summed once, in ``aggregates``) and of the engine's own
tables and lay them out; they subtract and divide, never add money up.
"""

from __future__ import annotations

import pandas as pd

from .aggregates import ENGLAND_CODE, PAYABLE
from .ledger import Allocation
from .variants import DEFAULT_VARIANT, MPIG_RECYCLED_LINE, OVER_75S_LINE, SENIORITY_RECYCLED_LINE

OVER_75S_VARIANT = "over_75s_funding"

#: (paid column of the contracts extract, ledger line it is recycled into)
RECYCLED: tuple[tuple[str, str], ...] = (
    ("paid_mpig_pence", MPIG_RECYCLED_LINE),
    ("paid_seniority_pence", SENIORITY_RECYCLED_LINE),
)


def recycling_variants(allocation: Allocation) -> list[str]:
    """The run's variants that recycle a paid payment into capitation (they have a recycled line)."""
    lines = {line for _, line in RECYCLED}
    e = allocation.envelopes
    return [v for v in allocation.variants if e[(e["variant"] == v) & e["line"].isin(lines)].shape[0]]


def recycling_table(allocation: Allocation, grouping: str, within: str | None = None) -> pd.DataFrame:
    """Per organisation: what was paid as MPIG and seniority, and for each recycling variant the money
    recycled to it (its share of the national totals), the change in payable capitation against the
    global sum, and the money moved: capitation change less the payments phased out (what the practice
    gains or loses when the payment stops and its total is shared by weighted list)."""
    t = allocation.totals.of(grouping, within)
    facts = t.facts.set_index("code")
    out = pd.DataFrame({"name": facts["name"], "registered_patients": facts["registered_patients"]})
    m = t.money
    base = m[(m["variant"] == DEFAULT_VARIANT) & (m["line"] == PAYABLE)].set_index("code")["pence"]
    for column, _line in RECYCLED:
        if column in facts.columns:
            out[column] = facts[column].astype("int64")
    for v in recycling_variants(allocation):
        rows = m[m["variant"] == v]
        lines = set(allocation.envelopes.loc[allocation.envelopes["variant"] == v, "line"])
        payable = rows[rows["line"] == PAYABLE].set_index("code")["pence"].reindex(out.index)
        change = (payable - base.reindex(out.index)).astype("int64")
        out[f"capitation_change_pence__{v}"] = change
        moved = change
        for column, line in RECYCLED:
            if line in lines:
                got = rows[rows["line"] == line].set_index("code")["pence"].reindex(out.index).fillna(0)
                out[f"{line}_pence__{v}"] = got.astype("int64")
                moved = moved - out[column]  # the payment phased out
        out[f"moved_pence__{v}"] = moved
    return out.rename_axis("code").reset_index()


def over_75s_table(allocation: Allocation, grouping: str, within: str | None = None) -> pd.DataFrame | None:
    """Per organisation: registered patients, patients aged 75 and over and the 75+ funding line of the
    ``over_75s_funding`` variant (a sub-ICB location's total is the CCG's funding); None when the run
    did not compute it."""
    if OVER_75S_VARIANT not in allocation.variants:
        return None
    t = allocation.totals.of(grouping, within)
    facts = t.facts.set_index("code")
    m = t.money
    line = m[(m["variant"] == OVER_75S_VARIANT) & (m["line"] == OVER_75S_LINE)].set_index("code")["pence"]
    out = pd.DataFrame(
        {
            "name": facts["name"],
            "registered_patients": facts["registered_patients"].astype("int64"),
            "patients_75_and_over": facts["patients_75_and_over"].astype("int64"),
        }
    )
    out["over_75s_pence"] = line.reindex(out.index).fillna(0).astype("int64")
    heads = out["patients_75_and_over"].where(out["patients_75_and_over"] > 0)
    out["share_75_and_over"] = out["patients_75_and_over"] / out["registered_patients"].where(
        out["registered_patients"] > 0
    )
    out["gbp_per_head_75_and_over"] = out["over_75s_pence"] / heads / 100
    return out.rename_axis("code").reset_index()


def fair_share_table(allocation: Allocation, grouping: str, within: str | None = None) -> pd.DataFrame | None:
    """Per organisation: this run's capitation (the selected variant's payable capitation) beside its
    need-based fair share of the same envelope by each NHS England component, with the distance from
    it in pennies (capitation minus fair share) and as a share of the fair share. None when NHS
    England's weighted populations were not supplied."""
    from .fair_shares import FAIR_SHARE_PREFIX, NEED_COMPONENTS, POPULATION

    t = allocation.totals.of(grouping, within)
    facts = t.facts.set_index("code")
    if POPULATION not in facts.columns:
        return None
    m = t.money
    run = allocation.selected_variant
    capitation = m[(m["variant"] == run) & (m["line"] == PAYABLE)].set_index("code")["pence"]
    out = pd.DataFrame(
        {
            "name": facts["name"],
            "practices": facts["practices"].astype("int64"),
            "registered_patients": facts["registered_patients"].astype("int64"),
            "nhse_population": facts[POPULATION].astype(float),
            "capitation_pence": capitation.reindex(facts.index).fillna(0).astype("int64"),
        }
    )
    for c, _ in NEED_COMPONENTS:
        share = facts[f"{FAIR_SHARE_PREFIX}{c}"].astype("int64")
        out[f"fair_share_pence__{c}"] = share
        out[f"distance_pence__{c}"] = out["capitation_pence"] - share
        out[f"distance__{c}"] = out[f"distance_pence__{c}"] / share.where(share != 0)
    return out.rename_axis("code").reset_index()


def missing_practices(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame | None:
    """Practices on one side only (this run / NHS England's file), never dropped: all of them in the
    national view, the sub-ICB location's run practices in its own."""
    table = allocation.tables.get("nhse_missing")
    if table is None:
        return None
    if sub_icb_code is not None:
        table = table[table["sub_icb_code"] == sub_icb_code]
    return table.reset_index(drop=True)


def place_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame | None:
    """Place-based need indices (``places.place_indices``): every place nationally; in a sub-ICB
    location's view, the places any of its practices belong to."""
    table = allocation.tables.get("place_indices")
    if table is None:
        return None
    if sub_icb_code is not None:
        p = allocation.practices
        mine = set(p.loc[p["sub_icb_code"] == sub_icb_code, ["pcn_code"]].astype(str)["pcn_code"]) | {
            sub_icb_code
        }
        table = table[table["place_code"].astype(str).isin(mine) | (table["place_type"] == "place file")]
    return table.reset_index(drop=True)


def transition_practices(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame | None:
    """Each configured transition's amount per practice and year (``transition.phase``), with its
    change on the year, its distance from the target and which bound held it."""
    table = allocation.tables.get("transition")
    if table is None:
        return None
    if sub_icb_code is not None:
        table = table[table["sub_icb_code"] == sub_icb_code]
    return table.reset_index(drop=True)


def transition_summary(
    allocation: Allocation, grouping: str, within: str | None = None
) -> pd.DataFrame | None:
    """Per transition, year and organisation: the amount (summed by ``aggregates``), its change on
    the year, and how many practices gain, lose, or are held at the floor or the cap."""
    from .transition import FACT_PREFIX

    practices = transition_practices(allocation)
    if practices is None:
        return None
    t = allocation.totals.of(grouping, within)
    facts = t.facts.set_index("code")
    by_practice = allocation.practices.set_index("practice_code")
    code_of = (
        by_practice[_GROUP_CODE[grouping]].astype(str)
        if grouping != "england"
        else pd.Series(ENGLAND_CODE, index=by_practice.index)
    )
    keyed = practices.assign(code=practices["practice_code"].map(code_of))
    counts = (
        keyed.assign(
            gainers=keyed["change_pence"] > 0,
            losers=keyed["change_pence"] < 0,
            at_floor=keyed["held"] == "floor",
            at_cap=keyed["held"] == "cap",
        )
        .groupby(["transition", "year", "code"])[["gainers", "losers", "at_floor", "at_cap"]]
        .sum()
    )
    labels = dict(zip(practices["transition"], practices["transition_label"], strict=False))
    rows = []
    for name, year in keyed[["transition", "year"]].drop_duplicates().itertuples(index=False):
        column = f"{FACT_PREFIX}{name}__y{year}"
        before = f"{FACT_PREFIX}{name}__y{year - 1}" if year else column
        part = pd.DataFrame(
            {
                "transition": name,
                "transition_label": labels[name],
                "year": int(year),
                "code": facts.index,
                "name": facts["name"],
                "amount_pence": facts[column].astype("int64"),
                "change_pence": (facts[column] - facts[before]).astype("int64"),
            }
        )
        rows.append(part)
    out = pd.concat(rows, ignore_index=True).set_index(["transition", "year", "code"])
    out = out.join(counts.astype("int64")).fillna({c: 0 for c in counts.columns}).reset_index()
    for c in counts.columns:
        out[c] = out[c].astype("int64")
    return out


_GROUP_CODE = {"sub_icb": "sub_icb_code", "icb": "icb_code", "region": "region_code"}


def transition_manifest(allocation: Allocation) -> list[dict[str, object]] | None:
    """The manifest's record of each transition applied: its settings and, per year, England's amount
    (pence, from the aggregates) and how many practices gained, lost or were held at a bound."""
    from .transition import load_transitions

    england = transition_summary(allocation, "england")
    if england is None:
        return None
    out = []
    for t in load_transitions():
        years = england[england["transition"] == t.name].sort_values("year")
        if years.empty:
            continue
        out.append(
            {
                "name": t.name,
                "label": t.label,
                "from": " + ".join((t.from_variant, *t.from_paid)),
                "to": t.to_variant,
                "years": t.protection.years,
                "floor": str(t.protection.floor),
                "cap": str(t.protection.cap),
                "by_year": [
                    {
                        k: int(r[k])
                        for k in ("year", "amount_pence", "gainers", "losers", "at_floor", "at_cap")
                    }
                    for _, r in years.iterrows()
                ],
            }
        )
    return out
