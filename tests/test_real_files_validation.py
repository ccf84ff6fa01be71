"""The GX suites on every real published file in ../shared/data/real that has a canonical extract.

Each failing rule is asserted with its failing-row count, and that count is recomputed here from the
standardised frame, so a user can check it by opening the file (e.g. 155 practices with contract type
"Unknown" in the 2022/23 payments file). Files without a canonical extract (QOF geographies, organisation
reference, validation outcomes, the LSOA lookup) have no suite; the readers test covers them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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


def _run(extract: str, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    frame = standardise(extract, [REAL / FILES[extract]]).frame
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
    negative = {c: int((f[c] < 0).sum()) for c in ("global_sum_pence", "qof_pence", "total_payments_pence")}
    assert (unknown, big, negative) == (
        155,
        3,
        {"global_sum_pence": 5, "qof_pence": 2, "total_payments_pence": 12},
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
