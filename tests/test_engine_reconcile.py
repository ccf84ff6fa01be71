"""Implied price per weighted patient and the national weighted = registered check, on hand-made data
and on the real NHS Payments to General Practice 2022/23 file."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from _support import REAL
from gp_allocations.engine import implied_price_report
from gp_allocations.money import pounds_to_pence

REAL_FILE = REAL / "payments" / "nhspaymentsgp-22-23-prac-csv.csv"


def _contracts(rows: list[tuple[str, str, float, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "practice_code",
            "contract_type",
            "registered_patients",
            "weighted_patients",
            "global_sum_pence",
        ],
    )


def test_implied_price_hand_made():
    # GMS implied prices: 100, 100, 100, 100, 200 GBP per weighted patient; the PMS row and the GMS
    # practice with no Global Sum are left out of the price figures
    df = _contracts(
        [
            ("A00005", "GMS", 1000.0, 1000.0, 20_000_000),
            ("A00001", "GMS", 1000.0, 1000.0, 10_000_000),
            ("A00002", "GMS", 900.0, 1100.0, 11_000_000),
            ("A00003", "gms ", 500.0, 500.0, 5_000_000),
            ("A00004", "GMS", 2000.0, 2000.0, 20_000_000),
            ("A00006", "PMS", 1000.0, 1000.0, 50_000_000),
            ("A00007", "GMS", 100.0, 0.0, 0),
        ]
    )
    rep = implied_price_report(
        df, price_per_weighted_patient=Decimal("104.73"), out_of_hours_deduction=Decimal("0.0475")
    )
    s = rep.summary
    assert s["national_registered_patients"] == 6500.0 and s["national_weighted_patients"] == 6600.0
    assert s["weighted_minus_registered_relative"] == pytest.approx(6600 / 6500 - 1)
    assert s["GMS_practices"] == 6 and s["GMS_excluded_no_global_sum_or_weighted"] == 1
    assert s["implied_price_median_gbp"] == 100.0
    # linear interpolation on 5 sorted values: P95 at position 3.8 -> 100 + 0.8 x 100; P5 at 0.2 -> 100
    assert s["implied_price_p95_gbp"] == pytest.approx(180.0)
    assert s["implied_price_p5_gbp"] == pytest.approx(100.0)
    # national: 660,000 GBP / 5,600 weighted patients
    assert s["implied_price_national_gbp"] == pytest.approx(round(660_000 / 5_600, 4))
    assert s["expected_price_after_ooh_gbp"] == pytest.approx(104.73 * 0.9525)
    assert rep.outliers["practice_code"].tolist() == ["A00005"]
    assert rep.outliers["implied_price_gbp"].iloc[0] == pytest.approx(200.0)
    assert set(rep.summary_frame().columns) == {"measure", "value"}


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_FILE.is_file(), reason=f"real NHS files not present at {REAL} (a user's clone)")
def test_real_payments_2022_23():
    raw = pd.read_csv(REAL_FILE, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    raw.columns = [" ".join(c.split()) for c in raw.columns]  # headers carry embedded newlines

    def num(col: str) -> pd.Series:
        return pd.to_numeric(raw[col].str.replace(",", "", regex=False), errors="coerce")

    df = pd.DataFrame(
        {
            "practice_code": raw["Practice Code"],
            "practice_name": raw["Practice Name"],
            "sub_icb_code": raw["Sub ICB Code"],
            "contract_type": raw["Contract Type"],
            "registered_patients": num("Average Number of Registered Patients"),
            "weighted_patients": num("Average Number of Weighted Patients"),
            "global_sum_pence": raw["Global Sum"].map(lambda v: pounds_to_pence(v) if v.strip() else 0),
        }
    )
    assert len(df) == 6669
    rep = implied_price_report(df)
    s = rep.summary
    # national weighted list equals the registered list within 0.01% (measured: -0.0071%)
    assert abs(s["weighted_minus_registered_relative"]) < 1e-4
    assert s["national_registered_patients"] == pytest.approx(62_134_644.75)
    # GMS implied price per weighted patient: median about GBP 95.09, P5-P95 about 93.20-100.03
    assert s["GMS_practices"] == 4664
    assert (
        93.0 < s["implied_price_p5_gbp"] < s["implied_price_median_gbp"] < s["implied_price_p95_gbp"] < 101.0
    )
    assert s["implied_price_median_gbp"] == pytest.approx(95.09, abs=0.01)
    out = rep.outliers
    assert len(out) == s["outliers"] > 0
    median = s["implied_price_median_gbp"]
    assert ((out["implied_price_gbp"] - median).abs() > 0.1 * median * 0.9999).all()
    assert out["practice_code"].is_monotonic_increasing
