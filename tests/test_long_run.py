"""Several payments years: the implied price of every year beside its parameter price, and payments per
weighted patient by IMD quintile over the years (long_run.py; national workbook sheets)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from _support import REAL
from gp_allocations import pipeline
from gp_allocations.config import RunContext
from gp_allocations.engine import implied_price_report
from gp_allocations.errors import ValidationFailed
from gp_allocations.long_run import (
    HISTORY_DIR,
    implied_price_by_year,
    payments_equity_by_year,
    split_payments_years,
)
from gp_allocations.periods import Period
from gp_allocations.standardise import period_from_name, standardise
from gp_allocations_samples import generate_samples

PERIOD = "2025-26-Q2"


def test_the_newest_payments_year_is_the_runs():
    names = [
        "nhspaymentsgp-14-15-prac-csv.csv",
        "nhspaymentsgp-22-23-prac-csv.csv",
        "nhspaymentsgp-18-19-csv.csv",
    ]
    assert split_payments_years(names) == ([1], {"2014/15": [0], "2018/19": [2]})
    assert split_payments_years(names[:1]) == ([0], {})
    # a file without a year in its name: no history, every file is the run's (as before)
    assert split_payments_years([*names, "payments.csv"]) == ([0, 1, 2, 3], {})


def _sources(root):
    """A generated source folder whose contracts are two payments years (the run's and the year before)."""
    src = root / "src"
    generate_samples(src, period=Period.parse(PERIOD), practices=60, seed=11)
    older = root / "older"
    generate_samples(older, period=Period.parse("2024-25-Q2"), practices=60, seed=11, only=("contracts",))
    (old,) = older.glob("nhspaymentsgp-*.csv")
    (new,) = src.glob("nhspaymentsgp-*.csv")
    assert old.name != new.name
    shutil.copy(old, src / old.name)
    return src, old, new


def _ctx(root, src):
    return RunContext.prepare(
        run_id="manual__2025-10-01T02:00:00+00:00",
        period=PERIOD,
        source=str(src),
        data_dir=str(root / "var"),
        output_root=str(root / "out"),
        warehouse_url=f"sqlite:///{root / 'wh.sqlite'}",
    )


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    root = tmp_path_factory.mktemp("long_run")
    src, old, new = _sources(root)
    ctx = _ctx(root, src)
    summaries = {stage.__name__: stage(ctx) for stage in pipeline.STAGES}
    return ctx, summaries, old, new


def test_a_run_with_two_payments_years_shows_both_in_the_national_workbook(two_years):
    ctx, summaries, old, new = two_years
    assert summaries["stage_standardise"]["contracts"]["rows"] == len(standardise("contracts", [new]).frame)
    kept = sorted(p.name for p in (ctx.standardised_dir / HISTORY_DIR).glob("*.parquet"))
    old_year, new_year = period_from_name(old.name), period_from_name(new.name)
    assert kept == [old_year.replace("/", "-") + ".parquet"]
    national = next((ctx.output_root / PERIOD / "latest").resolve().glob("*_england.xlsx"))
    sheet = pd.read_excel(national, sheet_name="Implied price by year", header=2, dtype=str)
    years = sheet.iloc[:, 0].tolist()
    assert years[:2] == sorted([old_year, new_year])
    for path, year in ((old, old_year), (new, new_year)):
        s = implied_price_report(standardise("contracts", [path]).frame).summary
        row = sheet[sheet.iloc[:, 0] == year].iloc[0]
        assert float(row.iloc[2]) == pytest.approx(s["implied_price_national_gbp"], abs=1e-4)
        assert int(row.iloc[1]) == s["GMS_practices"] - s["GMS_excluded_no_global_sum_or_weighted"]


def test_an_older_year_with_an_error_stops_the_run(tmp_path):
    src, old, _ = _sources(tmp_path)
    text = (src / old.name).read_bytes().decode("utf-8-sig").splitlines()
    cells = text[1].split(",")
    cells[0] = "ZZZ"  # the region code of the first practice: not a region code of any era
    text[1] = ",".join(cells)
    (src / old.name).write_text("\n".join(text) + "\n", encoding="utf-8")
    ctx = _ctx(tmp_path, src)
    pipeline.stage_pull(ctx)
    with pytest.raises(ValidationFailed, match="region_code_format") as failed:
        pipeline.stage_standardise(ctx)
    assert old.name in str(failed.value)
    assert not (ctx.standardised_dir / "contracts.parquet").exists()


# ------------------------------------------------------------------------------ the real payments years

PAYMENTS = {
    "2014/15": "payments/nhspaymentsgp-14-15-prac-csv.csv",
    "2015/16": "payments/nhspaymentsgp-15-16-prac-csv.csv",
    "2016/17": "payments/nhspaymentsgp-16-17-prac-csv.csv",
    "2018/19": "payments/nhspaymentsgp-18-19-csv.csv",
    "2022/23": "payments/nhspaymentsgp-22-23-prac-csv.csv",
}


@pytest.fixture(scope="module")
def real_years():
    if not REAL.is_dir():
        pytest.skip(f"real NHS files not present at {REAL}")
    return {y: standardise("contracts", [REAL / rel]).frame for y, rel in PAYMENTS.items()}


@pytest.mark.realdata
def test_2022_23_implied_price_against_the_published_price(real_years):
    """4,584 GMS practices with a positive Global Sum and weighted list: total Global Sum / total weighted
    patients GBP 94.81 (median 95.09) against 99.70 x (1 - 0.0475) = 94.96; weighted = registered
    nationally within 0.01%. Recomputed here from the frame."""
    c = real_years["2022/23"]
    gms = c[(c["contract_type"] == "GMS") & (c["global_sum_pence"] > 0) & (c["weighted_patients"] > 0)]
    own = gms["global_sum_pence"].sum() / 100 / gms["weighted_patients"].sum()
    median = (gms["global_sum_pence"] / 100 / gms["weighted_patients"]).median()
    assert (len(gms), round(own, 2), round(median, 2)) == (4584, 94.81, 95.09)
    assert abs(c["weighted_patients"].sum() / c["registered_patients"].sum() - 1) < 1e-4
    row = implied_price_by_year({"2022/23": c}, "carr_hill_2004").iloc[0]
    assert row["gms_practices"] == 4584 and row["implied_price_national_gbp"] == pytest.approx(own, abs=1e-4)
    assert row["expected_price_after_ooh_gbp"] == pytest.approx(99.70 * (1 - 0.0475))
    assert round(row["expected_price_after_ooh_gbp"], 2) == 94.96 and row["disagrees_over_1pct"] == "no"


@pytest.mark.realdata
def test_implied_price_of_every_real_year_beside_its_parameter_price(real_years):
    table = implied_price_by_year(real_years, "carr_hill_2004").set_index("financial_year")
    got = {
        y: (round(r["implied_price_national_gbp"], 2), round(r["expected_price_after_ooh_gbp"], 2))
        for y, r in table.iterrows()
    }
    assert got == {
        "2014/15": (70.44, 69.60),  # 73.56 x (1 - 0.0539, carried back from 2015/16: ASSUMED)
        "2015/16": (72.57, 72.04),  # 76.14 (mean of 75.77 and 76.51 from October) x (1 - 0.0539)
        "2016/17": (74.98, 76.44),  # 80.59 x (1 - 0.0515)
        "2018/19": (84.87, 84.73),  # 88.96 x (1 - 0.0475)
        "2022/23": (94.81, 94.96),  # 99.70 x (1 - 0.0475)
    }
    flagged = {y for y, r in table.iterrows() if r["disagrees_over_1pct"] == "yes"}
    assert (
        flagged == {y for y, (imp, exp) in got.items() if abs(imp / exp - 1) > 0.01} == {"2014/15", "2016/17"}
    )
    assert (table["weighted_minus_registered_relative"].abs() < 2e-4).all()


@pytest.mark.realdata
def test_long_run_payments_by_imd_quintile(real_years):
    """All practices: the most deprived fifth receives less per weighted patient in every year. GMS
    practices alone: the Global Sum per weighted patient is nearly flat across quintiles (within GBP 2),
    so most of the all-practice Global Sum gap is contract mix (PMS practices are paid through the PMS
    balance)."""
    dp = standardise("deprivation_practice", [REAL / "deprivation/fingertips_93553_practice_imd.csv"]).frame
    table = payments_equity_by_year(real_years, dp).set_index(["financial_year", "practices"])
    assert len(table) == 10
    allp = table.xs("all practices", level="practices")
    gms = table.xs("GMS practices", level="practices")
    assert allp["imd_edition"].to_dict() == {
        "2014/15": 2010,
        "2015/16": 2015,
        "2016/17": 2015,
        "2018/19": 2015,
        "2022/23": 2019,
    }
    assert (allp["payments_gbp_per_weighted_gap"] < -13).all()
    assert (allp["global_sum_gbp_per_weighted_gap"] < -2).all()
    assert (gms["global_sum_gbp_per_weighted_gap"].abs() < 2).all()
    # 2022/23, all practices: the figures docs/real-data.md and the single-year sheet show
    row = allp.loc["2022/23"]
    assert round(row["payments_gbp_per_weighted_gap"], 2) == -15.74
    assert round(row["global_sum_gbp_per_weighted_gap"], 2) == -8.13
    assert round(gms.loc["2022/23", "global_sum_gbp_per_weighted_gap"], 2) == -1.46
    # quintile 1 of 2014/15 by hand: IMD 2010 scores, the most deprived fifth of registered patients
    c = real_years["2014/15"]
    s = dp[dp["imd_year"] == 2010].drop_duplicates("practice_code").set_index("practice_code")["imd_score"]
    df = c.set_index("practice_code").join(s, how="inner")
    df = df[df["registered_patients"] > 0].sort_values("imd_score", ascending=False)
    share = df["registered_patients"].round().cumsum() / df["registered_patients"].round().sum()
    q1 = df[share <= 0.2]
    approx = q1["total_payments_pence"].sum() / 100 / q1["weighted_patients"].sum()
    assert allp.loc["2014/15", "payments_gbp_per_weighted_q1"] == pytest.approx(approx, abs=0.5)
