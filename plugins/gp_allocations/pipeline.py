"""The nightly run's stages as plain functions of a RunContext.

The DAG calls these one task each; the CLI (``python -m gp_allocations run``) calls them in a row.
Stages hand over through the run's own folder (``<data dir>/runs/<period>/<run id>/``), never
through task-to-task memory, so any stage can be retried alone.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .config import RunContext
from .errors import ValidationFailed
from .extracts import EXTRACTS
from .pull import PulledFile, pull_all, read_pull_records

if TYPE_CHECKING:
    from .ledger import Allocation
    from .validation import ValidationReport
    from .workbooks import RunInfo

log = logging.getLogger(__name__)

_RESULT_DIR = "result"


def stage_pull(ctx: RunContext) -> dict[str, Any]:
    """Copy every extract into the run's raw area; return what was pulled (for the task log/XCom)."""
    records = pull_all(ctx)
    for r in records:
        log.info(
            "pulled %s: %s (%s bytes, sha256 %s) from %s", r.extract, r.file, r.bytes, r.sha256, r.source
        )
    return {"files": len(records), "extracts": sorted({r.extract for r in records})}


def _pulled_by_extract(ctx: RunContext) -> dict[str, list[PulledFile]]:
    grouped: dict[str, list[PulledFile]] = {}
    for r in read_pull_records(ctx.raw_dir):
        grouped.setdefault(r.extract, []).append(r)
    return grouped


def stage_standardise(ctx: RunContext) -> dict[str, Any]:
    """Recognise each raw file's layout and write the canonical frame as Parquet."""
    from .standardise import standardise

    ctx.standardised_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for extract, files in sorted(_pulled_by_extract(ctx).items()):
        paths = [ctx.raw_dir / f.file for f in files]
        std = standardise(extract, paths, display_names=[Path(f.file).name for f in files])
        std.frame.to_parquet(ctx.standardised_dir / f"{extract}.parquet", index=False)
        summary[extract] = {
            "rows": len(std.frame),
            "layout": std.layout,
            "era": std.era,
            "period_hint": std.period_hint,
        }
        log.info("standardised %s: %s rows, layout %s (%s)", extract, len(std.frame), std.layout, std.era)
    (ctx.standardised_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    return summary


def read_standardised(ctx: RunContext) -> dict[str, pd.DataFrame]:
    frames = {}
    for path in sorted(ctx.standardised_dir.glob("*.parquet")):
        frames[path.stem] = pd.read_parquet(path)
    return frames


def stage_validate(ctx: RunContext) -> dict[str, Any]:
    """Run the GX suites and cross-extract checks; errors stop the run before anything is loaded."""
    from .validation import validate
    from .warehouse import make_engine, previous_list_sizes, record_quarantine

    engine = make_engine(ctx.warehouse_url)
    previous = previous_list_sizes(engine, ctx.period.slug, exclude_run_id=ctx.run_id)
    report = validate(
        read_standardised(ctx),
        out_dir=ctx.validation_dir,
        period=ctx.period,
        previous_list_sizes=previous,
    )
    (ctx.validation_dir / "report.json").write_text(report.to_json())
    # kept even when the run stops here, so the failing rows can be queried next to earlier runs'
    record_quarantine(engine, period=ctx.period.slug, run_id=ctx.run_id, quarantine=report.quarantine)
    if report.data_docs_index:
        log.info("Data Docs validation report: %s", report.data_docs_index)
    warnings = report.warnings()
    for _, w in warnings.iterrows():
        log.warning("validation warning: %s", w.get("message"))
    if not report.passed:
        raise ValidationFailed(report.error_summary())
    return {
        "passed": True,
        "warnings": len(warnings),
        "quarantined_rows": len(report.quarantine),
        "data_docs": str(report.data_docs_index) if report.data_docs_index else None,
    }


def stage_load(ctx: RunContext) -> dict[str, Any]:
    """Load the validated frames into the warehouse (one transaction for the period)."""
    from .warehouse import load_period, make_engine

    frames = read_standardised(ctx)
    files = [
        {"extract": r.extract, "file": r.file, "source": r.source, "sha256": r.sha256, "bytes": r.bytes}
        for r in read_pull_records(ctx.raw_dir)
    ]
    counts = load_period(
        make_engine(ctx.warehouse_url), period=ctx.period.slug, run_id=ctx.run_id, frames=frames, files=files
    )
    log.info("loaded %s", counts)
    return counts


def stage_compute(ctx: RunContext) -> dict[str, Any]:
    """Compute every variant's ledger from the warehouse's core tables; stop on any failed reconciliation
    gate (engine checks, then the marts read back against the engine) before anything is staged."""
    from .checks import enforce, marts_check
    from .engine import compute_allocations
    from .ledger import save_allocation
    from .warehouse import make_engine, read_compute_inputs, write_allocation_marts

    engine = make_engine(ctx.warehouse_url)
    inputs = read_compute_inputs(engine, ctx.period.slug)
    allocation = compute_allocations(
        inputs,
        period=ctx.period,
        parameter_set=ctx.parameter_set,
        selected_variant=ctx.variant,
        price_per_weighted_patient=ctx.price_per_weighted_patient,
    )
    enforce(allocation.checks)
    levels, practices = write_allocation_marts(
        engine, period=ctx.period.slug, run_id=ctx.run_id, allocation=allocation
    )
    marts = marts_check(allocation, levels, practices)
    enforce(marts)
    allocation.checks = pd.concat([allocation.checks, marts], ignore_index=True)
    save_allocation(allocation, ctx.compute_dir / _RESULT_DIR)
    england = {v: allocation.totals.amount("england", "E92000001", v, "total") for v in allocation.variants}
    for variant, total in england.items():
        log.info("England total %s: %s pence", variant, total)
    return {
        "practices": len(allocation.practices),
        "variants": allocation.variants,
        "england_total_pence": england,
    }


@functools.lru_cache(maxsize=4)
def _cached_allocation(path: Path, mtime_ns: int) -> Allocation:
    """Hand-off files read once per process (many mapped publish tasks can share a process);
    keyed on the file's modification time so a rewritten file is read again."""
    from .ledger import load_allocation

    return load_allocation(path.parent)


@functools.lru_cache(maxsize=4)
def _cached_report(path: Path, mtime_ns: int) -> ValidationReport:
    from .validation import ValidationReport

    return ValidationReport.from_json(path.read_text())


def load_validation_report(ctx: RunContext) -> ValidationReport:
    path = ctx.validation_dir / "report.json"
    return _cached_report(path, path.stat().st_mtime_ns)


def run_info(ctx: RunContext) -> RunInfo:
    """What the workbooks say about the run: inputs, validation outcome, Data Docs location."""
    from .workbooks import RunInfo

    report = load_validation_report(ctx)
    warnings = report.warnings()
    return RunInfo(
        run_id=ctx.run_id,
        period_label=ctx.period.label,
        generated_for="NHS England primary care commissioning",
        validation_status="passed with warnings" if len(warnings) else "passed",
        warnings=warnings,
        quarantined_rows=len(report.quarantine),
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
    )


def _load_result(ctx: RunContext) -> Allocation:
    path = ctx.compute_dir / _RESULT_DIR / "allocation.json"
    return _cached_allocation(path, path.stat().st_mtime_ns)


_PUBLISH_BASE = "publish_base.json"


def _read_publish_base(ctx: RunContext) -> object:
    """The run id ``latest`` pointed at when this run started publishing (None: nothing published yet).

    Without the record (a run prepared by older code) no check is made.
    """
    from .publish import ANY_LATEST

    path = ctx.run_dir / _PUBLISH_BASE
    if not path.is_file():
        return ANY_LATEST
    return json.loads(path.read_text())["latest_run_id"]


def stage_publish_prepare(ctx: RunContext) -> list[str]:
    """Start a clean staging folder for the run; return the sub-ICB codes to write (one task each).

    Also notes which run ``latest`` points at now: finalise refuses to publish over a different run
    that another DAG run published in the meantime.
    """
    import shutil

    from .checks import enforce, engine_checks
    from .files import atomic_write
    from .publish import check_component, latest_run, stage_dir

    result = _load_result(ctx)
    enforce(engine_checks(result))  # the hand-off files are checked again before anything is staged
    codes = result.sub_icb_codes
    for code in codes:
        check_component(code, "sub-ICB code")
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    shutil.rmtree(staging)  # leftovers of an earlier failed attempt must not leak into this run
    staging.mkdir(parents=True)
    latest = latest_run(Path(ctx.output_root), ctx.period.slug)
    atomic_write(
        ctx.run_dir / _PUBLISH_BASE, json.dumps({"latest_run_id": latest.name if latest else None}).encode()
    )
    return codes


def stage_publish_sub_icb(ctx: RunContext, sub_icb_code: str) -> dict[str, Any]:
    """Write one sub-ICB location's workbook into the staging folder."""
    from .publish import stage_dir, stage_sub_icb_workbook

    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    return stage_sub_icb_workbook(
        _load_result(ctx), run_info(ctx), staging, sub_icb_code, period_slug=ctx.period.slug
    )


def stage_publish_national(ctx: RunContext) -> dict[str, Any]:
    """Write the national summary workbook into the staging folder."""
    from .publish import stage_dir, stage_national_workbook

    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    return stage_national_workbook(_load_result(ctx), run_info(ctx), staging, period_slug=ctx.period.slug)


def _stage_quarantine(ctx: RunContext, staging: Path) -> dict[str, Any]:
    """The run's quarantined rows (warnings; errors never publish) go out beside the workbooks."""
    import shutil

    from .publish import file_entry

    source = ctx.validation_dir / "quarantine.csv"
    target = staging / "quarantine.csv"
    shutil.copyfile(source, target)
    with target.open(newline="", encoding="utf-8") as fh:
        rows = max(0, sum(1 for _ in csv.reader(fh)) - 1)
    return file_entry(target, kind="quarantine", rows=rows)


def stage_publish_finalise(ctx: RunContext, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Under the period lock: publish a new version (manifest with ``changes``, one rename, ``latest``
    last), or record 'unchanged' when the content equals the latest run's. Recorded in the warehouse."""
    from .errors import PublishError
    from .publish import MANIFEST, build_manifest, finalise_run, sha256_of, stage_dir
    from .warehouse import make_engine, record_publication

    result = _load_result(ctx)
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    files = [*files, _stage_quarantine(ctx, staging)]
    manifest = build_manifest(
        result,
        run_info(ctx),
        sorted(files, key=lambda f: f["name"]),
        period_slug=ctx.period.slug,
        run_id=ctx.run_id,
    )
    record = {
        "period": ctx.period.slug,
        "run_id": ctx.run_id,
        "parameter_set": result.parameter_set,
        "selected_variant": result.selected_variant,
    }
    try:
        outcome = finalise_run(
            staging,
            Path(ctx.output_root),
            ctx.period.slug,
            ctx.run_id,
            manifest,
            skip_unchanged=True,
            expected_latest=_read_publish_base(ctx),
        )
    except PublishError:
        try:  # best effort: the warehouse may be the thing that is down
            record_publication(
                make_engine(ctx.warehouse_url),
                **record,
                status="failed",
                output_dir=None,
                manifest_sha256=None,
            )
        except Exception:  # the publish error is the one to report
            log.warning("could not record the failed publication in the warehouse", exc_info=True)
        raise
    final = outcome.directory
    record_publication(
        make_engine(ctx.warehouse_url),
        **record,
        status=outcome.status,
        output_dir=str(final),
        manifest_sha256=sha256_of(final / MANIFEST),
    )
    if outcome.status == "unchanged":
        log.info(
            "content unchanged since run %s: no new version published (%s)", outcome.previous_run_id, final
        )
    else:
        log.info("published %s files to %s; manifest %s", len(files), final, final / MANIFEST)
    return {
        "status": outcome.status,
        "directory": str(final),
        "manifest": str(final / MANIFEST),
        "workbooks": sum(1 for f in files if f["name"].endswith(".xlsx")),
        "previous_run_id": outcome.previous_run_id,
    }


def stage_publish(ctx: RunContext) -> dict[str, Any]:
    """All of publishing in one call (the CLI's way; the DAG maps one task per sub-ICB instead).

    On failure the run's staging folder is removed (a full disk gets its space back); published runs and
    ``latest`` are never touched by a failure.
    """
    import shutil

    from .publish import stage_dir

    try:
        codes = stage_publish_prepare(ctx)
        files = [stage_publish_sub_icb(ctx, code) for code in codes]
        files.append(stage_publish_national(ctx))
        return stage_publish_finalise(ctx, files)
    except Exception:
        from .errors import PublishError

        # PublishError here: the output root itself is unusable, so there is no staging folder to remove
        with contextlib.suppress(PublishError):
            shutil.rmtree(stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id), ignore_errors=True)
        raise


STAGES = (stage_pull, stage_standardise, stage_validate, stage_load, stage_compute, stage_publish)


def run_all(ctx: RunContext) -> dict[str, Any]:
    """Every stage in order, as the DAG would run them; returns the publish stage's summary."""
    out: dict[str, Any] = {}
    for stage in STAGES:
        out = stage(ctx)
    return out


__all__ = ["EXTRACTS", "STAGES", "run_all"]
