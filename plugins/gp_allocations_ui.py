"""Airflow UI plugin: the GP allocations pages inside the Airflow UI, and each run's files, read-only.

- A React page rendered by the Airflow UI itself with its own components (Chakra UI, light
  and dark mode): *Browse > GP allocations* lists the runs (status, period, sub-ICB locations, links);
  ``?run_id=`` shows one run (the publish task's *Published outputs* button opens it). The bundle
  is plain JavaScript in ``plugins/gp_allocations_ui_static/`` (no build step), served below.
- A FastAPI app mounted by the API server at ``/gp-allocations`` answers those pages (JSON from the
  Airflow metadata database and the run folders) and serves one run's Data Docs (its validation
  report) and published files, with a restrictive Content-Security-Policy (``FILE_HEADERS``). Only
  files under the configured data and output roots can be reached: names are resolved and checked,
  never joined blindly, and symlinks that leave a root are refused.

Every route asks Airflow's auth manager whether the user may read this DAG's runs (the UI's session
cookie or a Bearer token), so per-DAG permissions hold on a shared Airflow. No writes.
The "Validation report" and "Published outputs" buttons belong to the validate and publish tasks'
operators (``gp_allocations_airflow.links``), not to this plugin: no other task shows them.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin

from gp_allocations_airflow.trigger_errors import ReadableParamErrors

log = logging.getLogger(__name__)

URL_PREFIX = "/gp-allocations"
DAG_ID = "gp_allocations_nightly"
STATIC_DIR = Path(__file__).resolve().parent / "gp_allocations_ui_static"
#: Task ids whose XCom or state tell a run's story (see dags/gp_allocations_nightly.py).
PREPARE_TASK, SIGN_OFF_TASK, PUBLISH_TASK = "prepare", "sign_off", "publish"
RUNS_SHOWN = 100
#: Headers on every file the plugin serves (Data Docs, published outputs, the page's bundle): no
#: script and nothing from another origin may run or load in a served page (its stylesheet is beside
#: it), no other site may frame it, and no browser may sniff a CSV or JSON holding "<script>" into a
#: page. The Data Docs page is built to need nothing more (gp_allocations.data_docs).
FILE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}


def _safe_name(text: str) -> str:
    from gp_allocations.config import safe_name

    return safe_name(text)


def _server_variable(key: str) -> str | None:
    """An Airflow Variable read where the API server runs (None when unset or unreadable)."""
    try:
        from airflow.models import Variable

        value = Variable.get(key, default_var=None)
    except Exception:  # no metadata database here: the environment and defaults apply
        return None
    return str(value) if value else None


def _roots() -> tuple[Path, Path]:
    """(runs root, output root), resolved exactly as a run resolves them: Airflow Variable, then
    environment, then default (``config.resolve_settings``), so the UI looks where runs write."""
    from gp_allocations.config import resolve_settings

    settings = resolve_settings(_server_variable)
    return (settings.data_dir / "runs").resolve(), settings.output_root.resolve()


def _inside(root: Path, candidate: Path) -> Path | None:
    """The resolved path if it exists and is the root or below it (blocks '..' and escaping symlinks)."""
    from gp_allocations.files import inside

    return inside(root, candidate, strict=True)


def run_folders(run_id: str) -> dict[str, Path | None]:
    """The run's validation folder, its publication review, its staged folder (workbooks awaiting
    sign-off or rejected) and its published folder, if they exist (any period)."""
    from gp_allocations.pipeline import REVIEW_FILE
    from gp_allocations.publish import STAGING

    runs_root, out_root = _roots()
    name = _safe_name(run_id)
    found: dict[str, Path | None] = {"validation": None, "review": None, "staged": None, "outputs": None}
    if runs_root.is_dir():
        for period_dir in sorted(runs_root.iterdir()):
            folder = _inside(runs_root, period_dir / name / "validation")
            if folder and folder.is_dir():
                found["validation"] = folder
            review = _inside(runs_root, period_dir / name / REVIEW_FILE)
            if review and review.is_file():
                found["review"] = review
    staging_root = out_root / STAGING
    if staging_root.is_dir():
        for period_dir in sorted(staging_root.iterdir()):
            folder = _inside(staging_root, period_dir / name)
            if folder and folder.is_dir():
                found["staged"] = folder
    if out_root.is_dir():
        for period_dir in sorted(p for p in out_root.iterdir() if not p.name.startswith(".")):
            folder = _inside(out_root, period_dir / name)
            if folder and folder.is_dir() and not (period_dir / name).is_symlink():
                found["outputs"] = folder
    return found


def latest_runs() -> dict[str, str]:
    """period -> the run folder ``latest`` points at (``latest`` is a pointer, never a run)."""
    _, out_root = _roots()
    found = {}
    if out_root.is_dir():
        for period_dir in sorted(p for p in out_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            target = _inside(out_root, period_dir / "latest")
            if target is not None and target.parent == period_dir.resolve():
                found[period_dir.name] = target.name
    return found


# --- what a run page says ---------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sub_icbs_of(manifest: dict | None) -> list[dict]:
    """One entry per sub-ICB location of a manifest: code, name, practices, its allocation workbook
    (file kind ``sub_icb``) and its practice statements workbook (kind ``statements``), if any. The
    one place that knows the manifest's shape; the kinds are gp_allocations.publish's."""
    if not isinstance(manifest, dict):
        return []
    names = {
        code: (t or {}).get("name")
        for code, t in ((manifest.get("totals") or {}).get("sub_icb") or {}).items()
    }
    files = [e for e in manifest.get("files") or [] if isinstance(e, dict) and e.get("sub_icb_code")]
    statements = {e["sub_icb_code"]: e.get("name") for e in files if e.get("kind") == "statements"}
    out = [
        {
            "code": e["sub_icb_code"],
            "name": names.get(e["sub_icb_code"]) or "",
            "file": e.get("name"),
            "rows": e.get("rows"),
            "statements": statements.get(e["sub_icb_code"]),
        }
        for e in files
        if e.get("kind") == "sub_icb"
    ]
    return sorted(out, key=lambda s: s["code"])


def _validation_summary(folder: Path | None) -> dict:
    report = _read_json(folder / "report.json") if folder else None
    if not isinstance(report, dict):
        return {"status": "not run", "errors": 0, "warnings": 0}
    results = report.get("results") or []
    if isinstance(results, dict):  # a column-oriented frame
        results = [dict(zip(results, row, strict=False)) for row in zip(*results.values(), strict=False)]
    failed = [r for r in results if isinstance(r, dict) and not r.get("success", True)]
    errors = sum(1 for r in failed if r.get("severity") == "error")
    warnings = sum(1 for r in failed if r.get("severity") == "warning")
    status = "failed" if not report.get("passed") else ("passed with warnings" if warnings else "passed")
    return {"status": status, "errors": errors, "warnings": warnings}


def outcome_of(run: dict, task_states: dict[str, str], published: dict | None) -> dict:
    """One run's outcome in a finance team's words: published, unchanged, not yet available, failed..."""
    state = run.get("state")
    failed = sorted(t for t, s in task_states.items() if s == "failed")
    if task_states.get(SIGN_OFF_TASK) == "awaiting_input" and state in ("queued", "running"):
        return {
            "status": "awaiting sign-off",
            "detail": "staged, waiting for an approver (Required actions): nothing published yet",
        }
    if state in ("queued", "running"):
        return {"status": "running", "detail": "the run is still going"}
    if isinstance(published, dict) and published.get("status") == "rejected":
        return {"status": "rejected", "detail": str(published.get("detail") or "rejected: nothing published")}
    if failed:
        return {"status": "failed", "detail": f"failed at {', '.join(failed)}: nothing was published"}
    if isinstance(published, dict) and published.get("status") == "unchanged":
        previous = published.get("previous_run_id") or "the latest run"
        return {"status": "unchanged", "detail": f"same figures as {previous}: no new version"}
    if isinstance(published, dict) and published.get("status") == "published":
        return {"status": "published", "detail": "new version published"}
    if task_states.get("standardise_extracts") == "skipped":
        return {"status": "not yet available", "detail": "this period's extracts are not out yet"}
    if state == "failed":
        return {"status": "failed", "detail": "the run failed (timed out or stopped): nothing was published"}
    return {"status": "not published", "detail": "the run ended before publishing"}


def run_overview(
    run: dict, task_states: dict[str, str], prepared: dict | None, published: dict | None
) -> dict:
    """Everything the pages show about one DAG run, from its Airflow records and its folders."""
    run_id = run["run_id"]
    folders = run_folders(run_id)
    period = (prepared or {}).get("period") or (run.get("conf") or {}).get("period")
    outputs = folders["outputs"]
    manifest = _read_json(outputs / "manifest.json") if outputs else None
    base = f"{URL_PREFIX}/runs/{quote(run_id, safe='')}"
    # not published (awaiting sign-off, rejected): the staged workbooks, marked as staged
    shown, where = (outputs, "outputs") if outputs else (folders["staged"], "staged")
    if not outputs and folders["review"] is not None:
        manifest = (_read_json(folders["review"]) or {}).get("manifest")
    files = []
    if shown:
        files = [
            {"name": p.name, "bytes": p.stat().st_size, "url": f"{base}/{where}/{quote(p.name)}"}
            for p in sorted(shown.iterdir())
            if p.is_file() and not p.name.startswith(".")
        ]
    subs = sub_icbs_of(manifest)
    for sub in subs:
        sub["url"] = f"{base}/{where}/{quote(str(sub['file']))}" if shown else None
        sub["statements_url"] = (
            f"{base}/{where}/{quote(str(sub['statements']))}" if shown and sub["statements"] else None
        )
    has_docs = bool(folders["validation"] and (folders["validation"] / "data_docs" / "index.html").is_file())
    return {
        "run_id": run_id,
        "state": run.get("state"),
        "run_type": run.get("run_type"),
        "run_after": run.get("run_after"),
        "end_date": run.get("end_date"),
        "period": period,
        "latest": bool(period and outputs and latest_runs().get(period) == outputs.name),
        "outcome": outcome_of(run, task_states, published),
        "validation": _validation_summary(folders["validation"]),
        "sub_icbs": subs,
        "files": files,
        "staged": bool(shown) and not outputs,
        "links": {
            "run": f"dags/{quote(DAG_ID, safe='')}/runs/{quote(run_id, safe='')}",
            "validation_report": f"{base}/data-docs/index.html" if has_docs else None,
            "manifest": f"{base}/outputs/manifest.json" if outputs and manifest is not None else None,
        },
    }


def _runs_from_metadata(
    session, dag_id: str, run_id: str | None = None, limit: int = RUNS_SHOWN
) -> list[dict]:
    """The DAG's runs, newest first, with task states and the prepare/publish XComs (API server only)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    query = select(DagRun).where(DagRun.dag_id == dag_id)
    if run_id is not None:
        query = query.where(DagRun.run_id == run_id)
    runs = session.scalars(query.order_by(DagRun.run_after.desc()).limit(limit)).all()
    ids = [r.run_id for r in runs]
    states: dict[str, dict[str, str]] = {i: {} for i in ids}
    xcoms: dict[tuple[str, str], Any] = {}
    if ids:
        tis = session.execute(
            select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(ids), TaskInstance.map_index < 0
            )
        )
        for rid, task_id, state in tis:
            states[rid][task_id] = str(state.value if hasattr(state, "value") else state) if state else "none"
        rows = session.execute(
            select(XComModel.run_id, XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id.in_(ids),
                XComModel.task_id.in_([PREPARE_TASK, PUBLISH_TASK]),
                XComModel.key == "return_value",
            )
        )
        for rid, task_id, value in rows:
            xcoms[(rid, task_id)] = XComModel.deserialize_value(type("Row", (), {"value": value})())
    out = []
    for r in runs:
        record = {
            "run_id": r.run_id,
            "state": str(r.state.value if hasattr(r.state, "value") else r.state),
            "run_type": str(r.run_type.value if hasattr(r.run_type, "value") else r.run_type),
            "run_after": r.run_after.isoformat() if r.run_after else None,
            "end_date": r.end_date.isoformat() if r.end_date else None,
            "conf": r.conf or {},
        }
        out.append(
            run_overview(
                record,
                states[r.run_id],
                xcoms.get((r.run_id, PREPARE_TASK)),
                xcoms.get((r.run_id, PUBLISH_TASK)),
            )
        )
    return out


def _file(root: Path | None, relative: str):
    """A file under ``root`` (a folder serves its index.html) with the serving headers; 404 for
    anything outside ``root`` or missing."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse

    if root is None:
        raise HTTPException(404, "nothing recorded for this run")
    target = _inside(root, root / relative) if relative else root
    if target is None or not target.exists():
        raise HTTPException(404, "not found")
    if target.is_dir():
        target = _inside(root, target / "index.html")
        if target is None:
            raise HTTPException(404, "not found")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers=FILE_HEADERS)


def create_app(require_auth: bool = True, runs_source=None):
    """The FastAPI app. ``require_auth=False`` and ``runs_source`` (a function ``(run_id|None) ->
    list[dict]`` replacing the metadata database) only for unit tests of the serving rules."""
    from fastapi import Depends, FastAPI, HTTPException

    dependencies = []
    if require_auth:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
        from airflow.api_fastapi.core_api.security import requires_access_dag

        dependencies.append(
            Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN, param_dag_id=DAG_ID))
        )
    app = FastAPI(title="GP allocations outputs", dependencies=dependencies)

    def _runs(run_id: str | None) -> list[dict]:
        if runs_source is not None:
            return runs_source(run_id)
        from airflow.utils.session import create_session

        with create_session() as session:
            return _runs_from_metadata(session, DAG_ID, run_id)

    @app.get("/api/runs")
    def runs() -> dict:
        listed = _runs(None)
        return {"dag_id": DAG_ID, "runs": listed, "latest": latest_runs()}

    @app.get("/api/runs/{run_id}")
    def one_run(run_id: str) -> dict:
        found = _runs(run_id)
        if not found:
            raise HTTPException(404, f"no run {run_id} of {DAG_ID}")
        return found[0]

    @app.get("/static/{name}")
    def static(name: str):
        return _file(STATIC_DIR.resolve(), name)

    @app.get("/runs/{run_id}/data-docs/{path:path}")
    def data_docs(run_id: str, path: str = ""):
        folder = run_folders(run_id)["validation"]
        root = _inside(folder, folder / "data_docs") if folder else None
        return _file(root, path)

    @app.get("/runs/{run_id}/outputs/")
    def outputs_list(run_id: str) -> dict:
        folder = run_folders(run_id)["outputs"]
        if folder is None:
            raise HTTPException(404, "nothing published for this run")
        files = [{"name": p.name, "bytes": p.stat().st_size} for p in sorted(folder.iterdir()) if p.is_file()]
        return {"run_id": run_id, "folder": folder.name, "files": files}

    @app.get("/runs/{run_id}/outputs/{name}")
    def output_file(run_id: str, name: str):
        if "/" in name or "\\" in name:
            raise HTTPException(404, "not found")
        return _file(run_folders(run_id)["outputs"], name)

    @app.get("/runs/{run_id}/staged/{name}")
    def staged_file(run_id: str, name: str):
        """A workbook of a run that is not published (awaiting sign-off or rejected), for the approver."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise HTTPException(404, "not found")
        return _file(run_folders(run_id)["staged"], name)

    return app


def _fastapi_apps() -> list[dict]:
    try:
        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "GP allocations outputs"}]
    except ImportError:  # a worker image without the API server's extras
        log.debug("FastAPI app not available here", exc_info=True)
        return []


class GpAllocationsUiPlugin(AirflowPlugin):
    name = "gp_allocations_ui"
    fastapi_apps: ClassVar[list[dict]] = _fastapi_apps()
    # the trigger form's refusals as sentences (this project's DAGs only)
    fastapi_root_middlewares: ClassVar[list[dict]] = [
        {
            "middleware": ReadableParamErrors,
            "args": [],
            "kwargs": {},
            "name": "GP allocations: readable Param errors",
        }
    ]
    # One page under Browse, not a tab on every DAG run of the deployment (other teams' DAGs too):
    # ``?run_id=`` opens one run; the publish task's "Published outputs" button links there.
    react_apps: ClassVar[list[dict]] = [
        {
            "name": "GP allocations",
            "bundle_url": f"{URL_PREFIX}/static/gp-allocations.js",
            "destination": "nav",
            "url_route": "gp-allocations",
            "category": "browse",
        }
    ]
