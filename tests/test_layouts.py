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


# ------------------------------------------------------------------------ matching by normalised names


def test_column_key_ignores_case_space_newlines_footnotes_punctuation_and_qualifiers():
    from gp_allocations.layouts import column_key

    same = [
        ("NHS England (Region, local office) Code", "NHS England (Region) code"),
        (
            "NHS England and NHS Improvement (Region, local office) Name",
            "NHS England and NHS Improvement Name",
        ),
        ("Number of Registered Patients (Last Known Figure)", "number of registered patients"),
        ("Doctors.Retainer.Scheme.Payments", "Doctors Retainer Scheme Payments"),
        ("PracticeRurality", "Practice Rurality"),
        ("PCN_CODE", "PCN Code"),
        ("\ufeffSub ICB Loc \nODS code", "Sub ICB Loc ODS code"),
        ("Other Payments1", "Other Payments"),
        ("Achievement score (max. 559)", "Achievement score (635 max)"),
        (
            "Total points for indicators where register exists.(Max QOF points available)",
            "Total points for indicators where register exists (Max QOF points available)",
        ),
        ("Practice Code (practice parent)", "practice code"),
        ("TotalNHSPaymentsToGeneralPractice_\u00a3", "Total NHS Payments to General Practice"),
    ]
    for a, b in same:
        assert column_key(a) == column_key(b), (a, b)
    # digits that are part of a name are kept; words are not merged away
    assert column_key("AGE_GROUP_5") == "agegroup5" and column_key("SMR_UNDER_65") == "smrunder65"
    assert column_key("Average Number of Registered Patients") != column_key("Number of Registered Patients")
    assert column_key("CCG ODS code") != column_key("CCG ONS code")


def _one_row(tmp_path: Path, header: list[str], name: str = "file.csv") -> Path:
    line = ",".join(f'"{h}"' for h in header)
    return write(tmp_path / name, line + "\n" + ",".join(["1"] * len(header)) + "\n")


PAY_2018 = [
    "NHS England and NHS Improvement (Region, local office) Code",
    "NHS England and NHS Improvement (Region, local office) Name",
    "CCG Code",
    "CCG Name",
    "Practice Code",
    "Practice Name",
    "Practice Postcode",
    "Contract Type",
    "Dispensing Practice",
    "Practice Type",
    "Practice Rurality",
    "Average Number of Registered Patients",
    "Average Number of Weighted Patients",
    "Global Sum",
    "MPIG Correction factor",
    "Total QOF Payments",
    "Total NHS Payments to General Practice",
]


@pytest.mark.parametrize(
    ("header", "layout"),
    [
        # 2017/18 as published (seen in public code reading it): the region heading in brackets
        (
            [
                "NHS England (Region, local office) Code",
                "NHS England (Region, local office) Name",
                "CCG Code",
                "CCG Name",
                "Practice Code",
                "Practice Name",
                "Contract Type",
                "Dispensing Practice",
                "PracticeType",
                "PracticeRurality",
                "Quarter used for patient data",
                "Number of Registered Patients (Last Known Figure)",
                "Number of Weighted Patients (Last Known Figure)",
                "Global Sum",
                "MPIG Correction factor",
                "Total QOF Payments",
                "Total NHS Payments to General Practice",
            ],
            "payments_ccg_2016",
        ),
        # the CamelCase CSVs of 2015/16 and 2016/17 with pound-sign suffixes
        (
            [
                "NHSEnglandRegionCode",
                "NHSEnglandRegionName",
                "CCGCode",
                "CCGName",
                "PracticeCode",
                "PracticeName",
                "ContractType",
                "QuarterUsedForPatientData",
                "NumberofRegisteredPatientsLastKnownFigure",
                "NumberofWeightedPatientsLastKnownFigure",
                "GlobalSum_\u00a3",
                "MPIGCorrectionFactor_\u00a3",
                "TotalQOFPayments_\u00a3",
                "TotalNHSPaymentsToGeneralPractice_\u00a3",
            ],
            "payments_ccg_2014",
        ),
        (PAY_2018, "payments_ccg_2018"),
        # 2019/20-2021/22 with footnote digits and a PCN; 2023/24 with 'Sub ICB Name' and a footnote
        (PAY_2019.split(","), "payments_ccg_2019"),
        (PAY_2022.replace("Sub ICB NAME", "Sub ICB Name2").split(","), "payments_sub_icb_2022"),
        (PAY_2022.upper().split(","), "payments_sub_icb_2022"),
    ],
)
def test_new_years_spellings_are_matched_and_their_era_named(tmp_path, header, layout):
    path = _one_row(tmp_path, header, "nhspaymentsgp-xx.csv")
    extract, spec = recognise(path)
    assert (extract, spec.name) == ("contracts", layout)
    found = spec.resolve(header)
    assert set(found) >= {n for n in spec.columns if n not in spec.optional}
    # every rurality or PCN column the file has is mapped, whatever its spelling
    for col in header:
        if "rurality" in col.lower():
            assert found["practice_rurality"] == col
        if col.lower().startswith("pcn code"):
            assert found["pcn_code"] == col


def test_era_is_recognised_separately_from_mapping(tmp_path, monkeypatch):
    """Mapping a spelling is one thing, naming the era another: with "Commissioner Code" added as an
    alias of sub_icb_code but no era for it, the file's columns all map and it is still refused, the
    error naming each era and the markers it lacks, rather than read under a guessed era."""
    import shutil

    from gp_allocations import layouts

    folder = tmp_path / "layouts"
    shutil.copytree(layouts.layouts_dir(), folder)
    text = (folder / "contracts.yaml").read_text()
    (folder / "contracts.yaml").write_text(
        text.replace("[Sub ICB Code, CCG Code]", "[Sub ICB Code, CCG Code, Commissioner Code]")
    )
    monkeypatch.setattr(layouts, "layouts_dir", lambda: folder)
    header = [h if h != "CCG Code" else "Commissioner Code" for h in PAY_2018]
    spec = layouts.layout_named("payments_ccg_2018")
    assert spec.resolve(header)["sub_icb_code"] == "Commissioner Code" and not spec.missing(header)
    with pytest.raises(LayoutError) as info:
        recognise(_one_row(tmp_path, header))
    err = info.value
    assert err.rule == "layout:era" and "are all found, but the file is no known era" in str(err)
    assert "payments_ccg_2018 (2018/19" in str(err) and "needs ['CCG Code']" in str(err)
    # and the 2018/19 header itself: its columns map under every era, only its markers pick 2018/19
    assert layouts.layout_named("payments_ccg_2019").marker_missing(PAY_2018) == ["pcn_code"]
    assert recognise(_one_row(tmp_path, PAY_2018, "b.csv"))[1].name == "payments_ccg_2018"


def test_qualified_duplicates_pick_the_exact_spelling_and_true_duplicates_are_refused(tmp_path):
    from gp_allocations import layouts

    spec = layouts.layout_named("iod2019_file7")
    header = ["LSOA code (2021)", "LSOA code (2011)"]
    assert spec.resolve(header)["lsoa_code"] == "LSOA code (2011)"
    both = _one_row(tmp_path, [*PAY_2022.split(","), "PCN_CODE"])
    with pytest.raises(LayoutError, match="2 columns named 'PCN Code'") as info:
        recognise(both)
    assert info.value.rule == "layout:duplicate-column"


def test_every_era_with_a_published_header_recognises_it():
    for spec in all_layouts():
        if spec.header_row:
            assert not spec.missing(list(spec.header_row)) and not spec.marker_missing(list(spec.header_row))


def test_a_new_layout_is_one_yaml_change(tmp_path, monkeypatch):
    """docs/layouts.md's worked example: a file saying "Commissioner Code" is refused with the closest
    layout and what it lacks; one change to contracts.yaml (the spelling and an era) reads it."""
    import shutil

    from gp_allocations import layouts
    from gp_allocations.standardise import standardise

    header = PAY_2022.replace("Sub ICB Code", "Commissioner Code").split(",")
    path = write(tmp_path / "nhspaymentsgp-25-26-prac-csv.csv", ",".join(header) + "\n" + PAY_2022_ROW + "\n")
    with pytest.raises(LayoutError) as info:
        recognise(path)
    assert "1. payments_" in str(info.value) and "'Sub ICB Code' or 'CCG Code'" in str(info.value)
    folder = tmp_path / "layouts"
    shutil.copytree(layouts.layouts_dir(), folder)
    text = (folder / "contracts.yaml").read_text()
    text = text.replace(
        "sub_icb_code: [Sub ICB Code, CCG Code]", "sub_icb_code: [Sub ICB Code, CCG Code, Commissioner Code]"
    )
    text += (
        "  - name: payments_commissioner_2025\n"
        '    era: "2025/26 on (Commissioner Code)"\n'
        "    markers: [Commissioner Code]\n"
    )
    (folder / "contracts.yaml").write_text(text)
    monkeypatch.setattr(layouts, "layouts_dir", lambda: folder)
    result = standardise("contracts", [path])
    assert (result.layout, result.period_hint) == ("payments_commissioner_2025", "2025/26")
    assert result.frame.loc[0, "sub_icb_code"] == "16C" and result.frame.loc[0, "pcn_code"] == "U89141"


def test_docs_name_every_era():
    text = (Path(__file__).resolve().parent.parent / "docs" / "layouts.md").read_text()
    for spec in all_layouts():
        if spec.extract in {
            "contracts",
            "qof_practice_summary",
            "practice_map",
            "pcn_reference",
            "qof_achievement",
            "qof_indicators",
            "qof_geographies",
        }:
            assert f"`{spec.name}`" in text, spec.name
