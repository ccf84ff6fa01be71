"""The hierarchy is a function (issue 14.3): each planted split is caught, in each direction, inside an
extract and across extracts, naming the organisation, both values and both files and rows; the load
stage refuses a split hand-off; the engine keeps no first of two rows."""

from __future__ import annotations

import pandas as pd
import pytest

from gp_allocations.cross_extract import load_cross_rules, run_cross_extract_checks
from gp_allocations.errors import InputError
from gp_allocations.hierarchy import declared_functions, one_row_per, require_one_parent
from gp_allocations.periods import Period
from test_expectation_suites import PRACTICES, valid_frames

Q2 = Period.parse("2025-26-Q2")
RULES = [r for r in load_cross_rules() if r["rule"].startswith("hierarchy_")]
FUNCTIONS = declared_functions(load_cross_rules())


def _rules(frames, **options) -> tuple[dict, pd.DataFrame]:
    rows, quarantine = run_cross_extract_checks(frames, rules=RULES, period=Q2, **options)
    return {r["rule"]: r for r in rows}, quarantine


def test_valid_frames_pass_both_rules():
    by_rule, quarantine = _rules(valid_frames())
    assert all(r["success"] for r in by_rule.values()) and quarantine.empty
    assert set(by_rule) == {"hierarchy_one_parent", "hierarchy_agrees_across_extracts"}
    assert all(r["severity"] == "error" for r in RULES)


def test_one_practice_given_another_icb_splits_its_sub_icb():
    frames = valid_frames()
    frames["practice_map"].loc[1, "icb_code"] = "QUY"  # B82005 alone in 02T: add a second practice first
    frames["practice_map"].loc[2, "sub_icb_code"] = "02T"
    by_rule, q = _rules(frames)
    rule = by_rule["hierarchy_one_parent"]
    assert not rule["success"] and rule["column"] == "icb_code"
    assert (
        "sub_icb_code 02T has 2 icb_code values in the practice_map extract: QUY (gp-reg-pat-prac-map.csv "
        "row 3) and QHM (gp-reg-pat-prac-map.csv row 4 (practice Y01262))"
    ) in rule["message"]
    q = q[q["rule"] == "hierarchy_one_parent"]
    assert q[["file", "row", "column", "value"]].values.tolist() == [
        ["gp-reg-pat-prac-map.csv", 4, "icb_code", "QHM"]
    ]


def test_the_odd_value_is_the_one_quarantined_whichever_row_holds_it():
    """Direction: the lone different row is named first whether it comes before or after the others."""
    for odd_row in (0, 2):
        frames = valid_frames()
        frames["practice_map"]["sub_icb_code"] = "16C"
        frames["practice_map"].loc[odd_row, "icb_code"] = "QUY"
        by_rule, q = _rules(frames)
        q = q[q["rule"] == "hierarchy_one_parent"]
        assert q["row"].tolist() == [odd_row + 2] and q["value"].tolist() == ["QUY"]
        assert "16C has 2 icb_code values" in by_rule["hierarchy_one_parent"]["message"]


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("region_code", "Y62", "icb_code QHM has 2 region_code values"),
        ("region_name", "North West", "region_code Y63 has 2 region_name values"),
        ("icb_name", "Another ICB", "icb_code QHM has 2 icb_name values"),
        ("sub_icb_ons_code", "E38000999", "sub_icb_code 16C has 2 sub_icb_ons_code values"),
    ],
)
def test_every_level_of_the_map_is_a_function(column, value, says):
    frames = valid_frames()
    frames["practice_map"]["sub_icb_code"] = "16C"
    frames["practice_map"].loc[2, column] = value
    by_rule, _ = _rules(frames)
    assert not by_rule["hierarchy_one_parent"]["success"]
    assert says in by_rule["hierarchy_one_parent"]["message"]


def test_a_practice_on_two_rows_with_two_sub_icbs():
    frames = valid_frames()
    pm = frames["practice_map"]
    extra = pm.iloc[[0]].assign(sub_icb_code="99A", _row=5)
    frames["practice_map"] = pd.concat([pm, extra], ignore_index=True)
    by_rule, _ = _rules(frames)
    message = by_rule["hierarchy_one_parent"]["message"]
    assert f"practice_code {PRACTICES[0]} has 2 sub_icb_code values" in message
    assert "16C (gp-reg-pat-prac-map.csv row 2) and 99A (gp-reg-pat-prac-map.csv row 5)" in message


def test_contracts_sub_icb_in_two_regions():
    frames = valid_frames()
    frames["contracts"]["sub_icb_code"] = "16C"
    frames["practice_map"]["sub_icb_code"] = "16C"
    frames["contracts"].loc[2, "region_code"] = "Y62"
    by_rule, _ = _rules(frames)
    assert (
        "sub_icb_code 16C has 2 region_code values in the contracts extract"
        in (by_rule["hierarchy_one_parent"]["message"])
    )
    # ...and the practice's region disagrees with the map's: named too, with both files
    assert (
        f"practice {PRACTICES[2]}: region_code Y63 in gp-reg-pat-prac-map.csv row 4 but region_code Y62 in "
        "nhspaymentsgp-25-26-prac-csv.csv row 4"
    ) in by_rule["hierarchy_agrees_across_extracts"]["message"]


@pytest.mark.parametrize(
    ("extract", "column", "value"),
    [
        ("contracts", "pcn_code", "U99999"),
        ("qof_practice_summary", "sub_icb_code", "99A"),
        ("ods_practices", "icb_code", "QUY"),
    ],
)
def test_another_extract_of_the_period_placing_a_practice_elsewhere(extract, column, value):
    frames = valid_frames()
    frames[extract].loc[0, column] = value
    by_rule, q = _rules(frames)
    q = q[q["rule"] == "hierarchy_agrees_across_extracts"]
    rule = by_rule["hierarchy_agrees_across_extracts"]
    assert not rule["success"] and f"practice {PRACTICES[0]}: {column}" in rule["message"]
    assert f"but {column} {value} in" in rule["message"]
    assert q["value"].tolist() == [value] and q["extract"].tolist() == [extract]


def test_an_extract_of_another_year_is_not_compared_but_said_so():
    frames = valid_frames()
    frames["contracts"].loc[0, "sub_icb_code"] = "99A"  # a move between 2024/25 and now: a practice change
    periods = {"contracts": "2024/25", "qof_practice_summary": "2025/26", "practice_map": "2025-07-01"}
    by_rule, _ = _rules(frames, extract_periods=periods)
    rule = by_rule["hierarchy_agrees_across_extracts"]
    assert rule["success"]
    assert "not compared, being for another period than the run's 2025/26" in rule["message"]
    assert "contracts (2024/25)" in rule["message"] and "ods_practices (period unknown)" in rule["message"]
    same_year = _rules(frames, extract_periods={**periods, "contracts": "2025/26"})[0]
    assert not same_year["hierarchy_agrees_across_extracts"]["success"]


def test_closed_ods_rows_under_old_commissioners_are_not_a_split():
    frames = valid_frames()
    ods = frames["ods_practices"]
    closed = ods.iloc[[0]].assign(practice_code="A99999", status_code="C", icb_code="QUY", _row=5)
    frames["ods_practices"] = pd.concat([ods, closed], ignore_index=True)
    assert _rules(frames)[0]["hierarchy_one_parent"]["success"]
    frames["ods_practices"].loc[3, "status_code"] = "A"
    assert not _rules(frames)[0]["hierarchy_one_parent"]["success"]


def test_the_load_stage_refuses_a_split_hand_off():
    frames = valid_frames()
    frames["practice_map"].loc[2, "sub_icb_code"] = "02T"
    require_one_parent(frames, FUNCTIONS)  # same ICB: fine
    frames["practice_map"].loc[2, "icb_code"] = "QUY"
    with pytest.raises(InputError) as err:
        require_one_parent(frames, FUNCTIONS)
    text = str(err.value)
    assert text.startswith(
        "file gp-reg-pat-prac-map.csv, row 3, column 'icb_code', rule hierarchy_one_parent: the organisation "
        "hierarchy is not a function: sub_icb_code 02T has 2 icb_code values"
    ) or text.startswith(
        "file gp-reg-pat-prac-map.csv, row 4, column 'icb_code', rule hierarchy_one_parent: the organisation "
        "hierarchy is not a function: sub_icb_code 02T has 2 icb_code values"
    ), text


def test_the_engine_keeps_no_first_of_two_rows():
    frame = pd.DataFrame({"lsoa_code": ["E01000001", "E01000001"], "imd_score": [10.0, 40.0]})
    with pytest.raises(InputError, match=r"rule unique_key: 1 lsoa_code value\(s\) on more than one row"):
        one_row_per(frame, "lsoa_code", "deprivation_lsoa")
    assert one_row_per(frame.iloc[:1], "lsoa_code", "deprivation_lsoa").index.tolist() == ["E01000001"]
