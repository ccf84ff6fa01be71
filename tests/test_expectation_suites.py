"""Suite files in expectations/: well formed, in step with the canonical schema, passing on valid data.

``valid_frames()`` builds a small, internally consistent set of canonical extracts (3 practices) that
tests/test_validation.py breaks one way at a time.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from gp_allocations.config import expectations_dir
from gp_allocations.extracts import AGE_BANDS_5, EXTRACTS, SEXES

PRACTICES = ["A81001", "B82005", "Y01262"]
LSOAS = ["E01000001", "E01000002", "E01000003"]
EXTRACT_DATE = pd.Timestamp("2025-07-01")
FILES = {
    "contracts": "nhspaymentsgp-25-26-prac-csv.csv",
    "capitation_age_sex": "gp-reg-pat-prac-quin-age.csv",
    "capitation_lsoa": "gp-reg-pat-prac-lsoa-all.csv",
    "practice_map": "gp-reg-pat-prac-map.csv",
    "qof_achievement": "ACHIEVEMENT_2025.csv",
    "qof_prevalence": "PREVALENCE_2025.csv",
    "qof_indicators": "MAPPING_INDICATORS_2025.csv",
    "deprivation_lsoa": "File_7_IoD2019.csv",
    "practice_characteristics": "carr-hill-practice-inputs.csv",
    "additional_needs": "carr-hill-additional-needs.csv",
    "deprivation_practice": "fingertips_93553_practice_imd.csv",
    "qof_practice_summary": "QOF 2025-26.csv",
    "ods_practices": "epraccur.csv",
    "pcn_reference": "ePCN.xlsx",
    "nhse_weighted_populations": "nhse-place-based-allocation-tool-2025-26.csv",
}
GX_SEVERITY = {"error": "critical", "warning": "warning"}


def _frame(extract: str, rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=EXTRACTS[extract].column_names)
    frame["_file"] = FILES[extract]
    frame["_row"] = range(2, len(frame) + 2)  # header is row 1
    return frame


def age_sex_patients(practice: int, sex: int, band: int) -> int:
    return 10 * (practice + 1) + 3 * sex + band


def valid_frames() -> dict[str, pd.DataFrame]:
    """Every extract, small and consistent: all suites and cross-extract rules pass on it."""
    age_sex = [
        {
            "extract_date": EXTRACT_DATE,
            "practice_code": p,
            "sex": s,
            "age_band": b,
            "patients": age_sex_patients(i, j, k),
        }
        for i, p in enumerate(PRACTICES)
        for j, s in enumerate(SEXES)
        for k, b in enumerate(AGE_BANDS_5)
    ]
    totals = {p: sum(r["patients"] for r in age_sex if r["practice_code"] == p) for p in PRACTICES}
    lsoa = []
    for p in PRACTICES:  # split each list over the three LSOAs, remainder on the last
        share = totals[p] // 3
        for k, code in enumerate(LSOAS):
            lsoa.append(
                {
                    "extract_date": EXTRACT_DATE,
                    "practice_code": p,
                    "lsoa_code": code,
                    "patients": share if k < 2 else totals[p] - 2 * share,
                }
            )
    subs = {"A81001": "16C", "B82005": "02T", "Y01262": "D2P2L"}
    pcns = {"A81001": "U89141", "B82005": "U12345", "Y01262": None}
    contracts = [
        {
            "practice_code": p,
            "practice_name": f"PRACTICE {p}",
            "region_code": "Y63",
            "region_name": "NE&Y",
            "sub_icb_code": subs[p],
            "sub_icb_name": f"SUB ICB {subs[p]}",
            "pcn_code": pcns[p],
            "pcn_name": "PCN" if pcns[p] else None,
            "practice_postcode": "TS18 1HU",
            "contract_type": ct,
            "dispensing_practice": "No",
            "practice_rurality": "Urban",
            "registered_patients": float(totals[p]),
            "weighted_patients": totals[p] * 1.01,
            "global_sum_pence": 100_000 * (i + 1),
            "mpig_pence": 0,
            "qof_pence": 5_000,
            "total_payments_pence": 100_000 * (i + 1) + 5_000,
        }
        for i, (p, ct) in enumerate(zip(PRACTICES, ["GMS", "PMS", "APMS"], strict=True))
    ]
    practice_map = [
        {
            "extract_date": EXTRACT_DATE,
            "practice_code": p,
            "practice_name": f"PRACTICE {p}",
            "practice_postcode": "TS18 1HU",
            "pcn_code": pcns[p],
            "pcn_name": "PCN" if pcns[p] else None,
            "sub_icb_code": subs[p],
            "sub_icb_ons_code": "E38000247",
            "sub_icb_name": "SUB ICB",
            "icb_code": "QHM",
            "icb_ons_code": "E54000050",
            "icb_name": "ICB",
            "region_code": "Y63",
            "region_ons_code": "E40000012",
            "region_name": "NE&Y",
        }
        for p in PRACTICES
    ]
    indicators = [
        {
            "indicator_code": "AF006",
            "indicator_point_value": 12.0,
            "group_code": "AF",
            "group_description": "Atrial fibrillation",
            "domain_code": "CL",
            "domain_description": "Clinical",
            "patient_list_type": "TOTAL",
        },
        {
            "indicator_code": "DM012",
            "indicator_point_value": 4.0,
            "group_code": "DM",
            "group_description": "Diabetes",
            "domain_code": "CL",
            "domain_description": "Clinical",
            "patient_list_type": "17OV",
        },
    ]
    achievement = [
        {"practice_code": p, "indicator_code": ind, "measure": m, "value": v}
        for p in PRACTICES
        for ind, points in (("AF006", 11.5), ("DM012", 4.0))
        for m, v in (("NUMERATOR", 40.0), ("DENOMINATOR", 50.0), ("ACHIEVED_POINTS", points))
    ]
    prevalence = [
        {
            "practice_code": p,
            "group_code": g,
            "register": 30,
            "patient_list_type": lt,
            "practice_list_size": totals[p],
        }
        for p in PRACTICES
        for g, lt in (("AF", "TOTAL"), ("DM", "17OV"))
    ]
    deprivation = [
        {
            "lsoa_code": c,
            "lsoa_name": f"Area {k}",
            "lad_code": "E06000001",
            "lad_name": "Hartlepool",
            "imd_score": 20.5 + k,
            "imd_rank": 100 + k,
            "imd_decile": 3,
            "health_deprivation_score": 0.5,
            "population": 1500,
        }
        for k, c in enumerate(LSOAS)
    ]
    return {
        "contracts": _frame("contracts", contracts),
        "capitation_age_sex": _frame("capitation_age_sex", age_sex),
        "capitation_lsoa": _frame("capitation_lsoa", lsoa),
        "practice_map": _frame("practice_map", practice_map),
        "qof_achievement": _frame("qof_achievement", achievement),
        "qof_prevalence": _frame("qof_prevalence", prevalence),
        "qof_indicators": _frame("qof_indicators", indicators),
        "deprivation_lsoa": _frame("deprivation_lsoa", deprivation),
        "practice_characteristics": _frame(
            "practice_characteristics",
            [{"practice_code": p, "new_registrations": 50, "care_home_patients": 3} for p in PRACTICES],
        ),
        "additional_needs": _frame(
            "additional_needs", [{"lsoa_code": c, "slli": 101.5, "smr_under_65": 95.0} for c in LSOAS]
        ),
        "deprivation_practice": _frame(
            "deprivation_practice",
            [{"practice_code": p, "imd_year": 2019, "imd_score": 25.0} for p in PRACTICES],
        ),
        "qof_practice_summary": _frame(
            "qof_practice_summary",
            [
                {
                    "practice_code": p,
                    "sub_icb_code": subs[p],
                    "pcn_code": pcns[p] or "U",
                    "list_size": totals[p],
                    "achievement_points": 600.5,
                    "max_points": 635.0,
                }
                for p in PRACTICES
            ],
        ),
        "ods_practices": _frame(
            "ods_practices",
            [
                {
                    "practice_code": p,
                    "practice_name": f"PRACTICE {p}",
                    "region_code": "Y63",
                    "icb_code": "QHM",
                    "practice_postcode": "TS18 1HU",
                    "open_date": pd.Timestamp("1974-04-01"),
                    "close_date": None,
                    "status_code": "A",
                    "sub_icb_code": subs[p],
                    "prescribing_setting": 4,
                }
                for p in PRACTICES
            ],
        ),
        "pcn_reference": _frame(
            "pcn_reference",
            [
                {
                    "pcn_code": c,
                    "pcn_name": "PCN",
                    "sub_icb_code": "16C",
                    "open_date": pd.Timestamp("2019-07-01"),
                    "close_date": None,
                }
                for c in ("U89141", "U12345")
            ],
        ),
        "nhse_weighted_populations": _frame("nhse_weighted_populations", weighted_population_rows()),
    }


def weighted_population_rows() -> list[dict]:
    """NHS England weighted populations for the three practices (Final PMC = 0.85 PMC + 0.15 HI)."""
    rows = []
    for i, p in enumerate(PRACTICES):
        pmc, hi = 1000.0 + 250 * i, 900.0 + 400 * i
        rows.append(
            {
                "practice_code": p,
                "practice_name": f"PRACTICE {p}",
                "practice_postcode": None,
                "icb_code": "QHM",
                "icb_name": "NHS North East and North Cumbria ICB",
                "region_code": "Y63",
                "lad_code": "E06000004",
                "lad_name": "Stockton-on-Tees",
                "population": 1000.0 + 200 * i,
                "general_acute_wp": 1100.0,
                "community_wp": 1200.0,
                "mental_health_wp": 950.0,
                "maternity_wp": 0.0 if i == 2 else 800.0,
                "health_inequalities_wp": hi,
                "prescribing_wp": 1010.0,
                "final_wp": 1050.0,
                "primary_medical_care_wp": pmc,
                "final_pmc_wp": 0.85 * pmc + 0.15 * hi,
            }
        )
    return rows


def _suite(name: str) -> dict:
    return json.loads((expectations_dir() / f"{name}.json").read_text())


# ---------------------------------------------------------------------------------------------- tests


def test_one_suite_file_per_extract():
    files = {p.stem for p in expectations_dir().glob("*.json")} - {"cross_extract"}
    assert files == set(EXTRACTS)


@pytest.mark.parametrize("name", sorted(EXTRACTS))
def test_suite_is_in_step_with_the_canonical_schema(name):
    suite = _suite(name)
    spec = EXTRACTS[name]
    assert suite["name"] == name
    by_type: dict[str, list[dict]] = {}
    for exp in suite["expectations"]:
        by_type.setdefault(exp["type"], []).append(exp)
        meta = exp["meta"]
        # Severity, rule and description are visible in the file, natively and in meta, and agree.
        assert meta["severity"] in ("error", "warning")
        assert exp["severity"] == GX_SEVERITY[meta["severity"]]
        assert re.fullmatch(r"[a-z][a-z0-9_]+", meta["rule"])
        assert len(meta["description"]) > 10
    (columns,) = by_type["expect_table_columns_to_match_set"]
    assert columns["kwargs"]["exact_match"] is True
    assert columns["kwargs"]["column_set"] == [*spec.column_names, "_file", "_row"]
    not_null = {e["kwargs"]["column"] for e in by_type["expect_column_values_to_not_be_null"]}
    assert not_null == {c.name for c in spec.columns if not c.nullable}
    unique = by_type.get("expect_compound_columns_to_be_unique", []) + by_type.get(
        "expect_column_values_to_be_unique", []
    )
    keys = [tuple(e["kwargs"].get("column_list") or [e["kwargs"]["column"]]) for e in unique]
    assert spec.key in keys
    # Every column an expectation names exists in the canonical schema (no typo silently never runs).
    for exp in suite["expectations"]:
        for arg in ("column", "column_A", "column_B"):
            if arg in exp["kwargs"]:
                assert exp["kwargs"][arg] in spec.column_names, (name, exp)


def test_suites_load_as_gx_suites_with_native_severity():
    import great_expectations as gx
    from great_expectations.expectations.metadata_types import FailureSeverity

    suite = gx.ExpectationSuite(**_suite("capitation_age_sex"))
    sev = {e.meta["rule"]: e.severity for e in suite.expectations}
    assert sev["non_negative_count"] == FailureSeverity.CRITICAL
    assert sev["age_band_count_plausible"] == FailureSeverity.WARNING


def test_code_regexes_accept_every_real_code_shape_and_reject_near_misses():
    regex = {}
    for e in _suite("practice_map")["expectations"]:
        if e["type"] == "expect_column_values_to_match_regex":
            regex[e["kwargs"]["column"]] = re.compile(e["kwargs"]["regex"])
    # Real sub-ICB codes from NHS Payments 2022/23 and ODS: 2 digits + letter, and 5-char codes.
    for code in ("00L", "16C", "01K", "15N", "92A", "D2P2L", "A3A8R", "W2U3Z", "X2C4Y", "M1J4Y"):
        assert regex["sub_icb_code"].match(code), code
    for code in ("0L", "16c", "ABC", "D2P2", "16C "):
        assert not regex["sub_icb_code"].match(code), code
    assert regex["practice_code"].match("Y01262") and not regex["practice_code"].match("A8100")
    assert regex["icb_code"].match("QE1") and not regex["icb_code"].match("RE1")
    assert regex["region_code"].match("Y63") and not regex["region_code"].match("Y6")
    assert regex["pcn_code"].match("U89141") and regex["pcn_code"].match("U")
    assert not regex["pcn_code"].match("89141")
    assert regex["sub_icb_ons_code"].match("E38000247") and not regex["sub_icb_ons_code"].match("E54000050")


def test_cross_extract_rules_file_is_complete():
    rules = json.loads((expectations_dir() / "cross_extract.json").read_text())["rules"]
    ids = {r["rule"]: r for r in rules}
    assert len(ids) == len(rules)
    for rule in rules:
        assert rule["severity"] in ("error", "warning") and rule["description"] and "params" in rule
    assert ids["capitation_practice_in_map"]["severity"] == "error"
    assert ids["map_practice_without_capitation"]["severity"] == "warning"
    assert ids["qof_points_within_max"]["severity"] == "error"
    assert ids["extract_dates_same_quarter"]["severity"] == "error"
    assert ids["list_size_drift"]["severity"] == "warning"
    assert 0 < ids["lsoa_total_matches_age_sex"]["params"]["tolerance"] < 0.05


def test_every_suite_passes_on_valid_frames(tmp_path):
    from gp_allocations.validation import validate

    frames = valid_frames()
    report = validate(frames, out_dir=tmp_path, build_data_docs=False)
    failed = report.results[~report.results["success"]]
    assert failed.empty, failed.to_string()
    assert report.passed
    assert set(report.results["extract"]) == {*EXTRACTS, "cross_extract"}
    # each suite ran every expectation in its file
    for name in EXTRACTS:
        assert (report.results["extract"] == name).sum() == len(_suite(name)["expectations"])
    assert report.quarantine.empty
