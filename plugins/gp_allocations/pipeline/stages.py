"""The stages before publishing, one per room: pull, standardise, validate, load, compute. Each reads
the run folder the stage before wrote and writes its own hand-off (``runfolder.py``)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..config import RunContext
from ..errors import ValidationFailed
from ..pull import PulledFile, pull_all, read_pull_records
from .runfolder import (
    EXTRACT_PERIODS_FILE,
    RESULT_DIR,
    after_load,
    extract_periods,
    load_validation_report,
    read_standardised,
)

if TYPE_CHECKING:
    from ..ledger import Allocation

log = logging.getLogger(__name__)


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
    from ..rowchecks import check_aggregates_against_map
    from ..standardise import standardise

    ctx.standardised_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    with_totals, practice_map = [], None
    for extract, files in sorted(_pulled_by_extract(ctx).items()):
        if extract == "contracts":  # several payments years: the newest is the run's (long_run.py)
            files = _run_payments_year(ctx, files)
        paths = [ctx.raw_dir / f.file for f in files]
        std = standardise(extract, paths, display_names=[Path(f.file).name for f in files])
        if std.aggregates is not None:
            with_totals.append(std)
        if extract == "practice_map":
            practice_map = std.frame
        std.frame.to_parquet(ctx.standardised_dir / f"{extract}.parquet", index=False)
        summary[extract] = {
            "rows": len(std.frame),
            "layout": std.layout,
            "era": std.era,
            "period_hint": std.period_hint,
            "period_from": std.period_from,
            "files": [Path(f.file).name for f in files],
        }
        log.info("standardised %s: %s rows, layout %s (%s)", extract, len(std.frame), std.layout, std.era)
    (ctx.standardised_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    _check_extract_periods(ctx, summary)
    if practice_map is not None:
        # a file's region ... PCN totals against its practice rows, placed by the practice map
        for std in with_totals:
            assert std.aggregates is not None
            check_aggregates_against_map(std.aggregates, std.frame, practice_map)
    return summary


def _run_payments_year(ctx: RunContext, files: list[PulledFile]) -> list[PulledFile]:
    """The run's payments files; every older year is validated and kept for the long-run tables."""
    from ..long_run import HISTORY_DIR, keep_older_years

    names = [Path(f.file).name for f in files]
    run = keep_older_years([ctx.raw_dir / f.file for f in files], names, ctx.standardised_dir / HISTORY_DIR)
    return [files[i] for i in run]


def _check_extract_periods(ctx: RunContext, summary: Mapping[str, Mapping[str, Any]]) -> None:
    """Every extract's period against the run's (``period_rules``): another period stops the run here,
    before anything is validated or loaded (``PeriodMismatch``). The verdicts go to the workbooks."""
    from ..period_rules import check_extract_periods

    path = ctx.standardised_dir / EXTRACT_PERIODS_FILE
    path.unlink(missing_ok=True)
    judged = check_extract_periods(summary, ctx.period, ctx.extract_periods_file)
    path.write_text(json.dumps({j.extract: j.to_dict() for j in judged}, indent=2, sort_keys=True))


def stage_validate(ctx: RunContext) -> dict[str, Any]:
    """Run the GX suites and cross-extract checks; errors stop the run before anything is loaded."""
    from ..validation import validate
    from ..warehouse import make_engine, previous_list_sizes, record_quarantine

    engine = make_engine(ctx.warehouse_url)
    previous = previous_list_sizes(engine, ctx.period.slug, exclude_run_id=ctx.run_id)
    report = validate(
        read_standardised(ctx),
        out_dir=ctx.validation_dir,
        period=ctx.period,
        previous_list_sizes=previous,
        extract_periods=extract_periods(ctx),
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
    """Load the validated frames into the warehouse (one transaction for the period). The hierarchy is
    checked again over the hand-off first: the organisation tables select its one value per code."""
    from ..cross_extract import load_cross_rules
    from ..hierarchy import declared_functions, require_one_parent
    from ..warehouse import load_period, make_engine

    frames = read_standardised(ctx)
    require_one_parent(frames, declared_functions(load_cross_rules()))
    files = [
        {"extract": r.extract, "file": r.file, "source": r.source, "sha256": r.sha256, "bytes": r.bytes}
        for r in read_pull_records(ctx.raw_dir)
    ]
    counts = load_period(
        make_engine(ctx.warehouse_url), period=ctx.period.slug, run_id=ctx.run_id, frames=frames, files=files
    )
    log.info("loaded %s", counts)
    return counts


@after_load("compute")
def stage_compute(ctx: RunContext) -> dict[str, Any]:
    """Compute every variant's ledger from the warehouse's core tables; stop on any failed reconciliation
    gate (engine checks, then the marts read back against the engine) before anything is staged."""
    from ..checks import enforce, marts_check
    from ..engine import compute_allocations
    from ..ledger import save_allocation
    from ..plausibility import check_run
    from ..warehouse import make_engine, read_compute_inputs, write_allocation_marts

    engine = make_engine(ctx.warehouse_url)
    inputs = read_compute_inputs(engine, ctx.period.slug)
    allocation = compute_allocations(
        inputs,
        period=ctx.period,
        parameter_set=ctx.parameter_set,
        selected_variant=ctx.variant,
        price_per_weighted_patient=ctx.price_per_weighted_patient,
        quarantined_rows=_kept_rows_per_practice(ctx),
        places_file=ctx.places_file,
    )
    _add_long_run_tables(ctx, allocation, inputs)
    enforce(allocation.checks)
    overrides = check_run(ctx, inputs, allocation, _extract_periods_if_known(ctx))
    levels, practices = write_allocation_marts(
        engine, period=ctx.period.slug, run_id=ctx.run_id, allocation=allocation
    )
    marts = marts_check(allocation, levels, practices)
    enforce(marts)
    allocation.checks = pd.concat([allocation.checks, marts], ignore_index=True)
    save_allocation(allocation, ctx.compute_dir / RESULT_DIR)
    england = {v: allocation.totals.amount("england", "E92000001", v, "total") for v in allocation.variants}
    for variant, total in england.items():
        log.info("England total %s: %s pence", variant, total)
    return {
        "practices": len(allocation.practices),
        "variants": allocation.variants,
        "england_total_pence": england,
        "plausibility_overrides": len(overrides),
    }


def _add_long_run_tables(ctx: RunContext, allocation: Allocation, inputs: dict[str, pd.DataFrame]) -> None:
    """The implied price of every loaded payments year and, with several years, payments by IMD quintile
    over the years (national workbook; long_run.py)."""
    from ..long_run import HISTORY_DIR, long_run_tables, read_history

    contracts = inputs.get("contracts")
    if contracts is None:
        return
    hint = str(extract_periods(ctx).get("contracts") or "")
    year = hint if re.fullmatch(r"\d{4}/\d{2}", hint) else ctx.period.financial_year  # the file's year
    years = {**read_history(ctx.standardised_dir / HISTORY_DIR), year: contracts}
    allocation.tables.update(
        long_run_tables(
            years, parameter_set=ctx.parameter_set, deprivation_practice=inputs.get("deprivation_practice")
        )
    )


def _extract_periods_if_known(ctx: RunContext) -> dict[str, str | None]:
    """``extract_periods``, or nothing when the run was not standardised here (a compute-only retry of
    a run whose working folder was cleared): the gates that need an extract's period say not checked."""
    return extract_periods(ctx) if (ctx.standardised_dir / "summary.json").is_file() else {}


def _kept_rows_per_practice(ctx: RunContext) -> pd.Series | None:
    """Input rows flagged by warning rules (all kept in the calculation), per practice code."""
    from ..findings import kept_rows

    if not (ctx.validation_dir / "report.json").exists():
        return None
    kept = kept_rows(load_validation_report(ctx).quarantine)
    kept = kept[kept["practice_code"].astype(str) != ""]
    return kept.groupby("practice_code").size()
