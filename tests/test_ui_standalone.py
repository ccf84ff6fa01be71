"""The UI tells the story: plugin file serving (fast), then a real API server + scheduler run (slow).

The slow test starts api-server, scheduler and dag-processor (LocalExecutor, fresh PostgreSQL metadata
database), logs in with the simple auth manager's password file, triggers a run through /api/v2,
waits for success, follows the validate task's "Validation report" extra link into the plugin, and
takes a headless Chromium screenshot of the run's grid view (copied to docs/img/airflow-grid.png
when GP_ALLOC_UPDATE_DOCS=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025-26-Q2"
DAG_ID = "gp_allocations_nightly"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _scale_out_module():
    spec = importlib.util.spec_from_file_location("scale_out", ROOT / "scripts" / "scale_out.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the plugin's file serving: only files under the configured roots ------------------------------


@pytest.fixture
def served(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    data, out = tmp_path / "var", tmp_path / "outputs"
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(data))
    monkeypatch.setenv("GP_ALLOC_OUTPUT_ROOT", str(out))
    run_id = "manual__2025-10-01T02:00:00+00:00"
    safe = "manual__2025-10-01T02_00_00_00_00"
    docs = data / "runs" / PERIOD / safe / "validation" / "data_docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html>Data Docs index</html>")
    published = out / PERIOD / safe
    published.mkdir(parents=True)
    (published / "manifest.json").write_text('{"files": []}')
    (published / "gp_allocations_2025-26-Q2_15N.xlsx").write_bytes(b"PK\x03\x04 workbook")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web")
    (docs / "escape").symlink_to(secret)
    sys.path.insert(0, str(ROOT / "plugins"))
    import gp_allocations_ui

    return TestClient(gp_allocations_ui.create_app(require_auth=False)), run_id, gp_allocations_ui


def test_plugin_serves_data_docs_and_outputs_of_a_run(served) -> None:
    client, run_id, _ = served
    from urllib.parse import quote

    base = f"/runs/{quote(run_id, safe='')}"
    page = client.get(f"{base}/")
    assert page.status_code == 200
    assert "Validation report" in page.text and "gp_allocations_2025-26-Q2_15N.xlsx" in page.text
    assert client.get(f"{base}/data-docs/index.html").text == "<html>Data Docs index</html>"
    assert client.get(f"{base}/data-docs/").text == "<html>Data Docs index</html>"
    listing = client.get(f"{base}/outputs/").json()
    names = sorted(f["name"] for f in listing["files"])
    assert names == ["gp_allocations_2025-26-Q2_15N.xlsx", "manifest.json"]
    assert client.get(f"{base}/outputs/gp_allocations_2025-26-Q2_15N.xlsx").content == b"PK\x03\x04 workbook"
    assert "15N" not in client.get("/runs/other-run/").text


@pytest.mark.parametrize(
    "path",
    [
        "/runs/{run}/data-docs/../../../../../../etc/passwd",
        "/runs/{run}/data-docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/runs/{run}/data-docs/escape",
        "/runs/{run}/outputs/..%2f..%2fsecret.txt",
        "/runs/..%2f..%2f..%2f/outputs/secret.txt",
        "/runs/{run}/data-docs//etc/passwd",
    ],
)
def test_plugin_never_serves_outside_its_roots(served, path) -> None:
    client, run_id, _ = served
    from urllib.parse import quote

    response = client.get(path.format(run=quote(run_id, safe="")))
    assert response.status_code in (404, 400), response.status_code
    assert "not for the web" not in response.text and "root:" not in response.text


def test_extra_links_point_at_the_plugin_for_the_right_tasks(served) -> None:
    _, run_id, ui = served
    from types import SimpleNamespace

    key = SimpleNamespace(dag_id=DAG_ID, task_id=ui.VALIDATE_TASK, run_id=run_id, map_index=-1)
    validate = SimpleNamespace(task_id=ui.VALIDATE_TASK)
    finalise = SimpleNamespace(task_id=ui.PUBLISH_TASK)
    assert (
        ui.ValidationReportLink()
        .get_link(validate, ti_key=key)
        .endswith("/gp-allocations/runs/manual__2025-10-01T02%3A00%3A00%2B00%3A00/data-docs/index.html")
    )
    assert ui.ValidationReportLink().get_link(finalise, ti_key=key) == ""
    outputs = ui.PublishedOutputsLink().get_link(finalise, ti_key=key)
    assert outputs.endswith("/runs/manual__2025-10-01T02%3A00%3A00%2B00%3A00/")


def test_plugin_requires_an_airflow_login() -> None:
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(ROOT / "plugins"))
    import gp_allocations_ui

    client = TestClient(gp_allocations_ui.create_app())
    assert client.get("/").status_code == 401


# --- the real thing -----------------------------------------------------------------------------------


def _request(url: str, token: str | None = None, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        kind = resp.headers.get("Content-Type", "")
    return json.loads(raw) if "json" in kind else raw.decode("utf-8", "replace")


def _healthy(base: str) -> bool:
    try:
        return _request(f"{base}/api/v2/monitor/health")["metadatabase"]["status"] == "healthy"
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return False


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by .ci/run")
def test_login_trigger_wait_and_screenshot_the_grid(tmp_path) -> None:
    from gp_allocations.periods import Period
    from gp_allocations.sample_data import generate_samples

    so = _scale_out_module()
    generate_samples(tmp_path / "extracts", period=Period.parse(PERIOD), practices=40, seed=5)
    db_name = f"gp_alloc_ui_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    password = secrets.token_urlsafe(16)
    (tmp_path / "passwords.json").write_text(json.dumps({"admin": password}))
    port, screenshot_port = so.free_port(), so.free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "plugins"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{db_name}",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": so._fernet_key(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "GP_ALLOC_SOURCE": str(tmp_path / "extracts"),
        "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
        "GP_ALLOC_OUTPUT_ROOT": str(tmp_path / "outputs"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        "GX_ANALYTICS_ENABLED": "false",
    }
    stack = so.Stack(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    try:
        assert so.airflow_cli(env, "db", "migrate", timeout=300).returncode == 0
        stack.start("api-server", ["api-server", "--port", str(port)])
        stack.start("scheduler", ["scheduler"])
        stack.start("dag-processor", ["dag-processor"])
        so.wait_for("the API server", lambda: _healthy(base), 180, stack)

        token = _request(
            f"{base}/auth/token", method="POST", body={"username": "admin", "password": password}
        )["access_token"]
        with pytest.raises(urllib.error.HTTPError) as denied:
            _request(f"{base}/api/v2/dags/{DAG_ID}")
        assert denied.value.code == 401, "the API needs the login"

        def parsed():
            try:
                return _request(f"{base}/api/v2/dags/{DAG_ID}", token)
            except urllib.error.HTTPError:
                return None

        so.wait_for("the DAG to be parsed", parsed, 240, stack)
        _request(f"{base}/api/v2/dags/{DAG_ID}", token, "PATCH", {"is_paused": False})
        with pytest.raises(urllib.error.HTTPError) as rejected:  # the Params form's validation
            _request(
                f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
                token,
                "POST",
                {"logical_date": None, "conf": {"period": "2025-Q9"}},
            )
        assert rejected.value.code == 400
        run = _request(
            f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
            token,
            "POST",
            {"logical_date": None, "conf": {"period": PERIOD, "variant": "deprivation_weighted"}},
        )
        run_id = run["dag_run_id"]

        def done():
            state = _request(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", token)["state"]
            return state if state in ("success", "failed") else None

        assert so.wait_for("the run", done, 900, stack, every=5) == "success"

        from urllib.parse import quote

        links = _request(
            f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            "validate.validate_extracts/links",
            token,
        )
        report_url = links["extra_links"]["Validation report"]
        assert report_url and report_url.startswith("/gp-allocations/runs/")
        report = _request(f"{base}{report_url}", token)
        assert "<html" in report.lower() and "expectation" in report.lower()
        outputs = _request(f"{base}/gp-allocations/runs/{quote(run_id, safe='')}/outputs/", token)
        assert any(f["name"] == "manifest.json" for f in outputs["files"])
        assert sum(f["name"].endswith(".xlsx") for f in outputs["files"]) >= 2

        # the screenshot: a second API server on the same database where everyone is admin (no login)
        stack.start(
            "api-server-screenshot",
            ["api-server", "--port", str(screenshot_port)],
            {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"},
        )
        shot_base = f"http://127.0.0.1:{screenshot_port}"
        so.wait_for("the screenshot API server", lambda: _healthy(shot_base), 180, stack)
        shot = tmp_path / "grid.png"
        subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--virtual-time-budget=20000",
                f"--screenshot={shot}",
                "--window-size=1600,1000",
                f"{shot_base}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}",
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        assert shot.stat().st_size > 20_000, "a rendered page, not a blank one"
        assert shot.stat().st_size < 400_000, f"screenshot is {shot.stat().st_size} bytes"
        # the docs' picture is refreshed on request only, so a test run never changes tracked files
        if os.environ.get("GP_ALLOC_UPDATE_DOCS") == "1":
            shutil.copyfile(shot, ROOT / "docs" / "img" / "airflow-grid.png")
    finally:
        report = stack.stop()
        admin_conn = admin.connect()
        admin_conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin_conn.close()
        admin.dispose()
    assert all(not r["left"] for r in report.values()), report
