"""Publishing with several processes (the CLI's default on a multi-core machine) writes the same bytes
as one process, reports a failing book as the run's error, and refuses a nonsense worker count."""

from __future__ import annotations

from pathlib import Path

import pytest

from _support import sample_run
from gp_allocations import pipeline
from gp_allocations.config import RunContext
from gp_allocations.errors import PublishError
from gp_allocations.pipeline import publication
from gp_allocations.pipeline.publication import publish_workers
from gp_allocations.publish import stage_dir

PERIOD = "2025-26-Q2"  # sample_run's default


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _prepared(tmp_path: Path, practices: int, seed: int, run_id: str) -> RunContext:
    """A run taken up to compute (everything publishing reads), on a fresh sample."""
    ctx = sample_run(tmp_path, practices=practices, seed=seed, run_id=run_id)
    for stage in pipeline.STAGES[:-1]:
        stage(ctx)
    return ctx


def _staged_books(ctx: RunContext, monkeypatch: pytest.MonkeyPatch, workers: str) -> dict[str, bytes]:
    monkeypatch.setenv("GP_ALLOC_PUBLISH_WORKERS", workers)
    codes = publication.stage_publish_prepare(ctx)
    entries = publication._publish_books(ctx, codes, None)
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    assert sorted(e["name"] for e in entries) == sorted(_files(staging))
    return _files(staging)


def test_two_processes_write_the_same_bytes_as_one(tmp_path, monkeypatch):
    ctx = _prepared(tmp_path, 60, 11, "same-run")
    one = _staged_books(ctx, monkeypatch, "1")
    two = _staged_books(ctx, monkeypatch, "2")
    assert len(one) >= 5  # several sub-ICB books, their statements and the national book
    assert one.keys() == two.keys()
    assert [name for name in one if one[name] != two[name]] == []
    # and the whole stage publishes with two processes
    monkeypatch.setenv("GP_ALLOC_PUBLISH_WORKERS", "2")
    assert pipeline.stage_publish(ctx)["status"] == "published"


def test_a_book_that_fails_in_a_worker_is_the_error_and_publishes_nothing(tmp_path, monkeypatch):
    ctx = _prepared(tmp_path, 30, 12, "broken-book")
    monkeypatch.setenv("GP_ALLOC_PUBLISH_WORKERS", "2")
    codes = publication.stage_publish_prepare(ctx)
    # the workers read the run's hand-off files themselves: one made unreadable under them must surface
    # as its own error in the parent (not a broken pool), and nothing is published
    (ctx.compute_dir / "result" / "allocation.json").write_text("{not json")
    with pytest.raises(ValueError, match="Expecting property name"):
        publication._publish_books(ctx, codes, None)
    assert not list(Path(ctx.output_root).glob(f"{PERIOD}/*/*.xlsx"))


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_a_nonsense_worker_count_is_refused(monkeypatch, text):
    monkeypatch.setenv("GP_ALLOC_PUBLISH_WORKERS", text)
    with pytest.raises(PublishError, match="GP_ALLOC_PUBLISH_WORKERS"):
        publish_workers()


def test_the_default_is_one_process_per_usable_core(monkeypatch):
    monkeypatch.delenv("GP_ALLOC_PUBLISH_WORKERS", raising=False)
    assert publish_workers() >= 1
    monkeypatch.setenv("GP_ALLOC_PUBLISH_WORKERS", " 3 ")
    assert publish_workers() == 3
