"""The run's folder (``<data dir>/runs/<period>/<run id>/``): what each stage hands the next, read back
here (standardised frames, extract periods, the validation report, the computed allocation, what the
workbooks say about the run), and ``after_load``, which marks a failed stage's load not published."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import pandas as pd

from ..config import RunContext
from ..pull import read_pull_records

if TYPE_CHECKING:
    from ..ledger import Allocation
    from ..validation import ValidationReport
    from ..workbooks import RunInfo

log = logging.getLogger(__name__)


RESULT_DIR = "result"


_P = ParamSpec("_P")


_T = TypeVar("_T")


def after_load(stage: str) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """A stage after load: when it fails, the run's load is marked not published in the warehouse
    (best effort: the warehouse may be what failed; a killed run's load stays 'loaded', also not
    published). The stage's first argument is the RunContext."""

    def wrap(func: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(func)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                ctx = args[0]
                assert isinstance(ctx, RunContext)
                _mark_not_published(ctx, stage, exc)
                raise

        return run

    return wrap


def _mark_not_published(ctx: RunContext, stage: str, exc: Exception) -> None:
    from ..warehouse import make_engine, mark_load_not_published

    try:
        mark_load_not_published(
            make_engine(ctx.warehouse_url),
            period=ctx.period.slug,
            run_id=ctx.run_id,
            stage=stage,
            detail=f"{type(exc).__name__}: {exc}",
        )
    except Exception:  # the stage's own error is the one to report
        log.warning("could not mark the load of run %s as not published", ctx.run_id, exc_info=True)


EXTRACT_PERIODS_FILE = "extract_periods.json"


def extract_periods(ctx: RunContext) -> dict[str, str | None]:
    """The period each standardised extract is for, as the standardise stage found it."""
    summary = json.loads((ctx.standardised_dir / "summary.json").read_text())
    return {name: info.get("period_hint") for name, info in summary.items()}


def extract_period_verdicts(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Extract -> the period it is for, where that was read, its files and the rule's verdict."""
    path = ctx.standardised_dir / EXTRACT_PERIODS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def read_standardised(ctx: RunContext) -> dict[str, pd.DataFrame]:
    frames = {}
    for path in sorted(ctx.standardised_dir.glob("*.parquet")):
        frames[path.stem] = pd.read_parquet(path)
    return frames


@functools.lru_cache(maxsize=4)
def _cached_allocation(path: Path, mtime_ns: int) -> Allocation:
    """Hand-off files read once per process (many mapped publish tasks can share a process);
    keyed on the file's modification time so a rewritten file is read again."""
    from ..ledger import load_allocation

    return load_allocation(path.parent)


@functools.lru_cache(maxsize=4)
def _cached_report(path: Path, mtime_ns: int) -> ValidationReport:
    from ..validation import ValidationReport

    return ValidationReport.from_json(path.read_text())


def load_validation_report(ctx: RunContext) -> ValidationReport:
    path = ctx.validation_dir / "report.json"
    return _cached_report(path, path.stat().st_mtime_ns)


def load_result(ctx: RunContext) -> Allocation:
    path = ctx.compute_dir / RESULT_DIR / "allocation.json"
    return _cached_allocation(path, path.stat().st_mtime_ns)


def run_info(ctx: RunContext) -> RunInfo:
    """What the workbooks say about the run: inputs, validation outcome, Data Docs location."""
    from ..findings import kept_rows
    from ..plausibility import read_overrides
    from ..workbooks import RunInfo

    report = load_validation_report(ctx)
    warnings = report.warnings()
    return RunInfo(
        run_id=ctx.run_id,
        period_label=ctx.period.label,
        generated_for="NHS England primary care commissioning",
        validation_status="passed with warnings" if len(warnings) else "passed",
        warnings=warnings,
        quarantined_rows=len(kept_rows(report.quarantine)),
        inputs=[
            {
                "extract": r.extract,
                "file": r.file,
                "sha256": r.sha256,
                "bytes": r.bytes,
                "source": r.source,
                "fetched_at": r.fetched_at,
            }
            for r in read_pull_records(ctx.raw_dir)
        ],
        data_docs=str(report.data_docs_index) if report.data_docs_index else None,
        extract_periods=extract_period_verdicts(ctx),
        comparisons=_comparisons(ctx),
        overrides=read_overrides(ctx.compute_dir),
        **_publication(ctx),
    )


BRIDGE_DIR = "bridge"


def _comparisons(ctx: RunContext) -> tuple[Any, ...]:
    """The bridges against earlier publications (``stage_publish_prepare`` worked them out)."""
    from ..bridge import load_comparisons

    return load_comparisons(ctx.run_dir / BRIDGE_DIR)


PUBLISH_BASE = "publish_base.json"


def _publication(ctx: RunContext) -> dict[str, Any]:
    """The Cover's publication facts: organisation and contact (configuration), version and date (fixed
    when publishing started), status: a scenario (a run price) is a draft, anything else final."""
    path = ctx.run_dir / PUBLISH_BASE
    base = json.loads(path.read_text()) if path.is_file() else {}
    return {
        "organisation": ctx.organisation,
        "contact": ctx.contact,
        "version": base.get("version"),
        "publication_date": base.get("published_on"),
        "status": "draft" if ctx.price_per_weighted_patient is not None else "final",
    }
