"""A run's progress on the command line: each stage as it goes (stage, rows, elapsed), then a closing summary.

rich draws a live bar on a terminal; anywhere else (cron, CI, a pipe) it prints one plain line per stage,
so a log file reads the same. Everything goes to stderr: stdout keeps the run's JSON summary for scripts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


def _count(value: object) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else str(value)


def _pounds(pence: object) -> str:
    return f"£{int(pence) / 100:,.2f}" if isinstance(pence, int | float) else str(pence)


def stage_detail(stage: str, summary: Mapping[str, Any], headline: str | None = None) -> str:
    """What a stage did, in a few words, from the summary it returned (``headline``: the run's variant,
    whose England total the compute line shows)."""
    if stage == "pull":
        return f"{_count(summary.get('files', 0))} files of {len(summary.get('extracts') or [])} extracts"
    if stage == "standardise":
        rows = sum(int(v.get("rows", 0)) for v in summary.values() if isinstance(v, Mapping))
        return f"{rows:,} rows in {len(summary)} extracts"
    if stage == "validate":
        return (
            f"passed, {_count(summary.get('warnings', 0))} warnings, "
            f"{_count(summary.get('quarantined_rows', 0))} rows quarantined"
        )
    if stage == "load":
        return f"{sum(int(v) for v in summary.values()):,} rows loaded into {len(summary)} tables"
    if stage == "compute":
        england = dict(summary.get("england_total_pence") or {})
        shown = headline if headline in england else next(iter(england), None)
        total = f"; England annual {shown} {_pounds(england[shown])}" if shown else ""
        return f"{_count(summary.get('practices', 0))} practices, {len(england)} variants{total}"
    if stage == "publish":
        status = summary.get("status", "?")
        if status == "awaiting sign-off":
            return "awaiting sign-off (nothing moved into place yet)"
        return f"{status}: {_count(summary.get('workbooks', 0))} workbooks in {summary.get('directory', '?')}"
    return ""


@dataclass(frozen=True)
class StageTime:
    stage: str
    seconds: float
    detail: str


class RunProgress:
    """Reports a run's stages (the ``pipeline.run_all`` progress protocol) to a rich console."""

    def __init__(
        self, stages: Sequence[str], console: Console | None = None, headline: str | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.headline = headline
        self.stages = list(stages)
        self.done: list[StageTime] = []
        self._live = self.console.is_terminal
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self._live,
        )
        self._task: TaskID | None = None
        self._started = 0.0
        self._run_started = time.perf_counter()

    def __enter__(self) -> RunProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def stage_started(self, stage: str) -> None:
        self._started = time.perf_counter()
        number = self.stages.index(stage) + 1 if stage in self.stages else len(self.done) + 1
        label = f"stage {number}/{len(self.stages)} {stage}"
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(label, total=None)
        if not self._live:
            self.console.print(f"{label} ...", highlight=False, soft_wrap=True)

    def step(self, done: int, total: int, what: str) -> None:
        """Progress within a stage (the publish stage: workbooks written of all)."""
        if self._task is not None:
            self._bar.update(self._task, completed=done, total=total, description=f"publish: {what}")

    def stage_done(self, stage: str, summary: Mapping[str, Any]) -> None:
        seconds = time.perf_counter() - self._started
        detail = stage_detail(stage, summary, self.headline)
        self.done.append(StageTime(stage, seconds, detail))
        self.console.print(f"{stage} done in {seconds:.1f} s: {detail}", highlight=False, soft_wrap=True)

    def closing_summary(self, outcome: Mapping[str, Any] | None = None) -> Table:
        """The table printed when the run ends: each stage's time and what it did, and the outcome."""
        table = Table(title="Run summary", title_justify="left")
        table.add_column("stage")
        table.add_column("seconds", justify="right")
        table.add_column("what it did")
        for row in self.done:
            table.add_row(row.stage, f"{row.seconds:.1f}", row.detail)
        table.add_row("total", f"{time.perf_counter() - self._run_started:.1f}", _outcome(outcome))
        self._bar.stop()
        self.console.print(table)
        return table


def _outcome(outcome: Mapping[str, Any] | None) -> str:
    if outcome is None:
        return "stopped before publishing"
    status = str(outcome.get("status", "?"))
    if status == "awaiting sign-off":
        return "staged; awaiting sign-off"
    return status
