"""The nightly run's stages as plain functions of a RunContext.

The DAG calls these one task each (by name: ``stage_<name>``); the CLI (``python -m gp_allocations run``)
calls them in a row. Stages hand over through the run's own folder (``<data dir>/runs/<period>/<run id>/``,
``runfolder.py``), never through task-to-task memory, so any stage can be retried alone. The stages
before publishing are in ``stages.py``, publishing and sign-off in ``publication.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..config import RunContext
from .publication import (
    REVIEW_FILE,
    read_review,
    stage_publish,
    stage_publish_finalise,
    stage_publish_national,
    stage_publish_prepare,
    stage_publish_review,
    stage_publish_sub_icb,
    stage_sign_off,
)
from .runfolder import load_validation_report, read_standardised
from .stages import stage_compute, stage_load, stage_pull, stage_standardise, stage_validate

STAGES = (stage_pull, stage_standardise, stage_validate, stage_load, stage_compute, stage_publish)


class StageProgress(Protocol):
    """Who follows a run's stages (the CLI's progress display): told as each starts and ends, and
    of steps within the publish stage."""

    def stage_started(self, stage: str) -> None: ...

    def step(self, done: int, total: int, what: str) -> None: ...

    def stage_done(self, stage: str, summary: Mapping[str, Any]) -> None: ...


def run_all(ctx: RunContext, progress: StageProgress | None = None) -> dict[str, Any]:
    """Every stage in order, as the DAG would run them; returns the publish stage's summary."""
    out: dict[str, Any] = {}
    for stage in STAGES:
        if progress is None:
            out = stage(ctx)
            continue
        name = stage.__name__.removeprefix("stage_")
        progress.stage_started(name)
        out = stage_publish(ctx, on_step=progress.step) if stage is stage_publish else stage(ctx)
        progress.stage_done(name, out)
    return out


__all__ = [
    "REVIEW_FILE",
    "STAGES",
    "StageProgress",
    "load_validation_report",
    "read_review",
    "read_standardised",
    "run_all",
    "stage_compute",
    "stage_load",
    "stage_publish",
    "stage_publish_finalise",
    "stage_publish_national",
    "stage_publish_prepare",
    "stage_publish_review",
    "stage_publish_sub_icb",
    "stage_pull",
    "stage_sign_off",
    "stage_standardise",
    "stage_validate",
]
