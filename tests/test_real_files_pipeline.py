"""The engine and the whole DAG on real published files (../shared/data/real).

Real: the 2022/23 payments file (contracts), the 2022/23 QOF practice summary, the 1 Jan 2022 practice map
and the Fingertips practice deprivation scores. Generated for exactly the practices in both the map and the
payments file: capitation by age/sex and by LSOA (no public file of those is kept here). Period 2021-22-Q4:
the map's extract date (01Jan2022) falls in it, so the extract-date rules accept the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from _support import REAL, requires_real_data, run_nightly_dag
from gp_allocations.engine import compute_allocations, payments_equity
from gp_allocations.manifest import allocation_workbooks
from gp_allocations.periods import Period
from gp_allocations.standardise import standardise
from gp_allocations.views import paid_reconciliation, practice_table

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2021-22-Q4"

pytestmark = requires_real_data

FILES = {
    "contracts": "payments/nhspaymentsgp-22-23-prac-csv.csv",
    "qof_practice_summary": "qof/2022-23/QOF 2022-23.csv",
    "practice_map": "registrations/gp-reg-pat-prac-map.csv",
    "deprivation_practice": "deprivation/fingertips_93553_practice_imd.csv",
}


@pytest.fixture(scope="module")
def real() -> dict[str, pd.DataFrame]:
    return {k: standardise(k, [REAL / v]).frame.drop(columns=["_file", "_row"]) for k, v in FILES.items()}


@pytest.fixture(scope="module")
def generated(real, tmp_path_factory) -> Path:
    """Age-sex and LSOA extracts for the practices in both the map and the payments file."""
    from gp_allocations_samples import generate_samples

    pm = real["practice_map"]
    both = pm[pm["practice_code"].isin(real["contracts"]["practice_code"])]
    out = tmp_path_factory.mktemp("generated")
    generate_samples(
        out,
        period=Period.parse(PERIOD),
        practice_map=both,
        seed=11,
        lsoas=50,  # few LSOAs -> about 25 rows a practice: keeps the run small; scores come from Fingertips
        only=("capitation_age_sex", "capitation_lsoa"),
    )
    return out


def _quintile_table(c: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Independent re-computation: latest IMD per practice, fifths of registered patients, most deprived
    first."""
    latest = scores.sort_values("imd_year").groupby("practice_code")["imd_score"].last()
    df = c.set_index("practice_code").join(latest, how="inner")
    df = df[df["registered_patients"] > 0].reset_index()
    df = df.sort_values(["imd_score", "practice_code"], ascending=[False, True])
    n = df["registered_patients"].round().astype("int64")
    share = n.cumsum() / n.sum()
    df["q"] = np.clip(np.ceil(share * 5 - 1e-12), 1, 5).astype(int)
    g = df.groupby("q")[["total_payments_pence", "global_sum_pence", "weighted_patients"]].sum()
    return g.assign(pay=g["total_payments_pence"] / g["weighted_patients"] / 100)


def test_most_deprived_fifth_receives_less_per_weighted_patient(real):
    eq = payments_equity(real["contracts"], real["deprivation_practice"]).set_index("deprivation_quintile")
    mine = _quintile_table(real["contracts"], real["deprivation_practice"])
    for q in range(1, 6):
        assert eq.loc[str(q), "payments_gbp_per_weighted"] == pytest.approx(mine.loc[q, "pay"], rel=1e-9)
    q1, q5 = eq.loc["1"], eq.loc["5"]
    assert q1["imd_score"] > q5["imd_score"]  # quintile 1 is the most deprived
    gap = q1["payments_gbp_per_weighted"] - q5["payments_gbp_per_weighted"]
    gs_gap = q1["global_sum_gbp_per_weighted"] - q5["global_sum_gbp_per_weighted"]
    print(
        f"\nNHS payments per weighted patient 2022/23, IMD 2019 practice quintiles: most deprived "
        f"GBP {q1['payments_gbp_per_weighted']:.2f}, least deprived "
        f"GBP {q5['payments_gbp_per_weighted']:.2f}, "
        f"gap GBP {gap:.2f}; Global Sum gap GBP {gs_gap:.2f}"
    )
    assert gap < 0 and gs_gap < 0  # the published finding: the most deprived fifth receives less
    assert eq.loc["gap_q1_minus_q5", "payments_gbp_per_weighted"] == pytest.approx(gap)
    # figures recorded in docs/real-data.md
    assert round(gap, 2) == -15.74 and round(gs_gap, 2) == -8.13


def test_engine_reconciles_paid_and_reports_changes(real, generated):
    frames = dict(real)
    frames["capitation_age_sex"] = standardise(
        "capitation_age_sex", sorted(generated.glob("gp-reg-pat-prac-quin-age*.csv"))
    ).frame
    result = compute_allocations(frames, period=Period.parse(PERIOD))
    c = real["contracts"].set_index("practice_code")
    paid = paid_reconciliation(result).set_index("level")
    in_run = c.index.isin(result.practices["practice_code"])
    eng, rest = paid.loc["england"], paid.loc["not_in_run"]
    for col, src in (
        ("paid_global_sum_pence", "global_sum_pence"),
        ("paid_mpig_pence", "mpig_pence"),
        ("paid_qof_pence", "qof_pence"),
    ):
        assert int(eng[col]) == int(c.loc[in_run, src].sum())
        assert int(eng[col]) + int(rest[col]) == int(c[src].sum())  # nothing paid is left out
    assert int(rest["practices"]) == int((~in_run).sum()) == 180
    assert int(eng["recomputed_capitation_pence"]) == int(
        practice_table(result)["capitation_pence__global_sum"].sum()
    )
    assert result.checks["passed"].all()
    assert int(eng["difference_capitation_vs_global_sum_pence"]) == int(
        eng["recomputed_capitation_pence"]
    ) - int(eng["paid_global_sum_pence"])
    # one sub-ICB, by hand: the map's 16C practices and their published Global Sum
    pm = real["practice_map"]
    codes = set(pm.loc[pm["sub_icb_code"] == "16C", "practice_code"]) & set(result.practices["practice_code"])
    row = paid[paid["code"] == "16C"].iloc[0]
    assert int(row["paid_global_sum_pence"]) == int(c.loc[sorted(codes), "global_sum_pence"].sum())
    assert int(row["practices"]) == len(codes)
    # practice changes: 34 practices sit in a different sub-ICB in the payments file than in the map
    changes = result.tables["practice_changes"]
    moved = changes[changes["change"] == "sub_icb_differs"]
    both = pm.set_index("practice_code")["sub_icb_code"].to_frame("m").join(c["sub_icb_code"], how="inner")
    q = real["qof_practice_summary"].set_index("practice_code")["sub_icb_code"]
    both = both.join(q.rename("q"), how="left")
    differ = both.apply(
        lambda r: len({r["m"], r["sub_icb_code"], *([r["q"]] if pd.notna(r["q"]) else [])}) > 1, axis=1
    )
    assert set(moved["practice_code"]) >= set(both.index[differ]) and len(moved) >= 34
    assert any(n.startswith("practice changes:") for n in result.notes)
    # deprivation from Fingertips only: quintiles exist, the deprivation component is neutral and says why
    assert result.practices["deprivation_quintile"].notna().sum() > 6000
    comp = result.components.set_index("component").loc["deprivation"]
    assert comp["status"] == "neutral" and "health deprivation" in comp["reason"]
    assert "payments_equity" in result.tables and result.practices["qof_path"].eq("practice_points").all()


#: The 2022/23 payments and QOF files are the only ones kept here next to a practice map of January 2022:
#: a year after the run's 2021/22, which the default rules (include/extract_periods.yaml) refuse. This
#: test's deployment allows it in its own rules file, saying why.
LATER_YEAR_REASON = "the only public payments and QOF files kept for this test are 2022/23, a year on"


def _rules_allowing_the_next_year(tmp_path: Path) -> Path:
    import yaml

    doc = yaml.safe_load((ROOT / "include" / "extract_periods.yaml").read_text(encoding="utf-8"))
    for name in ("contracts", "qof_practice_summary"):
        doc["extracts"][name].update(years_after=1, reason=LATER_YEAR_REASON)
    path = tmp_path / "extract_periods.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_default_rules_refuse_payments_of_a_year_after_the_run(tmp_path):
    from gp_allocations.errors import PeriodMismatch
    from gp_allocations.period_rules import check_extract_periods

    found = {}
    for name, rel in FILES.items():
        std = standardise(name, [REAL / rel])
        found[name] = {
            "period_hint": std.period_hint,
            "period_from": std.period_from,
            "files": [Path(rel).name],
        }
    with pytest.raises(PeriodMismatch) as refused:
        check_extract_periods(found, Period.parse(PERIOD))
    assert str(refused.value) == (
        "file nhspaymentsgp-22-23-prac-csv.csv, rule extract_period_matches_run: contracts is for 2022/23 "
        "(read from the file name), the run is for 2021-22-Q4; include/extract_periods.yaml allows financial "
        "years 2019/20 to 2021/22; 1 more extract(s) of another period: qof_practice_summary (2022/23)"
    )
    judged = {
        j.extract: j
        for j in check_extract_periods(found, Period.parse(PERIOD), _rules_allowing_the_next_year(tmp_path))
    }
    assert judged["contracts"].status == judged["practice_map"].status == "allowed"
    assert judged["deprivation_practice"].period == "2019"


@pytest.mark.e2e
def test_dag_on_real_files(real, generated, tmp_path):
    """dag.test() with the real files as sources (SQLite warehouse), in a subprocess like a user's run."""
    src = tmp_path / "generated_only"
    src.mkdir()
    for p in generated.glob("gp-reg-pat-prac-*.csv"):
        shutil.copy(p, src / p.name)  # a copy: a symlink out of the source folder is refused
    out = tmp_path / "outputs"
    run_nightly_dag(
        PERIOD,
        {
            "GP_ALLOC_SOURCE": str(src),
            "GP_ALLOC_SOURCE_CONTRACTS": str(REAL / FILES["contracts"]),
            "GP_ALLOC_SOURCE_PRACTICE_MAP": str(REAL / "registrations"),
            "GP_ALLOC_SOURCE_QOF_PRACTICE_SUMMARY": str(REAL / "qof" / "2022-23"),
            "GP_ALLOC_SOURCE_DEPRIVATION_PRACTICE": str(REAL / "deprivation"),
            "GP_ALLOC_OUTPUT_ROOT": str(out),
            "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
            "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
            "GP_ALLOC_EXTRACT_PERIODS": str(_rules_allowing_the_next_year(tmp_path)),
        },
    )
    latest = (out / PERIOD / "latest").resolve()
    books = allocation_workbooks(latest)
    pm = real["practice_map"]
    in_run = pm[pm["practice_code"].isin(real["contracts"]["practice_code"])]
    national = latest / f"gp-allocations_{PERIOD}_england.xlsx"
    assert len(books) == in_run["sub_icb_code"].nunique() + 1 and national in books
    wb = openpyxl.load_workbook(national, read_only=True)
    for sheet in ("Paid vs recomputed", "Payments equity", "Practice changes", "Equity"):
        assert sheet in wb.sheetnames
    equity = pd.read_excel(national, sheet_name="Payments equity", header=2)
    rates = equity.set_index(equity.columns[0]).iloc[:5, :]
    assert len(rates) == 5
    sub = openpyxl.load_workbook(latest / f"gp-allocations_{PERIOD}_16C.xlsx", read_only=True)
    assert {"Paid vs recomputed", "Practice changes"} <= set(sub.sheetnames)
    periods = json.loads((latest / "manifest.json").read_text())["extract_periods"]
    assert periods["contracts"]["period"] == "2022/23" and periods["contracts"]["read_from"] == "file name"
    assert periods["contracts"]["reason"] == LATER_YEAR_REASON
    assert periods["practice_map"]["period"] == "2022-01-01"
    cover = {r[0]: r[1] for r in sub["Cover"].iter_rows(values_only=True) if r and r[0] and len(r) > 1}
    assert "contracts: 2022/23 (from the file name)" in cover["Extract periods"]
    assert "Payments equity" not in sub.sheetnames
