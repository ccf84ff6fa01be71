"""Recognising NHS files by their published layout (small synthetic files for each era quirk)."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from gp_allocations.errors import InputError, LayoutError
from gp_allocations.extracts import EXTRACTS
from gp_allocations.layouts import all_layouts, normalise, recognise, schema_for

PAY_2022 = (
    "NHS England (Region) code,NHS England (Region) Name,Sub ICB Code,Sub ICB NAME,PCN Code,PCN Name,"
    "Practice Code,Practice Name,Practice Postcode,Contract Type,Dispensing Practice,Practice Rurality,"
    "Average Number of Registered Patients,Average Number of Weighted Patients,Global Sum,"
    "MPIG Correction factor,Total QOF Payments,Total NHS Payments to General Practice"
)
PAY_2022_ROW = (
    "Y63,NE,16C,NHS X ICB - 16C,U89141,STOCKTON PCN,A81001,DENSHAM,TS18 1HU,GMS,No,Urban,"
    "4029.25,4579.78,438099.78,0,52178.74,720462.51"
)
PAY_2019 = (
    "NHS England and NHS Improvement Region Code,NHS England and NHS Improvement Region Name,"
    "CCG Code,CCG Name,"
    "PCN Code,PCN Name,Practice Code,Practice Name,Practice Postcode,Practice Open Date,Contract Type,"
    "Dispensing Practice,Practice Rurality,Average number of registered patients1,"
    "Average number of weighted patients1,Global Sum,MPIG Correction factor,Total QOF Payments,"
    "Total NHS Payments to General Practice,Total NHS Payments to General Practice Minus Deductions2"
)
PAY_2014 = (
    "NHS England (Region) code,NHS England (Region) Name,CCG Code,CCG NAME,Practice Code,Practice Name,"
    "Practice Postcode,Contract Type,Dispensing Practice,Quarter used for patient data,"
    "Number of Registered Patients (Last Known Figure),Number of Weighted Patients (Last Known Figure),"
    "Global Sum,MPIG Correction factor,Total QOF Payments,Total NHS Payments to General Practice"
)
MAP_CCG = (
    "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,PRACTICE_POSTCODE,PCN_CODE,PCN_NAME,ONS_CCG_CODE,"
    "CCG_CODE,CCG_NAME,ONS_STP_CODE,STP_CODE,STP_NAME,ONS_COMM_REGION_CODE,COMM_REGION_CODE,COMM_REGION_NAME"
)
MAP_SUB_ICB = MAP_CCG.replace(
    "ONS_CCG_CODE,CCG_CODE,CCG_NAME", "ONS_SUB_ICB_LOCATION_CODE,SUB_ICB_LOCATION_CODE,SUB_ICB_LOCATION_NAME"
).replace("ONS_STP_CODE,STP_CODE,STP_NAME", "ONS_ICB_CODE,ICB_CODE,ICB_NAME")
MAP_SUB_ICB_LOC = MAP_SUB_ICB.replace("SUB_ICB_LOCATION_", "SUB_ICB_LOC_")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def row_for(header: str) -> str:
    return ",".join("1" for _ in header.split(","))


def test_normalise_collapses_newlines_bom_case_footnotes_and_last_known_figure():
    assert normalise("\ufeffSub ICB Loc \nODS code") == "sub icb loc ods code"
    assert normalise("Average number of registered patients1") == "average number of registered patients"
    assert normalise("Extended Hours Access4") == "extended hours access"
    assert normalise("Number of Registered Patients (Last Known Figure)") == "number of registered patients"
    assert normalise("  Sub ICB NAME ") == normalise("Sub ICB Name")
    # digits that are part of a name survive
    assert normalise("AGE_GROUP_5") == "age_group_5"
    assert normalise("LSOA code (2011)") == "lsoa code (2011)"
    assert normalise("SMR_UNDER_65") == "smr_under_65"


def test_every_alias_table_loads_and_covers_every_required_canonical_column():
    layouts = all_layouts()
    names = [s.name for s in layouts]
    assert len(names) == len(set(names))
    for extract, spec in EXTRACTS.items():
        mine = [s for s in layouts if s.extract == extract]
        assert mine, f"no layout for {extract}"
        for layout in mine:
            targets = set(layout.columns.values()) | set(layout.header_values)
            for col in spec.columns:
                if not col.nullable:
                    assert col.name in targets, (layout.name, col.name)
    assert schema_for("contracts").column_names == EXTRACTS["contracts"].column_names


@pytest.mark.parametrize(
    ("header", "extract", "layout"),
    [
        (PAY_2022, "contracts", "payments_sub_icb_2022"),
        (PAY_2022.replace("Sub ICB NAME", "Sub ICB Name"), "contracts", "payments_sub_icb_2022"),
        (PAY_2019, "contracts", "payments_ccg_2019"),
        (PAY_2014, "contracts", "payments_ccg_2014"),
        (MAP_CCG, "practice_map", "prac_map_ccg_2020"),
        (MAP_SUB_ICB + ",SUPPLIER_NAME", "practice_map", "prac_map_sub_icb_2022"),
        (MAP_SUB_ICB_LOC, "practice_map", "prac_map_sub_icb_2022"),
        ("PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE", "qof_achievement", "qof_achievement_national"),
        (
            "REGION_ODS_CODE,REGION_ONS_CODE,REGION_NAME,PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE",
            "qof_achievement",
            "qof_achievement_regional",
        ),
        (
            "PRACTICE_CODE,GROUP_CODE,REGISTER,PATIENT_LIST_TYPE,PRACTICE_LIST_SIZE",
            "qof_prevalence",
            "qof_prevalence",
        ),
        (
            "INDICATOR_CODE,INDICATOR_POINT_VALUE,GROUP_CODE,GROUP_DESCRIPTION,DOMAIN_CODE,DOMAIN_DESCRIPTION,"
            "PATIENT_LIST_TYPE",
            "qof_indicators",
            "qof_indicators_2020",
        ),
        (
            "INDICATOR_CODE,INDICATOR_DESCRIPTION,INDICATOR_POINT_VALUE,GROUP_CODE,GROUP_DESCRIPTION,DOMAIN_CODE,"
            "DOMAIN_DESCRIPTION,SUB_DOMAIN_CODE,SUB_DOMAIN_DESCRIPTION,PATIENT_LIST_TYPE",
            "qof_indicators",
            "qof_indicators_2024",
        ),
        (
            "PUBLICATION,EXTRACT_DATE,ORG_TYPE,ORG_CODE,ONS_CODE,POSTCODE,SEX,AGE_GROUP_5,NUMBER_OF_PATIENTS",
            "capitation_age_sex",
            "quin_age_long",
        ),
        (
            "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,NUMBER_OF_PATIENTS",
            "capitation_lsoa",
            "lsoa_all",
        ),
        (
            "IndicatorID,Year,AreaCode,AreaName,IsAreaCurrent,Value",
            "deprivation_practice",
            "fingertips_93553",
        ),
        (
            "PRACTICE_CODE,NEW_REGISTRATIONS_12M,CARE_HOME_PATIENTS",
            "practice_characteristics",
            "carr_hill_practice_inputs",
        ),
        ("LSOA_CODE,SLLI,SMR_UNDER_65", "additional_needs", "carr_hill_additional_needs"),
        (
            '"LSOA code (2011)","LSOA name (2011)","Local Authority District code (2019)",'
            '"Local Authority District name (2019)","Index of Multiple Deprivation (IMD) Score",'
            '"Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",'
            '"Index of Multiple Deprivation (IMD) Decile (where 1 is most deprived 10% of LSOAs)",'
            '"Income Score (rate)","Health Deprivation and Disability Score",'
            '"Total population: mid 2015 (excluding prisoners)"',
            "deprivation_lsoa",
            "iod2019_file7",
        ),
        (
            '"Sub ICB Loc \nODS code","Sub ICB Loc \nONS code",Sub ICB Loc name,PCN ODS code,PCN name,'
            "Practice code,Practice name,List size,Achievement score (635 max)",
            "qof_practice_summary",
            "qof_summary_sub_icb_2022",
        ),
    ],
)
def test_recognises_each_era(tmp_path, header, extract, layout):
    n_fields = len(next(csv.reader([header.replace("\n", " ")])))
    path = write(tmp_path / "file.csv", header + "\n" + ",".join(["1"] * n_fields) + "\n")
    got_extract, spec = recognise(path)
    assert (got_extract, spec.name) == (extract, layout)


def test_recognises_with_bom_and_latin1(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (PAY_2022 + "\n" + PAY_2022_ROW + "\n").encode())
    assert recognise(path)[1].name == "payments_sub_icb_2022"
    latin = write(
        tmp_path / "PREVALENCE_2021.csv",
        "PRACTICE_CODE,GROUP_CODE,REGISTER,PATIENT_LIST_TYPE,PRACTICE_LIST_SIZE\nA81001,AF,9,TOTAL,1\n"
        "A81002,DM,3,Ysbyty Gwynedd \u00f4,2\n",
        "latin-1",
    )
    assert recognise(latin)[0] == "qof_prevalence"


def test_recognises_headerless_epraccur(tmp_path):
    fields = [
        "A81001",
        "THE DENSHAM SURGERY",
        "Y63",
        "QHM",
        "",
        "",
        "",
        "",
        "",
        "TS18 1HU",
        "19740401",
        "",
        "A",
        "B",
        "16C",
        "20200401",
        "",
        "01642 672351",
        "",
        "",
        "",
        "0",
        "",
        "16C",
        "",
        "4",
        "",
    ]
    line = ",".join(f'"{f}"' for f in fields)
    path = write(tmp_path / "epraccur.csv", line + "\n" + line.replace("A81001", "A81002") + "\n")
    assert recognise(path)[1].name == "epraccur_27"
    # 26 fields is not epraccur
    short = write(tmp_path / "short.csv", ",".join(f'"{f}"' for f in fields[:26]) + "\n")
    with pytest.raises(LayoutError):
        recognise(short)


def test_unknown_layout_error_names_file_found_columns_and_ranked_closest_layouts(tmp_path):
    header = PAY_2022.replace("Global Sum,", "Global Summ,")
    path = write(tmp_path / "mystery.csv", header + "\n" + row_for(header) + "\n")
    with pytest.raises(LayoutError) as info:
        recognise(path)
    err = info.value
    text = str(err)
    assert err.file == "mystery.csv" and err.rule == "layout"
    assert "Found columns" in text and "Global Summ" in text
    ranked = [line for line in text.splitlines() if line.strip()[:2] in {"1.", "2.", "3."}]
    assert len(ranked) == 3
    # the closest layout is the 2022 payments layout and it says exactly which column is missing
    assert "payments_sub_icb_2022" in ranked[0]
    assert "missing required column(s) ['Global Sum']" in ranked[0]


def test_missing_required_column_of_alias_group_is_named(tmp_path):
    header = MAP_SUB_ICB.replace("SUB_ICB_LOCATION_CODE,", "")
    path = write(tmp_path / "gp-reg-pat-prac-map.csv", header + "\n" + row_for(header) + "\n")
    with pytest.raises(LayoutError) as info:
        recognise(path)
    assert "'SUB_ICB_LOCATION_CODE' or 'SUB_ICB_LOC_CODE'" in str(info.value)


def test_zip_is_opened_and_zip_without_csv_is_an_error(tmp_path):
    good = tmp_path / "gp-reg-pat-prac-map.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("readme.txt.pdf", "not a table")
        zf.writestr("gp-reg-pat-prac-map.csv", MAP_CCG + "\n" + row_for(MAP_CCG) + "\n")
    assert recognise(good)[1].name == "prac_map_ccg_2020"
    bad = tmp_path / "empty.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("notes.pdf", "nothing")
    with pytest.raises(InputError, match="zip contains no CSV"):
        recognise(bad)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\xef\xbb\xbf\n")
    with pytest.raises(InputError, match="file is empty") as info:
        recognise(path)
    assert info.value.file == "empty.csv"


def test_display_name_is_used_in_errors(tmp_path):
    path = write(tmp_path / "x.csv", "A,B\n1,2\n")
    with pytest.raises(LayoutError) as info:
        recognise(path, display_name="s3://bucket/x.csv")
    assert info.value.file == "s3://bucket/x.csv"
