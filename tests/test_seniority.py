"""Seniority recycled (issue 17.1): the Seniority column read from the contracts extract of every era,
recycled into capitation by the global sum weighted list alone and together with MPIG (par. 48)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gp_allocations.engine import compute_allocations
from gp_allocations.layouts import all_layouts
from gp_allocations.money import apportion
from gp_allocations.periods import Period
from gp_allocations.scenario_views import recycling_table
from gp_allocations.standardise import standardise
from test_engine_allocate import generated

PAYMENTS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "payments"
#: every real payments file of ../shared (five eras: 2014/15 to 2022/23)
READABLE = (
    "nhspaymentsgp-14-15-prac-csv.csv",
    "nhspaymentsgp-15-16-prac-csv.csv",
    "nhspaymentsgp-16-17-prac-csv.csv",
    "nhspaymentsgp-18-19-csv.csv",
    "nhspaymentsgp-22-23-prac-csv.csv",
)
PERIOD = Period.parse("2025-26-Q2")


def _with_seniority(n: int = 40):
    ex = generated(n)
    rng = np.random.default_rng(3)
    paid = np.where(rng.random(n) < 0.4, rng.integers(50_000, 3_000_000, n), 0)
    ex["contracts"] = ex["contracts"].assign(seniority_pence=paid)
    return ex, int(paid.sum())


def test_every_contracts_layout_reads_the_seniority_column() -> None:
    layouts = [s for s in all_layouts() if s.extract == "contracts"]
    assert layouts
    for spec in layouts:
        assert "seniority_pence" in spec.columns.values(), spec.name


@pytest.mark.parametrize("name", READABLE)
def test_seniority_is_read_from_the_real_payments_file_of_each_era(name: str) -> None:
    path = PAYMENTS / name
    if not path.exists():
        pytest.skip(f"{path} is in ../shared only")
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, encoding="latin-1", keep_default_na=False)
    column = next(c for c in raw.columns if c.strip().lower() == "seniority")
    expected = sum(round(float(v) * 100) for v in raw[column])
    frame = standardise("contracts", [path]).frame
    assert frame["seniority_pence"].notna().all()
    assert int(frame["seniority_pence"].sum()) == expected > 0


def test_seniority_recycled_shares_the_national_total_by_the_global_sum_weighted_list() -> None:
    ex, total = _with_seniority()
    a = compute_allocations(ex, period=PERIOD)
    assert {"seniority_recycled", "mpig_and_seniority_recycled"} <= set(a.variants)
    assert a.checks["passed"].all()
    env = a.envelopes.set_index(["variant", "line"])["pence"]
    assert env[("seniority_recycled", "seniority_recycled")] == total
    mpig_total = int(ex["contracts"]["mpig_pence"].sum())
    assert env[("mpig_and_seniority_recycled", "mpig_recycled")] == mpig_total
    assert env[("mpig_and_seniority_recycled", "seniority_recycled")] == total
    assert (
        a.envelope_pence("mpig_and_seniority_recycled") == a.envelope_pence("global_sum") + total + mpig_total
    )

    # each practice's recycled line is its largest-remainder share of the total by the global sum list
    weights = a.weights[a.weights["variant"] == "global_sum"].set_index("practice_code")["weighted_list"]
    led = a.ledger
    line = led[(led["variant"] == "seniority_recycled") & (led["line"] == "seniority_recycled")]
    got = line.set_index("practice_code")["pence"].reindex(weights.index)
    assert got.tolist() == apportion(total, weights.to_numpy()).tolist()

    # money moved: the recycled share less the seniority the practice no longer receives; over England
    # the change in capitation is exactly the total recycled, so the money moved adds up to zero
    table = recycling_table(a, "practice")
    moved = table["moved_pence__seniority_recycled"]
    paid = table["paid_seniority_pence"]
    change = table["capitation_change_pence__seniority_recycled"]
    assert (moved == change - paid).all() and int(moved.sum()) == 0
    both = table["moved_pence__mpig_and_seniority_recycled"]
    assert int(both.sum()) == 0
    assert (
        both
        == table["capitation_change_pence__mpig_and_seniority_recycled"] - paid - table["paid_mpig_pence"]
    ).all()
    # a practice paid seniority and getting back less than it had loses money
    loser = table.loc[paid.idxmax()]
    assert loser["moved_pence__seniority_recycled"] < 0

    # per sub-ICB location the same figures come from the aggregates, and add up to the practices'
    subs = recycling_table(a, "sub_icb")
    practices = a.practices.set_index("practice_code")["sub_icb_code"]
    by_sub = table.set_index("code")["moved_pence__seniority_recycled"].groupby(practices).sum()
    assert subs.set_index("code")["moved_pence__seniority_recycled"].to_dict() == by_sub.to_dict()


def test_without_a_seniority_column_the_variants_say_why() -> None:
    ex = generated()  # its contracts carry no Seniority values
    a = compute_allocations(ex, period=PERIOD)
    assert "seniority_recycled" not in a.variants and "mpig_recycled" in a.variants
    assert "seniority_recycled not computed: the contracts extract has no Seniority column" in a.notes
