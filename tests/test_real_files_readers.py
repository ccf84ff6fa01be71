"""Every real published file in ../shared/data/real is recognised and standardised.

The figures asserted are ones a user can check by opening the file (row counts, distinct codes,
first practice's published values).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from _support import REAL, requires_real_data
from gp_allocations.extracts import EXTRACTS
from gp_allocations.layouts import layout_named, recognise, unmapped_known_columns
from gp_allocations.standardise import inspect_file, standardise

pytestmark = requires_real_data


def _std(extract: str, rel: str):
    result = standardise(extract, [REAL / rel])
    if extract in EXTRACTS:
        assert list(result.frame.columns) == [*EXTRACTS[extract].column_names, "_file", "_row"]
    return result


#: every real file: its extract and era (layout). Adding or removing a file fails the first test.
EXPECTED = {
    "payments/nhspaymentsgp-14-15-prac-csv.csv": ("contracts", "payments_ccg_2014"),
    "payments/nhspaymentsgp-15-16-prac-csv.csv": ("contracts", "payments_ccg_2014"),
    "payments/nhspaymentsgp-16-17-prac-csv.csv": ("contracts", "payments_ccg_2016"),
    "payments/nhspaymentsgp-18-19-csv.csv": ("contracts", "payments_ccg_2018"),
    "payments/nhspaymentsgp-22-23-prac-csv.csv": ("contracts", "payments_sub_icb_2022"),
    "qof/2017-18/QOF 2017-18.csv": ("qof_practice_summary", "qof_summary_ccg_2017"),
    "qof/2018-19/QOF 2018-19.csv": ("qof_practice_summary", "qof_summary_ccg_2018"),
    "qof/2022-23/QOF 2022-23.csv": ("qof_practice_summary", "qof_summary_sub_icb_2022"),
    "qof/2020-21/MAPPING_INDICATORS_2021_v2.csv": ("qof_indicators", "qof_indicators_2020"),
    "qof/2020-21/PREVALENCE_2021_v2.csv": ("qof_prevalence", "qof_prevalence"),
    "qof/2020-21/MAPPING_NHS_GEOGRAPHIES_2021.csv": ("qof_geographies", "qof_geographies_ccg_2020"),
    "qof/2020-21/ORGANISATION_REFERENCE_2021.csv": (
        "qof_organisation_reference",
        "qof_organisation_reference",
    ),
    "qof/2020-21/PRACTICE_VALIDATION_OUTCOMES_2021.csv": (
        "qof_validation_outcomes",
        "qof_validation_outcomes",
    ),
    "ods/epraccur.csv": ("ods_practices", "epraccur_27"),
    "ods/ePCN.xlsx": ("pcn_reference", "epcn_ccg_2020"),
    "registrations/gp-reg-pat-prac-map.csv": ("practice_map", "prac_map_ccg_2020"),
    "deprivation/fingertips_93553_practice_imd.csv": ("deprivation_practice", "fingertips_93553"),
    "geography/LSOA_2011_to_LSOA_2021_Lookup_E_W.csv": ("lsoa_lookup_2011_2021", "ons_lsoa11_lsoa21_lookup"),
    "allocations/nhse-place-based-allocation-tool-2025-26.csv": (
        "nhse_weighted_populations",
        "place_based_allocation_tool_2025",
    ),
}


def test_every_real_file_is_recognised():
    on_disk = {
        p.relative_to(REAL).as_posix() for p in REAL.rglob("*") if p.suffix in {".csv", ".xlsx", ".zip"}
    }
    assert on_disk == set(EXPECTED), "a real file was added or removed: extend this test"
    for rel, (extract, layout) in EXPECTED.items():
        got_extract, spec = recognise(REAL / rel)
        assert (got_extract, spec.name) == (extract, layout), rel


def _header(rel: str) -> list[str]:
    path = REAL / rel
    if path.suffix == ".xlsx":
        return [str(c) for c in pd.read_excel(path, sheet_name="PCNDetails", nrows=0).columns]
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return list(pd.read_csv(path, nrows=0, encoding=encoding).columns)
        except UnicodeDecodeError:
            continue
    raise AssertionError(rel)


def test_no_canonical_column_a_real_file_has_is_ignored():
    """Walk every real file: a header cell spelled like a canonical column of its extract (its own name,
    or an alias any layout has for it) is mapped. The 2016/17 and 2018/19 payments files' rurality and the
    2022/23 file's PCN Code are the cases the old per-era tables dropped."""
    for rel, (_, layout) in EXPECTED.items():
        spec = layout_named(layout)
        if not spec.header:
            continue
        header = _header(rel)
        assert unmapped_known_columns(spec, header) == [], rel
    mapped = {
        rel: layout_named(EXPECTED[rel][1]).resolve(_header(rel))
        for rel in ("payments/nhspaymentsgp-16-17-prac-csv.csv", "payments/nhspaymentsgp-18-19-csv.csv")
    }
    assert mapped["payments/nhspaymentsgp-16-17-prac-csv.csv"]["practice_rurality"] == "PracticeRurality"
    assert mapped["payments/nhspaymentsgp-18-19-csv.csv"]["practice_rurality"] == "Practice Rurality"
    pay22 = layout_named("payments_sub_icb_2022").resolve(
        _header("payments/nhspaymentsgp-22-23-prac-csv.csv")
    )
    assert (pay22["pcn_code"], pay22["practice_rurality"]) == ("PCN Code", "Practice Rurality")


def test_the_ignored_column_walk_catches_a_dropped_alias(tmp_path, monkeypatch):
    """The checker above is shown to catch the defect it exists for: an alias table without PCN Code."""
    import shutil

    from gp_allocations import layouts

    folder = tmp_path / "layouts"
    shutil.copytree(layouts.layouts_dir(), folder)
    text = (folder / "contracts.yaml").read_text()
    (folder / "contracts.yaml").write_text(text.replace("pcn_code: [PCN Code]", "pcn_code: [PCN Kode]"))
    monkeypatch.setattr(layouts, "layouts_dir", lambda: folder)
    spec = layouts.layout_named("payments_sub_icb_2022")
    lost = layouts.unmapped_known_columns(spec, _header("payments/nhspaymentsgp-22-23-prac-csv.csv"))
    assert lost == [("PCN Code", "pcn_code")]


def test_payments_2022_23():
    result = _std("contracts", "payments/nhspaymentsgp-22-23-prac-csv.csv")
    f = result.frame
    assert result.period_hint == "2022/23" and result.encoding == "utf-8-sig"
    assert len(f) == 6669 and f["practice_code"].is_unique
    assert f["sub_icb_code"].nunique() == 106
    assert f["region_code"].nunique() == 7
    assert f["contract_type"].value_counts().to_dict() == {
        "GMS": 4664,
        "PMS": 1615,
        "APMS": 235,
        "Unknown": 155,
    }
    assert f["pcn_code"].isna().sum() == 178  # published as "Unknown or no PCN"
    first = f.iloc[0]
    assert first["practice_code"] == "A81001" and first["sub_icb_code"] == "16C"
    assert first["registered_patients"] == 4029.25 and first["weighted_patients"] == 4579.78
    assert (first["global_sum_pence"], first["qof_pence"], first["total_payments_pence"]) == (
        43809978,
        5217874,
        72046251,
    )
    assert f["global_sum_pence"].dtype == "int64"


@pytest.mark.parametrize(
    ("rel", "period", "rows", "sub_icbs", "contract_types", "rurality", "first"),
    [
        (
            "payments/nhspaymentsgp-14-15-prac-csv.csv",
            "2014/15",
            7959,
            211,
            {"GMS": 4480, "PMS": 3190, "APMS": 289},
            {},
            ("N81632", "01C", 5707.0, 5113.0, 0, 6253400, 63599600),
        ),
        (
            "payments/nhspaymentsgp-15-16-prac-csv.csv",
            "2015/16",
            7841,
            209,
            {"GMS": 4892, "PMS": 2653, "APMS": 296},
            {},
            ("C85001", "02P", 4268.0, 5209.497299, 0, 6425081, 70768347),
        ),
        (
            "payments/nhspaymentsgp-16-17-prac-csv.csv",
            "2016/17",
            7763,
            209,
            {"GMS": 5301, "PMS": 2127, "APMS": 279, "Unknown": 56},
            {"Urban": 6544, "Rural": 1219},
            ("A81001", "00K", 4179.0, 4771.66, 36937116, 6039182, 62425715),
        ),
        (
            "payments/nhspaymentsgp-18-19-csv.csv",
            "2018/19",
            7279,
            195,
            {"GMS": 5079, "PMS": 1918, "APMS": 181, "Unknown": 101},
            {"Urban": 6063, "Rural": 1158, "MISSING": 58},
            ("A81001", "00K", 4095.25, 4728.6, 40144199, 5917356, 132347440),
        ),
    ],
)
def test_payments_ccg_years(rel, period, rows, sub_icbs, contract_types, rurality, first):
    """Each older payments year on the canonical schema: the figures a user sees opening the file."""
    result = _std("contracts", rel)
    f = result.frame
    assert result.period_hint == period and len(f) == rows and f["practice_code"].is_unique
    assert f["sub_icb_code"].nunique() == sub_icbs
    # the file spells it UNKNOWN; the era block maps it to the canonical Unknown
    assert f["contract_type"].value_counts().to_dict() == contract_types
    assert f["practice_rurality"].value_counts().to_dict() == rurality
    assert f["pcn_code"].isna().all()  # PCNs began in July 2019
    row = f.iloc[0]
    got = tuple(row[c] for c in ("practice_code", "sub_icb_code", "registered_patients", "weighted_patients"))
    money = tuple(int(row[c]) for c in ("global_sum_pence", "qof_pence", "total_payments_pence"))
    assert got + money == first


@pytest.mark.parametrize(
    ("rel", "period", "rows", "below_max", "not_available", "first"),
    [
        ("qof/2017-18/QOF 2017-18.csv", "2017/18", 7100, 182, 11, ("B82007", "02N", 9431, 559.0)),
        ("qof/2018-19/QOF 2018-19.csv", "2018/19", 6873, 152, 19, ("E83027", "07M", 7794, 557.86)),
    ],
)
def test_qof_ccg_years(rel, period, rows, below_max, not_available, first):
    """QOF 2017/18 ("All ages", "Achievement score (max. 559)") and 2018/19 ("(559 max)"): 559 points;
    practices published with ":" (not available) have no achievement."""
    result = _std("qof_practice_summary", rel)
    f = result.frame
    assert result.period_hint == period and len(f) == rows and f["practice_code"].is_unique
    assert f["max_points"].max() == 559 and int((f["max_points"] < 559).sum()) == below_max
    assert int(f["achievement_points"].isna().sum()) == not_available and f["pcn_code"].isna().all()
    row = f.iloc[0]
    assert (row["practice_code"], row["sub_icb_code"], row["list_size"], row["achievement_points"]) == first


def test_qof_2022_23_practice_summary():
    result = _std("qof_practice_summary", "qof/2022-23/QOF 2022-23.csv")
    f = result.frame
    assert len(f) == 6378 and f["practice_code"].is_unique
    # points available depend on which registers a practice has: 635 for most, fewer for 130
    assert f["max_points"].max() == 635 and int((f["max_points"] < 635).sum()) == 130
    assert (f["achievement_points"] <= f["max_points"]).all() and (f["achievement_points"] >= 0).all()
    assert f["sub_icb_code"].nunique() == 106 and int(f["pcn_code"].isna().sum()) == 63
    first = f.iloc[0]
    assert (
        first["practice_code"],
        first["sub_icb_code"],
        first["list_size"],
        first["achievement_points"],
    ) == ("A84006", "00L", 18846, 586.63)
    assert f["_row"].iloc[0] == 2  # the 3-line quoted header is row 1


def test_qof_2020_21_raw_files():
    ind = _std("qof_indicators", "qof/2020-21/MAPPING_INDICATORS_2021_v2.csv").frame
    assert len(ind) == 68 and ind["indicator_point_value"].sum() == 567
    assert set(ind["domain_code"]) >= {"CL", "PH", "QI"}
    prev = _std("qof_prevalence", "qof/2020-21/PREVALENCE_2021_v2.csv").frame
    assert (
        len(prev) == 137991 and prev["practice_code"].nunique() == 6571 and prev["group_code"].nunique() == 21
    )
    first = prev.iloc[0]
    assert (first["practice_code"], first["group_code"], first["register"], first["practice_list_size"]) == (
        "A81001",
        "AF",
        95,
        4098,
    )
    geo = standardise("qof_geographies", [REAL / "qof/2020-21/MAPPING_NHS_GEOGRAPHIES_2021.csv"]).frame
    assert len(geo) == 6571 and geo.iloc[0][["practice_code", "sub_icb_code", "icb_code"]].tolist() == [
        "A81001",
        "16C",
        "QHM",
    ]
    org = standardise(
        "qof_organisation_reference", [REAL / "qof/2020-21/ORGANISATION_REFERENCE_2021.csv"]
    ).frame
    assert len(org) == 6571 and org.iloc[0]["revised_maximum_points"] == 567
    val = standardise("qof_validation_outcomes", [REAL / "qof/2020-21/PRACTICE_VALIDATION_OUTCOMES_2021.csv"])
    assert len(val.frame) == 209 and val.frame.iloc[0]["practice_code"] == "A82034"


def test_epraccur_27_fields():
    result = _std("ods_practices", "ods/epraccur.csv")
    f = result.frame
    with open(REAL / "ods/epraccur.csv", encoding="utf-8") as fh:
        first_line = fh.readline()
    assert first_line.count('","') + 1 == 27  # 27 quoted fields, no header
    assert len(f) == 14963 and f["_row"].iloc[0] == 1
    assert int(((f["status_code"] == "A") & (f["prescribing_setting"] == 4)).sum()) == 6965
    first = f.iloc[0]
    assert (first["practice_code"], first["sub_icb_code"], first["open_date"].date()) == (
        "A81001",
        "16C",
        dt.date(1974, 4, 1),
    )
    assert f["prescribing_setting"].dtype == "int64"


def test_epcn_pcn_count():
    f = _std("pcn_reference", "ods/ePCN.xlsx").frame
    assert len(f) == 1318 and f["pcn_code"].nunique() == 1318
    assert f.iloc[0][["pcn_code", "pcn_name", "sub_icb_code"]].tolist() == ["U16464", "BARNSLEY PCN", "02P"]
    assert f["open_date"].iloc[0].date() == dt.date(2019, 10, 1)
    assert f["close_date"].notna().sum() == 58


def test_practice_map_jan_2022_ccg_era():
    result = _std("practice_map", "registrations/gp-reg-pat-prac-map.csv")
    f = result.frame
    assert result.layout == "prac_map_ccg_2020" and result.period_hint == "2022-01-01"
    assert len(f) == 6527 and f["practice_code"].is_unique
    assert (f["sub_icb_code"].nunique(), f["icb_code"].nunique(), f["region_code"].nunique()) == (106, 42, 7)
    assert f["pcn_code"].nunique() == 1255


def test_fingertips_practice_imd():
    result = _std("deprivation_practice", "deprivation/fingertips_93553_practice_imd.csv")
    f = result.frame
    assert len(f) == 23080 and result.period_hint == "2019"
    assert f["imd_year"].value_counts().to_dict() == {2010: 8222, 2015: 7878, 2019: 6980}
    a81001 = f[f["practice_code"] == "A81001"].set_index("imd_year")["imd_score"].to_dict()
    assert a81001 == {2010: 25.07512244, 2015: 29.14031034, 2019: 32.36093926}


def test_lsoa_lookup_latin1():
    result = standardise("lsoa_lookup_2011_2021", [REAL / "geography/LSOA_2011_to_LSOA_2021_Lookup_E_W.csv"])
    assert result.encoding == "latin-1"
    f = result.frame
    assert len(f) == 35796 and f.iloc[0][["lsoa11_code", "lsoa21_code", "change_indicator"]].tolist() == [
        "E01000001",
        "E01000001",
        "U",
    ]
    assert set(f["change_indicator"]) <= {"U", "S", "M", "X"}


def test_inspect_real_payments():
    info = inspect_file(REAL / "payments/nhspaymentsgp-22-23-prac-csv.csv")
    assert info["rows"] == 6669 and info["period"] == "2022/23"
    assert info["columns"]["sub_icb_name"] == "Sub ICB NAME"
