"""Airflow UI plugin: each run's Data Docs validation report and published outputs, read-only.

- A FastAPI app mounted by the API server at ``/gp-allocations`` serves, for one DAG run, the Great
  Expectations Data Docs folder and the list of published files (workbooks, manifest). Only files under
  the configured data and output roots can be reached: names are resolved and checked, never joined
  blindly, and symlinks that leave a root are refused.
- Extra links on the validate and publish tasks ("Validation report", "Published outputs") and a
  "GP allocations" page on each DAG run point at that app.

Pure file serving: no Airflow metadata access, no writes. Authentication is Airflow's own (the UI's
session cookie or a Bearer token), as for the REST API.
"""

from __future__ import annotations

import html
import logging
import mimetypes
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

log = logging.getLogger(__name__)

URL_PREFIX = "/gp-allocations"
VALIDATE_TASK = "validate.validate_extracts"
PUBLISH_TASK = "publish.finalise_publication"


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
    """The run's validation folder and published folder, if they exist (any period)."""
    runs_root, out_root = _roots()
    name = _safe_name(run_id)
    found: dict[str, Path | None] = {"validation": None, "outputs": None}
    if runs_root.is_dir():
        for period_dir in sorted(runs_root.iterdir()):
            folder = _inside(runs_root, period_dir / name / "validation")
            if folder and folder.is_dir():
                found["validation"] = folder
    if out_root.is_dir():
        for period_dir in sorted(p for p in out_root.iterdir() if not p.name.startswith(".")):
            folder = _inside(out_root, period_dir / name)
            if folder and folder.is_dir():
                found["outputs"] = folder
    return found


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:1.5em}}"
        "td,th{padding:2px 10px;text-align:left}</style></head>"
        f"<body><h2>{html.escape(title)}</h2>{body}</body></html>"
    )


def create_app(require_auth: bool = True):
    """The FastAPI app; ``require_auth=False`` only for unit tests of the file-serving rules."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    dependencies = []
    if require_auth:
        from airflow.api_fastapi.core_api.security import requires_authenticated

        dependencies.append(Depends(requires_authenticated()))
    app = FastAPI(title="GP allocations outputs", dependencies=dependencies)

    def _file(root: Path | None, relative: str):
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
        return FileResponse(target, media_type=media)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        _, out_root = _roots()
        rows = []
        if out_root.is_dir():
            for period_dir in sorted(p for p in out_root.iterdir() if p.is_dir() and p.name[0] != "."):
                for run_dir in sorted(p for p in period_dir.iterdir() if p.is_dir()):
                    rows.append(
                        f"<tr><td>{html.escape(period_dir.name)}</td><td><a href='runs/"
                        f"{quote(run_dir.name, safe='')}/'>{html.escape(run_dir.name)}</a></td></tr>"
                    )
        table = "<table><tr><th>period</th><th>run</th></tr>" + "".join(rows) + "</table>"
        return _page("GP allocations: published runs", table if rows else "<p>Nothing published yet.</p>")

    @app.get("/runs/{run_id}/", response_class=HTMLResponse)
    def run_page(run_id: str) -> str:
        folders = run_folders(run_id)
        parts = []
        if folders["validation"] and (folders["validation"] / "data_docs" / "index.html").is_file():
            parts.append(
                "<p><a href='data-docs/index.html'>Validation report (Great Expectations Data Docs)</a></p>"
            )
        else:
            parts.append("<p>No validation report for this run (yet).</p>")
        if folders["outputs"]:
            rows = "".join(
                f"<tr><td><a href='outputs/{quote(p.name)}'>{html.escape(p.name)}</a></td>"
                f"<td>{p.stat().st_size:,} bytes</td></tr>"
                for p in sorted(folders["outputs"].iterdir())
                if p.is_file()
            )
            parts.append(f"<h3>Published files</h3><table>{rows}</table>")
        else:
            parts.append("<p>Nothing published for this run.</p>")
        return _page(f"Run {run_id}", "".join(parts))

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

    return app


def _base_url() -> str:
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except Exception:
        base = ""
    # base_url may be a full URL (https://host/airflow/) or empty: keep only its path
    if "://" in base:
        base = "/" + base.split("://", 1)[1].partition("/")[2]
    return base.rstrip("/")


def run_url(run_id: str, what: str) -> str:
    """Where the UI sends a user for one run: ``data-docs/index.html`` or ``outputs/``."""
    return f"{_base_url()}{URL_PREFIX}/runs/{quote(run_id, safe='')}/{what}"


class ValidationReportLink(BaseOperatorLink):
    """'Validation report' button on the validate task."""

    name = "Validation report"

    def get_link(self, operator, *, ti_key) -> str:
        return run_url(ti_key.run_id, "data-docs/index.html") if operator.task_id == VALIDATE_TASK else ""


class PublishedOutputsLink(BaseOperatorLink):
    """'Published outputs' button on the publish task."""

    name = "Published outputs"

    def get_link(self, operator, *, ti_key) -> str:
        return run_url(ti_key.run_id, "") if operator.task_id == PUBLISH_TASK else ""


def _fastapi_apps() -> list[dict]:
    try:
        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "GP allocations outputs"}]
    except ImportError:  # a worker image without the API server's extras: links still work elsewhere
        log.debug("FastAPI app not available here", exc_info=True)
        return []


class GpAllocationsUiPlugin(AirflowPlugin):
    name = "gp_allocations_ui"
    fastapi_apps: ClassVar[list[dict]] = _fastapi_apps()
    global_operator_extra_links: ClassVar[list] = [ValidationReportLink(), PublishedOutputsLink()]
    external_views: ClassVar[list[dict]] = [
        {
            "name": "GP allocations outputs",
            "href": "gp-allocations/",
            "destination": "nav",
            "url_route": "gp-allocations",
            "category": "browse",
        },
        {
            "name": "Validation and outputs",
            "href": "gp-allocations/runs/{RUN_ID}/",
            "destination": "dag_run",
            "url_route": "gp-allocations-run",
        },
    ]
