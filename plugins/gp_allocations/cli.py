"""Command line: ``python -m gp_allocations <command>``. Works without Airflow.

Commands:
  generate   write sample extracts in the published NHS layouts (deterministic from --seed)
  inspect    say which extract and layout era a file is, its period, rows and canonical columns
  run        run every stage of the nightly pipeline once, without a scheduler
  stage      (maintenance) run ONE stage of a run again, e.g. after a crash: what an Airflow retry does
  sign-off   show what a run awaiting sign-off would change, then approve (publish) or reject it
  period     print the reporting period containing a date (default: today)

Exit status: 0 done; 2 bad input or another expected failure (one line on stderr); 3 ``run`` without
--period (the quarter of today, as a scheduled run) found only earlier extracts: "not yet available",
nothing published, try again later.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from .config import RunContext, resolve_settings
from .errors import InputError, PeriodMismatch, PipelineError
from .periods import Period
from .variants import DEFAULT_VARIANT, variant_names


def _period(text: str | None) -> Period:
    if not text:
        return Period.containing(dt.date.today())
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), column="period", rule="run-parameter") from None


def _date(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{text!r} is not an ISO date like 2025-10-10", column="as-of", rule="run-parameter"
        ) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from gp_allocations_samples import generate_samples

    written = generate_samples(
        Path(args.out), period=_period(args.period), practices=args.practices, seed=args.seed
    )
    for extract, paths in sorted(written.items()):
        for path in paths:
            print(f"{extract:26s} {path}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .standardise import inspect_file

    status = 0
    for name in args.files:
        try:
            info = inspect_file(Path(name))
        except PipelineError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps(info, indent=2, default=str))
        else:
            print(f"file:      {name}")
            for key, value in info.items():
                if isinstance(value, dict):
                    print(f"{key}:")
                    for k, v in value.items():
                        print(f"  {k:40s} -> {v}")
                else:
                    print(f"{key + ':':10s} {value}")
    return status


#: ``run`` with no --period found the previous period's extracts (see ``period_rules``)
NOT_YET_AVAILABLE = 3


def cmd_run(args: argparse.Namespace) -> int:
    from rich.logging import RichHandler

    from .period_rules import unchosen_period_outcome
    from .pipeline import run_all
    from .progress import RunProgress

    as_of = _date(args.as_of)
    ctx = RunContext.prepare(
        run_id=args.run_id or f"cli__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}",
        period=_period(args.period) if args.period else Period.containing(as_of),
        variant=args.variant,
        parameter_set=args.parameter_set,
        price_per_weighted_patient=args.price,
        source=args.source,
        override_reason=args.override_reason,
        override_by=args.by,
    )
    try:
        with RunProgress(STAGE_NAMES, headline=ctx.variant) as progress:
            if progress.console.is_terminal:
                # log lines print above the live bar instead of through it
                logging.getLogger().handlers = [
                    RichHandler(console=progress.console, show_time=False, show_path=False)
                ]
            summary = None
            try:
                summary = run_all(ctx, progress)
            finally:
                progress.closing_summary(summary)
    except PeriodMismatch as exc:
        message = None if args.period else unchosen_period_outcome(exc, as_of)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return NOT_YET_AVAILABLE
    _print_outcome(summary)
    return 0


def _print_outcome(summary: dict[str, object]) -> None:
    """The stage's summary as JSON; a run awaiting sign-off also gets its review, readable, on stderr."""
    if summary.get("status") == "awaiting sign-off":
        print(summary.get("summary", ""), file=sys.stderr)
        print(f"\nawaiting sign-off; to decide: {summary.get('sign_off_command')}", file=sys.stderr)
        summary = {k: v for k, v in summary.items() if k != "summary"}
    print(json.dumps(summary, indent=2, default=str))


STAGE_NAMES = ("pull", "standardise", "validate", "load", "compute", "publish")


def cmd_stage(args: argparse.Namespace) -> int:
    """One stage of a run, by name. Every stage is idempotent per (period, run id): running it again with
    the same run id after a crash, kill or database restart is exactly what an Airflow task retry does."""
    from . import pipeline

    ctx = RunContext.prepare(
        run_id=args.run_id,
        period=args.period,
        variant=args.variant,
        parameter_set=args.parameter_set,
        price_per_weighted_patient=args.price,
        source=args.source,
        override_reason=args.override_reason,
        override_by=args.by,
    )
    summary = getattr(pipeline, f"stage_{args.name}")(ctx)
    _print_outcome(summary)
    return 0


def cmd_sign_off(args: argparse.Namespace) -> int:
    """Show a staged run's review; with --approve or --reject, record the decision and publish (or not).

    The run is found by period and run id in the data folder; its settings are the ones it was
    prepared with (kept with the review), so nothing has to be given twice."""
    from . import pipeline
    from .config import safe_name
    from .errors import InputError

    period = _period(args.period)
    record = resolve_settings().data_dir / "runs" / period.slug / safe_name(args.run_id)
    review_file = record / pipeline.REVIEW_FILE
    if not review_file.is_file():
        raise InputError(
            f"no run {args.run_id!r} of {period.slug} is staged for review in {record.parent}",
            column="run_id",
            rule="sign-off-needs-a-staged-run",
        )
    ctx = RunContext.from_dict(json.loads(review_file.read_text(encoding="utf-8"))["context"])
    reviewed, _ = pipeline.read_review(ctx)
    if not (args.approve or args.reject):
        print(reviewed.summary() if reviewed.required else reviewed.skip_reason)
        return 0
    if not (args.by or "").strip():
        raise InputError("say who signs off: --as NAME", column="--as", rule="sign-off-names-the-approver")
    out = pipeline.stage_sign_off(ctx, approve=bool(args.approve), by=args.by, comment=args.comment or "")
    print(json.dumps(out, indent=2, default=str))
    return 0


def cmd_period(args: argparse.Namespace) -> int:
    day = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    print(Period.containing(day).slug)
    return 0


def _override_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--override-reason",
        help="publish over breached plausibility gates, for this reason (recorded in the manifest and on "
        "every Cover with who and when; the run then needs sign-off). Empty: a breach stops the run",
    )
    parser.add_argument("--by", help="who overrides (default: the operating-system user)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gp_allocations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write sample extracts in the published layouts")
    gen.add_argument("--out", default=str(resolve_settings().data_dir / "sample-extracts"))
    gen.add_argument("--practices", type=int, default=6500)
    gen.add_argument("--seed", type=int, default=20261122)
    gen.add_argument("--period", help="financial-year quarter, e.g. 2025-26-Q2 (default: today's)")
    gen.set_defaults(func=cmd_generate)

    ins = sub.add_parser("inspect", help="recognise a file's extract, layout era, period and columns")
    ins.add_argument("files", nargs="+")
    ins.add_argument("--json", action="store_true")
    ins.set_defaults(func=cmd_inspect)

    run = sub.add_parser("run", help="run every stage once, without Airflow")
    run.add_argument("--period", help="financial-year quarter (default: the quarter of --as-of)")
    run.add_argument(
        "--as-of",
        help="the run's date, ISO (default: today): without --period the run is for its quarter, as a "
        "scheduled run; a cron job that starts after midnight gives the night it stands for",
    )
    run.add_argument("--source", help="folder or URI of the extracts (default: GP_ALLOC_SOURCE)")
    run.add_argument("--variant", default=DEFAULT_VARIANT, choices=variant_names())
    run.add_argument("--parameter-set", default="carr_hill_2004")
    run.add_argument("--price", help="price per weighted patient in pounds, e.g. 123.34")
    run.add_argument("--run-id")
    _override_arguments(run)
    run.set_defaults(func=cmd_run)

    stg = sub.add_parser("stage", help="(maintenance) run one stage of a run again, as a task retry would")
    stg.add_argument("name", choices=STAGE_NAMES)
    stg.add_argument("--run-id", required=True, help="the run to continue (same id = same run folder)")
    stg.add_argument("--period", required=True)
    stg.add_argument("--source", help="folder or URI of the extracts (default: GP_ALLOC_SOURCE)")
    stg.add_argument("--variant", default=DEFAULT_VARIANT, choices=variant_names())
    stg.add_argument("--parameter-set", default="carr_hill_2004")
    stg.add_argument("--price", help="price per weighted patient in pounds, e.g. 123.34")
    _override_arguments(stg)
    stg.set_defaults(func=cmd_stage)

    sgn = sub.add_parser(
        "sign-off", help="review a run awaiting sign-off; approve (publish) or reject (latest stays)"
    )
    sgn.add_argument("--period", required=True)
    sgn.add_argument("--run-id", required=True, help="the run that stopped at 'awaiting sign-off'")
    decision = sgn.add_mutually_exclusive_group()
    decision.add_argument("--approve", action="store_true", help="publish it: latest moves to this run")
    decision.add_argument("--reject", action="store_true", help="publish nothing: latest stays where it is")
    sgn.add_argument("--as", dest="by", help="who signs off (recorded in the manifest and on the covers)")
    sgn.add_argument("--comment", help="recorded with the decision (at most 2000 characters)")
    sgn.set_defaults(func=cmd_sign_off)

    per = sub.add_parser("period", help="the reporting period containing a date")
    per.add_argument("--date", help="ISO date (default: today)")
    per.set_defaults(func=cmd_period)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
