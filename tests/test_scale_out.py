"""Scale-out proven without Docker: CeleryExecutor, Redis broker, fresh PostgreSQL metadata, two workers.

Runs scripts/scale_out.py (the same script an engineer runs by hand) in a subprocess with a hard
timeout, then checks its report: the run succeeded, tasks ran on both workers (the mapped per-sub-ICB
workbooks among them), one workbook per sub-ICB location was published, and every process started was
stopped by its PID with nothing left behind. The metadata database is created and dropped by the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.e2e


def test_two_celery_workers_share_one_run_and_everything_stops(tmp_path) -> None:
    report_path = tmp_path / "scale.json"
    workdir = tmp_path / "stack"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "scale_out.py"),
            "--practices",
            "60",
            "--timeout",
            "900",
            "--workdir",
            str(workdir),
            "--json",
            str(report_path),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert report_path.exists(), proc.stderr[-4000:]
    report = json.loads(report_path.read_text())
    logs = f"logs in {workdir}; stderr: {proc.stderr[-2000:]}"

    assert report["state"] == "success", logs
    tasks = report["tasks"]
    assert {t["hostname"] for t in tasks if t["state"] == "success"} == {"worker-a", "worker-b"}, tasks

    # one mapped task per sub-ICB location of the generated sample, each run on one of the two workers
    practice_map = pd.read_csv(workdir / "extracts" / "gp-reg-pat-prac-map.csv", dtype=str)
    sub_icbs = set(practice_map["SUB_ICB_LOCATION_CODE"])
    mapped = [t for t in tasks if t["task_id"] == "workbooks.write_sub_icb_workbook"]
    assert len(mapped) == len(sub_icbs) >= 2
    assert all(t["state"] == "success" and t["hostname"] in {"worker-a", "worker-b"} for t in mapped)
    assert report["workbooks"] == len(sub_icbs) + 1, "one per sub-ICB location plus the national summary"
    assert report["deadline_alerts_registered"] >= 1, "the scheduler accepted the DeadlineAlert"

    # every process stopped by its PID / process group, none left
    assert set(report["stopped"]) == {"api-server", "scheduler", "dag-processor", "worker-a", "worker-b"}
    for name, info in report["stopped"].items():
        assert info["left"] == [], name
        proc_dir = Path(f"/proc/{info['pid']}")
        assert not proc_dir.exists() or ") Z " in (proc_dir / "stat").read_text(), name
    assert report["left_running"] == []

    # the fresh metadata database was dropped afterwards
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.connect() as conn:
        left = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": report["metadata_db"]}
        ).first()
    admin.dispose()
    assert left is None
