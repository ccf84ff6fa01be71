"""Every reconciliation is a gate: each check is shown to catch a planted defect, and a failed check stops
a real run before anything is staged (one-line error naming the check and both figures; nothing
published; earlier outputs byte-identical)."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from _workbook_fixtures import make_result
from gp_allocations import engine as engine_pkg
from gp_allocations import pipeline
from gp_allocations.aggregates import aggregate
from gp_allocations.checks import enforce, engine_checks, marts_check
from gp_allocations.cli import main
from gp_allocations.config import RunContext
from gp_allocations.errors import ReconciliationFailed
from gp_allocations.periods import Period
from gp_allocations.sample_data import generate_samples
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
    assert failed == ["icb: each equals the sum of its sub_icb rows (every variant and line)"]
    detail = a.checks.set_index("check").loc[failed[0], "detail"]
    assert "parent QJK" in detail and "practices or registered list" in detail


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


# --- a real run stops at the gate ----------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("gates")
    generate_samples(root / "src", period=Period.parse(PERIOD), practices=40, seed=5)
    ctx = RunContext.prepare(
        run_id="first",
        period=PERIOD,
        source=str(root / "src"),
        data_dir=str(root / "var"),
        output_root=str(root / "out"),
        warehouse_url=f"sqlite:///{root / 'wh.sqlite'}",
    )
    pipeline.run_all(ctx)
    return root, ctx


def _cli_run(root: Path, run_id: str) -> list[str]:
    return [
        "run",
        "--period",
        PERIOD,
        "--source",
        str(root / "src"),
        "--run-id",
        run_id,
    ]


@pytest.fixture
def env(published, monkeypatch):
    root, ctx = published
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(ctx.data_dir))
    monkeypatch.setenv("GP_ALLOC_OUTPUT_ROOT", str(ctx.output_root))
    monkeypatch.setenv("GP_ALLOC_WAREHOUSE_URL", ctx.warehouse_url)
    return root, ctx


def _plant(monkeypatch, planted):
    real = engine_pkg.compute_allocations

    def tampered(*args, **kwargs):
        allocation = real(*args, **kwargs)
        planted(allocation)
        allocation.checks = engine_checks(allocation)
        return allocation

    monkeypatch.setattr(engine_pkg, "compute_allocations", tampered)


def _moved_penny(a) -> None:
    row = a.ledger.index[(a.ledger["variant"] == "mpig_recycled") & (a.ledger["line"] == "mpig_recycled")][3]
    a.ledger.loc[row, "pence"] -= 1
    a.totals = aggregate(a.practices, a.ledger, a.weights, CAPITATION_LINES)


def test_a_run_with_a_planted_defect_stops_and_publishes_nothing(env, monkeypatch, capsys):
    root, ctx = env
    before = _tree(Path(ctx.output_root))
    _plant(monkeypatch, _moved_penny)
    assert main(_cli_run(root, "planted")) == 2
    out = capsys.readouterr().err
    err = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "Traceback" not in out
    assert err[0].startswith(
        "error: reconciliation check failed: mpig_recycled: practices' mpig_recycled lines"
    )
    assert "expected" in err[0] and "got" in err[0]
    assert _tree(Path(ctx.output_root)) == before  # earlier outputs byte-identical, nothing new


def test_a_warehouse_that_stores_other_figures_stops_the_run(env, monkeypatch, capsys):
    root, ctx = env
    before = _tree(Path(ctx.output_root))
    from gp_allocations import warehouse

    real = warehouse._level_rows

    def off_by_one(allocation, period, run_id):
        rows = real(allocation, period, run_id)
        rows.loc[rows.index[-1], "total_pence"] += 1
        return rows

    monkeypatch.setattr(warehouse, "_level_rows", off_by_one)
    assert main(_cli_run(root, "bad-marts")) == 2
    out = capsys.readouterr().err
    err = [line for line in out.splitlines() if line.startswith("error:")]
    assert err[0].startswith("error: reconciliation check failed: warehouse: mart_level_allocation")
    assert "Traceback" not in out
    assert _tree(Path(ctx.output_root)) == before


def test_publishing_rechecks_the_hand_off_files(env):
    """A result tampered with between compute and publish is refused before anything is staged."""
    _, ctx = env
    from gp_allocations.ledger import load_allocation, save_allocation

    folder = ctx.compute_dir / "result"
    a = load_allocation(folder)
    tampered = copy.deepcopy(a)
    row = tampered.ledger.index[tampered.ledger["line"] == "qof"][0]
    tampered.ledger.loc[row, "pence"] += 1
    save_allocation(tampered, folder)
    before = _tree(Path(ctx.output_root))
    try:
        with pytest.raises(ReconciliationFailed, match=r"QOF|ledger lines"):
            pipeline.stage_publish(ctx)
        assert _tree(Path(ctx.output_root)) == before
    finally:
        save_allocation(a, folder)
    assert isinstance(a.ledger, pd.DataFrame)
