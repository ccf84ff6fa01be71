"""Transition protection (17.5): a hand-worked five-practice example, including the iteration that
keeps each year's envelope exact when floors and caps bind, and the configured MPIG phase-out."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from gp_allocations.engine import compute_allocations
from gp_allocations.periods import Period
from gp_allocations.scenario_views import transition_practices, transition_summary
from gp_allocations.transition import Protection, bounds, load_transitions, phase, protect
from test_engine_allocate import generated

CODES = ["A00001", "A00002", "A00003", "A00004", "A00005"]
TEN_PERCENT = Protection(2, Decimal("-0.10"), Decimal("0.10"))


def test_five_practices_by_hand() -> None:
    """Now 1,000p each; target 1,300 / 1,200 / 1,000 / 800 / 700 (envelope 5,000 both ends); two years;
    no practice may move more than 10% a year.

    Year 1, unprotected 1,150 / 1,100 / 1,000 / 900 / 850, bounds 900-1,100. Pass 1: A is 50 over its
    cap, E 50 under its floor; the floors' overshoot is not smaller, so E is fixed at 900. Pass 2: the
    other four share 4,100 in proportion to 1,150 / 1,100 / 1,000 / 900: 1,136.14 / 1,086.75 / 987.95 /
    889.16: A over (36.14), D under (10.84): A is fixed at 1,100. Pass 3: B, C, D share 3,000 as
    1,100 / 1,000 / 900, all within bounds. Year 1 = 1,100 / 1,100 / 1,000 / 900 / 900.

    Year 2, unprotected = the target, bounds 990-1,210 / 990-1,210 / 900-1,100 / 810-990 / 810-990.
    Pass 1: A over by 90, D and E under by 10 + 110 = 120: D and E fixed at 810. Pass 2: A, B, C share
    3,380 as 1,255.43 / 1,158.86 / 965.71: A over its cap of 1,210, fixed. Pass 3: B and C share 2,170
    as 1,183.64 / 986.36; whole pennies 1,183 + 986 leave one penny, to B (larger remainder).
    Year 2 = 1,210 / 1,184 / 986 / 810 / 810: A and D, E still protected, not at the target."""
    out = phase(
        pd.Series(1000, index=CODES), pd.Series([1300, 1200, 1000, 800, 700], index=CODES), TEN_PERCENT
    )
    amounts = out.pivot(index="practice_code", columns="year", values="amount_pence")
    assert amounts[1].tolist() == [1100, 1100, 1000, 900, 900]
    assert amounts[2].tolist() == [1210, 1184, 986, 810, 810]
    assert out.groupby("year")["amount_pence"].sum().tolist() == [5000, 5000, 5000]
    held = out.pivot(index="practice_code", columns="year", values="held")
    assert held[1].tolist() == ["cap", "", "", "", "floor"]
    assert held[2].tolist() == ["cap", "", "", "floor", "floor"]
    y2 = out[out["year"] == 2].set_index("practice_code")
    assert y2["to_target_pence"].tolist() == [90, 16, 14, -10, -110]
    assert y2["change_pence"].tolist() == [110, 84, -14, -90, -90]


def test_the_iteration_is_what_keeps_the_envelope_exact() -> None:
    # year 2 of the example: clipping to the bounds alone would spend 5,030p of a 5,000p envelope
    lo, hi = bounds(np.array([1100, 1100, 1000, 900, 900]), TEN_PERCENT)
    target = np.array([1300.0, 1200.0, 1000.0, 800.0, 700.0])
    assert np.clip(target, lo, hi).sum() == 5030
    amounts, held, passes = protect(target, lo, hi, 5000)
    assert amounts.tolist() == [1210, 1184, 986, 810, 810] and passes == 3
    # year 1: fixing E at its floor and rescaling the others once pushes D under its own floor
    lo, hi = bounds(np.array([1000] * 5), TEN_PERCENT)
    target = np.array([1150.0, 1100.0, 1000.0, 900.0, 850.0])
    rescaled = target[:4] * (5000 - 900) / target[:4].sum()
    assert rescaled[3] < lo[3] and rescaled[0] > hi[0]
    amounts, held, passes = protect(target, lo, hi, 5000)
    assert amounts.tolist() == [1100, 1100, 1000, 900, 900] and passes == 3
    assert held.tolist() == ["cap", "", "", "", "floor"]


def test_an_envelope_that_grows_is_interpolated_and_floors_that_cannot_be_met_are_refused() -> None:
    out = phase(
        pd.Series(1000, index=CODES), pd.Series([1200, 1100, 1100, 1050, 1050], index=CODES), TEN_PERCENT
    )
    assert out.groupby("year")["amount_pence"].sum().tolist() == [5000, 5250, 5500]
    lo, hi = bounds(np.array([1000] * 5), TEN_PERCENT)
    with pytest.raises(ValueError, match="floors add up to 4500"):
        protect(np.ones(5), lo, hi, 4000)


def test_the_seeds_mpig_phase_out_over_seven_years() -> None:
    (t,) = load_transitions()
    assert (t.name, t.from_variant, t.from_paid, t.to_variant) == (
        "mpig_phase_out",
        "global_sum",
        ("paid_mpig_pence",),
        "mpig_recycled",
    )
    assert t.protection.years == 7
    ex = generated()
    a = compute_allocations(ex, period=Period.parse("2025-26-Q2"))
    table = transition_practices(a)
    assert sorted(table["year"].unique()) == list(range(8))
    facts = a.practices.set_index("practice_code")
    money = a.totals.of("practice").money
    payable = money[money["line"] == "capitation_payable"].pivot(
        index="code", columns="variant", values="pence"
    )
    now = table[table["year"] == 0].set_index("practice_code")["amount_pence"]
    assert now.to_dict() == (payable["global_sum"] + facts["paid_mpig_pence"]).to_dict()
    envelope = a.envelope_pence("mpig_recycled")
    assert (table.groupby("year")["amount_pence"].sum() == envelope).all()  # neutral every year
    for year in range(1, 8):
        y = table[table["year"] == year].set_index("practice_code")
        before = table[table["year"] == year - 1].set_index("practice_code")["amount_pence"]
        change = (y["amount_pence"] - before) / before
        assert (change >= -0.03 - 1e-12).all() and (change <= 0.10 + 1e-12).all()
    # per sub-ICB location: the aggregates' sums, and counts of gainers and losers each year
    summary = transition_summary(a, "sub_icb")
    y7 = summary[summary["year"] == 7].set_index("code")
    final = table[table["year"] == 7]
    assert y7["amount_pence"].to_dict() == final.groupby("sub_icb_code")["amount_pence"].sum().to_dict()
    assert int(y7["gainers"].sum() + y7["losers"].sum()) <= len(final)
    england = transition_summary(a, "england")
    assert (england.groupby("year")["amount_pence"].sum() == envelope).all()
