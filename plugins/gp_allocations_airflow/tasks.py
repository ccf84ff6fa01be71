"""How a pipeline stage runs inside an Airflow task: quiet third-party logs, and an outcome a data
engineer can read in one line.

- Bad input (``InputError``, ``ValidationFailed``) ends the task with one ERROR line naming file, row,
  column and rule, no Python traceback, and no retry (``DataError`` plus ``RETRY_POLICY``).
- Other expected failures (``PublishError``: disk, permissions, a run published meanwhile) end with
  one line too, and are retried as the task's ``retries`` say.
- Anything else is a bug: Airflow logs its traceback as usual.
- Extracts older than a run whose period comes from the run date (nobody chose it) are "not yet
  available": the task is skipped with that reason, the rest of the run is skipped, nothing fails.
  Only for the first ``NOT_YET_AVAILABLE_DAYS`` of the quarter (``period_rules``, shared with the
  CLI): later than that the old files mean something is wrong and the run fails, which alerts.

Imported by task code only, never at DAG parse time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator

from gp_allocations.errors import InputError, PeriodMismatch, PipelineError, ValidationFailed
from gp_allocations.period_rules import (  # noqa: F401  (re-exported: the outcome's rules live there)
    NOT_YET_AVAILABLE_DAYS,
    not_yet_available,
    unchosen_period_outcome,
)

log = logging.getLogger("gp_allocations")

#: Loggers that write hundreds of INFO lines a run (GX registers its public API at import time and
#: logs every function it skips) and say nothing a data engineer acts on. Warnings still come through.
NOISY_LOGGERS = ("great_expectations", "py.warnings.great_expectations", "tzlocal", "matplotlib")
#: ``PYTHONWARNINGS`` for the processes that run tasks (the Celery worker; the scheduler with the
#: LocalExecutor): Airflow 3.3.2 reads the plugins folder's ``.airflowignore`` with a pathspec class
#: that pathspec 1.x deprecates, before any task code runs, so only the interpreter's own filter keeps
#: that line out of every task log.
TASK_PYTHONWARNINGS = "ignore:GitWildMatchPattern:DeprecationWarning"


def quiet_third_party_logs() -> None:
    """Run before the stage imports its libraries: their import-time INFO lines and progress bars
    never reach the task log."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")  # tqdm >= 4.66 reads this; GX's progress bars use tqdm
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


class TaskStopped(SystemExit):
    """Ends a task with its one-line message and no traceback.

    Airflow's task runner logs a ``SystemExit`` as one "Task exited" line instead of a traceback, and
    still runs the failure callbacks (with this exception) and the retry logic.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(2)  # the CLI's exit status for bad input
        self.error = error

    def __str__(self) -> str:
        return str(self.error)


class DataError(TaskStopped):
    """Bad input: retrying reads the same bytes again, so ``RETRY_POLICY`` fails the task at once."""


def one_line(exc: BaseException) -> str:
    """``ValidationFailed: file contracts.csv, row 12, ...``: class and first non-empty line."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def stage_outcome(run_period: str, *, period_chosen: bool, run_date: dt.date | None = None) -> Iterator[None]:
    """Turn the stage's expected failures into the task outcomes described in this module's doc.

    ``period_chosen``: the run's period was set by whoever triggered it (else it is the quarter of
    the run date, as on every scheduled run). ``run_date``: when the run is for (default: today).
    """
    try:
        yield
    except PeriodMismatch as exc:
        message = None if period_chosen else unchosen_period_outcome(exc, run_date or dt.date.today())
        if message is not None:
            from airflow.sdk.exceptions import AirflowSkipException

            log.warning("%s", message)
            raise AirflowSkipException(message) from None
        log.error("%s", one_line(exc))
        raise DataError(exc) from None
    except (InputError, ValidationFailed) as exc:
        log.error("%s", one_line(exc))
        raise DataError(exc) from None
    except PipelineError as exc:
        log.error("%s", one_line(exc))
        raise TaskStopped(exc) from None


def retry_policy():
    """Every task's retry policy: bad input fails at once, anything else retries as configured."""
    from airflow.sdk.definitions.retry_policy import (
        ExceptionRetryPolicy,
        RetryAction,
        RetryRule,
    )

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=DataError,
                action=RetryAction.FAIL,
                reason="bad input does not get better by reading it again",
            )
        ]
    )


def run_stage(name: str, ctx: dict, *args):
    """Run ``pipeline.stage_<name>`` for this task's run, with quiet logs and readable outcomes."""
    quiet_third_party_logs()
    from airflow.sdk import get_current_context

    from gp_allocations import pipeline
    from gp_allocations.config import RunContext

    context = get_current_context()
    params = context.get("params") or {}
    chosen = bool(str(params.get("period") or "").strip())
    run_after = getattr(context.get("dag_run"), "run_after", None)
    run_date = run_after.date() if run_after is not None else None
    with stage_outcome(ctx["period"], period_chosen=chosen, run_date=run_date):
        return getattr(pipeline, f"stage_{name}")(RunContext.from_dict(ctx), *args)
