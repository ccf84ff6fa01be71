"""A run for a period whose extracts are not out yet (issue 19.2), with the real nightly DAG (dag.test()
in a subprocess, a real SMTP server for the failure alerts) and the real CLI.

The source holds last quarter's extracts (2025-26-Q2, registrations of 1 July 2025). A run whose period
nobody chose, early in 2025-26-Q3, ends as "not yet available": skipped from standardise_extracts on,
nothing published, no failure alert. The same files on a run for 2025-26-Q3 chosen by whoever triggered
it are an error (PeriodMismatch, rule extract_period_matches_run) and alert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _support import smtp_server

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PERIOD = "2025-26-Q2"
RUN_AFTER = "2025-10-10T02:00:00+00:00"  # 9 days into 2025-26-Q3: its extracts may not be out yet
NOT_YET = (
    "not yet available: capitation_age_sex is for 2025-07-01 (so are capitation_lsoa, practice_map), the run "
    "is for 2025-26-Q3; nothing published; the next nightly run tries again (give a period to run an earlier "
    "quarter)"
)
MISMATCH = (
    "PeriodMismatch: file gp-reg-pat-prac-quin-age.csv, column 'EXTRACT_DATE', rule "
    "extract_period_matches_run: capitation_age_sex is for 2025-07-01 (read from column EXTRACT_DATE), the "
    "run is for 2025-26-Q3; include/extract_periods.yaml allows an extract date from 2025-08-31 to "
    "2025-12-31 (the run's quarter, or at most 31 days before it starts); 2 more extract(s) of another "
    "period: capitation_lsoa (2025-07-01), practice_map (2025-07-01)"
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def last_quarters_extracts(tmp_path_factory) -> Path:
    from gp_allocations.periods import Period
    from gp_allocations_samples import generate_samples

    out = tmp_path_factory.mktemp("source")
    generate_samples(out, period=Period.parse(SAMPLE_PERIOD), practices=30, seed=7)
    return out


def _run_dag(tmp_path: Path, source: Path, smtp_port: int, conf: dict) -> tuple[dict, str]:
    """dag.test() of the nightly DAG after 02:00 on 10 Oct 2025; returns run and task states, and the log."""
    code = textwrap.dedent(
        f"""
        import datetime as dt, json
        from gp_allocations_airflow.tasks import quiet_third_party_logs
        quiet_third_party_logs()
        from airflow.dag_processing.dagbag import DagBag
        dag = DagBag(dag_folder={str(ROOT / "dags")!r}).dags["gp_allocations_nightly"]
        run = dag.test(run_after=dt.datetime.fromisoformat({RUN_AFTER!r}), run_conf={conf!r})
        states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
        print("RESULT " + json.dumps({{"run": str(run.state), "tasks": states}}))
        """
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),  # its own metadata database: each run id is new
        "PYTHONPATH": str(ROOT / "plugins"),
        "GP_ALLOC_SOURCE": str(source),
        "GP_ALLOC_OUTPUT_ROOT": str(tmp_path / "outputs"),
        "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        "AIRFLOW_VAR_GP_ALLOC_ALERT_RECIPIENTS": "oncall@example.nhs.uk",
        "AIRFLOW_CONN_SMTP_DEFAULT": (
            f"smtp://127.0.0.1:{smtp_port}?disable_ssl=true&disable_tls=true"
            "&from_email=gp-allocations%40example.nhs.uk&timeout=10"
        ),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    log = done.stdout + done.stderr
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, log[-4000:]
    return json.loads(line.removeprefix("RESULT ")), log


def _state(value: str) -> str:
    return value.rsplit(".", 1)[-1].lower()


def test_a_run_nobody_chose_the_period_of_ends_not_yet_available(last_quarters_extracts, tmp_path) -> None:
    with smtp_server() as (inbox, port):
        result, log = _run_dag(tmp_path, last_quarters_extracts, port, {})
    tasks = {k: _state(v) for k, v in result["tasks"].items()}
    assert _state(result["run"]) == "success", (result, log[-4000:])
    assert tasks["prepare"] == tasks["pull_extracts"] == "success"
    assert tasks["standardise_extracts"] == "skipped", tasks
    for task in ("validate_extracts", "load_warehouse", "compute_allocations", "publish"):
        assert tasks[task] == "skipped", (task, tasks)
    assert "failed" not in tasks.values()
    assert NOT_YET in log
    assert "Traceback" not in log, log[-4000:]
    assert inbox.messages == [], "no failure alert for extracts that are not out yet"
    assert not any((tmp_path / "outputs").rglob("*.xlsx")), "nothing published"


def test_the_same_files_on_a_run_for_a_chosen_period_are_an_error(last_quarters_extracts, tmp_path) -> None:
    with smtp_server() as (inbox, port):
        result, log = _run_dag(tmp_path, last_quarters_extracts, port, {"period": "2025-26-Q3"})
    tasks = {k: _state(v) for k, v in result["tasks"].items()}
    assert _state(result["run"]) == "failed", (result, log[-4000:])
    assert tasks["standardise_extracts"] == "failed", tasks
    assert tasks["validate_extracts"] != "success"
    assert MISMATCH in log
    assert "not yet available" not in log
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects and "standardise_extracts" in subjects[0], subjects
    assert not any((tmp_path / "outputs").rglob("*.xlsx")), "nothing published"


def _cli(*args: str, tmp_path: Path, source: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "GP_ALLOC_OUTPUT_ROOT": str(tmp_path / "outputs"),
        "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
    }
    command = [sys.executable, "-m", "gp_allocations", "run", "--source", str(source), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_the_cli_says_not_yet_available_with_its_own_exit_status(last_quarters_extracts, tmp_path) -> None:
    done = _cli("--as-of", "2025-10-10", tmp_path=tmp_path, source=last_quarters_extracts)
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1] == NOT_YET
    assert "Traceback" not in done.stderr
    chosen = _cli("--period", "2025-26-Q3", tmp_path=tmp_path, source=last_quarters_extracts)
    assert chosen.returncode == 2, chosen.stderr[-3000:]
    assert chosen.stderr.strip().splitlines()[-1] == "error: " + MISMATCH.removeprefix("PeriodMismatch: ")
    late = _cli("--as-of", "2025-11-20", tmp_path=tmp_path, source=last_quarters_extracts)
    assert late.returncode == 2, "50 days into the quarter the old files are an error"
    assert "still not available 50 days into the quarter" in late.stderr
    assert not any((tmp_path / "outputs").rglob("*.xlsx"))
