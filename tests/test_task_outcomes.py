"""How a stage ends inside Airflow: one clear line for bad input, no traceback, no retry; a skip for
extracts that are not out yet; tracebacks only for bugs; quiet third-party logs.

The last tests run small DAGs with dag.test() (a real task runner and its log), so what is asserted
is what a data engineer reads in the task log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gp_allocations.errors import InputError, PeriodMismatch, PublishError, ValidationFailed
from gp_allocations_airflow.tasks import (
    DataError,
    TaskStopped,
    not_yet_available,
    quiet_third_party_logs,
    retry_policy,
    stage_outcome,
)

ROOT = Path(__file__).resolve().parent.parent


def _mismatch(found: str, run: str = "2025-26-Q3") -> PeriodMismatch:
    return PeriodMismatch(
        f"capitation extract is for {found}, the run is for {run}",
        extract="capitation_lsoa",
        found_period=found,
        run_period=run,
        file="gp-reg-pat-prac-lsoa-all.csv",
    )


@pytest.mark.parametrize(
    ("found", "older"),
    [
        ("2025-26-Q2", True),  # last quarter's files still in the folder
        ("2025-07-01", True),  # an as-at date before the quarter
        ("2024/25", True),  # last year's annual file
        ("2024-25", True),
        ("2025-26-Q3", False),
        ("2025-26-Q4", False),  # a later quarter is a wrong file, not an early run
        ("2025/26", False),  # this year's annual file covers the quarter
        ("2025-10-01", False),
        ("no idea", False),  # unreadable: never guessed to be "not yet available"
    ],
)
def test_not_yet_available_means_the_extract_is_wholly_before_the_run(found, older) -> None:
    assert not_yet_available(_mismatch(found), "2025-26-Q3") is older


EARLY_IN_Q3 = dt.date(2025, 10, 14)  # 13 days into October-December 2025


def test_old_extracts_on_a_run_date_period_skip_with_a_reason() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    with (
        pytest.raises(AirflowSkipException) as skipped,
        stage_outcome("2025-26-Q3", period_chosen=False, run_date=EARLY_IN_Q3),
    ):
        raise _mismatch("2025-26-Q2")
    assert str(skipped.value) == (
        "not yet available: capitation_lsoa is for 2025-26-Q2, the run is for 2025-26-Q3; nothing published; "
        "the next nightly run tries again (give a period to run an earlier quarter)"
    )


@pytest.mark.parametrize(("day", "skipped"), [(45, True), (46, False), (80, False)])
def test_old_extracts_long_into_the_quarter_fail_and_alert(day, skipped, caplog) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    run_date = dt.date(2025, 10, 1) + dt.timedelta(days=day)
    expected = AirflowSkipException if skipped else DataError
    with pytest.raises(expected), stage_outcome("2025-26-Q3", period_chosen=False, run_date=run_date):
        raise _mismatch("2025-26-Q2")
    if not skipped:
        assert f"still not available {day} days into the quarter" in caplog.text


@pytest.mark.parametrize(
    ("chosen", "found"), [(True, "2025-26-Q2"), (False, "2025-26-Q4"), (False, "unreadable")]
)
def test_a_chosen_period_or_a_later_extract_is_a_data_error(chosen, found) -> None:
    outcome = stage_outcome("2025-26-Q3", period_chosen=chosen, run_date=EARLY_IN_Q3)
    with pytest.raises(DataError) as stopped, outcome:
        raise _mismatch(found)
    assert isinstance(stopped.value.error, PeriodMismatch)
    assert "rule extract_period_matches_run" in str(stopped.value)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (InputError("not a practice code", file="contracts.csv", row=12, column="PRACTICE_CODE"), DataError),
        (ValidationFailed("file contracts.csv, row 3, column 'X', rule r: value 'Z'"), DataError),
        (PublishError("could not write x.xlsx: no space left on device"), TaskStopped),
    ],
)
def test_expected_failures_end_with_one_line_and_no_traceback(error, kind, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="gp_allocations")
    with pytest.raises(kind) as stopped, stage_outcome("2025-26-Q3", period_chosen=True):
        raise error
    assert type(stopped.value) is kind
    assert stopped.value.__cause__ is None and stopped.value.__suppress_context__, "no chained traceback"
    assert isinstance(stopped.value, SystemExit), "Airflow logs SystemExit without a traceback"
    (record,) = caplog.records
    assert record.getMessage() == f"{type(error).__name__}: {error}" and record.exc_info is None


def test_bugs_are_not_dressed_up() -> None:
    with pytest.raises(KeyError), stage_outcome("2025-26-Q3", period_chosen=True):
        raise KeyError("sub_icb_code")


def test_the_retry_policy_fails_bad_input_at_once_and_lets_the_rest_retry() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    policy = retry_policy()
    assert policy.evaluate(DataError(InputError("x")), 1, 3).action is RetryAction.FAIL
    assert policy.evaluate(TaskStopped(PublishError("disk")), 1, 3).action is RetryAction.DEFAULT
    assert policy.evaluate(ConnectionError("reset"), 1, 3).action is RetryAction.DEFAULT


def test_third_party_loggers_are_quiet_before_their_import(monkeypatch) -> None:
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    logging.getLogger("great_expectations").setLevel(logging.NOTSET)
    quiet_third_party_logs()
    assert logging.getLogger("great_expectations").getEffectiveLevel() == logging.WARNING
    assert os.environ["TQDM_DISABLE"] == "1"


# --- in a real task runner -------------------------------------------------------------------------

PROBE_DAG = """
import datetime as dt
from airflow.sdk import dag, task
from gp_allocations_airflow.tasks import retry_policy, stage_outcome

@dag(dag_id="outcome_probe", schedule=None, start_date=dt.datetime(2025, 1, 1), catchup=False,
     default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=0), "retry_policy": retry_policy()})
def outcome_probe():
    @task
    def validate_extracts() -> None:
        import great_expectations  # noqa: F401  (the import that used to log ~200 lines)
        from gp_allocations.errors import InputError
        with stage_outcome("2025-26-Q3", period_chosen=True):
            raise InputError("'Z9' is not a practice code", file="contracts.csv", row=12,
                             column="PRACTICE_CODE", rule="practice_code_format")

    @task
    def after() -> None:
        pass

    validate_extracts() >> after()

outcome_probe()
"""


@pytest.mark.e2e
def test_a_data_error_ends_the_task_log_with_one_line(tmp_path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "outcome_probe.py").write_text(PROBE_DAG)
    code = textwrap.dedent(
        f"""
        from gp_allocations_airflow.tasks import quiet_third_party_logs
        quiet_third_party_logs()
        from airflow.dag_processing.dagbag import DagBag
        run = DagBag(dag_folder={str(dags)!r}).dags["outcome_probe"].test()
        print("STATE", run.state)
        for ti in run.get_task_instances():
            print("TI", ti.task_id, ti.state, ti.try_number)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    env.pop("TQDM_DISABLE", None)
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    log = out.stdout + out.stderr
    assert "STATE failed" in log, log[-3000:]
    assert "TI validate_extracts failed 1" in log, "not retried: bad input"
    assert "Skipping registering function" not in log
    assert "Traceback" not in log, log[-3000:]
    line = (
        "InputError: file contracts.csv, row 12, column 'PRACTICE_CODE', rule practice_code_format: "
        "'Z9' is not a practice code"
    )
    assert line in log
