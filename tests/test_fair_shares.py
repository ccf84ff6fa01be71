"""NHS England need-based fair shares (17.3) and place-based need indices (17.4)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gp_allocations.engine import compute_allocations
from gp_allocations.errors import InputError
from gp_allocations.fair_shares import NEED_COMPONENTS
from gp_allocations.money import apportion
from gp_allocations.periods import Period
from gp_allocations.places import place_indices, read_places
from gp_allocations.scenario_views import fair_share_table, missing_practices
from gp_allocations.standardise import standardise
from test_engine_allocate import generated

PERIOD = Period.parse("2025-26-Q2")
REAL_FILE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "real"
    / "allocations"
    / "nhse-place-based-allocation-tool-2025-26.csv"
)
# published header -> canonical column, for the independent hand computation from the CSV text
PUBLISHED = {
    "Population": "population",
    "Final PMC WP": "final_pmc_wp",
    "Primary Medical Care WP": "primary_medical_care_wp",
    "G&A WP": "general_acute_wp",
    "CS WP": "community_wp",
    "MH WP": "mental_health_wp",
    "Mat WP": "maternity_wp",
    "Prescr WP": "prescribing_wp",
    "Health Ineq WP": "health_inequalities_wp",
    "Final WP": "final_wp",
}


def _nhse(codes: list[str], extra: tuple[str, ...] = ("Z99999",), seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for code in [*codes, *extra]:
        pop = float(rng.uniform(2000, 15000))
        row = {
            "practice_code": code,
            "practice_name": code,
            "practice_postcode": None,
            "icb_code": "QHM",
            "icb_name": "NHS North East and North Cumbria ICB",
            "region_code": "Y63",
            "lad_code": None,
            "lad_name": None,
            "population": pop,
        }
        for c, _ in NEED_COMPONENTS:
            row[c] = round(pop * float(rng.uniform(0.7, 1.4)), 6)
        row["final_pmc_wp"] = 0.85 * row["primary_medical_care_wp"] + 0.15 * row["health_inequalities_wp"]
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def with_need():
    ex = generated()
    codes = sorted(ex["practice_map"]["practice_code"])
    ex["nhse_weighted_populations"] = _nhse(codes[2:])  # two practices of the run are not in the file
    return ex, codes, compute_allocations(ex, period=PERIOD)


def test_the_variant_shares_the_global_sum_envelope_by_final_pmc_wp(with_need) -> None:
    ex, codes, a = with_need
    assert "need_based_fair_shares" in a.variants and a.checks["passed"].all()
    net = a.envelope_pence("global_sum")
    assert a.envelope_pence("need_based_fair_shares") == net
    nhse = ex["nhse_weighted_populations"].set_index("practice_code")
    registered = a.practices.set_index("practice_code")["registered_patients"]
    known = nhse.index.intersection(registered.index)
    per_head = nhse.loc[known, "final_pmc_wp"].sum() / nhse.loc[known, "population"].sum()
    # the file's Final PMC WP, and for the two practices it lacks their list at the national need
    weight = nhse["final_pmc_wp"].reindex(registered.index).fillna(registered.astype(float) * per_head)
    want = apportion(net, weight.to_numpy())
    money = a.totals.of("practice").money
    pay = money[(money["line"] == "capitation_payable") & (money["variant"] == "need_based_fair_shares")]
    got = pay.set_index("code")["pence"].reindex(registered.index)
    assert got.tolist() == want.tolist()
    assert (got.loc[codes[:2]] > 0).all()  # shared in, never dropped


def test_fair_shares_and_distances_per_sub_icb_and_icb(with_need) -> None:
    _, _, a = with_need
    net = a.envelope_pence("global_sum")
    for grouping in ("sub_icb", "icb", "england"):
        table = fair_share_table(a, grouping).set_index("code")
        for c, _ in NEED_COMPONENTS:
            assert int(table[f"fair_share_pence__{c}"].sum()) == net  # every component shares the envelope
            distance = table["capitation_pence"] - table[f"fair_share_pence__{c}"]
            assert table[f"distance_pence__{c}"].tolist() == distance.tolist()
            pct = table[f"distance_pence__{c}"] / table[f"fair_share_pence__{c}"]
            assert table[f"distance__{c}"].tolist() == pytest.approx(pct.tolist())
        # the run's capitation is the selected variant's (global sum): distances add up to zero
        assert int(table["capitation_pence"].sum()) == net
    subs = fair_share_table(a, "sub_icb").set_index("code")
    practices = a.practices.set_index("practice_code")
    by_sub = practices.groupby("sub_icb_code")["fair_share_pence__community_wp"].sum()
    assert subs["fair_share_pence__community_wp"].to_dict() == by_sub.to_dict()


def test_practices_missing_from_one_side_are_listed(with_need) -> None:
    _, codes, a = with_need
    missing = missing_practices(a)
    sides = missing.groupby("side")["practice_code"].apply(sorted).to_dict()
    assert sides == {
        "in NHS England's file, not in this run": ["Z99999"],
        "in this run, not in NHS England's file": codes[:2],
    }
    assert any("2 practices of this run not in the file" in n for n in a.notes)
    assert any("1 practice of the file not in this run" in n for n in a.notes)
    sub = a.practices.set_index("practice_code").loc[codes[0], "sub_icb_code"]
    assert codes[0] in set(missing_practices(a, sub)["practice_code"])


def test_without_the_extract_the_run_says_not_supplied() -> None:
    a = compute_allocations(generated(), period=PERIOD)
    assert "need_based_fair_shares" not in a.variants
    assert "need_based_fair_shares not computed: NHS England weighted populations not supplied" in a.notes
    assert fair_share_table(a, "sub_icb") is None and "place_indices" not in a.tables


def test_default_places_are_the_pcns_and_sub_icbs(with_need) -> None:
    _, _, a = with_need
    places = a.tables["place_indices"]
    assert set(places["place_type"]) == {"PCN", "sub-ICB location"}
    assert set(places.loc[places["place_type"] == "sub-ICB location", "place_code"]) == set(a.sub_icb_codes)


def _places_file(
    tmp_path: Path, rows: list[tuple[str, str, str]], header: str = "place_code,place_name,practice_code"
) -> Path:
    path = tmp_path / "places.csv"
    path.write_text(header + "\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    return path


def test_hand_worked_indices_half_up(tmp_path: Path) -> None:
    # ICB: three practices, population 100 each; primary care WP 90, 120, 90 (ICB ratio 1.0).
    # Place P = practices 1 and 2: (210 / 200) / (300 / 300) = 1.05 exactly, shown 1.05;
    # Place Q = practice 2 alone: 1.2; Place R = practice 3: 0.9.
    nhse = _nhse(["A00001", "A00002", "A00003"], extra=())
    nhse["population"] = 100.0
    for c, _ in NEED_COMPONENTS:
        nhse[c] = [90.0, 120.0, 90.0]
    nhse["maternity_wp"] = [100.0, 100.5, 100.0]  # place P: 200.5 / 200 / (300.5 / 300) = 1.000832...
    places = read_places(
        _places_file(
            tmp_path,
            [
                ("P", "Place P", "A00001"),
                ("P", "Place P", "A00002"),
                ("Q", "", "A00002"),
                ("R", "", "A00003"),
            ],
        )
    )
    out = place_indices(nhse, places).set_index("place_code")
    assert out.loc["P", "index__primary_medical_care_wp"] == 1.05
    assert out.loc["Q", "index__final_pmc_wp"] == 1.2 and out.loc["R", "index__final_wp"] == 0.9
    assert out.loc["P", "index__maternity_wp"] == 1.0
    assert out.loc["P", "index_3dp__maternity_wp"] == 1.001
    assert out.loc["Q", "place_name"] == "Q"


def test_the_tool_rounds_twice_to_3_then_2_places(tmp_path: Path) -> None:
    # ICB: two practices of 1,000 people, weighted 1,004.6 and 995.4 (ICB need 1.0). Place P =
    # practice 1: index 1.0046, which the tool downloads as 1.005 and shows as 1.01 (half up from the
    # 3-place figure); rounding 1.0046 once would show 1.00. Place Q: 0.9954 -> 0.995 -> 1.00.
    nhse = _nhse(["A00001", "A00002"], extra=())
    nhse["population"] = 1000.0
    for c, _ in NEED_COMPONENTS:
        nhse[c] = [1004.6, 995.4]
    places = read_places(_places_file(tmp_path, [("P", "P", "A00001"), ("Q", "Q", "A00002")]))
    out = place_indices(nhse, places).set_index("place_code")
    assert out.loc["P", "index_3dp__final_pmc_wp"] == 1.005 and out.loc["P", "index__final_pmc_wp"] == 1.01
    assert out.loc["Q", "index_3dp__final_pmc_wp"] == 0.995 and out.loc["Q", "index__final_pmc_wp"] == 1.0


def test_a_place_of_practices_not_in_the_file_is_shown_with_them_listed(tmp_path: Path) -> None:
    nhse = _nhse(["A00001"], extra=())
    places = read_places(
        _places_file(tmp_path, [("P", "P", "A00001"), ("P", "P", "B00009"), ("Q", "Q", "C00001")])
    )
    out = place_indices(nhse, places).set_index("place_code")
    assert out.loc["P", "practices"] == 1 and out.loc["P", "missing_practices"] == "B00009"
    assert out.loc["Q", "practices"] == 0 and pd.isna(out.loc["Q", "index__final_pmc_wp"])


@pytest.mark.parametrize(
    ("header", "rows", "rule", "row"),
    [
        ("place,practice", [("P", "x", "A00001")], "places-header", 1),
        ("place_code,place_name,practice_code", [("P", "P", "A0001")], "practice_code_format", 2),
        (
            "place_code,place_name,practice_code",
            [("P", "P", "A00001"), ("P", "P", "A00001")],
            "unique_key",
            3,
        ),
        ("place_code,place_name,practice_code", [("", "P", "A00001")], "required", 2),
    ],
)
def test_a_bad_places_file_names_file_row_and_rule(tmp_path, header, rows, rule, row) -> None:
    with pytest.raises(InputError) as err:
        read_places(_places_file(tmp_path, rows, header))
    assert err.value.rule == rule and err.value.row == row and err.value.file == "places.csv"


def _tool_shows(index: float) -> tuple[Decimal, Decimal]:
    """NHS England's tool: half up to 3 places from the float's shortest text, then half up to 2."""
    three = Decimal(repr(index)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    return three, three.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.mark.skipif(not REAL_FILE.exists(), reason="the real NHS England file is in ../shared only")
def test_the_tools_indices_for_one_icbs_places_to_the_last_digit(tmp_path: Path) -> None:
    """Places = the local authority districts of NHS North East and North Cumbria ICB (QHM). The
    expected indices are computed here from the CSV's text as the tool computes them (float sums and
    divisions, 3 places half up for its download, then 2 places half up for its screen)."""
    with REAL_FILE.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    icb = [r for r in rows if r["ICB"] == "QHM"]
    icb_sum = {h: math.fsum(float(r[h]) for r in icb) for h in PUBLISHED}
    members = defaultdict(list)
    for r in icb:
        members[r["LAD"]].append(r)
    expected, once = {}, {}
    for lad, part in members.items():
        place = {h: math.fsum(float(r[h]) for r in part) for h in PUBLISHED}
        for h, c in PUBLISHED.items():
            if h == "Population":
                continue
            index = place[h] / place["Population"] / (icb_sum[h] / icb_sum["Population"])
            expected[(lad, c)] = _tool_shows(index)
            once[(lad, c)] = Decimal(repr(index)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    places = read_places(_places_file(tmp_path, [(r["LAD"], r["LTLA"], r["Practice_Code"]) for r in icb]))
    nhse = standardise("nhse_weighted_populations", [REAL_FILE]).frame
    out = place_indices(nhse, places).set_index("place_code")
    assert len(out) == len(members) == 16
    got = {
        (lad, c): (Decimal(str(out.loc[lad, f"index_3dp__{c}"])), Decimal(str(out.loc[lad, f"index__{c}"])))
        for lad in members
        for c in PUBLISHED.values()
        if c != "population"
    }
    assert got == expected
    assert (out["icb_code"] == "QHM").all() and not out["spans_icbs"].any()
    assert len({v[1] for v in expected.values()}) > 10  # the places do differ
    # rounding once to 2 places would show 7 of the 144 indices one digit off the tool's screen
    assert sum(once[k] != expected[k][1] for k in expected) == 7


def test_a_places_file_is_a_run_setting_its_places_shown_beside_the_defaults(tmp_path, monkeypatch) -> None:
    from gp_allocations.config import RunContext, resolve_settings

    ex = generated()
    codes = sorted(ex["practice_map"]["practice_code"])
    ex["nhse_weighted_populations"] = _nhse(codes)
    path = _places_file(tmp_path, [("NORTH", "North locality", codes[0]), ("NORTH", "", codes[1])])
    monkeypatch.setenv("GP_ALLOC_PLACES_FILE", str(path))
    assert resolve_settings().places_file == path.resolve()
    ctx = RunContext.prepare(run_id="r", period="2025-26-Q2", data_dir=tmp_path)
    assert RunContext.from_dict(ctx.to_dict()).places_file == path.resolve()
    monkeypatch.delenv("GP_ALLOC_PLACES_FILE")  # the engine reads the setting it is given, never the env
    a = compute_allocations(ex, period=PERIOD, places_file=ctx.places_file)
    places = a.tables["place_indices"]
    north = places[places["place_type"] == "place file"].set_index("place_code").loc["NORTH"]
    assert north["place_name"] == "North locality" and north["practices"] == 2
    assert set(places["place_type"]) == {"place file", "PCN", "sub-ICB location"}
    assert any("places file places.csv" in n for n in a.notes)
    assert "place file" not in set(
        compute_allocations(ex, period=PERIOD).tables["place_indices"]["place_type"]
    )
