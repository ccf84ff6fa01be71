"""Command line: ``python -m gp_allocations <command>``. Works without Airflow.

Commands:
  generate   write sample extracts in the published NHS layouts (deterministic from --seed)
  inspect    say which extract and layout era a file is, its period, rows and canonical columns
  run        run every stage of the nightly pipeline once, without a scheduler
  stage      (maintenance) run ONE stage of a run again, e.g. after a crash: what an Airflow retry does
  period     print the reporting period containing a date (default: today)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from .config import RunContext, resolve_settings
from .errors import InputError, PipelineError
from .periods import Period
from .variants import DEFAULT_VARIANT, variant_names


def _period(text: str | None) -> Period:
    if not text:
        return Period.containing(dt.date.today())
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), column="period", rule="run-parameter") from None


def cmd_generate(args: argparse.Namespace) -> int:
    from .sample_data import generate_samples

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


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import run_all

    ctx = RunContext.prepare(
        run_id=args.run_id or f"cli__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}",
        period=_period(args.period),
        variant=args.variant,
        parameter_set=args.parameter_set,
        price_per_weighted_patient=args.price,
        source=args.source,
    )
    summary = run_all(ctx)
    print(json.dumps(summary, indent=2, default=str))
    return 0


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
    )
    summary = getattr(pipeline, f"stage_{args.name}")(ctx)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_period(args: argparse.Namespace) -> int:
    day = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    print(Period.containing(day).slug)
    return 0


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
    run.add_argument("--period")
    run.add_argument("--source", help="folder or URI of the extracts (default: GP_ALLOC_SOURCE)")
    run.add_argument("--variant", default=DEFAULT_VARIANT, choices=variant_names())
    run.add_argument("--parameter-set", default="carr_hill_2004")
    run.add_argument("--price", help="price per weighted patient in pounds, e.g. 123.34")
    run.add_argument("--run-id")
    run.set_defaults(func=cmd_run)

    stg = sub.add_parser("stage", help="(maintenance) run one stage of a run again, as a task retry would")
    stg.add_argument("name", choices=STAGE_NAMES)
    stg.add_argument("--run-id", required=True, help="the run to continue (same id = same run folder)")
    stg.add_argument("--period", required=True)
    stg.add_argument("--source", help="folder or URI of the extracts (default: GP_ALLOC_SOURCE)")
    stg.add_argument("--variant", default=DEFAULT_VARIANT, choices=variant_names())
    stg.add_argument("--parameter-set", default="carr_hill_2004")
    stg.add_argument("--price", help="price per weighted patient in pounds, e.g. 123.34")
    stg.set_defaults(func=cmd_stage)

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
