"""What changed and why (issue 16.2): the bridge of each practice's change between two publications, its
pennies, its sums by organisation, and the sheets and manifest entry a publication gets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gp_allocations import bridge as B
from gp_allocations.aggregates import ENGLAND_CODE, sum_lines
from gp_allocations.money import split_exactly

STEP_NAMES = [s.name for s in B.STEPS]


def _facts(rows: list[dict]) -> pd.DataFrame:
    base = {
        "practice_name": "",
        "pcn_code": "U1",
        "pcn_name": "PCN",
        "icb_code": "QAA",
        "icb_name": "ICB A",
        "region_code": "Y58",
        "region_name": "South West",
        "variant": "global_sum",
        "index_age_sex": 1.0,
        "index_needs": 1.0,
        "normalisation_factor": 1.0,
        "price_gbp": 100.0,
        "out_of_hours_rate": 0.0,
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["sub_icb_name"] = "Sub-ICB " + frame["sub_icb_code"]
    return frame[list(B.FACT_COLUMNS)]


# Worked by hand (pounds; x 100 for pennies):
#   A: 1,000 patients at £100 -> 1,100 patients, age-sex 1.1, price £110: 100,000 -> 133,100
#      list size 100 x 1.0 x 100 = 10,000; age-sex 1,100 x 0.1 x 100 = 11,000; price 1,100 x 1.1 x 10 = 12,100
#   B: closed (50,000 before): opened or closed -50,000
#   C: 2,000 patients; needs 1.0 -> 1.2, normalisation 1.0 -> 0.9, out-of-hours 0 -> 5%: 200,000 ->
#      205,200 by the product, 205,200.01 in the ledger (a penny of the envelope split)
#      needs 2,000 x 0.2 x 100 = 40,000; normalisation 2,000 x 1.2 x -0.1 x 100 = -24,000;
#      out-of-hours 2,000 x 1.2 x 0.9 x 100 x -0.05 = -10,800; other +0.01
#   D: opened (30,000 now): opened or closed +30,000
PREVIOUS = _facts(
    [
        dict(practice_code="A", sub_icb_code="X", registered_patients=1000, payable_pence=10_000_000),
        dict(practice_code="B", sub_icb_code="X", registered_patients=500, payable_pence=5_000_000),
        dict(practice_code="C", sub_icb_code="Y", registered_patients=2000, payable_pence=20_000_000),
    ]
)
CURRENT = _facts(
    [
        dict(
            practice_code="A",
            sub_icb_code="X",
            registered_patients=1100,
            index_age_sex=1.1,
            price_gbp=110.0,
            payable_pence=13_310_000,
        ),
        dict(
            practice_code="C",
            sub_icb_code="Y",
            registered_patients=2000,
            index_needs=1.2,
            normalisation_factor=0.9,
            out_of_hours_rate=0.05,
            payable_pence=20_520_001,
        ),
        dict(practice_code="D", sub_icb_code="Y", registered_patients=300, payable_pence=3_000_000),
    ]
)
EXPECTED = {
    "A": dict(list_size=1_000_000, age_sex=1_100_000, price=1_210_000),
    "B": dict(opened_closed=-5_000_000),
    "C": dict(needs=4_000_000, normalisation=-2_400_000, out_of_hours=-1_080_000, other=1),
    "D": dict(opened_closed=3_000_000),
}


def test_hand_worked_bridge_of_three_practices_and_their_organisations():
    out = B.bridge(PREVIOUS, CURRENT).set_index("practice_code")
    assert list(out.index) == ["A", "B", "C", "D"]
    for code, steps in EXPECTED.items():
        assert {n: int(out.loc[code, n]) for n in STEP_NAMES} == {n: steps.get(n, 0) for n in STEP_NAMES}
        assert out.loc[code, STEP_NAMES].sum() == out.loc[code, B.CHANGE]
    assert out.loc["B", "sub_icb_code"] == "X"  # a closed practice stays where it was
    per_practice = out.reset_index()
    c = B.Comparison("previous_quarter", "2025-26-Q1", "run-1", None, B.level_totals(per_practice))
    england = c.row("england", ENGLAND_CODE)
    assert england[B.PREVIOUS] == 35_000_000 and england[B.CURRENT] == 36_830_001
    assert england[B.CHANGE] == 1_830_001 == sum(england[n] for n in STEP_NAMES)
    assert england["opened_closed"] == -2_000_000 and england["price"] == 1_210_000
    subs = c.table("sub_icb").set_index("code")
    assert subs.loc["X", B.CHANGE] == 3_310_000 - 5_000_000
    assert subs.loc["Y", "opened_closed"] == 3_000_000
    icb = per_practice.set_index("sub_icb_code")["icb_code"].groupby(level=0).first()
    assert (subs["within"] == icb.reindex(subs.index)).all()  # each sub-ICB location within its ICB
    assert subs.loc["X", "change_pct"] == pytest.approx(-1_690_000 / 15_000_000)
    assert c.manifest_entry()["england_pence"]["change"] == 1_830_001
    movers = c.largest_movers()
    assert list(movers["code"]) == ["B", "A", "D", "C"]


def test_split_exactly_rounds_signed_parts_to_their_total():
    assert split_exactly(np.array([[0.5, 0.5, 0.5, 0.5]]), [2]).tolist() == [[1, 1, 0, 0]]
    assert split_exactly(np.array([[-0.5, -0.5]]), [-1]).tolist() == [[0, -1]]
    assert split_exactly(np.array([[1.7, -0.4, 0.7]]), [2]).tolist() == [[2, -1, 1]]


def _random_facts(rng: np.random.Generator, codes: list[str]) -> pd.DataFrame:
    n = len(codes)
    frame = _facts(
        [
            dict(practice_code=c, sub_icb_code=f"S{i % 4}", registered_patients=1, payable_pence=0)
            for i, c in enumerate(codes)
        ]
    )
    frame["registered_patients"] = rng.integers(0, 30_000, n)
    frame["index_age_sex"] = rng.uniform(0.7, 1.4, n)
    frame["index_needs"] = rng.uniform(0.8, 1.3, n)
    frame["normalisation_factor"] = rng.uniform(0.95, 1.05)
    frame["price_gbp"] = rng.uniform(90, 140)
    frame["out_of_hours_rate"] = rng.uniform(0, 0.06)
    model = B._model({s.fact: frame[s.fact].to_numpy(dtype=float) for s in B.STEPS if s.fact})
    frame["payable_pence"] = np.rint(model).astype("int64") + rng.integers(-3, 4, n)
    return frame


@pytest.mark.parametrize("seed", range(12))
def test_steps_add_up_exactly_for_random_publications(seed):
    rng = np.random.default_rng(seed)
    codes = [f"P{i:04d}" for i in range(300)]
    previous = _random_facts(rng, [c for c in codes if rng.random() > 0.05])
    current = _random_facts(rng, [c for c in codes if rng.random() > 0.05])
    out = B.bridge(previous, current)
    steps = out[STEP_NAMES].to_numpy()
    assert steps.dtype == np.int64
    assert (steps.sum(axis=1) == out[B.CHANGE].to_numpy()).all()
    # each substitution step is its real value rounded: within a penny
    both = out["practice_code"].isin(previous["practice_code"]) & out["practice_code"].isin(
        current["practice_code"]
    )
    assert (out.loc[~both, "opened_closed"] == out.loc[~both, B.CHANGE]).all()
    assert (out.loc[~both, [n for n in STEP_NAMES if n != "opened_closed"]] == 0).all().all()
    # organisations: each line of each level adds up to England's, and every row's steps to its change
    totals = sum_lines(out, B.lines(out), B.LEVELS)
    c = B.Comparison("previous_quarter", "2025-26-Q1", "r", None, totals)
    england = c.row("england", ENGLAND_CODE)
    for level in ("practice", "sub_icb", "icb", "region"):
        t = c.table(level)
        assert (t[STEP_NAMES].sum(axis=1) == t[B.CHANGE]).all()
        for line in B.LINES:
            assert int(t[line].sum()) == england[line]


def test_the_property_catches_rounding_each_step_on_its_own():
    """The planted defect: real-valued steps that add up to the change, rounded half up one by one, do
    not add up to it in pennies; the largest-remainder split does, each part within a penny of its value."""
    rng = np.random.default_rng(3)
    codes = [f"P{i:04d}" for i in range(300)]
    out = B.bridge(_random_facts(rng, codes), _random_facts(rng, codes))
    change = out[B.CHANGE].to_numpy()
    noise = rng.uniform(-0.49, 0.49, (len(out), len(STEP_NAMES)))
    real = out[STEP_NAMES].to_numpy(dtype=float) + noise - noise.mean(axis=1, keepdims=True)
    naive = np.rint(real).astype(np.int64)
    assert (naive.sum(axis=1) != change).sum() > 10
    exact = split_exactly(real, change)
    assert (exact.sum(axis=1) == change).all()
    assert (np.abs(exact - real) < 1).all()
