"""A failed reconciliation gate stops a real run before anything is staged: one-line error naming the
check and both figures, exit 2 from the CLI, nothing published, earlier outputs byte-identical."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from gp_allocations import engine as engine_pkg
from gp_allocations import pipeline
from gp_allocations.aggregates import aggregate
from gp_allocations.checks import engine_checks
from gp_allocations.cli import main
from gp_allocations.config import RunContext
from gp_allocations.errors import ReconciliationFailed
from gp_allocations.periods import Period
from gp_allocations.variants import LINES
from gp_allocations_samples import generate_samples

CAPITATION_LINES = {n for n, line in LINES.items() if line.capitation}
PERIOD = "2025-26-Q2"


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
