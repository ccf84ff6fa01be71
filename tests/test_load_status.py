"""The warehouse matches what was published (issue 14.10), on the embedded default (SQLite) and on the
real PostgreSQL server.

Run A publishes. Run B loads the period again and then fails in compute (a fault injected after the
load), or in publish after its sub-ICB workbooks are staged (the disk fills before the national
workbook). Either way the period's core tables hold B's load, and the warehouse says so: B's load is
``not_published`` (the stage and the error kept), the latest publication used A's load, and
``include/sql/marts/030_publication_inputs.sql`` lists A's publication with its inputs and no row for B;
the published folder is untouched. A retry of B that succeeds turns B's load into the published one.
"""

from __future__ import annotations

import errno
import uuid

import pytest
import sqlalchemy as sa

from gp_allocations import pipeline, publish, warehouse
from test_faults_common import context, generate_source, run_stages, visible_tree

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BEFORE_LOAD = ["pull", "standardise", "validate", "load"]


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
        return
    name = f"gp_alloc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return generate_source(tmp_path_factory.mktemp("extracts"), practices=24, seed=5)


@pytest.fixture
def published_a(tmp_path, source, warehouse_url):
    """Run A published; returns (engine, the published tree, a context maker for later runs)."""

    def make(run_id: str):
        return context(tmp_path / "data", source, run_id, warehouse_url=warehouse_url)

    run_stages(make("run-a"), [*BEFORE_LOAD, "compute", "publish"])
    engine = warehouse.make_engine(warehouse_url)
    yield engine, visible_tree(tmp_path / "data" / "outputs"), make
    engine.dispose()


def _fail_compute(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error reading the engine's parameter table")

    monkeypatch.setattr("gp_allocations.engine.compute_allocations", broken)


def _fail_publish_after_staging(monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish, "stage_national_workbook", full)


FAULTS = {
    "compute": (_fail_compute, ["compute"], "OSError: [Errno 5] Input/output error"),
    "publish": (_fail_publish_after_staging, ["compute", "publish"], "OSError: [Errno 28] No space left"),
}


@pytest.mark.parametrize("stage", sorted(FAULTS))
def test_a_failure_after_load_marks_the_load_not_published(stage, published_a, monkeypatch, tmp_path):
    engine, tree_a, make = published_a
    fault, stages, detail = FAULTS[stage]
    ctx = make("run-b")
    run_stages(ctx, BEFORE_LOAD)
    loaded = warehouse.core_load(engine, ctx.period.slug)
    assert (loaded["run_id"], loaded["status"], loaded["published_run_id"]) == ("run-b", "loaded", "run-a")

    with monkeypatch.context() as patched:
        fault(patched)
        with pytest.raises(OSError):
            run_stages(ctx, stages)

    core = warehouse.core_load(engine, ctx.period.slug)
    assert (core["run_id"], core["status"], core["failed_stage"]) == ("run-b", "not_published", stage)
    assert core["detail"].startswith(detail) and core["published_run_id"] == "run-a"
    inputs = warehouse.publication_inputs(engine, ctx.period.slug)
    assert set(inputs["run_id"]) == {"run-a"}, "a publication is listed only for the run that published"
    assert set(inputs["publication_status"]) == {"published"} and set(inputs["load_status"]) == {"published"}
    assert set(inputs["core_holds_this_load"]) == {0}  # run B's load replaced A's in the core tables
    assert set(inputs["extract"]) >= {"capitation_age_sex", "contracts", "practice_map"}
    assert visible_tree(tmp_path / "data" / "outputs") == tree_a  # nothing published from run B

    # Airflow's retry of the failed task (same run id), now without the fault: B's load is published
    run_stages(ctx, stages if stage == "publish" else ["compute", "publish"])
    core = warehouse.core_load(engine, ctx.period.slug)
    assert (core["run_id"], core["status"], core["failed_stage"], core["detail"]) == (
        "run-b",
        "unchanged",  # the same extracts: the same figures as run A, so no new version
        None,
        None,
    )
    inputs = warehouse.publication_inputs(engine, ctx.period.slug)
    assert dict(zip(inputs["run_id"], inputs["load_status"], strict=True)) == {
        "run-a": "published",
        "run-b": "unchanged",
    }
    held = dict(zip(inputs["run_id"], inputs["core_holds_this_load"], strict=True))
    assert held == {"run-a": 0, "run-b": 1}


def test_the_marker_cannot_pass_off_an_unpublished_load(published_a):
    """Planted defect: were the publication recorded for run B without B publishing, the check would
    see it; and a load already published is never demoted by a later failure of the same run."""
    engine, _, make = published_a
    ctx = make("run-a")
    warehouse.mark_load_not_published(
        engine, period=ctx.period.slug, run_id="run-a", stage="publish", detail="late failure"
    )
    core = warehouse.core_load(engine, ctx.period.slug)
    assert (core["run_id"], core["status"], core["published_run_id"]) == ("run-a", "published", "run-a")


def test_a_failure_before_load_leaves_the_core_load_as_it_was(published_a, monkeypatch):
    engine, _, make = published_a
    ctx = make("run-c")
    before = warehouse.core_load(engine, ctx.period.slug)

    def refused(*args, **kwargs):
        raise OSError(errno.ECONNRESET, "Connection reset by peer")

    monkeypatch.setattr(warehouse, "bulk_insert", refused)
    with pytest.raises(OSError):
        run_stages(ctx, BEFORE_LOAD)
    assert warehouse.core_load(engine, ctx.period.slug) == before
    with engine.connect() as conn:
        statuses = conn.execute(sa.text("SELECT run_id FROM load_status ORDER BY run_id")).scalars().all()
    assert statuses == ["run-a"]


def test_the_stage_wrapper_reports_the_stage_error_when_the_warehouse_is_down(tmp_path, source):
    """The mark is best effort: with the warehouse unreachable the stage's own error is raised."""
    ctx = context(
        tmp_path / "data",
        source,
        "run-x",
        warehouse_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
    )
    with pytest.raises(FileNotFoundError):
        pipeline.stage_publish_national(ctx)
