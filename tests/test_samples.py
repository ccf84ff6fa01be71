"""Tests of the deterministic sample extract generator (small sizes; England counts via the hierarchy)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _support import REAL, requires_real_data
from gp_allocations.extracts import AGE_BANDS_5
from gp_allocations.periods import Period
from gp_allocations_samples import build_hierarchy, generate_samples

requires_real = requires_real_data[1]  # the skip-when-absent mark, used with the realdata marker

PERIOD = Period(2025, 3)  # 2025/26 Q3: list extracted 1 October 2025


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    out = tmp_path_factory.mktemp("samples")
    return out, generate_samples(out, period=PERIOD, practices=200, seed=7)


def _read(path: Path, **kw) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kw)


def _header(path: Path, encoding: str = "utf-8-sig") -> list[str]:
    with path.open(newline="", encoding=encoding) as f:
        return next(csv.reader(f))


# ----------------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    runs = [
        generate_samples(tmp_path / d, period=PERIOD, practices=40, seed=s)
        for d, s in (("a", 1), ("b", 1), ("c", 2))
    ]
    names_a = {p.name for paths in runs[0].values() for p in paths}
    names_b = {p.name for paths in runs[1].values() for p in paths}
    assert names_a == names_b
    for name in names_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in ("gp-reg-pat-prac-map.csv", "gp-reg-pat-prac-lsoa-all.csv", "PREVALENCE_2526.csv"):
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_returned_files_are_keyed_by_extract_name_and_exist(sample):
    out, files = sample
    assert set(files) == {
        "contracts",
        "capitation_age_sex",
        "capitation_lsoa",
        "practice_map",
        "qof_achievement",
        "qof_prevalence",
        "qof_indicators",
        "deprivation_lsoa",
        "practice_characteristics",
        "additional_needs",
    }
    for paths in files.values():
        assert paths and all(p.is_file() and p.parent == out for p in paths)
    assert files["contracts"][0].name == "nhspaymentsgp-25-26-prac-csv.csv"
    assert all(re.fullmatch(r"ACHIEVEMENT_[A-Z_]+_2526\.csv", p.name) for p in files["qof_achievement"])


def test_file_names_and_extract_date_follow_the_period(tmp_path):
    files = generate_samples(tmp_path, period=Period(2024, 1), practices=30, seed=3)
    assert files["contracts"][0].name == "nhspaymentsgp-24-25-prac-csv.csv"
    assert files["qof_prevalence"][0].name == "PREVALENCE_2425.csv"
    assert set(_read(files["practice_map"][0])["EXTRACT_DATE"]) == {"01Apr2024"}
    assert set(_read(files["capitation_lsoa"][0])["EXTRACT_DATE"]) == {"01Apr2024"}


# ------------------------------------------------------------------------------ organisation tree


def test_england_size_hierarchy_has_englands_organisation_counts():
    tree = build_hierarchy()  # defaults: 6,500 practices
    prac = tree.practices
    assert len(prac) == 6500 and prac["practice_code"].is_unique
    assert tree.regions == ["Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63"]
    assert len(tree.icbs) == 42
    assert len(tree.sub_icbs) == 106
    assert 1150 <= len(tree.pcns) <= 1350
    ons = dict(zip(prac["region_code"], prac["region_ons_code"], strict=True))
    assert ons == {
        "Y56": "E40000003",
        "Y58": "E40000006",
        "Y59": "E40000005",
        "Y60": "E40000011",
        "Y61": "E40000007",
        "Y62": "E40000010",
        "Y63": "E40000012",
    }
    names = dict(zip(prac["region_code"], prac["region_name"], strict=True))
    assert names["Y56"] == "London" and names["Y63"] == "North East and Yorkshire"


def test_hierarchy_nests_each_level_in_exactly_one_parent():
    prac = build_hierarchy(1000, seed=11).practices
    for child, parent in (
        ("pcn_code", "sub_icb_code"),
        ("sub_icb_code", "icb_code"),
        ("icb_code", "region_code"),
        ("sub_icb_code", "sub_icb_ons_code"),
        ("icb_code", "icb_ons_code"),
    ):
        assert (prac.groupby(child)[parent].nunique() == 1).all(), (child, parent)
    assert prac["sub_icb_ons_code"].nunique() == prac["sub_icb_code"].nunique()


def test_small_run_scales_down_but_keeps_minimum_organisations():
    small = build_hierarchy(200, seed=5)
    assert len(small.practices) == 200
    assert 3 <= len(small.sub_icbs) < 106
    assert 2 <= len(small.icbs) < 42
    assert 2 <= len(small.regions) <= 7
    assert 20 <= len(small.pcns) <= 60  # about 200 / 5.2


def test_hierarchy_matches_the_generated_map(sample):
    _, files = sample
    mapped = _read(files["practice_map"][0])
    tree = build_hierarchy(200, seed=7).practices
    assert sorted(mapped["PRACTICE_CODE"]) == sorted(tree["practice_code"])


# ------------------------------------------------------------------------------ published layouts


@pytest.mark.realdata
@requires_real
def test_payments_header_bom_and_line_endings_match_the_real_file(sample):
    _, files = sample
    ours, real = files["contracts"][0], REAL / "payments" / "nhspaymentsgp-22-23-prac-csv.csv"
    assert _header(ours) == _header(real)
    raw = ours.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    first_line_real = real.read_bytes().split(b"\r\n", 1)[0]
    assert raw.split(b"\r\n", 1)[0] == first_line_real  # same quoting of header cells


@pytest.mark.realdata
@requires_real
def test_qof_mapping_and_prevalence_headers_match_the_real_files(sample):
    _, files = sample
    assert _header(files["qof_indicators"][0]) == _header(REAL / "qof/2020-21/MAPPING_INDICATORS_2021_v2.csv")
    assert _header(files["qof_prevalence"][0]) == _header(REAL / "qof/2020-21/PREVALENCE_2021_v2.csv")


@pytest.mark.realdata
@requires_real
def test_map_header_is_the_real_layout_with_sub_icb_era_names(sample):
    _, files = sample
    real = _header(REAL / "registrations" / "gp-reg-pat-prac-map.csv")  # CCG era (Jan 2022)
    renamed = [c.replace("CCG", "SUB_ICB_LOCATION").replace("STP", "ICB") for c in real]
    assert _header(files["practice_map"][0]) == [*renamed, "SUPPLIER_NAME"]


def test_other_headers(sample):
    _, files = sample
    assert _header(files["capitation_age_sex"][0]) == [
        "PUBLICATION",
        "EXTRACT_DATE",
        "ORG_TYPE",
        "ORG_CODE",
        "ONS_CODE",
        "POSTCODE",
        "SEX",
        "AGE_GROUP_5",
        "NUMBER_OF_PATIENTS",
    ]
    assert _header(files["capitation_lsoa"][0]) == [
        "PUBLICATION",
        "EXTRACT_DATE",
        "PRACTICE_CODE",
        "PRACTICE_NAME",
        "LSOA_CODE",
        "SEX",
        "NUMBER_OF_PATIENTS",
    ]
    for path in files["qof_achievement"]:
        assert _header(path) == [
            "REGION_ODS_CODE",
            "REGION_ONS_CODE",
            "REGION_NAME",
            "PRACTICE_CODE",
            "INDICATOR_CODE",
            "MEASURE",
            "VALUE",
        ]
    iod = _header(files["deprivation_lsoa"][0])
    assert iod[:7] == [
        "LSOA code (2011)",
        "LSOA name (2011)",
        "Local Authority District code (2019)",
        "Local Authority District name (2019)",
        "Index of Multiple Deprivation (IMD) Score",
        "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
        "Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",
    ]
    for col in (
        "Health Deprivation and Disability Score",
        "Income Score (rate)",
        "Total population: mid 2015 (excluding prisoners)",
    ):
        assert col in iod
    assert len(iod) == 57  # 4 ids + 16 domains x (score, rank, decile) + 5 denominators
    assert _header(files["practice_characteristics"][0]) == [
        "PRACTICE_CODE",
        "NEW_REGISTRATIONS_12M",
        "CARE_HOME_PATIENTS",
    ]
    assert _header(files["additional_needs"][0]) == ["LSOA_CODE", "SLLI", "SMR_UNDER_65"]


# ------------------------------------------------------------------------------- consistency


def test_age_sex_all_rows_equal_the_sums_at_every_level(sample):
    _, files = sample
    df = _read(files["capitation_age_sex"][0])
    df["n"] = df["NUMBER_OF_PATIENTS"].astype(int)
    assert set(df["AGE_GROUP_5"]) == {*AGE_BANDS_5, "ALL"}
    assert set(df["ORG_TYPE"]) == {"COMM_REGION", "ICB", "SUB_ICB_LOCATION", "PCN", "GP"}
    cube = df.pivot_table(
        index=["ORG_TYPE", "ORG_CODE", "AGE_GROUP_5"], columns="SEX", values="n", aggfunc="sum"
    )
    assert (cube["ALL"] == cube["MALE"] + cube["FEMALE"]).all()
    by_band = df[df["AGE_GROUP_5"] != "ALL"].groupby(["ORG_TYPE", "ORG_CODE", "SEX"])["n"].sum()
    all_band = df[df["AGE_GROUP_5"] == "ALL"].set_index(["ORG_TYPE", "ORG_CODE", "SEX"])["n"]
    pd.testing.assert_series_equal(by_band.sort_index(), all_band.sort_index(), check_names=False)
    # Higher levels are sums of their practices.
    mapping = _read(files["practice_map"][0]).set_index("PRACTICE_CODE")
    gp = df[df["ORG_TYPE"] == "GP"].copy()
    for org_type, col in (
        ("PCN", "PCN_CODE"),
        ("SUB_ICB_LOCATION", "SUB_ICB_LOCATION_CODE"),
        ("ICB", "ICB_CODE"),
        ("COMM_REGION", "COMM_REGION_CODE"),
    ):
        gp["parent"] = mapping.loc[gp["ORG_CODE"], col].to_numpy()
        expected = gp.groupby(["parent", "SEX", "AGE_GROUP_5"])["n"].sum()
        level = df[df["ORG_TYPE"] == org_type].set_index(["ORG_CODE", "SEX", "AGE_GROUP_5"])["n"]
        assert level.sort_index().to_numpy().tolist() == expected.sort_index().to_numpy().tolist(), org_type
    only_gp_has_postcode = df.groupby("ORG_TYPE")["POSTCODE"].apply(lambda s: (s != "").all())
    assert only_gp_has_postcode["GP"] and not only_gp_has_postcode.drop("GP").any()


def test_lsoa_totals_equal_age_sex_totals_per_practice(sample):
    _, files = sample
    lsoa = _read(files["capitation_lsoa"][0])
    lsoa_total = lsoa["NUMBER_OF_PATIENTS"].astype(int).groupby(lsoa["PRACTICE_CODE"]).sum()
    age = _read(files["capitation_age_sex"][0])
    gp = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] != "ALL") & (age["AGE_GROUP_5"] != "ALL")]
    age_total = gp["NUMBER_OF_PATIENTS"].astype(int).groupby(gp["ORG_CODE"]).sum()
    assert lsoa_total.sort_index().to_dict() == age_total.sort_index().to_dict()
    assert not lsoa.duplicated(["PRACTICE_CODE", "LSOA_CODE"]).any()
    assert (lsoa["NUMBER_OF_PATIENTS"].astype(int) > 0).all()
    per_practice = lsoa.groupby("PRACTICE_CODE").size()
    assert per_practice.median() >= 24  # a few dozen to a few hundred LSOAs each
    prefixes = set(lsoa["LSOA_CODE"].str[:3])
    assert {"E01", "W01", "NO2"} <= prefixes and prefixes <= {"E01", "W01", "NO2"}
    assert (lsoa["LSOA_CODE"].str.startswith("E01").mean()) > 0.98
    # Every English LSOA used exists in the deprivation file.
    iod = set(_read(files["deprivation_lsoa"][0])["LSOA code (2011)"])
    assert set(lsoa.loc[lsoa["LSOA_CODE"].str.startswith("E01"), "LSOA_CODE"]) <= iod


def test_list_sizes_are_plausible(sample):
    _, files = sample
    age = _read(files["capitation_age_sex"][0])
    sizes = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] == "ALL") & (age["AGE_GROUP_5"] == "ALL")]
    sizes = sizes["NUMBER_OF_PATIENTS"].astype(int)
    assert 6000 <= sizes.median() <= 11000
    assert sizes.min() >= 200


def test_given_list_sizes_are_the_lists_written(tmp_path):
    """list_sizes (a payments file's registered patients) are each practice's list in the age-sex and
    LSOA files, every other draw unchanged; a practice without one is refused."""
    from gp_allocations.standardise import standardise

    first = generate_samples(tmp_path / "a", period=PERIOD, practices=30, seed=7, only=("practice_map",))
    practices = standardise("practice_map", first["practice_map"]).frame
    sizes = pd.Series(np.arange(1, 31) * 331.4, index=practices["practice_code"])
    files = generate_samples(
        tmp_path / "b",
        period=PERIOD,
        practice_map=practices,
        list_sizes=sizes,
        seed=7,
        only=("capitation_age_sex", "capitation_lsoa"),
    )
    age = _read(files["capitation_age_sex"][0])
    gp = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] == "ALL") & (age["AGE_GROUP_5"] == "ALL")]
    written = gp.set_index("ORG_CODE")["NUMBER_OF_PATIENTS"].astype(int)
    assert written.sort_index().to_dict() == sizes.round().astype(int).sort_index().to_dict()
    lsoa = _read(files["capitation_lsoa"][0]).astype({"NUMBER_OF_PATIENTS": int})
    assert lsoa.groupby("PRACTICE_CODE")["NUMBER_OF_PATIENTS"].sum().to_dict() == written.to_dict()
    with pytest.raises(ValueError, match="every practice"):
        generate_samples(tmp_path / "c", period=PERIOD, practice_map=practices, list_sizes=sizes.iloc[1:])


def test_practice_keys_are_consistent_across_files(sample):
    _, files = sample
    age = _read(files["capitation_age_sex"][0])
    capitation = set(age.loc[age["ORG_TYPE"] == "GP", "ORG_CODE"])
    contracts = set(_read(files["contracts"][0], encoding="utf-8-sig")["Practice Code"])
    mapped = set(_read(files["practice_map"][0])["PRACTICE_CODE"])
    lsoa = set(_read(files["capitation_lsoa"][0])["PRACTICE_CODE"])
    chars = set(_read(files["practice_characteristics"][0])["PRACTICE_CODE"])
    qof = set(pd.concat([_read(p) for p in files["qof_achievement"]])["PRACTICE_CODE"])
    assert len(capitation) == 200
    assert capitation == contracts == mapped == lsoa == chars == qof


def test_code_formats(sample):
    _, files = sample
    m = _read(files["practice_map"][0])
    formats = {
        "PRACTICE_CODE": r"[A-Z]\d{5}",
        "PCN_CODE": r"U\d{5}",
        "SUB_ICB_LOCATION_CODE": r"\d\d[A-Z]",
        "ICB_CODE": r"Q[A-Z0-9]{2}",
        "COMM_REGION_CODE": r"Y(56|58|59|60|61|62|63)",
        "ONS_SUB_ICB_LOCATION_CODE": r"E38\d{6}",
        "ONS_ICB_CODE": r"E54\d{6}",
        "ONS_COMM_REGION_CODE": r"E40\d{6}",
        "PRACTICE_POSTCODE": r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}",
    }
    for col, pattern in formats.items():
        assert m[col].str.fullmatch(pattern).all(), col
    assert m["SUB_ICB_LOCATION_NAME"].str.fullmatch(r"NHS .+ ICB - \d\d[A-Z]").all()
    assert (m["SUB_ICB_LOCATION_NAME"].str[-3:] == m["SUB_ICB_LOCATION_CODE"]).all()
    assert m["PCN_NAME"].str.endswith(" PCN").all()
    iod = _read(files["deprivation_lsoa"][0])
    assert iod["LSOA code (2011)"].str.fullmatch(r"E01\d{6}").all()
    assert iod["Local Authority District code (2019)"].str.fullmatch(r"E0[6-9]\d{6}").all()
    assert len(iod) == max(300, round(200 * 33755 / 6500))


def test_qof_points_never_exceed_the_indicator_maximum(sample):
    _, files = sample
    mapping = _read(files["qof_indicators"][0])
    max_points = mapping.set_index("INDICATOR_CODE")["INDICATOR_POINT_VALUE"].astype(float)
    assert 60 <= len(mapping) <= 80 and 560 <= max_points.sum() <= 635
    ach = pd.concat([_read(p) for p in files["qof_achievement"]])
    assert set(ach["MEASURE"]) == {"NUMERATOR", "DENOMINATOR", "REGISTER", "PCAS", "ACHIEVED_POINTS"}
    assert set(ach["INDICATOR_CODE"]) <= set(max_points.index)
    pts = ach[ach["MEASURE"] == "ACHIEVED_POINTS"]
    value = pts["VALUE"].astype(float)
    assert (value >= 0).all()
    assert (value <= max_points.loc[pts["INDICATOR_CODE"]].to_numpy()).all()
    wide = (
        ach[ach["MEASURE"] != "ACHIEVED_POINTS"]
        .pivot_table(
            index=["PRACTICE_CODE", "INDICATOR_CODE"], columns="MEASURE", values="VALUE", aggfunc="first"
        )
        .dropna(subset=["NUMERATOR"])
        .astype(float)
    )
    assert (wide["NUMERATOR"] <= wide["DENOMINATOR"]).all()
    # Each region file holds only that region's practices, with the region's own codes.
    for path in files["qof_achievement"]:
        part = _read(path)
        assert part["REGION_ODS_CODE"].nunique() == 1
        assert path.name == f"ACHIEVEMENT_{part['REGION_NAME'].iloc[0].upper().replace(' ', '_')}_2526.csv"


def test_prevalence_registers_fit_within_the_list(sample):
    _, files = sample
    prev = _read(files["qof_prevalence"][0])
    reg, size = prev["REGISTER"].astype(int), prev["PRACTICE_LIST_SIZE"].astype(int)
    assert ((reg >= 0) & (reg <= size)).all()
    assert set(prev["PATIENT_LIST_TYPE"]) <= {"TOTAL", "06OV", "16OV", "17OV", "18OV", "45OV", "50OV"}
    assert not prev.duplicated(["PRACTICE_CODE", "GROUP_CODE"]).any()


def test_payments_are_consistent_with_parts_price_and_lists(sample):
    _, files = sample
    pay = pd.read_csv(files["contracts"][0], encoding="utf-8-sig")
    cols = list(pay.columns)
    parts = cols[cols.index("Global Sum") : cols.index("Other Payments") + 1]
    total = pay["Total NHS Payments to General Practice"]
    assert np.allclose(pay[parts].sum(axis=1), total, atol=0.02)
    deductions = pay["Deductions for Pensions, Levies and Prescription Charge Income"]
    assert (deductions <= 0).all()
    assert np.allclose(
        total + deductions, pay["Total NHS Payments to General Practice Minus Deductions"], atol=0.02
    )
    assert np.allclose(
        total / pay["Average Number of Registered Patients"],
        pay["Average payments per registered patient"],
        atol=0.006,
    )
    gms = pay[pay["Contract Type"] == "GMS"]
    per_weighted = gms["Global Sum"] / gms["Average Number of Weighted Patients"]
    assert np.allclose(per_weighted, 123.34 * (1 - 0.0475), rtol=0.03)
    share = pay["Contract Type"].value_counts(normalize=True)
    assert set(share.index) == {"GMS", "PMS", "APMS"} and share["GMS"] > 0.55
    assert set(pay["Dispensing Practice"]) == {"Yes", "No"}
    assert set(pay["Practice Rurality"]) == {"Urban", "Rural"}
    assert 0 < (pay["MPIG Correction factor"] != 0).mean() < 0.25
    # Registered patients: close to, but not equal to, the age-sex total.
    age = _read(files["capitation_age_sex"][0])
    gp = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] == "ALL") & (age["AGE_GROUP_5"] == "ALL")]
    lists = gp.set_index("ORG_CODE")["NUMBER_OF_PATIENTS"].astype(int)
    registered = pay.set_index("Practice Code")["Average Number of Registered Patients"].loc[lists.index]
    assert (registered != lists).all()
    assert np.allclose(registered, lists, rtol=0.05)
    # Money has at most 2 decimals as printed.
    raw = _read(files["contracts"][0], encoding="utf-8-sig")
    assert raw["Global Sum"].str.fullmatch(r"-?\d+(\.\d{1,2})?").all()
    assert raw["Practice Open Date"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()


def test_qof_payments_follow_points(sample):
    _, files = sample
    pay = pd.read_csv(files["contracts"][0], encoding="utf-8-sig").set_index("Practice Code")
    ach = pd.concat([_read(p) for p in files["qof_achievement"]])
    points = ach[ach["MEASURE"] == "ACHIEVED_POINTS"].assign(v=lambda d: d["VALUE"].astype(float))
    points = points.groupby("PRACTICE_CODE")["v"].sum()
    per_point_per_patient = (
        pay.loc[points.index, "Total QOF Payments"]
        / points
        / pay.loc[points.index, "Average Number of Registered Patients"]
    )
    # £/point x list / national average list: about 220.62 / 9,964 per point per patient.
    assert np.allclose(per_point_per_patient, 220.62 / 9964, rtol=0.15)


def test_deprivation_ranks_and_deciles_are_consistent_with_scores(sample):
    _, files = sample
    iod = pd.read_csv(files["deprivation_lsoa"][0])
    score = iod["Index of Multiple Deprivation (IMD) Score"]
    rank = iod["Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)"]
    decile = iod["Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)"]
    n = len(iod)
    assert sorted(rank) == list(range(1, n + 1))
    by_rank = score.to_numpy()[np.argsort(rank.to_numpy())]
    assert (np.diff(by_rank) <= 0).all()  # rank 1 has the highest score
    assert (decile == np.ceil(rank * 10 / n)).all()
    health = iod["Health Deprivation and Disability Score"]
    assert health.between(-3.5, 3.7).all() and np.corrcoef(health, score)[0, 1] > 0.5
    needs = pd.read_csv(files["additional_needs"][0])
    assert list(needs["LSOA_CODE"]) == list(iod["LSOA code (2011)"])
    assert np.corrcoef(needs["SMR_UNDER_65"], score)[0, 1] > 0.3


def test_deprived_practices_have_younger_lists(sample):
    _, files = sample
    lsoa = _read(files["capitation_lsoa"][0])
    lsoa = lsoa[lsoa["LSOA_CODE"].str.startswith("E01")]
    iod = pd.read_csv(files["deprivation_lsoa"][0]).set_index("LSOA code (2011)")
    n = lsoa["NUMBER_OF_PATIENTS"].astype(int)
    imd = n * iod.loc[lsoa["LSOA_CODE"], "Index of Multiple Deprivation (IMD) Score"].to_numpy()
    practice_imd = imd.groupby(lsoa["PRACTICE_CODE"]).sum() / n.groupby(lsoa["PRACTICE_CODE"]).sum()
    age = _read(files["capitation_age_sex"][0])
    gp = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] == "ALL")].copy()
    gp["n"] = gp["NUMBER_OF_PATIENTS"].astype(int)
    over65 = gp[gp["AGE_GROUP_5"].isin(AGE_BANDS_5[13:])].groupby("ORG_CODE")["n"].sum()
    total = gp[gp["AGE_GROUP_5"] == "ALL"].set_index("ORG_CODE")["n"]
    old_share = (over65 / total).loc[practice_imd.index]
    assert np.corrcoef(practice_imd, old_share)[0, 1] < -0.2


def test_practice_characteristics_are_plausible(sample):
    _, files = sample
    chars = pd.read_csv(files["practice_characteristics"][0]).set_index("PRACTICE_CODE")
    age = _read(files["capitation_age_sex"][0])
    gp = age[(age["ORG_TYPE"] == "GP") & (age["SEX"] == "ALL") & (age["AGE_GROUP_5"] == "ALL")]
    lists = gp.set_index("ORG_CODE")["NUMBER_OF_PATIENTS"].astype(int).loc[chars.index]
    new_rate = chars["NEW_REGISTRATIONS_12M"] / lists
    care_rate = chars["CARE_HOME_PATIENTS"] / lists
    assert new_rate.between(0.045, 0.125).all()
    assert care_rate.between(0, 0.031).all()


def test_rejects_too_few_practices(tmp_path):
    with pytest.raises(ValueError, match="at least 10"):
        generate_samples(tmp_path, period=PERIOD, practices=5)


def test_the_nightly_package_does_not_import_the_sample_generator():
    """The generator is a tool beside the nightly package: importing the domain package, its CLI and
    its pipeline loads none of it (the CLI imports it only for `generate`)."""
    import subprocess
    import sys

    code = (
        "import sys, gp_allocations, gp_allocations.cli, gp_allocations.pipeline; "
        "print(sorted(m for m in sys.modules if m.startswith('gp_allocations_samples')))"
    )
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(plugins)},
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------- one owner per published header

# The era each extract is written in; its `published` header in include/layouts is the file's header.
WRITTEN_ERAS = {
    "practice_map": "prac_map_sub_icb_2022",
    "capitation_age_sex": "quin_age_long",
    "capitation_lsoa": "lsoa_all",
    "deprivation_lsoa": "iod2019_file7",
    "additional_needs": "carr_hill_additional_needs",
    "practice_characteristics": "carr_hill_practice_inputs",
    "qof_achievement": "qof_achievement_regional",
    "qof_prevalence": "qof_prevalence",
    "qof_indicators": "qof_indicators_2020",
    "contracts": "payments_sub_icb_2022",
}
# Values the generator writes that happen to be spelled like a header cell (a MEASURE value of the
# achievement file is REGISTER, as is a column of the prevalence file): data, not headers.
VALUES_SPELLED_LIKE_HEADERS = {"REGISTER"}


def test_every_file_is_written_under_its_eras_published_header(sample):
    from gp_allocations.layouts import layout_named, recognise

    _, files = sample
    assert set(files) == set(WRITTEN_ERAS)
    for extract, era in WRITTEN_ERAS.items():
        spec = layout_named(era)
        for path in files[extract]:
            assert tuple(_header(path)) == spec.header_row, path.name
            assert recognise(path)[1].name == era, path.name


def _header_literals(source: str, cells: set[str]) -> list[str]:
    """String constants (f-string parts included) of ``source`` spelled exactly like a header cell."""
    import ast

    found = [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in cells
    ]
    return [v for v in found if v not in VALUES_SPELLED_LIKE_HEADERS]


def test_the_generator_spells_no_published_header():
    """Every header the generator writes is spelled once, in include/layouts: its modules name cells
    (canonical columns or the names the YAML gives), never spell them."""
    import gp_allocations_samples
    from gp_allocations.layouts import all_layouts

    cells = {cell for spec in all_layouts() for cell in spec.header_row}
    assert len(cells) > 150  # the written eras' headers are declared
    package = Path(gp_allocations_samples.__file__).parent
    spelled = {p.name: _header_literals(p.read_text(), cells) for p in sorted(package.glob("*.py"))}
    assert all(not v for v in spelled.values()), spelled
    # the check catches a planted spelling, plain or inside an f-string
    planted = 'frame = {"Global Sum": 1, "PRACTICE_CODE": 2}\nname = f"{x}Income Score (rate)"'
    assert _header_literals(planted, cells | {"Income Score (rate)"}) == [
        "Global Sum",
        "PRACTICE_CODE",
        "Income Score (rate)",
    ]


def test_a_published_header_cell_must_be_read_as_the_column_it_names(tmp_path, monkeypatch):
    """A named cell the reader would map to another column, a name given twice, or a bare entry that
    is no column name is a broken layout table: loading fails, naming the layout."""
    import shutil

    from gp_allocations import layouts

    broken = {
        "not read as the columns they name": ("      - pcn_name\n", '      - {pcn_name: "PCN Lead"}\n'),
        "a name is given to two cells": ("      - pcn_name\n", "      - pcn_code\n"),
        "is no column name": ("      - pcn_name\n", "      - PCN Name\n"),
    }
    source = layouts.layouts_dir()
    for i, (message, (good, bad)) in enumerate(broken.items()):
        folder = tmp_path / f"layouts{i}"
        shutil.copytree(source, folder)
        text = (folder / "contracts.yaml").read_text()
        assert text.count(good) == 1
        (folder / "contracts.yaml").write_text(text.replace(good, bad))
        monkeypatch.setattr(layouts, "layouts_dir", lambda folder=folder: folder)
        with pytest.raises(ValueError, match=message):
            layouts.all_layouts()
