"""Whole runs on every older real payments year (issue 18.5): the year's published payments file is the
contracts extract of a run of that year, with lists generated for exactly that year's practices.

Real: the payments file of the year (2014/15, 2015/16, 2016/17, 2018/19; 2022/23 runs through the DAG
in test_real_files_pipeline.py) and the Fingertips practice scores of the IMD editions published by the
year's start (a copy holding only those rows: IMD 2010 for 2014/15, 2015 for the others). Generated
(``payments_year_map`` and ``generate_samples(list_sizes=...)``): the practice map of the year's
practices (CCG and area team as the payments file gives them), their age-sex and LSOA lists of the
payments file's registered patients, and QOF raw files; 2018/19 also reads its real QOF practice summary,
whose 19 ':' (not available) rows are warnings kept as read, stored as NULL.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from _support import REAL, requires_real_data, run_nightly_dag
from gp_allocations import pipeline
from gp_allocations.config import RunContext
from gp_allocations.long_run import payments_equity_by_year
from gp_allocations.manifest import allocation_workbooks
from gp_allocations.periods import Period
from gp_allocations.standardise import standardise

pytestmark = requires_real_data

MAP_2022 = REAL / "registrations" / "gp-reg-pat-prac-map.csv"
FINGERTIPS = REAL / "deprivation" / "fingertips_93553_practice_imd.csv"

#: lists are generated for the practices of the first 12 CCGs (by code) only: the run stays small while
#: the whole payments file is still read, validated, reconciled (the rest as paid practices not in the
#: run) and ranked by deprivation
CCGS = 12
#: 2014/15, the oldest layout, runs through Airflow (dag.test()); the other years run the same stages in
#: process (what each DAG task calls)
DAG_YEAR = "2014/15"
QOF_RAW = ("qof_achievement", "qof_prevalence", "qof_indicators")

#: year -> (payments file, the run's period, IMD edition, the all-practice payments gap Q1 - Q5 that
#: docs/real-data.md and test_long_run.py show for the year)
YEARS = {
    "2014/15": ("payments/nhspaymentsgp-14-15-prac-csv.csv", "2014-15-Q4", 2010, -19.91),
    "2015/16": ("payments/nhspaymentsgp-15-16-prac-csv.csv", "2015-16-Q4", 2015, -13.27),
    "2016/17": ("payments/nhspaymentsgp-16-17-prac-csv.csv", "2016-17-Q4", 2015, -13.54),
    "2018/19": ("payments/nhspaymentsgp-18-19-csv.csv", "2018-19-Q4", 2015, -14.04),
}

#: the real QOF practice summary of a payments year that has one in ../shared
QOF_SUMMARIES = {"2018/19": "qof/2018-19"}

#: the year's parameter file (include/parameters/carr_hill_2004/<year>.yaml): price, out-of-hours share
PRICES = {
    "2014/15": ("73.56", "0.0539"),
    "2015/16": ("76.14", "0.0539"),
    "2016/17": ("80.59", "0.0515"),
    "2018/19": ("88.96", "0.0475"),
}
#: implied Global Sum per weighted patient of GMS practices (test_long_run.py, docs/real-data.md)
IMPLIED = {"2014/15": 70.44, "2015/16": 72.57, "2016/17": 74.98, "2018/19": 84.87}


def _editions_up_to(edition: int, folder: Path) -> Path:
    """A copy of the Fingertips file with the editions published by the year's start only."""
    lines = FINGERTIPS.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    kept = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[1]) <= edition]
    folder.mkdir()
    (folder / FINGERTIPS.name).write_text("".join(kept), encoding="utf-8")
    return folder


def _run(year: str, root: Path, *, via_dag: bool):
    from gp_allocations_samples import generate_samples
    from gp_allocations_samples.hierarchy import payments_year_map

    rel, period, edition, _ = YEARS[year]
    contracts = standardise("contracts", [REAL / rel]).frame
    reference = standardise("practice_map", [MAP_2022]).frame
    whole_year = payments_year_map(contracts, reference)
    ccgs = sorted(whole_year["sub_icb_code"].unique())[:CCGS]
    practices = whole_year[whole_year["sub_icb_code"].isin(ccgs)]
    generated = root / "generated"
    wanted = ("practice_map", "capitation_age_sex", "capitation_lsoa", *QOF_RAW)
    lists = contracts.drop_duplicates("practice_code").set_index("practice_code")["registered_patients"]
    generate_samples(
        generated,
        period=Period.parse(period),
        practice_map=practices,
        list_sizes=lists,
        seed=11,
        lsoas=50,  # few LSOAs -> about 25 rows a practice: keeps the run small
        only=wanted,
    )
    sources = {
        "contracts": str(REAL / rel),
        "deprivation_practice": str(_editions_up_to(edition, root / "fingertips")),
    }
    if year in QOF_SUMMARIES:  # the year's real QOF summary, with its ':' not-available rows
        sources["qof_practice_summary"] = str(REAL / QOF_SUMMARIES[year])
    out, var, warehouse = root / "out", root / "var", f"sqlite:///{root / 'wh.sqlite'}"
    if via_dag:
        settings = {f"GP_ALLOC_SOURCE_{name.upper()}": path for name, path in sources.items()}
        settings.update(
            GP_ALLOC_SOURCE=str(generated),
            GP_ALLOC_OUTPUT_ROOT=str(out),
            GP_ALLOC_DATA_DIR=str(var),
            GP_ALLOC_WAREHOUSE_URL=warehouse,
        )
        run_nightly_dag(period, settings)
    else:
        ctx = RunContext.prepare(
            run_id=f"manual__{period}",
            period=period,
            source=str(generated),
            sources=sources,
            data_dir=str(var),
            output_root=str(out),
            warehouse_url=warehouse,
        )
        for stage in pipeline.STAGES:
            stage(ctx)
    return (out / period / "latest").resolve(), contracts, practices


@pytest.fixture(
    scope="module",
    params=[pytest.param(y, marks=pytest.mark.e2e) if y == DAG_YEAR else y for y in sorted(YEARS)],
)
def year_run(request, tmp_path_factory):
    year = request.param
    return (year, *_run(year, tmp_path_factory.mktemp(year.replace("/", "-")), via_dag=year == DAG_YEAR))


def _sheet(book: Path, name: str) -> pd.DataFrame:
    return pd.read_excel(book, sheet_name=name, header=2)


def test_a_run_of_each_payments_year_publishes_paid_vs_recomputed_and_equity(year_run):
    year, latest, contracts, practices = year_run
    _, period, edition, gap = YEARS[year]
    books = allocation_workbooks(latest)
    national = latest / f"gp-allocations_{period}_england.xlsx"
    assert national in books and len(books) == practices["sub_icb_code"].nunique() + 1
    sheets = openpyxl.load_workbook(national, read_only=True).sheetnames
    assert {"Paid vs recomputed", "Payments equity", "Implied price by year"} <= set(sheets)

    manifest = json.loads((latest / "manifest.json").read_text())
    periods = manifest["extract_periods"]
    assert periods["contracts"]["period"] == year and periods["contracts"]["read_from"] == "file name"
    assert periods["deprivation_practice"]["period"] == str(edition)
    assert set(QOF_RAW) <= set(periods) and periods["qof_achievement"]["period"] == year
    if year in QOF_SUMMARIES:  # read and loaded: its blank points are warnings, kept as read
        assert periods["qof_practice_summary"]["period"] == year
        assert manifest["validation"]["status"] == "passed with warnings", manifest["validation"]

    # Paid vs recomputed: the sub-ICB rows add up to England; England and the paid practices without a
    # list make up every penny the year's file paid; the run's lists are the file's registered patients
    paid = _sheet(national, "Paid vs recomputed")
    england = paid[paid.iloc[:, 0] == "England"].iloc[0]
    subs = paid[paid.iloc[:, 0].isin(practices["sub_icb_code"])]
    assert len(subs) == practices["sub_icb_code"].nunique() == len(paid) - 1
    in_run = contracts["practice_code"].isin(practices["practice_code"])
    not_in_run = _sheet(national, "Paid not in run").iloc[0]
    for cell, column in (("Global Sum", "global_sum_pence"), ("MPIG", "mpig_pence"), ("QOF", "qof_pence")):
        heading = f"Paid: {cell} (£, annual)"
        assert _pence(subs[heading].sum()) == _pence(england[heading])
        assert _pence(england[heading]) == int(contracts.loc[in_run, column].sum())
        assert _pence(england[heading] + not_in_run[heading]) == int(contracts[column].sum())
    assert int(not_in_run["Practices"]) == int((~in_run).sum())
    lists = contracts.loc[in_run, "registered_patients"].round().sum()
    assert int(england["Run: registered patients"]) == int(lists)
    print(
        f"\n{year}: {int(in_run.sum())} practices in {len(subs)} CCGs; recomputed capitation minus "
        f"Global Sum paid GBP {england['Capitation minus Global Sum paid (£, annual)']:,.2f}"
    )
    values = {r["parameter"]: r["value"] for r in manifest["parameters"]}
    assert (values["price_per_weighted_patient"], values["out_of_hours_deduction"]) == PRICES[year]

    # Payments equity: the whole year's file ranked by the year's IMD edition, the long-run figure
    equity = _sheet(national, "Payments equity")
    rows = equity.set_index(equity.columns[0])
    by_year = payments_equity_by_year({year: contracts}, _scores(edition)).iloc[0]
    for q in range(1, 6):
        got = rows.loc[rows.index.astype(str).str.startswith(str(q))].iloc[0]
        want = by_year[f"payments_gbp_per_weighted_q{q}"]
        assert got["Payments per weighted patient (£, annual)"] == pytest.approx(want, abs=0.005)
    assert round(by_year["payments_gbp_per_weighted_gap"], 2) == gap

    implied = _sheet(national, "Implied price by year")
    assert implied.iloc[:, 0].tolist()[:1] == [year]
    assert round(float(implied.iloc[0, 2]), 2) == IMPLIED[year]


def _pence(pounds: float) -> int:
    return round(float(pounds) * 100)


def _scores(edition: int) -> pd.DataFrame:
    dp = standardise("deprivation_practice", [FINGERTIPS]).frame
    return dp[pd.to_numeric(dp["imd_year"]) <= edition]
