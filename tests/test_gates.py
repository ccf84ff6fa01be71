"""Every reconciliation is a gate: each check is shown to catch a planted defect (the run-level proof that
a failed gate stops a run is in test_gates_pipeline)."""

from __future__ import annotations

import pandas as pd
import pytest

from _workbook_fixtures import make_result
from gp_allocations.aggregates import aggregate
from gp_allocations.checks import enforce, engine_checks, marts_check
from gp_allocations.errors import ReconciliationFailed
from gp_allocations.variants import LINES

CAPITATION_LINES = {n for n, line in LINES.items() if line.capitation}
PERIOD = "2025-26-Q2"


def _rebuilt(a):
    """The allocation with its aggregates recomputed from a (tampered) ledger or facts."""
    a.totals = aggregate(a.practices, a.ledger, a.weights, CAPITATION_LINES)
    a.checks = engine_checks(a)
    return a


def _failed(a) -> list[str]:
    return a.checks.loc[~a.checks["passed"], "check"].tolist()


def test_a_sound_allocation_passes_every_check():
    a = make_result()
    assert len(a.checks) >= 20 and a.checks["passed"].all()
    enforce(a.checks)  # does not raise


def test_a_penny_added_to_one_practice_fails_the_envelope_gate():
    a = make_result()
    row = a.ledger.index[(a.ledger["variant"] == "global_sum") & (a.ledger["line"] == "capitation")][0]
    a.ledger.loc[row, "pence"] += 1
    failed = _failed(_rebuilt(a))
    assert "global_sum: practices' capitation lines sum to the envelope line (pence)" in failed
    assert "global_sum: practices sum to the envelope (pence)" in failed
    with pytest.raises(ReconciliationFailed) as err:
        enforce(a.checks)
    text = str(err.value)
    assert "\n" not in text and "global_sum: practices' capitation lines sum to the envelope line" in text
    assert "expected 866155150, got 866155151" in text and "nothing was published" in text
    assert (err.value.expected, err.value.actual) == (866155150, 866155151)


def test_an_unnormalised_weighted_list_fails():
    a = make_result()
    dw = a.weights["variant"] == "deprivation_weighted"
    a.weights.loc[dw, "weighted_list"] *= 1.01
    assert _failed(_rebuilt(a)) == [
        "deprivation_weighted: national weighted list equals national registered list"
    ]


def test_an_envelope_neutral_variant_with_another_envelope_fails():
    a = make_result()
    env = (a.envelopes["variant"] == "deprivation_weighted") & (a.envelopes["line"] == "capitation")
    a.envelopes.loc[env, "pence"] += 500
    row = a.ledger.index[
        (a.ledger["variant"] == "deprivation_weighted") & (a.ledger["line"] == "capitation")
    ][0]
    a.ledger.loc[row, "pence"] += (
        500  # the ledger agrees with its (wrong) envelope: only neutrality catches it
    )
    assert _failed(_rebuilt(a)) == [
        "deprivation_weighted: envelope-neutral, so its envelope equals the global sum's (pence)"
    ]


def test_qof_that_differs_between_variants_fails():
    a = make_result()
    rows = a.ledger.index[(a.ledger["variant"] == "deprivation_weighted") & (a.ledger["line"] == "qof")]
    a.ledger.loc[rows[0], "pence"] += 3
    a.ledger.loc[rows[1], "pence"] -= 3
    assert _failed(_rebuilt(a)) == [
        "QOF: every practice's QOF is the same in every variant (largest spread, pence)"
    ]


def test_a_sub_icb_split_between_two_icbs_fails_the_hierarchy_gate():
    a = make_result()
    a.practices.loc[a.practices["practice_code"] == "L83005", "icb_code"] = "QUY"  # 15N is in QJK
    failed = _failed(_rebuilt(a))
    one_parent = (
        "sub_icb: each has one sub_icb_name, icb_code, icb_name, region_code, region_name over its "
        "practices (organisations with more)"
    )
    sums = "icb: each equals the sum of its sub_icb rows (every variant and line)"
    assert failed[0] == one_parent and sums in failed
    detail = a.checks.set_index("check").loc[sums, "detail"]
    assert "2 icb rows differ in practices or registered list" in detail
    # the aggregates pick neither ICB for 15N: the run stops naming both and the practice
    facts = a.totals.of("sub_icb").facts.set_index("code")
    assert pd.isna(facts.loc["15N", "icb_code"]) and facts.loc["15N", "region_code"] == "Y58"
    with pytest.raises(ReconciliationFailed) as err:
        enforce(a.checks)
    assert str(err.value).startswith(
        f"reconciliation check failed: {one_parent}: expected 0, got 1 [1 with more than one; first "
        "sub_icb 15N: icb_code QJK (practices L83001, L83002, L83003 ...) and QUY (practice L83005)]"
    )


def test_a_region_split_inside_one_icb_fails_the_hierarchy_gate():
    a = make_result()
    icb = a.practices.loc[a.practices["practice_code"] == "L83005", "icb_code"].iloc[0]
    practices = a.practices.index[a.practices["icb_code"] == icb]
    a.practices.loc[practices[-1], "region_code"] = "Y99"
    failed = _failed(_rebuilt(a))
    assert any(f.startswith("icb: each has one icb_name, region_code") for f in failed), failed


def test_tampered_aggregates_fail_children_and_cut_checks():
    a = make_result()
    m = a.totals.money
    row = m.index[(m["grouping"] == "sub_icb") & (m["code"] == "15N") & (m["line"] == "qof")][0]
    m.loc[row, "pence"] += 7
    a.checks = engine_checks(a)
    failed = _failed(a)
    assert "sub_icb: each equals the sum of its sub_icb_pcn rows (every variant and line)" in failed
    assert "icb: each equals the sum of its sub_icb rows (every variant and line)" in failed


def test_warehouse_marts_that_differ_from_the_engine_fail():
    a = make_result()
    from gp_allocations.warehouse import _level_rows, _practice_rows

    levels, practices = _level_rows(a, PERIOD, "r"), _practice_rows(a, PERIOD, "r")
    assert marts_check(a, levels, practices)["passed"].all()
    bad = levels.copy()
    bad.loc[(bad["level"] == "sub_icb") & (bad["org_code"] == "15C"), "total_pence"] += 1
    checks = marts_check(a, bad, practices)
    assert checks.loc[~checks["passed"], "check"].tolist() == [
        "warehouse: mart_level_allocation sub_icb rows equal the engine (pence)"
    ]
    missing = practices.iloc[1:]
    checks = marts_check(a, levels, missing)
    assert not checks["passed"].all()
