"""Test settings: an isolated Airflow home and data folder per session, set before Airflow imports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_session_home = Path(tempfile.mkdtemp(prefix="gp-alloc-tests-"))
os.environ.setdefault("AIRFLOW_HOME", str(_session_home / "airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ["GP_ALLOC_DATA_DIR"] = str(_session_home / "var")
# Publishing in one process: tests plant defects with monkeypatch, which a spawned worker would not
# see. tests/test_publish_workers.py runs the parallel path itself.
os.environ["GP_ALLOC_PUBLISH_WORKERS"] = "1"
