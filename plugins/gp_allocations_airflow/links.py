"""Extra links of the two tasks that have something to open, and the task decorators that carry them.

In Airflow 3 an operator's extra links are computed by the worker when the task ends and stored as
XCom; the UI shows a task's buttons only if its operator declares them. So the links live on two
operator classes (``@validation_task``, ``@publication_task``), and every other task of this or any
other DAG shows no "Extra Links" heading at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from urllib.parse import quote

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperatorLink
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

#: Where the UI plugin's FastAPI app is mounted (``plugins/gp_allocations_ui.py``).
URL_PREFIX = "/gp-allocations"
#: The plugin's page in the Airflow UI (``url_route`` of its React app).
PAGE_ROUTE = "gp-allocations"


def _base_path() -> str:
    """The path part of ``[api] base_url`` (Airflow behind a proxy at ``/airflow/``), else ''."""
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except Exception:  # no Airflow configuration (unit tests): served at the root
        base = ""
    if "://" in base:
        base = "/" + base.split("://", 1)[1].partition("/")[2]
    return base.rstrip("/")


def run_files_url(run_id: str, what: str = "") -> str:
    """A file of one run served by the plugin: ``data-docs/index.html`` or ``outputs/<name>``."""
    return f"{_base_path()}{URL_PREFIX}/runs/{quote(run_id, safe='')}/{what}"


def run_page_url(run_id: str) -> str:
    """One run on the plugin's page in the Airflow UI (Browse > GP allocations)."""
    return f"{_base_path()}/plugin/{PAGE_ROUTE}?run_id={quote(run_id, safe='')}"


class ValidationReportLink(BaseOperatorLink):
    """'Validation report': this run's Great Expectations Data Docs (also after a failed validation)."""

    name = "Validation report"

    def get_link(self, operator, *, ti_key) -> str:
        return run_files_url(ti_key.run_id, "data-docs/index.html")


class PublishedOutputsLink(BaseOperatorLink):
    """'Published outputs': the run's page listing its sub-ICB workbooks, manifest and status."""

    name = "Published outputs"

    def get_link(self, operator, *, ti_key) -> str:
        return run_page_url(ti_key.run_id)


class _PythonTask(DecoratedOperator, PythonOperator):
    """What ``@task`` builds (the standard provider's decorated PythonOperator), open to subclassing."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    custom_operator_name: str = "@task"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs) -> None:
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class ValidationTaskOperator(_PythonTask):
    operator_extra_links: ClassVar = (ValidationReportLink(),)


class PublicationTaskOperator(_PythonTask):
    operator_extra_links: ClassVar = (PublishedOutputsLink(),)


def validation_task(**kwargs):
    """``@task`` with the *Validation report* button."""
    return task_decorator_factory(decorated_operator_class=ValidationTaskOperator, **kwargs)


def publication_task(**kwargs):
    """``@task`` with the *Published outputs* button."""
    return task_decorator_factory(decorated_operator_class=PublicationTaskOperator, **kwargs)
