"""The fair-shares sheets in the national and sub-ICB workbooks (17.6): figures from the views, totals
cached with the aggregates, and a clear "not supplied" without NHS England's extract."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from _workbook_fixtures import make_run
from gp_allocations.engine import compute_allocations
from gp_allocations.fair_shares import NEED_COMPONENTS
from gp_allocations.manifest import build_manifest
from gp_allocations.periods import Period
from gp_allocations.scenario_views import fair_share_table, over_75s_table, place_table, recycling_table
from gp_allocations.workbooks import HEADER_ROW, write_national_workbook, write_sub_icb_workbook
from test_engine_allocate import generated
from test_fair_shares import _nhse

PERIOD = Period.parse("2025-26-Q2")


@pytest.fixture(scope="module")
def allocation():
    ex = generated()
    ex["contracts"] = ex["contracts"].assign(
        seniority_pence=[150_000 * (i % 3) for i in range(len(ex["contracts"]))]
    )
    codes = sorted(ex["practice_map"]["practice_code"])
    ex["nhse_weighted_populations"] = _nhse(codes[2:])
    return compute_allocations(ex, period=PERIOD)


def _sheet(path, name: str) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name=name, header=HEADER_ROW)


def test_national_book_has_every_new_sheet_with_the_views_figures(allocation, tmp_path) -> None:
    path = tmp_path / "england.xlsx"
    write_national_workbook(allocation, path, run=make_run())
    book = openpyxl.load_workbook(path)
    for name in (
        "Fair shares",
        "Fair shares ICB",
        "Need missing",
        "Places",
        "Recycling",
        "Patients 75+",
        "Transition",
    ):
        assert name in book.sheetnames, name
    cover = " ".join(str(c.value) for row in book["Contents"].iter_rows() for c in row if c.value)
    assert "need-based fair shares" in cover and "Transition protection" in cover

    fair = _sheet(path, "Fair shares")
    view = fair_share_table(allocation, "sub_icb")
    body = fair[fair["Sub-ICB code"].isin(view["code"])].set_index("Sub-ICB code")
    expected = view.set_index("code")
    header = "Fair share: Primary medical care with health inequalities (Final PMC WP) (£)"
    assert (body[header] * 100).round().astype("int64").to_dict() == expected[
        "fair_share_pence__final_pmc_wp"
    ].to_dict()
    total = fair[fair["Sub-ICB code"] == "Total"].iloc[0]
    assert round(total["Capitation this run (£)"] * 100) == allocation.envelope_pence("global_sum")
    assert round(total[header] * 100) == allocation.envelope_pence("global_sum")

    seventy = _sheet(path, "Patients 75+")
    t75 = over_75s_table(allocation, "england").iloc[0]
    total = seventy[seventy["Sub-ICB code"] == "Total"].iloc[0]
    assert round(total["75+ funding (£)"] * 100) == t75["over_75s_pence"]
    assert total["Patients aged 75+"] == t75["patients_75_and_over"]

    rec = _sheet(path, "Recycling")
    england = recycling_table(allocation, "england").iloc[0]
    total = rec[rec["Sub-ICB code"] == "Total"].iloc[0]
    assert round(total["Seniority paid (£)"] * 100) == england["paid_seniority_pence"]
    assert (
        round(total["Seniority recycled: money moved (£)"] * 100)
        == england["moved_pence__seniority_recycled"]
        == 0
    )

    places = _sheet(path, "Places").dropna(subset=["Place code"])
    indices = place_table(allocation).set_index(["place_type", "place_code"])
    shown = places.set_index(["Place type", "Place code"])
    for c, text in NEED_COMPONENTS:  # both roundings of every place's index ([x]: a place with none)
        assert shown[f"Need index: {text}"].to_dict() == indices[f"index__{c}"].fillna("[x]").to_dict()
        assert shown[f"3 places: {text}"].to_dict() == indices[f"index_3dp__{c}"].fillna("[x]").to_dict()

    missing = _sheet(path, "Need missing")
    assert "Z99999" in set(missing["Practice code"])
    notes = _sheet(path, "Notes")
    text = " ".join(notes["Text"].astype(str))
    assert "ICB Place Based Allocation Tool" in text and "par. 74" in text and "par. 48" in text
    assert "par. 69" in text
    # sources are named as the reader sees them (no file path of the repository, mangled or not)
    assert "Scenario over 75s in Parameters" in text and ".yaml" not in text
    params = _sheet(path, "Parameters").set_index(["Parameter", "Key"])["Value"]
    assert params[("Scenario over 75s", "Amount per head GBP")] == 5
    assert params[("Scenario transition", "MPIG phase out from")] == "Global sum + MPIG paid"
    assert params[("Scenario transition", "MPIG phase out to")] == "MPIG recycled"
    assert params[("Scenario transition", "MPIG phase out years")] == 7


def test_sub_icb_book_shows_its_pcns_and_its_practices_transition(allocation, tmp_path) -> None:
    code = allocation.sub_icb_codes[0]
    path = tmp_path / "sub.xlsx"
    write_sub_icb_workbook(allocation, code, path, run=make_run())
    fair = _sheet(path, "Fair shares")
    view = fair_share_table(allocation, "sub_icb_pcn", code)
    assert set(view["code"]) <= set(fair["PCN code"])
    total = fair[fair["PCN code"] == "Total"].iloc[0]
    subs = fair_share_table(allocation, "sub_icb").set_index("code")
    assert round(total["Capitation this run (£)"] * 100) == subs.loc[code, "capitation_pence"]
    trans = _sheet(path, "Transition")
    practices = set(allocation.practices.loc[allocation.practices["sub_icb_code"] == code, "practice_code"])
    assert set(trans["Practice code"]) == practices and set(trans["Year"]) == set(range(8))


def test_without_the_extract_the_sheets_say_not_supplied(tmp_path) -> None:
    a = compute_allocations(generated(), period=PERIOD)
    path = tmp_path / "england.xlsx"
    write_national_workbook(a, path, run=make_run())
    book = openpyxl.load_workbook(path)
    for name in ("Fair shares", "Need missing", "Places"):
        assert "not supplied" in str(book[name]["A2"].value) and book[name]["A4"].value == "Not supplied"
    manifest = build_manifest(a, make_run(), [], period_slug="2025-26-Q2", run_id="r")
    assert "need_based_fair_shares" not in manifest["variants"]


def test_the_manifest_declares_the_new_variants(allocation) -> None:
    manifest = build_manifest(allocation, make_run(), [], period_slug="2025-26-Q2", run_id="r")
    names = {d["name"] for d in manifest["variant_declarations"]}
    assert {
        "seniority_recycled",
        "mpig_and_seniority_recycled",
        "over_75s_funding",
        "need_based_fair_shares",
    } <= names
    code = allocation.sub_icb_codes[0]
    assert "need_based_fair_shares" in manifest["totals"]["sub_icb"][code]["variants"]
    # the transition: its settings and England's amount per year, neutral each year, with the counts
    (move,) = manifest["transitions"]
    assert (move["name"], move["from"], move["to"], move["years"]) == (
        "mpig_phase_out",
        "global_sum + paid_mpig_pence",
        "mpig_recycled",
        7,
    )
    assert (move["floor"], move["cap"]) == ("-0.03", "0.1")
    table = allocation.tables["transition"]
    assert [y["year"] for y in move["by_year"]] == list(range(8))
    for y in move["by_year"]:
        part = table[table["year"] == y["year"]]
        assert (
            y["amount_pence"] == int(part["amount_pence"].sum()) == allocation.envelope_pence("mpig_recycled")
        )
        assert y["at_floor"] == int((part["held"] == "floor").sum())
        assert y["gainers"] == int((part["change_pence"] > 0).sum())


def test_the_dags_params_offer_the_new_variants_and_the_extract() -> None:
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    dag = bag.dags["gp_allocations_nightly"]
    variants = set(dag.params.get_param("variant").schema["enum"])
    assert {
        "seniority_recycled",
        "mpig_and_seniority_recycled",
        "over_75s_funding",
        "need_based_fair_shares",
    } <= variants
    extracts = dag.params.get_param("extracts").schema
    assert "nhse_weighted_populations" in str(extracts)
