"""validate(): each broken frame fails the right rule with the right severity, and the quarantine names
file, row, column and value; warnings never block; Data Docs, CSV injection, report round trip."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from gp_allocations.cross_extract import run_cross_extract_checks
from gp_allocations.errors import ValidationFailed
from gp_allocations.periods import Period
from gp_allocations.validation import ValidationReport, validate
from test_expectation_suites import FILES, PRACTICES, valid_frames

Q2 = Period.parse("2025-26-Q2")  # July to September 2025; the valid frames are extracted 1 July 2025


def _only(frames: dict, *names: str) -> dict:
    return {n: frames[n] for n in names}


def _result(report: ValidationReport, extract: str, rule: str, column: str | None = None) -> pd.Series:
    res = report.results
    sel = res[(res["extract"] == extract) & (res["rule"] == rule)]
    if column is not None:
        sel = sel[sel["column"] == column]
    assert len(sel) == 1, (extract, rule, column, res.to_string())
    return sel.iloc[0]


def _quarantined(report: ValidationReport, rule: str) -> pd.DataFrame:
    return report.quarantine[report.quarantine["rule"] == rule].reset_index(drop=True)


def _source_row(frame: pd.DataFrame, label) -> int:
    return frame.index.get_loc(label) + 2  # header is line 1, first data row is line 2


# ------------------------------------------------------------------------------------- row-level rules


def test_negative_count_names_file_row_published_column_and_value(tmp_path):
    frames = valid_frames()
    age_sex = frames["capitation_age_sex"]
    age_sex.attrs["source_columns"] = {"patients": "NUMBER_OF_PATIENTS", "practice_code": "ORG_CODE"}
    age_sex.loc[15, "patients"] = -5
    report = validate(_only(frames, "capitation_age_sex"), out_dir=tmp_path, build_data_docs=False)

    assert not report.passed
    assert report.outcome_line().startswith("validation FAILED: 1 error rule")
    res = _result(report, "capitation_age_sex", "non_negative_count")
    assert (res["severity"], bool(res["success"]), res["failing_rows"]) == ("error", False, 1)
    assert res["column"] == "NUMBER_OF_PATIENTS"
    (row,) = _quarantined(report, "non_negative_count").to_dict("records")
    assert row["file"] == FILES["capitation_age_sex"] == "gp-reg-pat-prac-quin-age.csv"
    assert row["row"] == 17 and row["column"] == "NUMBER_OF_PATIENTS" and row["value"] == "-5"
    assert report.first_error_line() == (
        "gp-reg-pat-prac-quin-age.csv row 17 column NUMBER_OF_PATIENTS: rule non_negative_count "
        "(expect_column_values_to_be_between) failed for value -5; 1 row(s) in all"
    )
    with pytest.raises(ValidationFailed, match="row 17 column NUMBER_OF_PATIENTS"):
        report.raise_for_errors()


@pytest.mark.parametrize(
    ("column", "bad_value", "rule"),
    [
        ("practice_code", "A8100", "practice_code_format"),
        ("practice_code", "a81001", "practice_code_format"),
        ("sex", "X", "sex_allowed"),
        ("sex", "ALL", "sex_allowed"),
        ("age_band", "100_104", "age_band_allowed"),
        ("age_band", "ALL", "age_band_allowed"),
        ("extract_date", None, "not_null"),
    ],
)
def test_bad_age_sex_value_fails_its_rule(tmp_path, column, bad_value, rule):
    frames = valid_frames()
    frame = frames["capitation_age_sex"]
    label = frame.index[-4]
    frame.loc[label, column] = bad_value
    report = validate(_only(frames, "capitation_age_sex"), out_dir=tmp_path, build_data_docs=False)

    assert not report.passed
    res = _result(report, "capitation_age_sex", rule, column)
    assert res["severity"] == "error" and not res["success"] and res["failing_rows"] == 1
    (row,) = _quarantined(report, rule).to_dict("records")
    expected = (FILES["capitation_age_sex"], _source_row(frame, label), column)
    assert (row["file"], row["row"], row["column"]) == expected
    assert row["value"] == ("" if bad_value is None else bad_value)


def test_duplicate_key_quarantines_both_rows(tmp_path):
    frames = valid_frames()
    frame = frames["capitation_age_sex"]
    # row label 5 (file row 7) repeats the key of label 4 (file row 6)
    frame.loc[5, ["sex", "age_band"]] = frame.loc[4, ["sex", "age_band"]].to_numpy()
    report = validate(_only(frames, "capitation_age_sex"), out_dir=tmp_path, build_data_docs=False)

    res = _result(report, "capitation_age_sex", "unique_key")
    assert res["severity"] == "error" and res["failing_rows"] == 2
    q = _quarantined(report, "unique_key")
    assert sorted(q["row"].tolist()) == [6, 7]
    assert set(q["column"]) == {"practice_code,sex,age_band"}
    key = frame.loc[4]
    assert set(q["value"]) == {f"practice_code={key.practice_code}; sex={key.sex}; age_band={key.age_band}"}


def test_missing_column_is_an_error(tmp_path):
    frames = valid_frames()
    frames["contracts"] = frames["contracts"].drop(columns=["contract_type"])
    report = validate(_only(frames, "contracts"), out_dir=tmp_path, build_data_docs=False)
    assert not report.passed
    assert not _result(report, "contracts", "columns")["success"]
    assert "contract_type missing" in _result(report, "contracts", "contract_type_allowed")["message"]


def test_warnings_do_not_block(tmp_path):
    frames = valid_frames()
    contracts, lsoa = frames["contracts"], frames["capitation_lsoa"]
    contracts.loc[0, "registered_patients"] = 85_000.0  # large but real-world possible
    contracts.loc[1, "contract_type"] = "Unknown"  # published for ~155 practices in 2022/23
    lsoa.loc[0, "lsoa_code"] = "NO2011"  # patients whose residence is unknown
    report = validate(
        _only(frames, "contracts", "capitation_lsoa", "deprivation_lsoa"),
        out_dir=tmp_path,
        build_data_docs=False,
    )

    assert report.passed and report.errors().empty
    warned = set(zip(report.warnings()["extract"], report.warnings()["rule"], strict=True))
    assert {
        ("contracts", "list_size_plausible"),
        ("contracts", "contract_type_known"),
        ("capitation_lsoa", "lsoa_code_format"),
        ("cross_extract", "lsoa_in_deprivation"),
    } <= warned
    assert ("contracts", "contract_type_allowed") not in warned
    q = report.quarantine
    lsoa_q = q[q["rule"] == "lsoa_code_format"].iloc[0]
    assert (lsoa_q["severity"], lsoa_q["file"], lsoa_q["row"], lsoa_q["value"]) == (
        "warning",
        FILES["capitation_lsoa"],
        2,
        "NO2011",
    )
    n_warnings = len(report.warnings())
    assert report.outcome_line().startswith(f"validation passed with {n_warnings} warnings (no errors), ")
    assert "failed" not in report.outcome_line(), "a pass with warnings never reads as a failure"
    message = _result(report, "cross_extract", "lsoa_in_deprivation")["message"]
    assert f"1 unknown code(s) ({int(lsoa.loc[0, 'patients'])} patients): NO2011" in message
    assert "0 English LSOA code(s)" in message and "0 Welsh code(s)" in message


# ------------------------------------------------------------------------------------- cross-extract rules


def test_qof_points_above_indicator_maximum(tmp_path):
    frames = valid_frames()
    ach = frames["qof_achievement"]
    label = ach.index[(ach["measure"] == "ACHIEVED_POINTS") & (ach["indicator_code"] == "DM012")][1]
    ach.loc[label, "value"] = 4.5  # DM012 is worth 4 points
    report = validate(
        _only(frames, "qof_achievement", "qof_indicators"), out_dir=tmp_path, build_data_docs=False
    )

    assert not report.passed
    res = _result(report, "cross_extract", "qof_points_within_max")
    assert res["severity"] == "error" and res["failing_rows"] == 1
    assert ach.loc[label, "practice_code"] in res["message"]
    (row,) = _quarantined(report, "qof_points_within_max").to_dict("records")
    assert (row["file"], row["row"], row["column"], row["value"]) == (
        "ACHIEVEMENT_2025.csv",
        _source_row(ach, label),
        "value",
        "4.5",
    )
    line = report.first_error_line()
    assert line.startswith(f"ACHIEVEMENT_2025.csv row {_source_row(ach, label)} column value"), line


def test_practice_missing_from_map_is_an_error_and_the_reverse_a_warning(tmp_path):
    frames = valid_frames()
    gone = PRACTICES[1]
    pmap = frames["practice_map"]
    frames["practice_map"] = pmap[pmap["practice_code"] != gone]
    extra = pmap.iloc[[0]].assign(practice_code="Z99999", _row=99)
    frames["practice_map"] = pd.concat([frames["practice_map"], extra], ignore_index=True)
    names = ("contracts", "capitation_age_sex", "practice_map")
    report = validate(_only(frames, *names), out_dir=tmp_path, build_data_docs=False)

    assert not report.passed
    err = _result(report, "cross_extract", "capitation_practice_in_map")
    age_sex = frames["capitation_age_sex"]
    expected_rows = [i + 2 for i, p in enumerate(age_sex["practice_code"]) if p == gone]
    assert err["severity"] == "error" and err["failing_rows"] == len(expected_rows) == 40
    assert f"1 practice(s) in capitation_age_sex missing from practice_map: {gone}" in err["message"]
    q = _quarantined(report, "capitation_practice_in_map")
    assert q["row"].tolist() == expected_rows and set(q["value"]) == {gone}
    assert set(q["file"]) == {FILES["capitation_age_sex"]}
    warn = _result(report, "cross_extract", "map_practice_without_capitation")
    assert warn["severity"] == "warning" and not warn["success"] and "Z99999" in warn["message"]
    (wrow,) = _quarantined(report, "map_practice_without_capitation").to_dict("records")
    assert (wrow["row"], wrow["value"], wrow["severity"]) == (99, "Z99999", "warning")
    assert _result(report, "cross_extract", "capitation_practice_has_contract")["success"]


def test_extract_dates_from_two_quarters(tmp_path):
    frames = valid_frames()
    frames["capitation_lsoa"]["extract_date"] = pd.Timestamp("2025-04-01")  # Q1, the others Q2
    names = ("capitation_age_sex", "capitation_lsoa", "practice_map")
    report = validate(_only(frames, *names), out_dir=tmp_path, period=Q2, build_data_docs=False)

    assert not report.passed
    res = _result(report, "cross_extract", "extract_dates_same_quarter")
    assert res["severity"] == "error"
    assert "2025-26-Q1" in res["message"] and "2025-26-Q2" in res["message"]
    assert "2025-04-01 outside period 2025-26-Q2" in res["message"]
    q = _quarantined(report, "extract_dates_same_quarter")
    lsoa_row = q[q["file"] == FILES["capitation_lsoa"]].iloc[0]
    assert (lsoa_row["row"], lsoa_row["column"], lsoa_row["value"]) == (2, "extract_date", "2025-04-01")
    assert not _result(report, "cross_extract", "extract_dates_differ")["success"]


def test_extract_date_outside_period_even_when_all_agree(tmp_path):
    frames = valid_frames()
    names = ("capitation_age_sex", "capitation_lsoa", "practice_map")
    ok = validate(_only(frames, *names), out_dir=tmp_path / "a", period=Q2, build_data_docs=False)
    assert ok.passed  # 1 July is the start of Q2
    late = validate(
        _only(frames, *names),
        out_dir=tmp_path / "b",
        period=Period.parse("2025-26-Q4"),
        build_data_docs=False,
    )
    assert not late.passed  # Q4 starts 1 January 2026: a July list is months out of date
    assert not _result(late, "cross_extract", "extract_dates_same_quarter")["success"]


def test_list_size_drift_is_a_warning_listing_practices(tmp_path):
    frames = valid_frames()
    age_sex = frames["capitation_age_sex"]
    totals = age_sex.groupby("practice_code")["patients"].sum()
    previous = pd.DataFrame({"practice_code": totals.index, "registered_patients": totals.to_numpy()})
    moved = PRACTICES[0]
    previous.loc[previous["practice_code"] == moved, "registered_patients"] = int(totals[moved] * 1.5)
    report = validate(
        _only(frames, "capitation_age_sex"),
        out_dir=tmp_path,
        previous_list_sizes=previous,
        build_data_docs=False,
    )

    assert report.passed
    res = _result(report, "cross_extract", "list_size_drift")
    assert res["severity"] == "warning" and not res["success"] and res["failing_rows"] == 1
    before = int(totals[moved] * 1.5)
    change = (totals[moved] - before) / before
    assert f"{moved}: {before} -> {totals[moved]} ({change:+.1%})" in res["message"]
    # a higher threshold (given by the caller) lets the same change through
    relaxed = validate(
        _only(frames, "capitation_age_sex"),
        out_dir=tmp_path / "r",
        previous_list_sizes=previous,
        drift_threshold=0.5,
        build_data_docs=False,
    )
    assert _result(relaxed, "cross_extract", "list_size_drift")["success"]


def test_lsoa_totals_are_a_warning_and_a_sub_icb_disagreement_an_error():
    frames = valid_frames()
    lsoa = frames["capitation_lsoa"]
    practice = PRACTICES[2]
    first = lsoa.index[lsoa["practice_code"] == practice][0]
    total = int(lsoa.loc[lsoa["practice_code"] == practice, "patients"].sum())
    lsoa.loc[first, "patients"] += int(total * 0.01) + 1  # > 0.5% more than the age-sex total
    frames["contracts"].loc[0, "sub_icb_code"] = "00L"
    rows, quarantine = run_cross_extract_checks(frames, period=Q2)
    by_rule = {r["rule"]: r for r in rows}
    assert not by_rule["lsoa_total_matches_age_sex"]["success"]
    assert by_rule["lsoa_total_matches_age_sex"]["severity"] == "warning"
    lsoa_msg = by_rule["lsoa_total_matches_age_sex"]["message"]
    assert f"{practice}: {total + int(total * 0.01) + 1} vs {total}" in lsoa_msg
    sub = by_rule["hierarchy_agrees_across_extracts"]
    assert sub["severity"] == "error" and not sub["success"]
    assert (
        f"practice {PRACTICES[0]}: sub_icb_code 16C in gp-reg-pat-prac-map.csv row 2 but sub_icb_code 00L "
        "in nhspaymentsgp-25-26-prac-csv.csv row 2"
    ) in sub["message"]
    q = quarantine[quarantine["rule"] == "hierarchy_agrees_across_extracts"]
    found = (q["file"].tolist(), q["row"].tolist(), q["value"].tolist())
    assert found == ([FILES["contracts"]], [2], ["00L"])
    # the contracts' own region per sub-ICB is still one: only the cross-extract rule fires
    others = [
        r for r in rows if r["rule"] not in ("lsoa_total_matches_age_sex", "hierarchy_agrees_across_extracts")
    ]
    assert all(r["success"] for r in others)


def test_rule_whose_extracts_are_absent_is_reported_not_run():
    rows, _ = run_cross_extract_checks(_only(valid_frames(), "contracts"))
    qof = next(r for r in rows if r["rule"] == "qof_points_within_max")
    assert qof["success"] and qof["message"].startswith("not run")


# ------------------------------------------------------------------------------------- outputs


def test_data_docs_and_csv_injection(tmp_path):
    frames = valid_frames()
    contracts = frames["contracts"]
    contracts.loc[1, "contract_type"] = '=HYPERLINK("http://x","pay")'
    contracts.loc[2, "contract_type"] = "@SUM(A1)"
    report = validate(frames, out_dir=tmp_path, period=Q2)

    assert report.data_docs_index == tmp_path / "data_docs" / "index.html"
    html = report.data_docs_index.read_text()
    for name in ("contracts", "capitation_age_sex", "qof_achievement", "deprivation_lsoa"):
        assert name in html

    assert not report.passed
    q = _quarantined(report, "contract_type_allowed")
    assert q["value"].tolist() == ['=HYPERLINK("http://x","pay")', "@SUM(A1)"]  # returned as read
    with open(tmp_path / "quarantine.csv", newline="") as fh:
        written = [r for r in csv.DictReader(fh) if r["rule"] == "contract_type_allowed"]
    assert [r["value"] for r in written] == ['\'=HYPERLINK("http://x","pay")', "'@SUM(A1)"]
    assert [r["row"] for r in written] == ["3", "4"]
    for r in written:  # no cell of the file starts with a formula trigger
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in r.values())


def test_report_round_trips_through_json(tmp_path):
    frames = valid_frames()
    frames["capitation_age_sex"].loc[3, "patients"] = -1
    frames["capitation_age_sex"].loc[8, "sex"] = "X"
    report = validate(_only(frames, "capitation_age_sex"), out_dir=tmp_path, build_data_docs=False)
    again = ValidationReport.from_json(report.to_json(max_quarantine_rows=1))
    assert again.passed is False
    assert again.first_error_line() == report.first_error_line()
    assert len(again.quarantine) == len(report.quarantine) == 2  # re-read from quarantine.csv
    pd.testing.assert_frame_equal(again.results, report.results, check_dtype=False)
