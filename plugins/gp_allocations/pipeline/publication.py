"""The publish and sign-off stages: prepare a clean staging folder, stage one sub-ICB's workbook and
statements (one DAG task each) and the national workbook, review the manifest against ``latest``'s
(does an approver have to sign it off?), then finalise: publish the reviewed version under the period
lock, or record a rejection. ``stage_publish`` runs them in a row (the CLI's one publish path).
The files themselves are made in ``publish.py``."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import RunContext
from .runfolder import BRIDGE_DIR, PUBLISH_BASE, after_load, load_result, run_info

if TYPE_CHECKING:
    from ..signoff import Review, SignOff

log = logging.getLogger(__name__)


def _read_publish_base(ctx: RunContext) -> object:
    """The run id ``latest`` pointed at when this run started publishing (None: nothing published yet).

    Without the record (a run prepared by older code) no check is made.
    """
    from ..publish import ANY_LATEST

    path = ctx.run_dir / PUBLISH_BASE
    if not path.is_file():
        return ANY_LATEST
    return json.loads(path.read_text())["latest_run_id"]


@after_load("publish")
def stage_publish_prepare(ctx: RunContext) -> list[str]:
    """Start a clean staging folder for the run; return the sub-ICB codes to write (one task each).

    Also notes which run ``latest`` points at now: finalise refuses to publish over a different run
    that another DAG run published in the meantime.
    """
    import shutil

    from ..bridge import comparisons, save_comparisons
    from ..checks import enforce, engine_checks
    from ..files import atomic_write
    from ..publish import check_component, latest_run, publication_number, stage_dir

    result = load_result(ctx)
    enforce(engine_checks(result))  # the hand-off files are checked again before anything is staged
    codes = result.sub_icb_codes
    for code in codes:
        check_component(code, "sub-ICB code")
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    shutil.rmtree(staging)  # leftovers of an earlier failed attempt must not leak into this run
    staging.mkdir(parents=True)
    latest = latest_run(Path(ctx.output_root), ctx.period.slug)
    base = {
        "latest_run_id": latest.name if latest else None,
        # what the Covers say: this publication's number for the period and the day it was made
        "version": publication_number(Path(ctx.output_root), ctx.period.slug, ctx.run_id),
        "published_on": dt.datetime.now(dt.UTC).date().isoformat(),
    }
    atomic_write(ctx.run_dir / PUBLISH_BASE, json.dumps(base).encode())
    # what changed since the earlier publications, worked out once for every workbook of the run
    save_comparisons(comparisons(result, Path(ctx.output_root)), ctx.run_dir / BRIDGE_DIR)
    return codes


def _count(files: list[dict[str, Any]], kinds: tuple[str, ...] | None = None) -> int:
    """How many manifest files are of ``kinds`` (default: the allocation workbooks)."""
    from ..manifest import ALLOCATION_KINDS

    return sum(1 for f in files if f.get("kind") in (kinds or ALLOCATION_KINDS))


@after_load("publish")
def stage_publish_sub_icb(ctx: RunContext, sub_icb_code: str) -> list[dict[str, Any]]:
    """Write one sub-ICB location's workbook and its practice statements (workbook, and PDF unless
    ``statement_pdfs`` is off) into the staging folder; return their manifest entries."""
    from ..publish import stage_dir, stage_sub_icb_statements, stage_sub_icb_workbook

    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    result, info = load_result(ctx), run_info(ctx)
    book = stage_sub_icb_workbook(result, info, staging, sub_icb_code, period_slug=ctx.period.slug)
    statements = stage_sub_icb_statements(
        result,
        info,
        staging,
        sub_icb_code,
        period_slug=ctx.period.slug,
        pdf=ctx.statement_pdfs,
    )
    return [book, *statements]


@after_load("publish")
def stage_publish_national(ctx: RunContext) -> dict[str, Any]:
    """Write the national summary workbook into the staging folder."""
    from ..publish import stage_dir, stage_national_workbook

    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    return stage_national_workbook(load_result(ctx), run_info(ctx), staging, period_slug=ctx.period.slug)


def _stage_quarantine(ctx: RunContext, staging: Path) -> dict[str, Any]:
    """The run's quarantined rows (warnings; errors never publish) go out beside the workbooks."""
    import shutil

    from ..publish import file_entry

    source = ctx.validation_dir / "quarantine.csv"
    target = staging / "quarantine.csv"
    shutil.copyfile(source, target)
    with target.open(newline="", encoding="utf-8") as fh:
        rows = max(0, sum(1 for _ in csv.reader(fh)) - 1)
    return file_entry(target, kind="quarantine", rows=rows)


REVIEW_FILE = "publication_review.json"


_SIGNED = "signed_manifest.json"


def _overrides(manifest: Mapping[str, Any]) -> list[str]:
    """Each plausibility gate the run would publish over (the manifest's ``overrides``: gate, message,
    reason, by, at; see ``RunContext.override_reason``), as a sentence for the approver."""
    return [
        f"{o.get('gate')}: {o.get('message')} (reason: {o.get('reason')}; by {o.get('by')} at {o.get('at')})"
        for o in manifest.get("overrides") or []
    ]


@after_load("publish")
def stage_publish_review(
    ctx: RunContext, files: Sequence[dict[str, Any] | list[dict[str, Any]]]
) -> dict[str, Any]:
    """After the workbooks are staged: the manifest this run would publish, compared with ``latest``'s.

    Says whether an approver must sign it off (``signoff.review``) and keeps the review, the manifest and
    the run's context in the run folder, for ``stage_publish_finalise`` and the ``sign-off`` command."""
    from .. import signoff
    from ..files import atomic_write
    from ..manifest import build_manifest, content_sha256, manifest_changes, read_manifest
    from ..plausibility import read_gates
    from ..publish import latest_run, stage_dir, stage_practice_facts
    from ..variants import REGISTRY

    result = load_result(ctx)
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    # a sub-ICB task gives its workbook and statements as a list
    entries = [f for item in files for f in (item if isinstance(item, list) else [item])]
    entries += [_stage_quarantine(ctx, staging), stage_practice_facts(result, staging)]
    info = run_info(ctx)
    manifest = build_manifest(
        result, info, sorted(entries, key=lambda f: f["name"]), period_slug=ctx.period.slug, run_id=ctx.run_id
    )
    manifest["plausibility"] = read_gates(ctx.compute_dir)  # passed, breached or not checked (and why)
    latest = latest_run(Path(ctx.output_root), ctx.period.slug)
    previous = read_manifest(latest)
    previous_id = latest.name if latest is not None else None
    unchanged = previous is not None and content_sha256(previous) == content_sha256(manifest)
    reviewed = signoff.review(
        previous,
        manifest,
        manifest_changes(previous, manifest, previous_id),
        unchanged=unchanged,
        labels={v.name: v.label for v in REGISTRY},
        overrides=_overrides(manifest),
        warning_messages=[str(m) for m in info.warnings.get("message", [])],
        staging=str(staging),
    )
    record = {"review": reviewed.to_dict(), "manifest": manifest, "context": ctx.to_dict()}
    atomic_write(ctx.run_dir / REVIEW_FILE, json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))
    (ctx.run_dir / _SIGNED).unlink(missing_ok=True)  # a new review needs a new sign-off
    if reviewed.required:
        log.warning("sign-off needed before publishing: %s", "; ".join(reviewed.reasons))
    else:
        log.info("%s", reviewed.skip_reason)
    return reviewed.to_dict()


def read_review(ctx: RunContext) -> tuple[Review, dict[str, Any]]:
    """The run's ``Review`` and the manifest it reviewed (``stage_publish_review`` wrote them)."""
    from ..signoff import Review, SignOffError

    path = ctx.run_dir / REVIEW_FILE
    if not path.is_file():
        raise SignOffError(
            f"run {ctx.run_id} of {ctx.period.slug} has no publication review ({path}): stage the "
            "workbooks and review them first; nothing was published"
        )
    record = json.loads(path.read_text(encoding="utf-8"))
    return Review.from_dict(record["review"]), record["manifest"]


def _sign_off_of(reviewed: Review, given: SignOff | Mapping[str, Any] | None) -> SignOff | None:
    """A ``SignOff`` from what the caller has: one already, its dict, or an Airflow HITL response."""
    from ..signoff import SignOff, from_hitl

    if given is None or isinstance(given, SignOff):
        return given
    if "chosen_options" in given:
        return from_hitl(reviewed, given)
    return SignOff.from_dict(given)


def _signed_manifest(ctx: RunContext, manifest: dict[str, Any], decision: SignOff) -> dict[str, Any]:
    """The approved manifest: every staged workbook written again with the sign-off on its cover and on
    every practice statement (the figures are the reviewed ones: same hand-off files), files re-hashed,
    ``sign_off`` recorded. Kept in the run folder, so a retry after the move into place publishes exactly
    the same."""
    import dataclasses

    from ..files import atomic_write
    from ..manifest import manifest_bytes
    from ..publish import stage_dir, stage_national_workbook, stage_sub_icb_statements, stage_sub_icb_workbook

    entry = decision.manifest_entry()
    path = ctx.run_dir / _SIGNED
    if path.is_file():
        kept: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("sign_off") == entry:
            return kept
    result = load_result(ctx)
    info = dataclasses.replace(run_info(ctx), sign_off=decision.cover_text())
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    files = []
    for item in manifest["files"]:
        if item["kind"] == "sub_icb":
            item = stage_sub_icb_workbook(
                result, info, staging, item["sub_icb_code"], period_slug=ctx.period.slug
            )
        elif item["kind"] == "national":
            item = stage_national_workbook(result, info, staging, period_slug=ctx.period.slug)
        elif item["kind"] == "statements":  # with its PDF when the run made one
            code = item["sub_icb_code"]
            pdf = any(f["kind"] == "statements_pdf" and f["sub_icb_code"] == code for f in manifest["files"])
            files.extend(
                stage_sub_icb_statements(result, info, staging, code, period_slug=ctx.period.slug, pdf=pdf)
            )
            continue
        elif item["kind"] == "statements_pdf":
            continue  # written again with its statements workbook
        files.append(item)
    signed = {**manifest, "files": sorted(files, key=lambda f: f["name"]), "sign_off": entry}
    atomic_write(path, manifest_bytes(signed))
    return signed


def _record_rejection(
    ctx: RunContext, reviewed: Review, manifest: dict[str, Any], decision: SignOff
) -> dict[str, Any]:
    """Rejected: nothing is published and ``latest`` is not touched. The staged workbooks stay (hidden)
    with the would-be manifest carrying the decision, so the rejected figures can still be read."""
    from ..files import atomic_write
    from ..manifest import MANIFEST, manifest_bytes
    from ..publish import stage_dir

    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    atomic_write(staging / MANIFEST, manifest_bytes({**manifest, "sign_off": decision.manifest_entry()}))
    detail = (
        f"rejected by {decision.by} at {decision.at}"
        + (f" ({' '.join(decision.comment.split())})" if decision.comment.strip() else "")
        + f": nothing published; latest still points at {reviewed.previous_run_id or 'nothing'}"
    )
    log.warning("%s; staged workbooks kept in %s", detail, staging)
    try:  # the warehouse says what became of this run's load: not published, and why
        from ..warehouse import make_engine, mark_load_not_published

        mark_load_not_published(
            make_engine(ctx.warehouse_url),
            period=ctx.period.slug,
            run_id=ctx.run_id,
            stage="sign_off",
            detail=detail,
        )
    except Exception:  # the decision is recorded in the staged manifest; the warehouse may be down
        log.warning("could not mark the load of run %s as not published", ctx.run_id, exc_info=True)
    return {
        "status": "rejected",
        "detail": detail,
        "directory": str(staging),
        "manifest": str(staging / MANIFEST),
        "workbooks": _count(manifest["files"]),
        "statements": _count(manifest["files"], ("statements",)),
        "previous_run_id": reviewed.previous_run_id,
        "sign_off": decision.to_dict(),
    }


def _required_decision(ctx: RunContext, reviewed: Review, decision: SignOff | None) -> SignOff:
    """The decision a review that needs sign-off has: refused when there is none, or when it was given
    against another ``latest`` than the one this run replaces."""
    from .. import signoff

    if decision is None:
        raise signoff.SignOffError(
            f"{ctx.period.slug} run {ctx.run_id} needs sign-off before publishing ("
            + "; ".join(reviewed.reasons)
            + f"); nothing was published; the staged workbooks are in {reviewed.staging}"
        )
    if decision.previous_run_id != reviewed.previous_run_id:
        raise signoff.SignOffError(
            f"the sign-off was given against {decision.previous_run_id}, but this run replaces "
            f"{reviewed.previous_run_id}; nothing was published"
        )
    return decision


def _record_failed_publication(ctx: RunContext, record: Mapping[str, Any]) -> None:
    """Best effort: the warehouse may be what is down, and the publish error is the one to report."""
    from ..warehouse import make_engine, record_publication

    try:
        record_publication(
            make_engine(ctx.warehouse_url), **record, status="failed", output_dir=None, manifest_sha256=None
        )
    except Exception:
        log.warning("could not record the failed publication in the warehouse", exc_info=True)


@after_load("publish")
def stage_publish_finalise(
    ctx: RunContext, sign_off: SignOff | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Under the period lock: publish the reviewed version (manifest with ``changes`` and ``sign_off``,
    one rename, ``latest`` last), or record 'unchanged' when the content equals the latest run's.

    A review that needs sign-off publishes only with an approval (``signoff.SignOff``, its dict, or the
    Airflow approval task's response); a rejection publishes nothing and leaves ``latest`` alone.
    Recorded in the warehouse."""
    from .. import signoff
    from ..errors import PublishError
    from ..manifest import MANIFEST
    from ..publish import finalise_run, sha256_of, stage_dir
    from ..warehouse import make_engine, record_publication

    reviewed, manifest = read_review(ctx)
    decision = _sign_off_of(reviewed, sign_off) if reviewed.required else None
    if reviewed.required:
        decision = _required_decision(ctx, reviewed, decision)
        if not decision.approved:
            return _record_rejection(ctx, reviewed, manifest, decision)
        manifest = _signed_manifest(ctx, manifest, decision)
    else:
        manifest = {**manifest, "sign_off": signoff.not_required_entry(reviewed)}
    result = load_result(ctx)
    staging = stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id)
    files = manifest["files"]
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
        _record_failed_publication(ctx, record)
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
    out = {
        "status": outcome.status,
        "directory": str(final),
        "manifest": str(final / MANIFEST),
        "workbooks": _count(files),
        "statements": _count(files, ("statements",)),
        "previous_run_id": outcome.previous_run_id,
    }
    if decision is not None:
        out["sign_off"] = decision.to_dict()
    return out


def awaiting_sign_off(ctx: RunContext, reviewed: Review) -> dict[str, Any]:
    """What a run that stopped for sign-off returns (command line): why, the summary, how to sign."""
    return {
        "status": "awaiting sign-off",
        "reasons": list(reviewed.reasons),
        "previous_run_id": reviewed.previous_run_id,
        "staging": reviewed.staging,
        "summary": reviewed.summary(),
        "sign_off_command": (
            f"python -m gp_allocations sign-off --period {ctx.period.slug} --run-id {ctx.run_id} "
            "--approve|--reject --as NAME --comment TEXT"
        ),
    }


def stage_sign_off(ctx: RunContext, *, approve: bool, by: str, comment: str = "") -> dict[str, Any]:
    """The command line's sign-off: decide on the run's review, then publish (or record the rejection)."""
    from ..signoff import SignOffError, decide

    reviewed, _ = read_review(ctx)
    if not reviewed.required:
        raise SignOffError(
            f"{ctx.period.slug} run {ctx.run_id} does not need sign-off ({reviewed.skip_reason})"
        )
    return stage_publish_finalise(ctx, decide(reviewed, approve=approve, by=by, comment=comment))


def publish_workers() -> int:
    """How many processes write the sub-ICB workbooks in ``stage_publish``: ``GP_ALLOC_PUBLISH_WORKERS``,
    else one per usable core (the CLI's way to use the machine; the DAG maps one task per sub-ICB)."""
    import os

    from ..errors import PublishError

    text = os.environ.get("GP_ALLOC_PUBLISH_WORKERS", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise PublishError(f"GP_ALLOC_PUBLISH_WORKERS={text!r}: expected a whole number, 1 or more")
        return int(text)
    return max(1, len(os.sched_getaffinity(0)))


def _publish_books(
    ctx: RunContext, codes: list[str], on_step: Callable[[int, int, str], None] | None
) -> list[dict[str, Any]]:
    """Each sub-ICB location's workbooks in code order, then the national workbook's entry, written by
    ``publish_workers()`` processes.

    Each workbook is a pure function of the hand-off files, so the books are the same bytes whichever
    process writes them. Processes are spawned, not forked: the parent holds pyarrow's threads."""
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    steps = len(codes) + 1

    def step(done: int, what: str) -> None:
        if on_step is not None:
            on_step(done, steps, what)

    workers = min(publish_workers(), steps)
    files: list[dict[str, Any]] = []
    if workers <= 1:
        for done, code in enumerate(codes):
            step(done, f"workbook {code}")
            files.extend(stage_publish_sub_icb(ctx, code))
        step(len(codes), "national workbook")
        return [*files, stage_publish_national(ctx)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        national: Future[dict[str, Any]] = pool.submit(stage_publish_national, ctx)  # the largest book first
        books = [pool.submit(stage_publish_sub_icb, ctx, code) for code in codes]
        for done, (code, book) in enumerate(zip(codes, books, strict=True)):
            step(done, f"workbook {code}")
            files.extend(book.result())
        step(len(codes), "national workbook")
        return [*files, national.result()]


@after_load("publish")
def stage_publish(
    ctx: RunContext,
    sign_off: SignOff | Mapping[str, Any] | None = None,
    *,
    on_step: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """All of publishing in one call (the CLI's way; the DAG maps one task per sub-ICB instead).

    A run that needs sign-off and has none stops after the review, its workbooks staged: it returns
    status "awaiting sign-off" (``sign-off`` publishes or rejects it later). On failure the run's
    staging folder is removed (a full disk gets its space back); published runs and ``latest`` are never
    touched by a failure.
    """
    import shutil

    from ..publish import stage_dir
    from ..signoff import Review

    try:
        codes = stage_publish_prepare(ctx)
        files = _publish_books(ctx, codes, on_step)
        if on_step is not None:
            on_step(len(codes) + 1, len(codes) + 1, "review")
        reviewed = Review.from_dict(stage_publish_review(ctx, files))
        if reviewed.required and sign_off is None:
            return awaiting_sign_off(ctx, reviewed)
        return stage_publish_finalise(ctx, sign_off)
    except Exception:
        from ..errors import PublishError

        # PublishError here: the output root itself is unusable, so there is no staging folder to remove
        with contextlib.suppress(PublishError):
            shutil.rmtree(stage_dir(Path(ctx.output_root), ctx.period.slug, ctx.run_id), ignore_errors=True)
        raise
