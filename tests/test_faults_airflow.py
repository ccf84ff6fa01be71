"""Kill test through Airflow itself: a real scheduler kills nothing, we do; Airflow must retry by itself.

Starts a real Airflow 3 (api-server, scheduler with LocalExecutor, dag-processor; ``Stack`` from
scripts/scale_out.py) on a fresh PostgreSQL metadata database, with a fresh PostgreSQL warehouse, and
triggers one run of the nightly DAG on a small generated sample. Two task processes are SIGKILLed in
that run, each in the middle of its work:

* ``load_warehouse`` inside the load transaction (staging rows inserted, nothing committed);
* one mapped ``workbooks.write_sub_icb_workbook`` with half a workbook in the staging folder.

How the processes are found and killed: a ``sitecustomize`` module (only in the scheduler's environment,
so only in the task processes it forks) wraps ``warehouse.bulk_insert`` and
``publish.stage_sub_icb_workbook``; the first task process to reach the point records its PID in a
marker file and waits. The test then reads the task instance from the REST API
(``/api/v2/dags/.../dagRuns/.../taskInstances``, field ``pid``, which Airflow sets to the task runner
child of the supervisor), checks it is the running try 1 of the expected task with the marker's PID,
and SIGKILLs that PID. Nothing is timed: the kill point is deterministic and the retry does not wait.

Airflow must mark the try failed and retry it (``GP_ALLOC_RETRY_DELAY_SECONDS`` makes the back-off a
few seconds). Afterwards: the run succeeded with both killed tasks on try 2; the warehouse holds exactly
one copy of the period (row counts equal to an uninterrupted in-process ``run_all`` on another
warehouse); the published content (manifest without run-specific fields, every workbook's Practices
sheet) equals the uninterrupted run's; nothing temporary is visible under ``<output>/<period>/``; and
every process started was stopped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest
import sqlalchemy as sa

from gp_allocations.config import safe_name
from gp_allocations.manifest import allocation_workbooks, manifest_content
from gp_allocations.pipeline import run_all
from test_faults_common import PERIOD, context, generate_source, leftovers, period_counts, publications

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "gp_allocations_nightly"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOAD_TASK = "load_warehouse"
SUB_ICB_TASK = "workbooks.write_sub_icb_workbook"

pytestmark = pytest.mark.e2e

# Loaded by every Python process of the stack (PYTHONPATH); does something only where
# GP_KILL_TEST_DIR is set, i.e. in the scheduler and the task processes it forks.
SITECUSTOMIZE = """
import os

if os.environ.get("GP_KILL_TEST_DIR"):
    import gp_kill_points  # noqa: F401
"""

KILL_POINTS = r'''
"""Kill points for tests/test_faults_airflow.py: the first task process to reach one waits to be killed."""
import os
import time
from pathlib import Path

from gp_allocations import publish, warehouse

MARKERS = Path(os.environ["GP_KILL_TEST_DIR"])


def _claim(point):
    """True for the one process that reaches ``point`` first (atomic link; a retry finds it taken)."""
    tmp = MARKERS / f".{point}.{os.getpid()}"
    tmp.write_text(str(os.getpid()))
    try:
        os.link(tmp, MARKERS / f"{point}.pid")
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def _wait_to_be_killed():
    while True:
        time.sleep(60)


_bulk_insert = warehouse.bulk_insert
_staged = [0]


def bulk_insert(conn, table, frame):
    _bulk_insert(conn, table, frame)
    if table.startswith("stg_"):
        _staged[0] += 1
        # second staging table inserted, transaction still open: the middle of the load
        if _staged[0] == 2 and _claim("load"):
            _wait_to_be_killed()


_stage_sub_icb = publish.stage_sub_icb_workbook


def stage_sub_icb_workbook(result, run, staging, sub_icb_code, *, period_slug):
    path = Path(staging) / publish.sub_icb_file_name(period_slug, sub_icb_code)
    if not path.exists():
        path.write_bytes(b"PK\x03\x04 half a workbook")  # what a writer killed mid-file leaves
        if _claim("publish"):
            _wait_to_be_killed()
    return _stage_sub_icb(result, run, staging, sub_icb_code, period_slug=period_slug)


warehouse.bulk_insert = bulk_insert
publish.stage_sub_icb_workbook = stage_sub_icb_workbook
'''


def _scale_out_module():
    spec = importlib.util.spec_from_file_location("scale_out", ROOT / "scripts" / "scale_out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _api(base: str, path: str, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}/api/v2{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _healthy(base: str) -> bool:
    try:
        return _api(base, "/monitor/health")["metadatabase"]["status"] == "healthy"
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return False


def _practices_sheet(path: Path) -> list[list]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return [list(row) for row in wb["Practices"].iter_rows(values_only=True)]
    finally:
        wb.close()


def _published(output_root: Path, run_id: str) -> tuple[dict, dict[str, list[list]]]:
    folder = output_root / PERIOD / safe_name(run_id)
    manifest = json.loads((folder / "manifest.json").read_text())
    return manifest, {p.name: _practices_sheet(p) for p in allocation_workbooks(folder)}


@pytest.fixture
def databases():
    """Metadata, warehouse and reference warehouse: created fresh, dropped afterwards."""
    names = {k: f"gp_alloc_kill_{k}_{uuid.uuid4().hex[:8]}" for k in ("meta", "wh", "ref")}
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield names
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_airflow_retries_tasks_killed_mid_load_and_mid_publish(tmp_path, databases) -> None:
    so = _scale_out_module()
    source = generate_source(tmp_path / "extracts", practices=40, seed=7)
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/"
    warehouse_url, reference_url = pg + databases["wh"], pg + databases["ref"]

    # the uninterrupted run: same sample, same code, in-process, on its own warehouse and folders
    ref_ctx = context(
        tmp_path / "ref",
        source,
        "reference_run",
        warehouse_url=reference_url,
        output_root=tmp_path / "ref" / "outputs",
    )
    run_all(ref_ctx)

    hooks, markers = tmp_path / "hooks", tmp_path / "markers"
    hooks.mkdir()
    markers.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (hooks / "gp_kill_points.py").write_text(KILL_POINTS)
    port = so.free_port()
    bin_dir = str(Path(sys.executable).parent)
    output_root = tmp_path / "outputs"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT / 'plugins'}:{hooks}",
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{databases['meta']}",
        "AIRFLOW__CORE__PARALLELISM": "3",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": so._fernet_key(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(so.free_port()),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "GP_ALLOC_RETRY_DELAY_SECONDS": "3",
        "GP_ALLOC_SOURCE": str(source),
        "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
        "GP_ALLOC_OUTPUT_ROOT": str(output_root),
        "GP_ALLOC_WAREHOUSE_URL": warehouse_url,
        "GX_ANALYTICS_ENABLED": "false",
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER_OVERRIDE", None)
    env.pop("GP_KILL_TEST_DIR", None)
    stack = so.Stack(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    killed: dict[str, dict] = {}
    try:
        assert so.airflow_cli(env, "db", "migrate", timeout=300).returncode == 0
        stack.start("api-server", ["api-server", "--port", str(port)])
        stack.start("scheduler", ["scheduler"], {"GP_KILL_TEST_DIR": str(markers)})
        stack.start("dag-processor", ["dag-processor"])
        so.wait_for("the API server", lambda: _healthy(base), 180, stack)

        def parsed():
            try:
                return _api(base, f"/dags/{DAG_ID}")
            except urllib.error.HTTPError:
                return None

        so.wait_for("the DAG to be parsed", parsed, 180, stack)
        _api(base, f"/dags/{DAG_ID}", "PATCH", {"is_paused": False})
        run_id = _api(
            base, f"/dags/{DAG_ID}/dagRuns", "POST", {"logical_date": None, "conf": {"period": PERIOD}}
        )["dag_run_id"]
        run_path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"

        def task_instances() -> list[dict]:
            return _api(base, f"{run_path}/taskInstances?limit=200")["task_instances"]

        for point, task_id in (("load", LOAD_TASK), ("publish", SUB_ICB_TASK)):
            marker = markers / f"{point}.pid"
            so.wait_for(f"a process at the {point} kill point", marker.exists, 300, stack, every=0.5)
            pid = int(marker.read_text())
            # the task instance Airflow is running with that PID: the process we are about to kill
            ti = so.wait_for(
                f"the task instance with pid {pid}",
                lambda pid=pid: next((t for t in task_instances() if t["pid"] == pid), None),
                60,
                stack,
                1,
            )
            assert (ti["task_id"], ti["state"], ti["try_number"]) == (task_id, "running", 1), ti
            assert Path(f"/proc/{pid}").exists()
            os.kill(pid, signal.SIGKILL)
            killed[task_id] = ti

        def finished():
            state = _api(base, run_path)["state"]
            return state if state in ("success", "failed") else None

        state = so.wait_for("the run to finish", finished, 600, stack, every=3)
        tis = task_instances()
    finally:
        report = stack.stop()
    assert all(not r["left"] for r in report.values()), report  # every process stopped

    assert state == "success", f"logs in {tmp_path}"
    assert set(killed) == {LOAD_TASK, SUB_ICB_TASK}
    by_key = {(t["task_id"], t["map_index"]): t for t in tis}
    for task_id, ti in killed.items():
        again = by_key[(task_id, ti["map_index"])]
        assert (again["state"], again["try_number"]) == ("success", 2), again
    # the killed tries were recorded as failed by Airflow itself (the kill, not the code, ended them)
    with sa.create_engine(pg + databases["meta"]).connect() as conn:
        history = conn.execute(
            sa.text(
                "SELECT task_id, map_index, try_number, state FROM task_instance_history"
                " WHERE dag_id = :d AND run_id = :r ORDER BY task_id, map_index"
            ),
            {"d": DAG_ID, "r": run_id},
        ).all()
    assert sorted((t, m, n, s) for t, m, n, s in history) == sorted(
        (task_id, ti["map_index"], 1, "failed") for task_id, ti in killed.items()
    )
    # every other task succeeded without a failed try (the history above holds only the killed
    # tries). Its try_number is not compared with 1: on a loaded machine the scheduler may requeue a
    # queued task that never started (seen: prepare at try 2 with no failed try recorded), which is
    # not a rerun of the task's work.
    killed_keys = {(task_id, ti["map_index"]) for task_id, ti in killed.items()}
    # tasks skipped by design on a first publication with no delivery configured: the sign-off (a
    # first version needs none) and the delivery of workbooks
    skipped_by_design = {"sign_off", "deliver_workbooks"}
    assert {k: t["state"] for k, t in by_key.items() if k not in killed_keys} == {
        k: "skipped" if k[0] in skipped_by_design else "success" for k in by_key if k not in killed_keys
    }
    assert sum(1 for t in tis if t["task_id"] == SUB_ICB_TASK) >= 2

    # exactly one copy of the period in the warehouse: the uninterrupted run's row counts
    counts = period_counts(warehouse_url)
    assert counts == period_counts(reference_url)
    assert counts["load_runs"] == 1 and sum(counts.values()) > 0
    assert publications(warehouse_url) == [(run_id, "published")]

    # the published content is the uninterrupted run's, complete, with nothing temporary visible
    manifest, sheets = _published(output_root, run_id)
    ref_manifest, ref_sheets = _published(Path(ref_ctx.output_root), "reference_run")
    assert manifest_content(manifest) == manifest_content(ref_manifest)
    assert sheets == ref_sheets and len(sheets) == sum(1 for t in tis if t["task_id"] == SUB_ICB_TASK) + 1
    assert (output_root / PERIOD / "latest").resolve() == (output_root / PERIOD / safe_name(run_id)).resolve()
    assert leftovers(output_root) == []
