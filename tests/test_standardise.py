"""Standardising recognised files onto the canonical schemas (small synthetic files)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from gp_allocations.conversions import parse_dates
from gp_allocations.errors import InputError, LayoutError
from gp_allocations.extracts import EXTRACTS
from gp_allocations.money import pounds_to_pence
from gp_allocations.standardise import inspect_file, period_from_name, standardise

PAY_2019 = (
    "NHS England and NHS Improvement Region Code,NHS England and NHS Improvement Region Name,"
    "CCG Code,CCG Name,"
    "PCN Code,PCN Name,Practice Code,Practice Name,Practice Postcode,Practice Open Date,Contract Type,"
    "Dispensing Practice,Practice Rurality,Average number of registered patients1,"
    "Average number of weighted patients1,Global Sum,MPIG Correction factor,Total QOF Payments,"
    "Total NHS Payments to General Practice,Total NHS Payments to General Practice Minus Deductions2"
)
QUIN = "PUBLICATION,EXTRACT_DATE,ORG_TYPE,ORG_CODE,ONS_CODE,POSTCODE,SEX,AGE_GROUP_5,NUMBER_OF_PATIENTS"
LSOA = "PUBLICATION,EXTRACT_DATE,PRACTICE_CODE,PRACTICE_NAME,LSOA_CODE,SEX,NUMBER_OF_PATIENTS"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_payments_2019_footnotes_excel_serials_and_exact_pence(tmp_path):
    rows = [
        "Y56,LONDON,07M,NHS BARNET CCG,U33392,BARNET 2 PCN,E83003,OAKLEIGH,N20  0DH,31138,GMS,No,Urban,"
        "9023.5,8292.59,730443.21,11698.32,93061.5,1131382.35,985417.71",
        "Y56,LONDON,07M,NHS BARNET CCG,Unknown or no PCN,Unknown or no PCN,E83005,LICHFIELD,N3 2JP,"
        "32064,PMS,No,Urban,6284.5,5129.76,1234.5,-0.07,0.1,0.29,1",
    ]
    path = write(tmp_path / "nhspaymentsgp-19-20-prac-csv.csv", PAY_2019 + "\n" + "\n".join(rows) + "\n")
    result = standardise("contracts", [path])
    frame = result.frame
    assert result.layout == "payments_ccg_2019" and result.period_hint == "2019/20"
    assert list(frame.columns) == [*EXTRACTS["contracts"].column_names, "_file", "_row"]
    assert frame["global_sum_pence"].tolist() == [73044321, 123450]
    assert frame["mpig_pence"].tolist() == [1169832, -7]
    # 0.1 + 0.29 pounds as floats would not be 39 pennies exactly; pennies are exact integers
    assert (frame["qof_pence"] + frame["total_payments_pence"]).tolist() == [93061.5 * 100 + 113138235, 39]
    assert frame["qof_pence"].dtype == "int64"
    assert frame["total_payments_pence"].tolist() == [pounds_to_pence("1131382.35"), pounds_to_pence("0.29")]
    assert frame["registered_patients"].tolist() == [9023.5, 6284.5]
    assert frame["sub_icb_code"].tolist() == ["07M", "07M"]
    assert frame["pcn_code"].isna().tolist() == [False, True]
    assert frame["_row"].tolist() == [2, 3]
    assert set(frame["_file"]) == {"nhspaymentsgp-19-20-prac-csv.csv"}


def test_money_finer_than_a_penny_is_refused_and_trailing_zeros_are_exact(tmp_path):
    header = PAY_2019
    row = "Y56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,1,1,0.120,-0.1,10.00,2.6700,1"
    result = standardise("contracts", [write(tmp_path / "p.csv", header + "\n" + row + "\n")])
    f = result.frame.iloc[0]
    got = (f["global_sum_pence"], f["mpig_pence"], f["qof_pence"], f["total_payments_pence"])
    assert got == (12, -10, 1000, 267)
    bad = row.replace(",2.6700,", ",2.675,")
    with pytest.raises(InputError) as info:
        standardise("contracts", [write(tmp_path / "q.csv", header + "\n" + bad + "\n")])
    assert info.value.row == 2 and info.value.rule == "type:money"
    assert "value '2.675' is not in whole pennies: it has a fraction of a penny" in str(info.value)


def test_non_numeric_count_names_file_row_published_column_and_rule(tmp_path):
    lines = [QUIN]
    for i, value in enumerate(["10", "11", "12", "1O"]):  # letter O typed for zero in the 4th data row
        lines.append(f"GP_PRAC_PAT_LIST,2024-06-01,GP,A8100{i},E38000247,TS18 1HU,MALE,0_4,{value}")
    path = write(tmp_path / "gp-reg-pat-prac-quin-age.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        standardise("capitation_age_sex", [path])
    err = info.value
    assert (err.file, err.row, err.column, err.rule) == (
        "gp-reg-pat-prac-quin-age.csv",
        5,
        "NUMBER_OF_PATIENTS",
        "type:integer",
    )
    assert "'1O'" in str(err)


def test_non_numeric_money_is_an_error_naming_the_published_column(tmp_path):
    row = "Y56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,1,1,twelve,0,0,0,0"
    with pytest.raises(InputError) as info:
        standardise("contracts", [write(tmp_path / "p.csv", PAY_2019 + "\n" + row + "\n")])
    assert (info.value.row, info.value.column, info.value.rule) == (2, "Global Sum", "type:money")


def test_quin_age_keeps_gp_male_female_bands_and_drops_all_rows(tmp_path):
    lines = [QUIN]
    lines.append("GP_PRAC_PAT_LIST,01-Sep-20,Comm Region,Y63,E40000009,,MALE,0_4,3")
    for sex, scale in (("MALE", 1), ("FEMALE", 1), ("ALL", 2)):
        for band, n in (("0_4", 3), ("95+", 1), ("ALL", 4)):
            lines.append(f"GP_PRAC_PAT_LIST,01-Sep-20,GP,A81001,E38000247,TS18 1HU,{sex},{band},{n * scale}")
    path = write(tmp_path / "gp-reg-pat-prac-quin-age.csv", "\n".join(lines) + "\n")
    result = standardise("capitation_age_sex", [path])
    frame = result.frame
    assert sorted(zip(frame["sex"], frame["age_band"], strict=True)) == [
        ("FEMALE", "0_4"),
        ("FEMALE", "95+"),
        ("MALE", "0_4"),
        ("MALE", "95+"),
    ]
    assert frame["patients"].sum() == 8
    assert frame["patients"].dtype == "int64"
    # rows keep their line numbers in the source: region row is 2, GP MALE 0_4 is 3, GP FEMALE 0_4 is 6
    assert sorted(frame["_row"]) == [3, 4, 6, 7]
    assert result.period_hint == "2020-09-01"
    assert frame["extract_date"].iloc[0] == pd.Timestamp("2020-09-01")


def test_quin_age_unknown_band_is_an_error_not_silently_dropped(tmp_path):
    text = QUIN + "\nGP_PRAC_PAT_LIST,01JAN2021,GP,A81001,E38,TS1,MALE,95_99,2\n"
    with pytest.raises(InputError) as info:
        standardise("capitation_age_sex", [write(tmp_path / "q.csv", text)])
    assert (info.value.row, info.value.column, info.value.rule) == (2, "AGE_GROUP_5", "allowed-values")


def test_lsoa_all_keeps_sex_all_rows_and_reads_zip_members(tmp_path):
    body = (
        "\n".join(
            [
                LSOA,
                "GP_PRAC_PAT_LIST,01Jan2022,A81001,DENSHAM,E01012070,ALL,120",
                "GP_PRAC_PAT_LIST,01Jan2022,A81001,DENSHAM,E01012070,MALE,60",
                "GP_PRAC_PAT_LIST,01Jan2022,A81001,DENSHAM,NO2011,ALL,3",
            ]
        )
        + "\n"
    )
    archive = tmp_path / "gp-reg-pat-prac-lsoa-jan-22.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("gp-reg-pat-prac-lsoa-all.csv", body)
    result = standardise("capitation_lsoa", [archive])
    frame = result.frame
    assert frame["lsoa_code"].tolist() == ["E01012070", "NO2011"]
    assert frame["patients"].tolist() == [120, 3]
    assert frame["_row"].tolist() == [2, 4]
    assert frame["_file"].iloc[0] == "gp-reg-pat-prac-lsoa-jan-22.zip:gp-reg-pat-prac-lsoa-all.csv"
    assert result.period_hint == "2022-01-01"


def test_latin1_file_is_read_and_encoding_reported(tmp_path):
    text = (
        "INDICATOR_CODE,INDICATOR_POINT_VALUE,GROUP_CODE,GROUP_DESCRIPTION,DOMAIN_CODE,DOMAIN_DESCRIPTION,"
        "PATIENT_LIST_TYPE\nAF006,12,AF,Atrial fibrillation \u2013 caf\u00e9,CL,Clinical,TOTAL\n"
    )
    path = write(tmp_path / "MAPPING_INDICATORS_2021_v2.csv", text.replace("\u2013", "-"), "latin-1")
    result = standardise("qof_indicators", [path])
    assert result.encoding == "latin-1"
    assert result.frame["group_description"].iloc[0] == "Atrial fibrillation - caf\u00e9"
    assert result.frame["indicator_point_value"].iloc[0] == 12.0
    assert result.period_hint == "2020/21"


def test_bom_and_embedded_newline_headers_and_max_points_from_header(tmp_path):
    text = (
        '"Sub ICB Loc \nODS code","Sub ICB Loc \nONS code",Sub ICB Loc name,PCN ODS code,PCN name,'
        "Practice code,Practice name,List size,Achievement score (564 max)\r\n"
        "00L,E38000130,NHS NENC ICB - 00L,U25545,Well Up North PCN,A84006,Alnwick,18846,586.63\r\n"
        "00L,E38000130,NHS NENC ICB - 00L,U,,A84007,Other,1204,500\r\n"
    )
    path = tmp_path / "QOF 2025-26.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = standardise("qof_practice_summary", [path])
    frame = result.frame
    assert result.encoding == "utf-8-sig"
    assert frame["max_points"].tolist() == [564.0, 564.0]
    assert frame["list_size"].tolist() == [18846, 1204]
    assert frame["pcn_code"].isna().tolist() == [False, True]  # "U" = not in a PCN
    # the quoted header spans 3 physical lines but is row 1: data rows are 2 and 3
    assert frame["_row"].tolist() == [2, 3]
    assert result.period_hint == "2025/26"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01-Sep-20", dt.date(2020, 9, 1)),
        ("01JAN2021", dt.date(2021, 1, 1)),
        ("01Jan2022", dt.date(2022, 1, 1)),
        ("2024-06-01", dt.date(2024, 6, 1)),
        ("31/03/2022", dt.date(2022, 3, 31)),
        ("19740401", dt.date(1974, 4, 1)),
        ("31138", dt.date(1985, 4, 1)),  # Excel serial: 1899-12-30 + 31138 days
    ],
)
def test_each_date_format(text, expected):
    assert (dt.date(1899, 12, 30) + dt.timedelta(days=31138)) == dt.date(1985, 4, 1)
    parsed = parse_dates(pd.Series([text, None], dtype="str"))
    assert parsed.iloc[0].date() == expected
    assert pd.isna(parsed.iloc[1])


def test_unparseable_date_is_an_error(tmp_path):
    text = LSOA + "\nGP_PRAC_PAT_LIST,1st June,A81001,D,E01012070,ALL,1\n"
    with pytest.raises(InputError) as info:
        standardise("capitation_lsoa", [write(tmp_path / "l.csv", text)])
    assert (info.value.row, info.value.column, info.value.rule) == (2, "EXTRACT_DATE", "type:date")


def test_header_only_and_wrong_extract_and_zip_without_csv(tmp_path):
    with pytest.raises(InputError, match="no data rows"):
        standardise("capitation_lsoa", [write(tmp_path / "h.csv", LSOA + "\n\n")])
    lsoa = write(tmp_path / "l.csv", LSOA + "\nGP_PRAC_PAT_LIST,01Jan2022,A81001,D,E01012070,ALL,1\n")
    with pytest.raises(LayoutError, match="capitation_lsoa file"):
        standardise("capitation_age_sex", [lsoa])
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.xlsx", b"PK")
    with pytest.raises(InputError, match="zip contains no CSV"):
        standardise("capitation_lsoa", [archive])


def test_missing_required_column_when_standardising_names_it(tmp_path):
    text = "PRACTICE_CODE,GROUP_CODE,REGISTER,PATIENT_LIST_TYPE\nA81001,AF,1,TOTAL\n"
    with pytest.raises(LayoutError) as info:
        standardise("qof_prevalence", [write(tmp_path / "PREVALENCE_2021.csv", text)])
    assert "missing required column(s) ['PRACTICE_LIST_SIZE']" in str(info.value)


def test_regional_achievement_files_are_concatenated_with_provenance(tmp_path):
    header = "REGION_ODS_CODE,REGION_ONS_CODE,REGION_NAME,PRACTICE_CODE,INDICATOR_CODE,MEASURE,VALUE"
    a = write(
        tmp_path / "ACHIEVEMENT_LONDON_2223.csv",
        header + "\nY56,E40000003,LONDON,E83003,AF006,NUMERATOR,10\n",
    )
    b = write(
        tmp_path / "ACHIEVEMENT_SOUTH_WEST_2223.csv",
        header + "\nY58,E40000006,SOUTH WEST,L81001,AF006,NUMERATOR,7.5\nY58,E40000006,SW,L81001,AF006,"
        "DENOMINATOR,9\n",
    )
    result = standardise("qof_achievement", [a, b], display_names=["london.csv", "sw.csv"])
    frame = result.frame
    assert frame["practice_code"].tolist() == ["E83003", "L81001", "L81001"]
    assert frame["value"].tolist() == [10.0, 7.5, 9.0]
    assert frame["_file"].tolist() == ["london.csv", "sw.csv", "sw.csv"]
    assert frame["_row"].tolist() == [2, 2, 3]
    assert result.layout == "qof_achievement_regional" and result.period_hint == "2022/23"


def test_fingertips_long_format_and_epcn_xlsx(tmp_path):
    fingertips = write(
        tmp_path / "fingertips_93553_practice_imd.csv",
        "\ufeffIndicatorID,Year,AreaCode,AreaName,IsAreaCurrent,Value\r\n"
        "93553,2015,A81001,Densham,1,29.14031034\r\n93553,2019,A81001,Densham,1,32.36093926\r\n",
    )
    result = standardise("deprivation_practice", [fingertips])
    assert result.frame["imd_year"].tolist() == [2015, 2019]
    assert result.frame["imd_score"].tolist() == [29.14031034, 32.36093926]
    assert result.period_hint == "2019"
    # another indicator's rows are not silently dropped: the file is not what the layout reads
    with fingertips.open("a") as f:
        f.write("99999,2019,A81001,Densham,1,1\r\n")
    with pytest.raises(InputError) as info:
        standardise("deprivation_practice", [fingertips])
    assert (info.value.row, info.value.column, info.value.rule) == (4, "IndicatorID", "allowed-values")
    assert "value '99999' is not one of ['93553']" in str(info.value)

    book = tmp_path / "ePCN.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        pd.DataFrame(
            {
                "PCN Code": ["U16464", "U91979"],
                "PCN Name": ["BARNSLEY PCN", "BILLERICAY PCN"],
                "Current Sub ICB Loc Code": ["02P", "99E"],
                "Sub ICB Location": ["A", "B"],
                "Open Date": ["20191001", "20200401"],
                "Close Date": [None, "20220630"],
            }
        ).to_excel(writer, sheet_name="PCNDetails", index=False)
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="PCN Core Partner Details", index=False)
    info = inspect_file(book)
    assert info["layout"] == "epcn_sub_icb_2022" and info["rows"] == 2
    assert info["columns"]["sub_icb_code"] == "Current Sub ICB Loc Code"
    frame = standardise("pcn_reference", [book]).frame
    assert frame["open_date"].dt.date.tolist() == [dt.date(2019, 10, 1), dt.date(2020, 4, 1)]
    assert frame["close_date"].isna().tolist() == [True, False]


def test_inspect_file_reports_layout_period_rows_and_column_map(tmp_path):
    path = write(
        tmp_path / "nhspaymentsgp-19-20-prac-csv.csv",
        PAY_2019 + "\nY56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,1,1,1,0,0,1,1\n",
    )
    info = inspect_file(path)
    assert info["extract"] == "contracts" and info["layout"] == "payments_ccg_2019"
    assert info["period"] == "2019/20" and info["rows"] == 1 and info["encoding"] == "utf-8"
    assert info["columns"]["registered_patients"] == "Average number of registered patients1"
    assert info["columns"]["sub_icb_code"] == "CCG Code"
    assert "Practice Open Date" in info["ignored_columns"]


def test_period_from_name():
    assert period_from_name("nhspaymentsgp-22-23-prac-csv.csv") == "2022/23"
    assert period_from_name("QOF 2022-23.csv") == "2022/23"
    assert period_from_name("ACHIEVEMENT_LONDON_2223.csv", qof=True) == "2022/23"
    assert period_from_name("MAPPING_INDICATORS_2021_v2.csv", qof=True) == "2020/21"
    assert period_from_name("LSOA_2011_to_LSOA_2021_Lookup_E_W.csv") is None


def _quin_with(value: str) -> str:
    cell = f'"{value}"' if "," in value else value
    rows = [f"GP_PRAC_PAT_LIST,2024-06-01,GP,A81001,E38000247,TS18 1HU,MALE,0_4,{v}" for v in ("10", cell)]
    return QUIN + "\n" + rows[0] + "\n" + rows[1].replace("MALE,0_4", "FEMALE,0_4") + "\n"


@pytest.mark.parametrize(
    ("value", "rule", "reason"),
    [
        ("1e3", "type:integer", "exponent notation is not read"),
        ("inf", "type:integer", "not a finite number"),
        ("NaN", "type:integer", "not a finite number"),
        ("\u0661\u0662", "type:integer", "other Unicode digits"),  # Arabic-Indic 12
        ("\uff11\uff12", "type:integer", "other Unicode digits"),  # full-width 12
        ("1,204", "type:integer", "thousands separators are not read"),
        ("-5", "type:integer", "a count cannot be negative"),
        ("12.5", "type:integer", "a count is a whole number"),
        ("12.0", "type:integer", "a count is a whole number"),
        ("+7", "type:integer", ""),
        ("9223372036854775808", "range:count", ""),  # beyond int64
        ("1000000001", "range:count", ""),  # beyond max_count
    ],
)
def test_a_count_is_plain_non_negative_ascii_digits_within_the_limit(tmp_path, value, rule, reason):
    path = write(tmp_path / "gp-reg-pat-prac-quin-age.csv", _quin_with(value))
    with pytest.raises(InputError) as info:
        standardise("capitation_age_sex", [path])
    err = info.value
    assert (err.file, err.row, err.column, err.rule) == (
        "gp-reg-pat-prac-quin-age.csv",
        3,
        "NUMBER_OF_PATIENTS",
        rule,
    )
    assert repr(value) in str(err) and reason in str(err)


def test_a_count_at_the_limit_is_read_and_the_limit_is_a_setting(tmp_path, monkeypatch):
    path = write(tmp_path / "gp-reg-pat-prac-quin-age.csv", _quin_with("1000000000"))
    assert standardise("capitation_age_sex", [path]).frame["patients"].tolist() == [10, 1_000_000_000]
    monkeypatch.setenv("GP_ALLOC_LIMIT_MAX_COUNT", "999")
    with pytest.raises(
        InputError, match=r"row 3, .*rule range:count: value '1000000000' is more than 999, the most"
    ):
        standardise("capitation_age_sex", [path])


@pytest.mark.parametrize(
    ("value", "rule", "reason"),
    [
        ("1e3", "type:money", "exponent notation"),
        ("9e18", "type:money", "exponent notation"),
        ("1e30", "type:money", "exponent notation"),
        ("inf", "type:money", "not a finite number"),
        ("-inf", "type:money", "not a finite number"),
        ("NaN", "type:money", "not a finite number"),
        ("\u0661\u0662.50", "type:money", "other Unicode digits"),
        ("1,234.50", "type:money", "thousands separators"),
        ("£12.34", "type:money", "currency sign"),
        ("12.3.4", "type:money", ""),
        ("9000000000000000000", "range:money", ""),  # 9e18 pounds: beyond int64 pennies
        ("100000000000.01", "range:money", ""),  # beyond max_money_pounds
        ("-100000000001", "range:money", ""),
    ],
)
def test_money_parses_to_pennies_or_fails_naming_the_value(tmp_path, value, rule, reason):
    cell = f'"{value}"' if "," in value else value
    row = f"Y56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,1,1,{cell},0,0,0,0"
    path = write(tmp_path / "p.csv", PAY_2019 + "\n" + row + "\n")
    with pytest.raises(InputError) as info:
        standardise("contracts", [path])
    err = info.value
    assert (err.row, err.column, err.rule) == (2, "Global Sum", rule)
    assert repr(value) in str(err) and reason in str(err)


def test_money_at_the_limit_is_exact(tmp_path):
    row = "Y56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,1,1,100000000000.00,-100000000000,0.01,0,0"
    frame = standardise("contracts", [write(tmp_path / "p.csv", PAY_2019 + "\n" + row + "\n")]).frame
    assert frame["global_sum_pence"].tolist() == [10_000_000_000_000]
    assert frame["mpig_pence"].tolist() == [-10_000_000_000_000]
    assert frame["qof_pence"].tolist() == [1]


@pytest.mark.parametrize("value", ["1e3", "inf", "NaN", "1,234.5", "\u0661.5", "1" * 400])
def test_a_measure_is_a_plain_finite_decimal(tmp_path, value):
    cell = f'"{value}"' if "," in value else value
    row = f"Y56,L,07M,N,U1,P,E83003,O,N20,31138,GMS,No,Urban,{cell},1,1,0,0,0,0"
    with pytest.raises(InputError) as info:
        standardise("contracts", [write(tmp_path / "p.csv", PAY_2019 + "\n" + row + "\n")])
    assert (info.value.row, info.value.rule) == (2, "type:number")
    assert info.value.column.startswith("Average number of registered patients")


@pytest.mark.parametrize("quoted", [False, True])
def test_a_cell_longer_than_the_limit_is_refused_naming_row_and_column(tmp_path, monkeypatch, quoted):
    monkeypatch.setenv("GP_ALLOC_LIMIT_MAX_FIELD_CHARS", "50")
    name = "B" * 60
    cell = f'"{name}, X"' if quoted else name
    text = LSOA + f"\nGP_PRAC_PAT_LIST,01Jan2022,A81001,{cell},E01012070,ALL,120\n"
    with pytest.raises(InputError) as info:
        standardise("capitation_lsoa", [write(tmp_path / "gp-reg-pat-prac-lsoa-all.csv", text)])
    err = info.value
    assert (err.row, err.rule) == (2, "limit:field-chars") and "limit max_field_chars" in str(err)
    assert name not in str(err)  # the value is not echoed: it may be anything
    if not quoted:
        assert err.column == "PRACTICE_NAME"


def test_a_header_wider_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    text = QUIN.replace("PUBLICATION", ",".join(f"C{i}" for i in range(200_000))) + "\n"
    with pytest.raises(InputError) as info:
        standardise("capitation_age_sex", [write(tmp_path / "gp-reg-pat-prac-quin-age.csv", text)])
    assert (info.value.row, info.value.rule) == (1, "limit:columns")
    assert "200,008 columns" in str(info.value) and "C1999" not in str(info.value)


def test_a_zip_member_expanding_past_the_ratio_is_refused_while_read(tmp_path):
    archive = tmp_path / "gp-reg-pat-prac-lsoa-jan-22.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gp-reg-pat-prac-lsoa-all.csv", LSOA + "\n" + "0" * 30_000_000)
    with pytest.raises(InputError) as info:
        standardise("capitation_lsoa", [archive])
    assert (info.value.file, info.value.rule) == (archive.name, "limit:expansion-ratio")


def test_a_workbook_whose_parts_expand_past_the_ratio_is_refused_before_openpyxl(tmp_path):
    book = tmp_path / "ePCN.xlsx"
    with zipfile.ZipFile(book, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", "<sheetData>" + " " * 30_000_000 + "</sheetData>")
    with pytest.raises(InputError) as info:
        standardise("pcn_reference", [book])
    assert (info.value.file, info.value.rule) == ("ePCN.xlsx", "limit:expansion-ratio")
