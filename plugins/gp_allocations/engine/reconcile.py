"""Checks of published payments against the formula: weighted = registered nationally, and the implied
price per weighted patient (Global Sum / weighted patients) across GMS practices (domain.md A4)."""

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
