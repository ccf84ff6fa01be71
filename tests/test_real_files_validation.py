"""The GX suites on every real published file in ../shared/data/real that has a canonical extract.

Each failing rule is asserted with its failing-row count, and that count is recomputed here from the
standardised frame, so a user can check it by opening the file (e.g. 155 practices with contract type
"Unknown" in the 2022/23 payments file). Files without a canonical extract (QOF geographies, organisation
reference, validation outcomes, the LSOA lookup) have no suite; the readers test covers them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from _support import REAL, requires_real_data
from gp_allocations.standardise import standardise
from gp_allocations.validation import validate

pytestmark = requires_real_data

FILES = {
    "contracts": "payments/nhspaymentsgp-22-23-prac-csv.csv",
    "qof_practice_summary": "qof/2022-23/QOF 2022-23.csv",
    "qof_indicators": "qof/2020-21/MAPPING_INDICATORS_2021_v2.csv",
    "qof_prevalence": "qof/2020-21/PREVALENCE_2021_v2.csv",
    "ods_practices": "ods/epraccur.csv",
    "pcn_reference": "ods/ePCN.xlsx",
    "practice_map": "registrations/gp-reg-pat-prac-map.csv",
    "deprivation_practice": "deprivation/fingertips_93553_practice_imd.csv",
}


def _run(extract: str, tmp_path: Path, rel: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    frame = standardise(extract, [REAL / (rel or FILES[extract])]).frame
    report = validate({extract: frame}, out_dir=tmp_path, build_data_docs=False)
    results = report.results
    failed = results[~results["success"].astype(bool)]
    return frame, failed.set_index(["rule", "column"])[["severity", "failing_rows"]], report.passed


def _failing(failed: pd.DataFrame, frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, int]]:
    """Failed rules keyed by (rule, canonical column); messages name the published column."""
    canonical = {published: name for name, published in frame.attrs.get("source_columns", {}).items()}
    return {
        (rule, canonical.get(col, col)): (r.severity, int(r.failing_rows))
        for (rule, col), r in failed.iterrows()
    }


def test_payments_2022_23_passes_with_warnings(tmp_path):
    f, failed, passed = _run("contracts", tmp_path)
    assert passed  # warnings only: the run may go on
    unknown = int((f["contract_type"] == "Unknown").sum())
    big = int((f["registered_patients"] > 80000).sum())
    money = ("global_sum_pence", "qof_pence", "seniority_pence", "total_payments_pence")
    negative = {c: int((f[c] < 0).sum()) for c in money}
    assert (unknown, big, negative) == (
        155,
        3,
        {"global_sum_pence": 5, "qof_pence": 2, "seniority_pence": 9, "total_payments_pence": 12},
    )
    assert _failing(failed, f) == {
        ("contract_type_known", "contract_type"): ("warning", unknown),
        ("list_size_plausible", "registered_patients"): ("warning", big),
        **{("payment_non_negative", c): ("warning", n) for c, n in negative.items()},
    }


def test_qof_files_pass(tmp_path):
    f, failed, passed = _run("qof_practice_summary", tmp_path)
    assert passed and _failing(failed, f) == {
        ("list_size_plausible", "list_size"): ("warning", int((f["list_size"] > 80000).sum()))
    }
    assert int((f["list_size"] > 80000).sum()) == 3
    _, failed, passed = _run("qof_indicators", tmp_path / "ind")
    assert passed and failed.empty
    f, failed, passed = _run("qof_prevalence", tmp_path / "prev")
    over = int((f["register"] > f["practice_list_size"]).sum())
    assert over == 1  # one practice-register with more patients than its list: published as such
    assert passed and _failing(failed, f) == {
        ("prevalence_at_most_one", failed.index[0][1]): ("warning", over)
    }


def test_reference_files_pass_cleanly(tmp_path):
    for extract in ("practice_map", "pcn_reference", "deprivation_practice"):
        _, failed, passed = _run(extract, tmp_path / extract)
        assert passed and failed.empty, (extract, failed)


def test_epraccur_passes_with_non_practice_codes_as_a_warning(tmp_path):
    # epraccur lists every prescribing-cost centre, not only GP practices: 162 rows have no national
    # grouping, 172 no commissioner and 139 codes are not in the A12345 practice format. The rules on
    # region, ICB and commissioner apply to GP practices only (row_condition prescribing_setting == 4 in
    # expectations/ods_practices.json), and every one of the 8,631 GP-practice rows has them.
    f, failed, passed = _run("ods_practices", tmp_path)
    assert passed
    bad_code = int((~f["practice_code"].str.fullmatch(r"[A-Z]\d{5}")).sum())
    counts = (bad_code, int(f["region_code"].isna().sum()), int(f["sub_icb_code"].isna().sum()))
    assert counts == (139, 162, 172)
    gp = f[f["prescribing_setting"] == 4]
    assert len(gp) == 8631 and gp[["region_code", "icb_code", "sub_icb_code"]].notna().all().all()
    assert _failing(failed, f) == {("practice_code_format", "practice_code"): ("warning", bad_code)}


#: the older payments years: file, era, rows, and each warning's failing rows (recomputed below)
OLDER_PAYMENTS = {
    "2014/15": ("payments/nhspaymentsgp-14-15-prac-csv.csv", "payments_ccg_2014", 7959),
    "2015/16": ("payments/nhspaymentsgp-15-16-prac-csv.csv", "payments_ccg_2014", 7841),
    "2016/17": ("payments/nhspaymentsgp-16-17-prac-csv.csv", "payments_ccg_2016", 7763),
    "2018/19": ("payments/nhspaymentsgp-18-19-csv.csv", "payments_ccg_2018", 7279),
}
MONEY = ("global_sum_pence", "mpig_pence", "qof_pence", "seniority_pence", "total_payments_pence")
#: per year: Unknown contract types, Unknown dispensing flags, MISSING rurality, negatives per column
PINNED = {
    "2014/15": (
        0,
        0,
        0,
        {
            "global_sum_pence": 10,
            "mpig_pence": 3,
            "qof_pence": 24,
            "seniority_pence": 58,
            "total_payments_pence": 1,
        },
    ),
    "2015/16": (0, 0, 0, {"global_sum_pence": 8, "mpig_pence": 15, "qof_pence": 8, "seniority_pence": 56}),
    "2016/17": (
        56,
        110,
        0,
        {
            "global_sum_pence": 10,
            "mpig_pence": 2,
            "qof_pence": 6,
            "seniority_pence": 39,
            "total_payments_pence": 10,
        },
    ),
    "2018/19": (
        101,
        119,
        58,
        {
            "global_sum_pence": 4,
            "mpig_pence": 11,
            "qof_pence": 5,
            "seniority_pence": 100,
            "total_payments_pence": 6,
        },
    ),
}


@pytest.mark.parametrize("year", sorted(OLDER_PAYMENTS))
def test_older_payments_years_pass_with_warnings(year, tmp_path):
    """Each older payments year is validated with its era's own codes (include/layouts/contracts.yaml
    `rules`: NHS England area teams / local offices (Q..) as region codes; `values`: 'UNKNOWN' read as
    'Unknown')."""
    rel, era, rows = OLDER_PAYMENTS[year]
    result = standardise("contracts", [REAL / rel])
    f = result.frame
    assert (result.layout, len(f)) == (era, rows)
    assert f["region_code"].str.fullmatch(r"Q\d{2}").all()  # not one region (Y..) code in these years
    report = validate({"contracts": f}, out_dir=tmp_path, build_data_docs=False)
    failed = report.results[~report.results["success"].astype(bool)]
    got = _failing(failed.set_index(["rule", "column"])[["severity", "failing_rows"]], f)
    unknown = int((f["contract_type"] == "Unknown").sum())  # published 'UNKNOWN' (the era's `values`)
    dispensing = int((f["dispensing_practice"] == "Unknown").sum())  # an allowed value: no warning
    rurality = int((f["practice_rurality"] == "MISSING").sum())
    negative = {c: int((f[c] < 0).sum()) for c in MONEY if (f[c] < 0).any()}
    assert (unknown, dispensing, rurality, negative) == PINNED[year]
    expected = {("payment_non_negative", c): ("warning", n) for c, n in negative.items()}
    if unknown:
        expected[("contract_type_known", "contract_type")] = ("warning", unknown)
    if rurality:
        expected[("rurality_allowed", "practice_rurality")] = ("warning", rurality)
    assert report.passed and got == expected


def test_an_older_eras_codes_do_not_pass_in_a_later_era(tmp_path):
    """The era rules apply to files of that era only: a 2022/23 file with an area-team code still fails,
    and so does a frame mixing the 2014/15 and 2022/23 files (the strict rule is kept for both)."""
    late = standardise("contracts", [REAL / FILES["contracts"]]).frame
    planted = late.copy()
    planted.loc[0, "region_code"] = "Q71"
    report = validate({"contracts": planted}, out_dir=tmp_path / "a", build_data_docs=False)
    bad = report.results.set_index("rule").loc["region_code_format"]
    assert not report.passed and int(bad["failing_rows"]) == 1
    both = standardise("contracts", [REAL / OLDER_PAYMENTS["2014/15"][0], REAL / FILES["contracts"]]).frame
    assert both.attrs["layout"] == "payments_ccg_2014,payments_sub_icb_2022"
    report = validate({"contracts": both}, out_dir=tmp_path / "b", build_data_docs=False)
    bad = report.results.set_index("rule").loc["region_code_format"]
    assert not report.passed and int(bad["failing_rows"]) == 7959


@pytest.mark.parametrize(
    ("rel", "era", "rows", "not_available"),
    [
        ("qof/2017-18/QOF 2017-18.csv", "qof_summary_ccg_2017", 7100, 11),
        ("qof/2018-19/QOF 2018-19.csv", "qof_summary_ccg_2018", 6873, 19),
    ],
)
def test_older_qof_summaries_pass_with_not_available_as_a_warning(rel, era, rows, not_available, tmp_path):
    """2017/18 and 2018/19 publish ':' (not available) for practices with no QOF achievement that
    year: a warning for those eras (include/layouts/qof_practice_summary.yaml `rules`)."""
    result = standardise("qof_practice_summary", [REAL / rel])
    f = result.frame
    assert (result.layout, len(f)) == (era, rows)
    missing = f["achievement_points"].isna()
    assert int(missing.sum()) == not_available and f.loc[missing, "max_points"].isna().all()
    raw = pd.read_csv(REAL / rel, dtype=str, encoding="latin-1")
    published = f.attrs["source_columns"]["achievement_points"]
    assert int((raw[published].str.strip() == ":").sum()) == not_available  # ':' as published
    _, failed, passed = _run("qof_practice_summary", tmp_path, rel)
    assert passed and _failing(failed, f) == {
        ("not_null", "achievement_points"): ("warning", not_available),
        ("not_null", "max_points"): ("warning", not_available),
    }
