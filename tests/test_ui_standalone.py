"""The UI tells the story: plugin file serving (fast), then a real API server + scheduler run (slow).

The slow test starts api-server, scheduler and dag-processor (LocalExecutor, fresh PostgreSQL metadata
database), logs in with the simple auth manager's password file, triggers a run through /api/v2,
waits for success, follows the validate task's "Validation report" extra link into the plugin, and
takes a headless Chromium screenshot of the run's grid view (copied to docs/img/airflow-grid.png
when GP_ALLOC_UPDATE_DOCS=1).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
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
    assert client.get(f"{base}/data-docs/index.html").text == "<html>Data Docs index</html>"
    assert client.get(f"{base}/data-docs/").text == "<html>Data Docs index</html>"
    listing = client.get(f"{base}/outputs/").json()
    names = sorted(f["name"] for f in listing["files"])
    assert names == ["gp_allocations_2025-26-Q2_15N.xlsx", "manifest.json"]
    assert client.get(f"{base}/outputs/gp_allocations_2025-26-Q2_15N.xlsx").content == b"PK\x03\x04 workbook"
    assert client.get("/runs/other-run/outputs/").status_code == 404
    js = client.get("/static/gp-allocations.js")
    assert js.status_code == 200 and "globalThis.AirflowPlugin" in js.text


def _airflow_run(run_id: str, state: str = "success") -> dict:
    return {"run_id": run_id, "state": state, "run_type": "manual", "run_after": "2025-10-01T02:00:00+00:00"}


def test_the_runs_page_lists_status_period_sub_icb_names_and_links_not_latest(served, tmp_path) -> None:
    from fastapi.testclient import TestClient

    _, run_id, ui = served
    out = tmp_path / "outputs" / PERIOD
    (out / "latest").symlink_to(out / "manual__2025-10-01T02_00_00_00_00", target_is_directory=True)
    # the manifest's files as gp_allocations.publish writes them: each sub-ICB has its allocation
    # workbook and its practice statements (workbook and PDF); the national book has no sub-ICB
    book, statements = "gp_allocations_2025-26-Q2_15N.xlsx", "gp-allocations_2025-26-Q2_15N_statements.xlsx"
    manifest = {
        "files": [
            {"name": book, "kind": "sub_icb", "sub_icb_code": "15N", "rows": 120},
            {"name": statements, "kind": "statements", "sub_icb_code": "15N", "rows": 120},
            {"name": statements[:-4] + "pdf", "kind": "statements_pdf", "sub_icb_code": "15N", "rows": 120},
            {"name": "gp-allocations_2025-26-Q2_england.xlsx", "kind": "national", "rows": 120},
        ],
        "totals": {"sub_icb": {"15N": {"name": "NHS Devon ICB - 15N"}}},
    }
    (out / "manual__2025-10-01T02_00_00_00_00" / "manifest.json").write_text(json.dumps(manifest))
    records = {
        run_id: (_airflow_run(run_id), {"publish": "success"}, {"period": PERIOD}, {"status": "published"}),
        "scheduled__2025-10-02": (
            _airflow_run("scheduled__2025-10-02"),
            {"standardise_extracts": "skipped", "publish": "skipped"},
            {"period": "2025-26-Q3"},
            None,
        ),
        "manual__again": (
            _airflow_run("manual__again"),
            {"publish": "success"},
            {"period": PERIOD},
            {"status": "unchanged", "previous_run_id": run_id},
        ),
        "manual__broken": (
            _airflow_run("manual__broken", "failed"),
            {"validate_extracts": "failed"},
            {"period": PERIOD},
            None,
        ),
    }

    def source(one):
        chosen = [one] if one else list(records)
        return [ui.run_overview(*records[r]) for r in chosen if r in records]

    client = TestClient(ui.create_app(require_auth=False, runs_source=source))
    listed = client.get("/api/runs").json()
    by_id = {r["run_id"]: r for r in listed["runs"]}
    assert "latest" not in by_id and set(by_id) == set(records), "latest is a pointer, never a run"
    assert listed["latest"] == {PERIOD: "manual__2025-10-01T02_00_00_00_00"}
    first = by_id[run_id]
    assert (first["period"], first["outcome"]["status"], first["latest"]) == (PERIOD, "published", True)
    outputs = "/gp-allocations/runs/manual__2025-10-01T02%3A00%3A00%2B00%3A00/outputs/"
    assert first["sub_icbs"] == [  # one row per sub-ICB location, its statements beside its workbook
        {
            "code": "15N",
            "name": "NHS Devon ICB - 15N",
            "file": book,
            "rows": 120,
            "statements": statements,
            "url": outputs + book,
            "statements_url": outputs + statements,
        }
    ]
    assert first["links"]["validation_report"].endswith("/data-docs/index.html")
    assert client.get(first["links"]["manifest"].removeprefix("/gp-allocations")).json() == manifest
    assert by_id["scheduled__2025-10-02"]["outcome"]["status"] == "not yet available"
    assert by_id["manual__again"]["outcome"] == {
        "status": "unchanged",
        "detail": f"same figures as {run_id}: no new version",
    }
    assert by_id["manual__broken"]["outcome"]["status"] == "failed"
    assert "validate_extracts" in by_id["manual__broken"]["outcome"]["detail"]
    assert client.get("/api/runs/manual__again").json()["outcome"]["status"] == "unchanged"
    assert client.get("/api/runs/nope").status_code == 404


def test_a_run_awaiting_sign_off_or_rejected_shows_its_staged_workbooks_and_says_latest_stays(
    served, tmp_path
) -> None:
    from fastapi.testclient import TestClient

    _, _, ui = served
    run_id, safe = "manual__wait", "manual__wait"
    staged = tmp_path / "outputs" / ".staging" / PERIOD / safe
    staged.mkdir(parents=True)
    (staged / "gp-allocations_2025-26-Q2_15N.xlsx").write_bytes(b"PK\x03\x04 staged")
    (staged / ".tmp-half.xlsx").write_bytes(b"half")
    manifest = {
        "files": [{"name": "gp-allocations_2025-26-Q2_15N.xlsx", "kind": "sub_icb", "sub_icb_code": "15N"}],
        "totals": {"sub_icb": {"15N": {"name": "NHS Devon ICB - 15N"}}},
    }
    review = tmp_path / "var" / "runs" / PERIOD / safe / "publication_review.json"
    review.parent.mkdir(parents=True)
    review.write_text(json.dumps({"manifest": manifest, "review": {}, "context": {}}))
    running = {**_airflow_run(run_id, "running")}
    rejected = {
        "status": "rejected",
        "detail": "rejected by jane at 2026-12-02T09:00:00+00:00: nothing published; latest still r1",
    }
    records = {
        run_id: (running, {"sign_off": "awaiting_input", "publish": "none"}, {"period": PERIOD}, None),
        "manual__no": (
            _airflow_run("manual__no"),
            {"sign_off": "success", "publish": "skipped"},
            {"period": PERIOD},
            rejected,
        ),
    }

    def source(one):
        return [ui.run_overview(*records[r]) for r in ([one] if one else list(records)) if r in records]

    client = TestClient(ui.create_app(require_auth=False, runs_source=source))
    waiting = client.get(f"/api/runs/{run_id}").json()
    assert waiting["outcome"]["status"] == "awaiting sign-off" and waiting["staged"] is True
    assert waiting["latest"] is False and waiting["links"]["manifest"] is None
    assert [s["url"] for s in waiting["sub_icbs"]] == [
        f"/gp-allocations/runs/{run_id}/staged/gp-allocations_2025-26-Q2_15N.xlsx"
    ]
    assert [f["name"] for f in waiting["files"]] == ["gp-allocations_2025-26-Q2_15N.xlsx"]
    got = client.get(waiting["sub_icbs"][0]["url"].removeprefix("/gp-allocations"))
    assert got.content == b"PK\x03\x04 staged"
    for bad in (".tmp-half.xlsx", "..%2f..%2fsecret.txt", "%2e%2e"):
        assert client.get(f"/runs/{run_id}/staged/{bad}").status_code in (400, 404), bad
    no = client.get("/api/runs/manual__no").json()
    assert no["outcome"] == {"status": "rejected", "detail": rejected["detail"]}


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


def test_extra_links_point_at_the_run_report_and_the_run_page() -> None:
    from types import SimpleNamespace

    from gp_allocations_airflow.links import PublishedOutputsLink, ValidationReportLink

    run_id = "manual__2025-10-01T02:00:00+00:00"
    key = SimpleNamespace(dag_id=DAG_ID, task_id="validate_extracts", run_id=run_id, map_index=-1)
    assert ValidationReportLink().get_link(None, ti_key=key) == (
        "/gp-allocations/runs/manual__2025-10-01T02%3A00%3A00%2B00%3A00/data-docs/index.html"
    )
    assert PublishedOutputsLink().get_link(None, ti_key=key) == (
        "/plugin/gp-allocations?run_id=manual__2025-10-01T02%3A00%3A00%2B00%3A00"
    )


def test_plugin_requires_an_airflow_login() -> None:
    from fastapi.testclient import TestClient

    sys.path.insert(0, str(ROOT / "plugins"))
    import gp_allocations_ui

    client = TestClient(gp_allocations_ui.create_app())
    for path in ("/api/runs", "/api/runs/x", "/runs/x/outputs/", "/runs/x/data-docs/index.html"):
        assert client.get(path).status_code == 401, path


# --- the real thing -----------------------------------------------------------------------------------


def _request(url: str, token: str | None = None, method: str = "GET", body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=90) as resp:
        raw = resp.read()
        kind = resp.headers.get("Content-Type", "")
    return json.loads(raw) if "json" in kind else raw.decode("utf-8", "replace")


def _healthy(base: str) -> bool:
    try:
        return _request(f"{base}/api/v2/monitor/health")["metadatabase"]["status"] == "healthy"
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return False


@contextlib.contextmanager
def airflow_ui(
    tmp_path: Path, sample_period: str = PERIOD, practices: int = 40, users: dict[str, str] | None = None
):
    """Airflow 3.3 with the project's DAG and plugin, as a data engineer runs it: API server, scheduler
    and DAG processor (LocalExecutor, fresh PostgreSQL metadata database, simple auth manager with a
    password file), a generated sample in the source folder. Yields (base URL, admin password, env).
    ``users``: more logins, name -> role (viewer, user, op, admin); their passwords are in
    ``tmp_path / "passwords.json"``."""
    from gp_allocations.periods import Period
    from gp_allocations_airflow.tasks import TASK_PYTHONWARNINGS
    from gp_allocations_samples import generate_samples

    so = _scale_out_module()
    generate_samples(tmp_path / "extracts", period=Period.parse(sample_period), practices=practices, seed=5)
    db_name = f"gp_alloc_ui_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    password = secrets.token_urlsafe(16)
    roles = {"admin": "admin", **(users or {})}
    passwords = {name: password if name == "admin" else secrets.token_urlsafe(16) for name in roles}
    (tmp_path / "passwords.json").write_text(json.dumps(passwords))
    port = so.free_port()
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
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in roles.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "GP_ALLOC_SOURCE": str(tmp_path / "extracts"),
        "GP_ALLOC_DATA_DIR": str(tmp_path / "var"),
        "GP_ALLOC_OUTPUT_ROOT": str(tmp_path / "outputs"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONWARNINGS": TASK_PYTHONWARNINGS,  # as docs/deployment.md says for the scheduler
    }
    stack = so.Stack(tmp_path, env)
    base = f"http://127.0.0.1:{port}"
    report: dict = {}
    try:
        assert so.airflow_cli(env, "db", "migrate", timeout=300).returncode == 0
        stack.start("api-server", ["api-server", "--port", str(port)])
        stack.start("scheduler", ["scheduler"])
        stack.start("dag-processor", ["dag-processor"])
        so.wait_for("the API server", lambda: _healthy(base), 180, stack)
        yield base, password, stack
    finally:
        report = stack.stop()
        admin_conn = admin.connect()
        admin_conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin_conn.close()
        admin.dispose()
        assert all(not r["left"] for r in report.values()), report


def _token(base: str, password: str, username: str = "admin") -> str:
    body = {"username": username, "password": password}
    return _request(f"{base}/auth/token", method="POST", body=body)["access_token"]


def _wait_run(base, token, run_id, stack, timeout=900) -> str:
    from urllib.parse import quote

    so = _scale_out_module()

    def done():
        state = _request(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}", token)["state"]
        return state if state in ("success", "failed") else None

    return so.wait_for(f"run {run_id}", done, timeout, stack, every=5)


SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
DOCS_IMG = ROOT / "docs" / "img"
TRIGGER_DIALOG = (
    "[...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.includes('Reporting period'))"
)


def _keep(shot: Path, name: str) -> None:
    """Screenshots go to docs/img only when asked (GP_ALLOC_UPDATE_DOCS=1): a test run never
    changes tracked files."""
    assert 20_000 < shot.stat().st_size < 600_000, f"{shot.name}: {shot.stat().st_size} bytes"
    if os.environ.get("GP_ALLOC_UPDATE_DOCS") == "1":
        shutil.copyfile(shot, DOCS_IMG / name)


@pytest.mark.e2e
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by .ci/run")
def test_a_data_engineer_logs_in_triggers_with_defaults_and_finds_the_outputs(tmp_path) -> None:
    """Chromium against a real Airflow: log in, open Trigger, trigger with every default, see a bad
    period refused in a sentence, run a period to success, open the validation report and the
    plugin page; screenshots of the trigger form, the grid and the plugin page."""
    import datetime as dt
    from urllib.parse import quote

    from _browser import Browser
    from gp_allocations.periods import Period

    so = _scale_out_module()
    with airflow_ui(tmp_path) as (base, password, stack):
        token = _token(base, password)
        with pytest.raises(urllib.error.HTTPError) as denied:
            _request(f"{base}/api/v2/dags/{DAG_ID}")
        assert denied.value.code == 401, "the API needs the login"

        def parsed():
            try:
                return _request(f"{base}/api/v2/dags/{DAG_ID}", token)
            except urllib.error.HTTPError:
                return None

        listed = so.wait_for("the DAG to be parsed", parsed, 240, stack)
        assert listed["description"].startswith("Nightly: pull GP contract"), "the DAG list shows it"
        browser = Browser(tmp_path / "chromium")
        try:
            browser.login(base, "admin", password)  # a real login through the form

            # Trigger: the form opens with every default, nothing starred, Trigger enabled
            browser.open(f"{base}/dags/{DAG_ID}")
            browser.wait_for_text("Trigger", 60)
            browser.click_button("Trigger")
            browser.wait_for_text("Reporting period", 60)
            form = browser.js(f"{TRIGGER_DIALOG}.innerText")
            optional = (
                "Reporting period",
                "Price per weighted patient (GBP)",
                "Extracts to pull",
                "Override plausibility gates: reason",
            )
            for title in optional:
                assert title in form, title
                assert f"{title} *" not in form and f"{title}*" not in form, f"{title} is optional: no star"
            browser.resize(1500, 1500)  # the whole form, down to its Trigger button
            assert browser.js("!document.querySelector('textarea#element_extracts')"), "a multi-select"
            _keep(browser.screenshot(tmp_path / "trigger.png"), "airflow-trigger-form.png")
            browser.resize(1500, 950)
            # a bad period: refused in a sentence, in the form, before any run exists
            browser.type_into("#element_period", "2025-Q9")
            browser.click_button("Trigger", within=TRIGGER_DIALOG)
            browser.wait_for_text("Reporting period: '2025-Q9' is not in the expected form.", 60)
            assert "Failed validating" not in browser.text()
            browser.type_into("#element_period", "")
            browser.click_button("Trigger", within=TRIGGER_DIALOG)
            browser.wait_for(f"!{TRIGGER_DIALOG}", 60, "the trigger dialog to close")
            runs = _request(f"{base}/api/v2/dags/{DAG_ID}/dagRuns?order_by=-run_after", token)["dag_runs"]
            default_run = next(r for r in runs if r["run_type"] == "manual")
            assert not (default_run.get("conf") or {}).get("period"), "triggered with the empty default"
        finally:
            browser.close()

        # a bad period is refused before a run exists, in a sentence
        with pytest.raises(urllib.error.HTTPError) as rejected:
            _request(
                f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
                token,
                "POST",
                {"logical_date": None, "conf": {"period": "2025-Q9"}},
            )
        assert rejected.value.code == 400
        detail = json.loads(rejected.value.read())["detail"]
        assert detail.startswith("Reporting period: '2025-Q9' is not in the expected form."), detail
        assert "Failed validating" not in detail and "^" not in detail

        run = _request(
            f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
            token,
            "POST",
            {"logical_date": None, "conf": {"period": PERIOD, "variant": "deprivation_weighted"}},
        )
        run_id = run["dag_run_id"]
        assert _wait_run(base, token, run_id, stack) == "success"
        # the defaults resolve to the quarter of the run date (the sample is of another quarter)
        assert _wait_run(base, token, default_run["dag_run_id"], stack) in ("success", "failed")
        default_page = _request(
            f"{base}/gp-allocations/api/runs/{quote(default_run['dag_run_id'], safe='')}", token
        )
        run_after = dt.datetime.fromisoformat(default_run["run_after"])
        assert default_page["period"] == Period.containing(run_after.date()).slug
        assert default_page["outcome"]["status"] != "published"
        # its task logs are short, free of third-party chatter, and a data error has no traceback
        logs = sorted((tmp_path / "airflow" / "logs").rglob("attempt=*.log"))
        assert logs
        for log_file in logs:
            text = log_file.read_text()
            assert "Skipping registering function" not in text and "Traceback" not in text, log_file
            assert "Created temporary directory" not in text, log_file
            assert "DeprecationWarning" not in text, log_file
            assert len(text.splitlines()) < 80, (log_file, len(text.splitlines()))

        def links(task_id):
            return _request(
                f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links",
                token,
            )["extra_links"]

        assert list(links("validate_extracts")) == ["Validation report"]
        assert list(links("publish")) == ["Published outputs"]
        assert links("load_warehouse") == {}, "no empty Extra Links heading on other tasks"
        report = _request(f"{base}{links('validate_extracts')['Validation report']}", token)
        assert "<html" in report.lower() and "expectation" in report.lower()
        page = _request(f"{base}/gp-allocations/api/runs/{quote(run_id, safe='')}", token)
        assert page["outcome"]["status"] == "published" and page["latest"] and page["period"] == PERIOD
        codes = [s["code"] for s in page["sub_icbs"]]
        assert len(codes) >= 2 and len(set(codes)) == len(codes), f"one row per sub-ICB location: {codes}"
        assert all(s["name"] and s["statements"] for s in page["sub_icbs"])

        browser = Browser(tmp_path / "chromium-2")
        try:
            browser.login(base, "admin", password)
            browser.open(f"{base}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
            browser.wait_for_text("compute_allocations", 90)
            # the grid shows today's DAG: every task and task group of the parsed DAG is listed
            tasks = _request(f"{base}/api/v2/dags/{DAG_ID}/tasks", token)["tasks"]
            grid = browser.text()
            missing = sorted({t["task_id"].split(".")[0] for t in tasks} - set(grid.split()))
            assert not missing, f"the grid does not list {missing}"
            _keep(browser.screenshot(tmp_path / "grid.png"), "airflow-grid.png")
            browser.open(f"{base}{links('publish')['Published outputs']}")
            browser.wait_for_text(page["sub_icbs"][0]["name"], 90)
            assert "published" in browser.text() and "latest" in browser.text()
            _keep(browser.screenshot(tmp_path / "run-page.png"), "airflow-plugin-run.png")
            browser.open(f"{base}/plugin/gp-allocations")
            browser.wait_for("document.querySelector('[data-testid=gp-runs]')", 90, "the runs table")
            listed = browser.js("document.querySelector('[data-testid=gp-runs]').innerText")
            assert run_id in listed and PERIOD in listed and "latest" in listed
            assert "\nlatest\t" not in listed, "latest is a badge, not a run"
            _keep(browser.screenshot(tmp_path / "runs-page.png"), "airflow-plugin-runs.png")
        finally:
            browser.close()
