"""Wide views of the ledger's aggregates, for the workbooks and the manifest.

Views pick rows of ``Totals`` (computed once, in ``aggregates``) and lay them out: one column per
variant, changes against the global sum, rates per patient. They reshape and divide; they never add
money up (every sum they show was made by ``aggregates.aggregate``). Column names are stable:
``weighted_list__<v>``, ``capitation_pence__<v>`` (payable), ``difference_pence__<v>``,
``change__<v>`` (a ratio), ``qof_pence``, ``total_pence__<v>``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .aggregates import NO_QUINTILE, PAYABLE, TOTAL, Totals
from .ledger import Allocation
from .variants import DEFAULT_VARIANT, QOF

QUINTILES = ("1", "2", "3", "4", "5")


def _pivot(frame: pd.DataFrame, values: str, prefix: str, variants: list[str]) -> pd.DataFrame:
    """One column per variant (rows are unique per code and variant: no aggregation happens here)."""
    wide = frame.set_index(["code", "variant"])[values].unstack("variant").reindex(columns=variants)
    wide.columns = [f"{prefix}__{v}" for v in variants]
    return wide


def money_table(totals: Totals, variants: list[str]) -> pd.DataFrame:
    """Per organisation (index: code): weighted lists, payable capitation, changes, QOF and totals."""
    m = totals.money
    out = _pivot(totals.weights, "weighted_list", "weighted_list", variants)
    cap = _pivot(m[m["line"] == PAYABLE], "pence", "capitation_pence", variants).astype("int64")
    out = out.join(cap, how="outer")
    base = out[f"capitation_pence__{DEFAULT_VARIANT}"]
    for v in variants:
        if v != DEFAULT_VARIANT:
            out[f"difference_pence__{v}"] = (out[f"capitation_pence__{v}"] - base).astype("int64")
            out[f"change__{v}"] = (out[f"difference_pence__{v}"].astype(float) / base.astype(float)).where(
                base != 0
            )
    qof = m[(m["line"] == QOF) & (m["variant"] == DEFAULT_VARIANT)].set_index("code")["pence"]
    out["qof_pence"] = qof.reindex(out.index).fillna(0).astype("int64")
    out = out.join(_pivot(m[m["line"] == TOTAL], "pence", "total_pence", variants).astype("int64"))
    return out


def summary_table(
    allocation: Allocation, grouping: str, within: str | None = None, facts: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per organisation of ``grouping`` (inside ``within``): code, name, the ``facts`` columns
    asked for, practices, registered_patients, then ``money_table``'s columns; sorted by code."""
    t = allocation.totals.of(grouping, within)
    keep = ["code", "name", *(f for f in facts if f in t.facts.columns), "practices", "registered_patients"]
    head = t.facts.set_index("code", drop=False)[keep]
    return head.join(money_table(t, allocation.variants)).sort_index(kind="stable").reset_index(drop=True)


def practice_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame:
    """One row per practice (of one sub-ICB location, or all): the facts, then ``money_table``'s columns
    and, with a contracts extract, the global sum capitation minus the Global Sum paid."""
    p = allocation.practices
    if sub_icb_code is not None:
        p = p[p["sub_icb_code"] == sub_icb_code]
        if p.empty:
            raise ValueError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    t = allocation.totals.of("practice", sub_icb_code)
    out = p.set_index("practice_code", drop=False).join(money_table(t, allocation.variants))
    if "paid_global_sum_pence" in out.columns:
        out["difference_from_paid_pence"] = (
            out[f"capitation_pence__{DEFAULT_VARIANT}"] - out["paid_global_sum_pence"]
        ).astype("int64")
    return out.sort_index(kind="stable").reset_index(drop=True)


def quintile_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame:
    """Money per patient by deprivation quintile (1 = most deprived fifth of registered patients), all five
    quintiles even when empty, plus 'unknown' for practices without a score. Rates are in pounds; per
    weighted patient means per global sum weighted patient (the common measure of need)."""
    grouping = "quintile" if sub_icb_code is None else "sub_icb_quintile"
    t = allocation.totals.of(grouping, sub_icb_code)
    facts = t.facts.set_index("code")
    codes = [*QUINTILES, *([NO_QUINTILE] if NO_QUINTILE in facts.index else [])]
    money = money_table(t, allocation.variants)
    out = pd.DataFrame(index=pd.Index(codes, name="code"))
    out["practices"] = facts["practices"].reindex(codes).fillna(0).astype("int64")
    out["registered_patients"] = facts["registered_patients"].reindex(codes).fillna(0).astype("int64")
    scored = facts["_imd_scored_patients"].reindex(codes)
    out["imd_score"] = facts["_imd_patients"].reindex(codes) / scored.where(scored > 0)
    base_wl = money[f"weighted_list__{DEFAULT_VARIANT}"].reindex(codes)
    out[f"weighted_list__{DEFAULT_VARIANT}"] = base_wl
    reg = out["registered_patients"].astype(float).where(out["registered_patients"] > 0)
    wgt = base_wl.where(base_wl > 0)
    for v in allocation.variants:
        pence = money[f"capitation_pence__{v}"].reindex(codes)
        out[f"capitation_pence__{v}"] = pence
        out[f"gbp_per_registered__{v}"] = pence.astype(float) / reg / 100
        out[f"gbp_per_weighted__{v}"] = pence.astype(float) / wgt / 100
    if "paid_global_sum_pence" in facts.columns:
        paid = facts["paid_global_sum_pence"].reindex(codes)
        out["paid_global_sum_pence"] = paid
        preg, pwgt = (
            facts["paid_registered_patients"].reindex(codes),
            facts["paid_weighted_patients"].reindex(codes),
        )
        out["paid_gbp_per_registered"] = paid.astype(float) / preg.where(preg > 0) / 100
        out["paid_gbp_per_weighted"] = paid.astype(float) / pwgt.where(pwgt > 0) / 100
    return out.rename_axis("deprivation_quintile").reset_index()


_PAID = (
    "paid_registered_patients",
    "paid_weighted_patients",
    "paid_global_sum_pence",
    "paid_mpig_pence",
    "paid_qof_pence",
)


def paid_reconciliation(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame | None:
    """What was paid (contracts extract) beside the run's recomputation: one row per sub-ICB location
    (or the one asked for), then England and the paid practices the run has no list for. Differences are
    recomputed minus paid. None without a contracts extract."""
    if "paid_not_in_run" not in allocation.tables:
        return None
    parts = []
    for level, grouping in (("sub_icb", "sub_icb"), ("england", "england")):
        t = allocation.totals.of(grouping)
        money = money_table(t, allocation.variants)
        f = t.facts.set_index("code")
        frame = pd.DataFrame(
            {
                "level": level,
                "code": f.index,
                "name": f["name"],
                "practices": f["practices"],
                "practices_paid": f["_practices_paid"],
                **{c: f[c] for c in _PAID},
                "run_registered_patients": f["registered_patients"],
                "run_weighted_patients": money[f"weighted_list__{DEFAULT_VARIANT}"].reindex(f.index),
                "recomputed_capitation_pence": money[f"capitation_pence__{DEFAULT_VARIANT}"].reindex(f.index),
                "recomputed_qof_pence": money["qof_pence"].reindex(f.index),
            }
        )
        parts.append(frame.reset_index(drop=True))
    extra = allocation.tables["paid_not_in_run"].iloc[0]
    not_in_run = {
        "level": "not_in_run",
        "code": "",
        "name": "Paid practices without a registered list in this run",
        **{k: extra[k] for k in ("practices", "practices_paid", *_PAID)},
        "run_registered_patients": 0,
        "run_weighted_patients": 0.0,
        "recomputed_capitation_pence": 0,
        "recomputed_qof_pence": 0,
    }
    out = pd.concat([*parts, pd.DataFrame([not_in_run])], ignore_index=True)
    for c in (
        "practices",
        "practices_paid",
        "paid_global_sum_pence",
        "paid_mpig_pence",
        "paid_qof_pence",
        "run_registered_patients",
        "recomputed_capitation_pence",
        "recomputed_qof_pence",
    ):
        out[c] = out[c].astype("int64")
    out["difference_capitation_vs_global_sum_pence"] = (
        out["recomputed_capitation_pence"] - out["paid_global_sum_pence"]
    )
    out["difference_capitation_vs_global_sum_and_mpig_pence"] = (
        out["recomputed_capitation_pence"] - out["paid_global_sum_pence"] - out["paid_mpig_pence"]
    )
    out["difference_qof_pence"] = out["recomputed_qof_pence"] - out["paid_qof_pence"]
    if sub_icb_code is not None:
        out = out[(out["level"] == "sub_icb") & (out["code"] == sub_icb_code)]
    return out.reset_index(drop=True)


def sub_icb_totals(allocation: Allocation) -> dict[str, dict[str, Any]]:
    """Per sub-ICB location: name, practices, registered list, QOF and per variant the payable capitation
    and total, in pennies (the manifest's ``totals``)."""
    table = summary_table(allocation, "sub_icb")
    out: dict[str, dict[str, Any]] = {}
    for row in table.to_dict(orient="records"):
        out[str(row["code"])] = {
            "name": str(row["name"]),
            "practices": int(row["practices"]),
            "registered_patients": int(row["registered_patients"]),
            "qof_pence": int(row["qof_pence"]),
            "variants": {
                v: {
                    "capitation_pence": int(row[f"capitation_pence__{v}"]),
                    "total_pence": int(row[f"total_pence__{v}"]),
                }
                for v in allocation.variants
            },
        }
    return out
