"""Practices the extracts disagree about are reported, not dropped (small hand-made frames)."""

from __future__ import annotations

import pandas as pd

from gp_allocations.practice_changes import CHANGE_COLUMNS, detect_practice_changes, summarise


def _map(rows):
    return pd.DataFrame(rows, columns=["practice_code", "practice_name", "practice_postcode", "sub_icb_code"])


def test_missing_merger_move_and_closure():
    practice_map = _map(
        [
            ("A00001", "ONE SURGERY", "AB1 1AA", "01A"),
            ("A00002", "TWO SURGERY", "AB1 2BB", "01A"),
            ("A00003", "THREE SURGERY", "AB1 3CC", "02B"),
        ]
    )
    contracts = pd.DataFrame(
        {
            # A00002 has merged into A00004 (same building); A00003 moved to sub-ICB 03C
            "practice_code": ["A00001", "A00003", "A00004"],
            "practice_name": ["ONE SURGERY", "THREE SURGERY", "FOUR GROUP"],
            "practice_postcode": ["AB1 1AA", "AB1 3CC", "AB12BB"],
            "sub_icb_code": ["01A", "03C", "01A"],
        }
    )
    age_sex = pd.DataFrame({"practice_code": ["A00001", "A00001", "A00002", "A00003"], "patients": 1})
    ods = pd.DataFrame(
        {
            "practice_code": ["A00001", "A00002", "A00003", "A00004", "Z99999"],
            "status_code": ["A", "C", "A", "A", "C"],
            "close_date": pd.to_datetime([None, "2021-09-30", None, None, "2010-01-01"]),
            "sub_icb_code": ["01A", "01A", "02B", "01A", "09Z"],
        }
    )
    out = detect_practice_changes(
        {
            "practice_map": practice_map,
            "contracts": contracts,
            "capitation_age_sex": age_sex,
            "ods_practices": ods,
        }
    )
    assert list(out.columns) == CHANGE_COLUMNS
    got = {(r.practice_code, r.change): (r.extracts, r.sub_icb_code) for r in out.itertuples()}
    assert got == {
        ("A00002", "missing_from_extracts"): ("contracts", "01A"),
        ("A00004", "missing_from_extracts"): ("practice_map, capitation_age_sex", "01A"),
        ("A00002", "possible_merger"): ("contracts", "01A"),
        # both sides of the merger are flagged: the successor is missing where the closed one is listed
        ("A00004", "possible_merger"): ("practice_map, capitation_age_sex", "01A"),
        ("A00003", "sub_icb_differs"): ("practice_map, contracts, ods_practices", "02B"),
        # Z99999 is closed in ODS but no other extract lists it: not a change of this period
        ("A00002", "closed_in_ods"): ("ods_practices vs practice_map, capitation_age_sex", "01A"),
    }
    detail = out.set_index(["practice_code", "change"])["detail"]
    assert detail[("A00002", "possible_merger")].startswith("same postcode as A00004")
    assert detail[("A00003", "sub_icb_differs")] == "practice_map=02B; contracts=03C; ods_practices=02B"
    assert "2021-09-30" in detail[("A00002", "closed_in_ods")]
    assert out.loc[out["practice_code"] == "A00004", "practice_name"].iloc[0] == "FOUR GROUP"
    notes = summarise(out)
    assert len(notes) == 4 and notes[0].startswith("practice changes: 2 practices are not in every")
    assert notes[1].startswith("practice changes: 2 missing practices share a postcode")


def test_agreeing_extracts_report_nothing():
    pm = _map([("A00001", "ONE", "AB1 1AA", "01A"), ("A00002", "TWO", "AB1 2BB", "01A")])
    contracts = pm.copy()
    out = detect_practice_changes({"practice_map": pm, "contracts": contracts, "qof_practice_summary": None})
    assert out.empty and list(out.columns) == CHANGE_COLUMNS
    assert summarise(out) == []
