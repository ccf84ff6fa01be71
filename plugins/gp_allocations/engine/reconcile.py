"""Analyses of the published payments (contracts extract): the implied price per weighted patient
(Global Sum / weighted patients) across GMS practices, national weighted = registered, payments by
practice deprivation quintile, and what was paid to practices outside the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd


@dataclass
class ImpliedPriceReport:
    """Summary figures (name -> value) and the practices whose implied price is far from the median."""

    summary: dict[str, float | int | str] = field(default_factory=dict)
    outliers: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"measure": list(self.summary), "value": [str(v) for v in self.summary.values()]})


def implied_price_report(
    contracts: pd.DataFrame,
    *,
    contract_type: str = "GMS",
    price_per_weighted_patient: Decimal | None = None,
    out_of_hours_deduction: Decimal | None = None,
    tolerance: float = 0.10,
) -> ImpliedPriceReport:
    """Implied GBP per weighted patient (global_sum_pence / 100 / weighted_patients) for one contract type.

    ``contracts`` has the canonical contracts columns. The summary gives national registered and weighted
    totals (all practices) and their relative difference, then for ``contract_type`` practices with a
    positive Global Sum and weighted list: count, median, P5, P95, quartiles, and the expected price after
    the out-of-hours deduction when a price is given. Outliers are practices whose implied price is more
    than ``tolerance`` (relative) away from the median, sorted by practice code.
    """
    df = contracts.copy()
    reg = pd.to_numeric(df["registered_patients"], errors="coerce")
    wgt = pd.to_numeric(df["weighted_patients"], errors="coerce")
    summary: dict[str, float | int | str] = {
        "practices": len(df),
        "national_registered_patients": float(reg.sum()),
        "national_weighted_patients": float(wgt.sum()),
        "weighted_minus_registered_relative": float(wgt.sum() / reg.sum() - 1) if reg.sum() else float("nan"),
    }
    sel = df[df["contract_type"].astype(str).str.strip().str.upper() == contract_type.upper()].copy()
    sel["global_sum_gbp"] = pd.to_numeric(sel["global_sum_pence"], errors="coerce") / 100
    sel["weighted_patients"] = pd.to_numeric(sel["weighted_patients"], errors="coerce")
    usable = (sel["global_sum_gbp"] > 0) & (sel["weighted_patients"] > 0)
    summary[f"{contract_type}_practices"] = len(sel)
    summary[f"{contract_type}_excluded_no_global_sum_or_weighted"] = int((~usable).sum())
    sel = sel[usable]
    sel["implied_price_gbp"] = sel["global_sum_gbp"] / sel["weighted_patients"]
    price = sel["implied_price_gbp"]
    if len(price):
        q = price.quantile([0.05, 0.25, 0.5, 0.75, 0.95])
        low, high = q[0.5] * (1 - tolerance), q[0.5] * (1 + tolerance)
        summary.update(
            {
                "implied_price_median_gbp": round(float(q[0.5]), 4),
                "implied_price_p5_gbp": round(float(q[0.05]), 4),
                "implied_price_p95_gbp": round(float(q[0.95]), 4),
                "implied_price_q1_gbp": round(float(q[0.25]), 4),
                "implied_price_q3_gbp": round(float(q[0.75]), 4),
                "implied_price_national_gbp": round(
                    float(sel["global_sum_gbp"].sum() / sel["weighted_patients"].sum()), 4
                ),
                "outlier_low_gbp": round(float(low), 4),
                "outlier_high_gbp": round(float(high), 4),
            }
        )
        out_mask = (price < low) | (price > high)
    else:
        out_mask = pd.Series(False, index=sel.index)
    if price_per_weighted_patient is not None:
        expected = Decimal(str(price_per_weighted_patient)) * (1 - Decimal(str(out_of_hours_deduction or 0)))
        summary["expected_price_after_ooh_gbp"] = float(expected)
        if len(price):
            summary["median_vs_expected_relative"] = round(float(q[0.5]) / float(expected) - 1, 6)
    cols = [
        c
        for c in (
            "practice_code",
            "practice_name",
            "sub_icb_code",
            "registered_patients",
            "weighted_patients",
            "global_sum_gbp",
            "implied_price_gbp",
        )
        if c in sel.columns
    ]
    outliers = sel.loc[out_mask, cols].sort_values("practice_code").reset_index(drop=True)
    summary["outliers"] = len(outliers)
    return ImpliedPriceReport(summary=summary, outliers=outliers)


def paid_not_in_run(contracts: pd.DataFrame, practices: pd.Index) -> pd.DataFrame:
    """One row: what the contracts extract paid practices this run has no registered list for (closed,
    merged or missing from the age-sex extract), so England's published total is accounted for in full
    in the paid reconciliation rather than silently dropped."""
    extra = contracts[~contracts["practice_code"].isin(practices)]
    return pd.DataFrame(
        [
            {
                "practices": len(extra),
                "practices_paid": int((pd.to_numeric(extra["registered_patients"]) > 0).sum()),
                "paid_registered_patients": float(pd.to_numeric(extra["registered_patients"]).sum()),
                "paid_weighted_patients": float(pd.to_numeric(extra["weighted_patients"]).sum()),
                "paid_global_sum_pence": int(pd.to_numeric(extra["global_sum_pence"]).sum()),
                "paid_mpig_pence": int(pd.to_numeric(extra["mpig_pence"]).sum()),
                "paid_qof_pence": int(pd.to_numeric(extra["qof_pence"]).sum()),
            }
        ]
    )


def latest_practice_imd(deprivation_practice: pd.DataFrame) -> pd.DataFrame:
    """One row per practice: the IMD score of the latest edition (imd_year) published for it."""
    dp = deprivation_practice.dropna(subset=["imd_score"])
    dp = dp.sort_values(["practice_code", "imd_year"], kind="mergesort")
    return dp.drop_duplicates("practice_code", keep="last")[["practice_code", "imd_year", "imd_score"]]


def payments_equity(
    contracts: pd.DataFrame, deprivation_practice: pd.DataFrame, *, imd_year: int | None = None
) -> pd.DataFrame:
    """Published NHS payments and Global Sum per registered and per weighted patient by deprivation quintile.

    Practices are those in the payments extract with a deprivation score (``imd_year`` edition, default the
    latest edition per practice) and a positive registered list. Quintiles are cut on registered population,
    most deprived first (``deprivation.quintiles``): quintile 1 holds the most deprived fifth of patients.
    Per-patient figures are quintile totals divided by quintile list totals, in pounds. The last row
    (``gap_q1_minus_q5``) is quintile 1 minus quintile 5.
    """
    from .deprivation import quintiles

    if imd_year is None:
        scores = latest_practice_imd(deprivation_practice)
    else:
        scores = deprivation_practice[deprivation_practice["imd_year"] == imd_year]
        scores = scores.drop_duplicates("practice_code")
    c = contracts.drop_duplicates("practice_code").merge(
        scores[["practice_code", "imd_score"]], on="practice_code", how="inner"
    )
    c = c[pd.to_numeric(c["registered_patients"], errors="coerce") > 0].set_index("practice_code")
    # quintiles() works on whole patients: round the published average list (x.25 patients) to the nearest
    reg_int = c["registered_patients"].astype(float).round().astype("int64")
    c["deprivation_quintile"] = quintiles(c["imd_score"].astype(float), reg_int)
    c["_imd_n"] = c["imd_score"] * c["registered_patients"]
    g = c.groupby("deprivation_quintile", sort=True)
    out = g[
        ["registered_patients", "weighted_patients", "total_payments_pence", "global_sum_pence", "_imd_n"]
    ].sum()
    out.insert(0, "practices", g.size().astype("int64"))
    out["imd_score"] = out.pop("_imd_n") / out["registered_patients"]
    reg, wgt = out["registered_patients"], out["weighted_patients"]
    out["payments_gbp_per_registered"] = out["total_payments_pence"] / reg / 100
    out["payments_gbp_per_weighted"] = out["total_payments_pence"] / wgt / 100
    out["global_sum_gbp_per_registered"] = out["global_sum_pence"] / reg / 100
    out["global_sum_gbp_per_weighted"] = out["global_sum_pence"] / wgt / 100
    out = out.rename_axis("deprivation_quintile").reset_index()
    out["deprivation_quintile"] = out["deprivation_quintile"].astype(str)
    out["total_payments_pence"] = out["total_payments_pence"].astype("int64")
    out["global_sum_pence"] = out["global_sum_pence"].astype("int64")
    per = [c for c in out.columns if "_gbp_per_" in c]
    q1, q5 = out[out["deprivation_quintile"] == "1"], out[out["deprivation_quintile"] == "5"]
    if len(q1) and len(q5):
        gap = {"deprivation_quintile": "gap_q1_minus_q5", "practices": 0}
        gap.update({k: float(q1[k].iloc[0] - q5[k].iloc[0]) for k in [*per, "imd_score"]})
        for k in ("registered_patients", "weighted_patients"):
            gap[k] = float(q1[k].iloc[0] - q5[k].iloc[0])
        gap["total_payments_pence"] = int(
            q1["total_payments_pence"].iloc[0] - q5["total_payments_pence"].iloc[0]
        )
        gap["global_sum_pence"] = int(q1["global_sum_pence"].iloc[0] - q5["global_sum_pence"].iloc[0])
        out = pd.concat([out, pd.DataFrame([gap])], ignore_index=True)
    return out
