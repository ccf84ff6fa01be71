"""GBP 5 per head for patients aged 75 and over (issue 17.2): a sourced amount x registered patients
aged 75+ per practice (age-sex extract, bands 75-79 and above), summed per sub-ICB location."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from gp_allocations import scenarios
from gp_allocations.engine import compute_allocations
from gp_allocations.errors import InputError
from gp_allocations.periods import Period
from gp_allocations.scenario_views import over_75s_table
from test_engine_allocate import generated

PERIOD = Period.parse("2025-26-Q2")


def _heads_75_plus(ex: dict[str, pd.DataFrame]) -> pd.Series:
    age = ex["capitation_age_sex"]
    old = age[age["age_band"].isin(["75_79", "80_84", "85_89", "90_94", "95+"])]
    return old.groupby("practice_code")["patients"].sum()


def test_the_default_amount_is_five_pounds_with_its_source() -> None:
    s = scenarios.load_scenario("over_75s")
    assert s.decimal("amount_per_head_gbp") == Decimal("5.00")
    assert "planning guidance for 2014/15" in s.values["amount_per_head_gbp"]["source"]


def test_each_practice_gets_five_pounds_per_patient_aged_75_and_over() -> None:
    ex = generated()
    a = compute_allocations(ex, period=PERIOD)
    assert "over_75s_funding" in a.variants and a.checks["passed"].all()
    heads = _heads_75_plus(ex)
    led = a.ledger
    line = led[(led["variant"] == "over_75s_funding") & (led["line"] == "over_75s")]
    got = line.set_index("practice_code")["pence"]
    assert got.to_dict() == (heads * 500).to_dict()  # exact: GBP 5 is 500 pence a head
    # the rest of the variant is the global sum, penny for penny
    money = a.totals.of("practice").money
    pay = money[money["line"] == "capitation_payable"].pivot(index="code", columns="variant", values="pence")
    assert (pay["over_75s_funding"] - pay["global_sum"]).to_dict() == (heads * 500).to_dict()
    assert a.envelope_pence("over_75s_funding") == a.envelope_pence("global_sum") + int(heads.sum()) * 500
    # the amount and its source are among the run's parameters
    row = a.parameters[(a.parameters["parameter"] == "scenario over_75s")].iloc[0]
    assert row["value"] == "5.00" and row["status"] == "SOURCED"

    # per sub-ICB location: patients 75+ and the CCG's funding, from the aggregates
    table = over_75s_table(a, "sub_icb").set_index("code")
    subs = a.practices.set_index("practice_code")["sub_icb_code"]
    by_sub = heads.groupby(subs.reindex(heads.index)).sum()
    assert table["patients_75_and_over"].to_dict() == by_sub.to_dict()
    assert table["over_75s_pence"].to_dict() == (by_sub * 500).to_dict()
    assert (table["gbp_per_head_75_and_over"] == 5.0).all()
    england = over_75s_table(a, "england").iloc[0]
    assert england["over_75s_pence"] == int(heads.sum()) * 500


def test_another_amount_is_data_rounded_half_up_per_practice(tmp_path, monkeypatch) -> None:
    text = (
        (scenarios.scenarios_dir() / "over_75s.yaml").read_text().replace('value: "5.00"', 'value: "5.005"')
    )
    (tmp_path / "over_75s.yaml").write_text(text)
    (tmp_path / "transition.yaml").write_text((scenarios.scenarios_dir() / "transition.yaml").read_text())
    monkeypatch.setattr(scenarios, "scenarios_dir", lambda: tmp_path)
    ex = generated()
    a = compute_allocations(ex, period=PERIOD)
    heads = _heads_75_plus(ex)
    led = a.ledger
    got = led[(led["variant"] == "over_75s_funding") & (led["line"] == "over_75s")].set_index("practice_code")
    # 500.5 pence a head: an odd count ends in half a penny, rounded up
    want = {
        p: int((Decimal(int(n)) * Decimal("500.5")).to_integral_value("ROUND_HALF_UP"))
        for p, n in heads.items()
    }
    assert got["pence"].to_dict() == want
    assert any(n % 2 for n in heads)  # the example has odd counts, so the rounding is exercised


def test_a_scenario_value_without_a_source_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "over_75s.yaml").write_text(
        "name: over_75s\ntitle: t\nvalues:\n  amount_per_head_gbp:\n"
        "    value: '5'\n    unit: GBP\n    status: SOURCED\n"
    )
    monkeypatch.setattr(scenarios, "scenarios_dir", lambda: tmp_path)
    with pytest.raises(InputError, match="lacks source") as err:
        compute_allocations(generated(), period=PERIOD)
    assert err.value.file == "over_75s.yaml"


def test_the_practice_formula_pays_the_75s_line_per_head_not_by_weighted_list() -> None:
    """The Practices sheet's live formula adds patients aged 75+ x the amount per head, so the penny
    adjustment stays a penny (it absorbed the whole 75+ line when the line was read as a weighted-list
    rate), and the Parameters give the rate per head: GBP 5 exactly."""
    from gp_allocations.views import parameter_table, traced_practice_table, traces

    ex = generated()
    a = compute_allocations(ex, period=PERIOD)
    trace = traces(a)["over_75s_funding"]
    assert trace.extra == () and trace.per_head == (("over_75s", 5.0, "patients_75_and_over"),)
    table = traced_practice_table(a)
    assert table["penny_adjustment__over_75s_funding"].abs().max() <= 1
    heads = _heads_75_plus(ex).reindex(table["practice_code"]).fillna(0).to_numpy()
    assert table["patients_75_and_over"].tolist() == heads.tolist()
    rows = parameter_table(a)
    rate = rows[rows["parameter"] == "Over 75s per head"].iloc[0]
    assert rate["value"] == 5.0 and "patients aged 75+" in rate["unit"]
    assert not (rows["parameter"] == "Over 75s per weighted patient").any()
