"""Parameter files: shipped sets load with their sources; bad files are rejected naming file and key;
a new file in a folder is picked up without code changes."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from gp_allocations.config import parameters_dir
from gp_allocations.engine import ParameterError, list_parameter_sets, load_parameter_set
from gp_allocations.engine.parameters import CARR_HILL_BANDS


def test_carr_hill_2025_26_values_and_sources():
    p = load_parameter_set("carr_hill_2004", "2025/26")
    # the age-sex workload weights as published (source in the parameter file), written out here
    assert p.age_sex_weights[("MALE", "5-14")] == 1.00
    assert p.age_sex_weights[("FEMALE", "85+")] == 6.72
    assert p.age_sex_weights[("MALE", "0-4")] == 3.97
    assert p.age_sex_weights[("FEMALE", "15-44")] == 2.19
    assert p.additional_needs == {"constant": 48.1198, "slli": 0.26115, "smr_under_65": 0.23676}
    assert p.list_turnover_weight == 1.46 and p.care_home_weight == 1.43
    assert p.price_per_weighted_patient == Decimal("123.34")
    assert p.out_of_hours_deduction == Decimal("0.0475")
    assert p.deprivation_elasticity == 1.054
    frame = p.to_frame()
    assert frame["source"].str.len().min() > 0
    weights = frame[frame["parameter"] == "age_sex_weights"]
    assert len(weights) == 14 and set(weights["status"]) == {"REPUBLISHED-NOT-CHECKED"}
    assert "primarycareit" in weights["source"].iloc[0]


@pytest.mark.parametrize(
    ("year", "price"),
    [("2023/24", "104.73"), ("2024/25", "112.50"), ("2025/26", "123.34"), ("2026/27", "130.07")],
)
def test_price_by_year(year, price):
    assert load_parameter_set("carr_hill_2004", year).price_per_weighted_patient == Decimal(price)
    assert load_parameter_set("health_foundation_lsoa", year).price_per_weighted_patient == Decimal(price)


def test_2026_27_price_is_secondary():
    frame = load_parameter_set("carr_hill_2004", "2026-27").to_frame()
    row = frame[frame["parameter"] == "price_per_weighted_patient"].iloc[0]
    assert row["status"] == "SECONDARY"


def test_health_foundation_set_is_separate():
    p = load_parameter_set("health_foundation_lsoa", "2025/26")
    assert p.components == ("age_sex", "deprivation")
    assert p.age_sex_weights[("FEMALE", "85+")] == 3.090
    assert p.age_sex_weights[("MALE", "85+")] == 3.193
    assert "not the official" in p.title.lower()


def test_list_parameter_sets_covers_shipped_files():
    rows = list_parameter_sets()
    found = {(r["name"], r["financial_year"]) for r in rows if r["valid"]}
    for name in ("carr_hill_2004", "health_foundation_lsoa"):
        for year in ("2023/24", "2024/25", "2025/26", "2026/27"):
            assert (name, year) in found


def _copy_set(tmp_path: Path, year: str = "2025-26") -> Path:
    dst = tmp_path / "carr_hill_2004"
    dst.mkdir()
    shutil.copy(parameters_dir() / "carr_hill_2004" / f"{year}.yaml", dst / f"{year}.yaml")
    return dst / f"{year}.yaml"


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_value_without_source_is_rejected(tmp_path):
    path = _copy_set(tmp_path)
    _edit(path, lambda d: d["parameters"]["price_per_weighted_patient"].pop("source"))
    with pytest.raises(ParameterError) as err:
        load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)
    assert str(path) in str(err.value) and "price_per_weighted_patient" in str(err.value)
    assert "source" in str(err.value)


def test_source_without_status_is_rejected(tmp_path):
    path = _copy_set(tmp_path)
    _edit(path, lambda d: d["parameters"]["care_home_weight"]["source"].pop("status"))
    with pytest.raises(ParameterError, match=r"care_home_weight\.source\.status"):
        load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)


def test_missing_value_is_rejected(tmp_path):
    path = _copy_set(tmp_path)

    def blank(d):
        d["parameters"]["age_sex_weights"]["values"]["FEMALE"]["85+"] = None

    _edit(path, blank)
    with pytest.raises(ParameterError, match=r"age_sex_weights\.FEMALE\.85\+.*missing"):
        load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)


def test_missing_band_is_rejected(tmp_path):
    path = _copy_set(tmp_path)
    _edit(path, lambda d: d["parameters"]["age_sex_weights"]["values"]["MALE"].pop("65-74"))
    with pytest.raises(ParameterError, match=r"MALE\.65-74"):
        load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)


def test_missing_entry_is_rejected(tmp_path):
    path = _copy_set(tmp_path)
    _edit(path, lambda d: d["parameters"].pop("out_of_hours_deduction"))
    with pytest.raises(ParameterError, match="out_of_hours_deduction"):
        load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)


def test_unknown_year_names_available_years(tmp_path):
    _copy_set(tmp_path)
    with pytest.raises(ParameterError, match="2025-26"):
        load_parameter_set("carr_hill_2004", "2019/20", directory=tmp_path)


def test_new_year_file_is_picked_up_without_code_change(tmp_path):
    path = _copy_set(tmp_path)
    new = path.with_name("2030-31.yaml")

    def to_2030(d):
        d["financial_year"] = "2030/31"
        d["parameters"]["price_per_weighted_patient"]["value"] = "150.05"

    path.rename(new)
    _edit(new, to_2030)
    p = load_parameter_set("carr_hill_2004", "2030/31", directory=tmp_path)
    assert p.price_per_weighted_patient == Decimal("150.05")
    assert [r["financial_year"] for r in list_parameter_sets(tmp_path)] == ["2030/31"]


def test_market_forces_table_file(tmp_path):
    path = _copy_set(tmp_path)
    (path.parent / "mff.csv").write_text("practice_code,value\nA00001,1.2\nA00002,0.9\n")

    def add_table(d):
        d["parameters"]["market_forces"]["table_file"] = "mff.csv"

    _edit(path, add_table)
    p = load_parameter_set("carr_hill_2004", "2025/26", directory=tmp_path)
    assert p.market_forces_table == {"A00001": 1.2, "A00002": 0.9}
    assert p.market_forces_staff_cost_share == 0.5


def test_bands_constant():
    assert CARR_HILL_BANDS == ("0-4", "5-14", "15-44", "45-64", "65-74", "75-84", "85+")


def test_every_real_payments_year_has_carr_hill_parameters():
    """The real payments years (../shared/data/real) each have a parameter file with its own money values
    and each value's status as far as it could be checked (docs/real-data.md, issue 18)."""
    money = ("price_per_weighted_patient", "out_of_hours_deduction", "qof_pounds_per_point")
    expected = {  # price, out-of-hours share, QOF point, national average list
        "2014/15": ("73.56", "0.0539", "156.92", "7087"),
        "2015/16": ("76.14", "0.0539", "160.15", "7223"),
        "2016/17": ("80.59", "0.0515", "165.18", "7460"),
        "2018/19": ("88.96", "0.0475", "179.26", "8096"),
        "2021/22": ("96.78", "0.0475", "201.16", "9085"),
        "2022/23": ("99.70", "0.0475", "207.56", "9374"),
    }
    for year, values in expected.items():
        p = load_parameter_set("carr_hill_2004", year)
        rows = p.to_frame().set_index("parameter")
        got = tuple(str(rows.loc[k, "value"]) for k in (*money, "qof_national_average_list_size"))
        assert got == values, year
        assert set(rows.loc[list(money), "status"]) <= {"VERIFIED", "SECONDARY", "ASSUMED"}, year
    # the 2021/22 and 2022/23 money values are checked against one practice-finance summary (Lentells)
    for year in ("2021/22", "2022/23"):
        rows = load_parameter_set("carr_hill_2004", year).to_frame().set_index("parameter")
        assert set(rows.loc[[*money, "qof_national_average_list_size"], "status"]) == {"SECONDARY"}
        assert rows.loc["price_per_weighted_patient", "source"].startswith("https://www.lloydsbank.com/")
