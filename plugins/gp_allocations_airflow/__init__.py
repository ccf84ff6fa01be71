"""Airflow glue for the gp_allocations package: settings from connections/variables, callbacks.

Kept apart from the domain package so that ``gp_allocations`` never imports Airflow. Imported only
inside task code (never at DAG parse time beyond these light functions).
"""

from __future__ import annotations

import logging
import re

from gp_allocations.config import (
    OUTPUT_VARIABLE,
    SOURCE_VARIABLE,
    RunContext,
    Settings,
    resolve_settings,
)
from gp_allocations.periods import Period

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "gp_warehouse"
__all__ = ["OUTPUT_VARIABLE", "SOURCE_VARIABLE", "airflow_settings", "run_context_from_airflow"]


def sqlalchemy_url_from_connection(uri: str) -> str:
    """Airflow connection URI -> SQLAlchemy URL (postgres:// becomes postgresql+psycopg://)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", uri)


def _warehouse_url() -> str | None:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(WAREHOUSE_CONN_ID)
    except Exception:  # not configured: the environment or the documented default applies
        return None
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    return sqlalchemy_url_from_connection(conn.get_uri())


def _variable(key: str, default: str) -> str:
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=default) or default
    except Exception:
        return default


def variable_or_none(key: str) -> str | None:
    """An Airflow Variable, or None when it is unset or Airflow cannot be asked."""
    value = _variable(key, "")
    return value or None


def airflow_settings() -> Settings:
    """Settings as a run sees them: Airflow Variables and the warehouse connection first, then the
    environment, then the defaults (the one resolution, ``config.resolve_settings``)."""
    return resolve_settings(variable_or_none, warehouse=_warehouse_url())


def run_context_from_airflow(
    params: dict, run_id: str, run_after, triggered_by: str | None = None
) -> RunContext:
    """The run's context, resolved once (``prepare``): Params, then Airflow settings, then env defaults.
    ``triggered_by``: the user who triggered the run (who an override of a plausibility gate is by)."""
    period = (params.get("period") or "").strip()
    return RunContext.prepare(
        run_id=run_id,
        period=period or Period.containing(run_after.date()),
        variant=params.get("variant") or None,
        parameter_set=params.get("parameter_set") or None,
        price_per_weighted_patient=params.get("price_per_weighted_patient"),
        extracts=params.get("extracts") or None,
        settings=airflow_settings(),
        override_reason=params.get("override_reason") or None,
        override_by=triggered_by or "Airflow (no triggering user: a scheduled run)",
    )


# --- alerts -----------------------------------------------------------------------------------

SMTP_CONN_ID = "smtp_default"
ALERT_RECIPIENTS_VARIABLE = "gp_alloc_alert_recipients"
FINANCE_RECIPIENTS_VARIABLE = "gp_alloc_finance_recipients"
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def first_error_line(exc: BaseException | str | None) -> str:
    """The first non-empty line of an exception's message (ValidationFailed puts the key fact there)."""
    if exc is None:
        return "(no exception recorded)"
    exc = getattr(exc, "error", None) or exc  # a task ended by TaskStopped: the error it carries
    text = str(exc) if not isinstance(exc, str) else exc
    for line in text.splitlines():
        if line.strip():
            head = line.strip()
            break
    else:
        head = ""
    name = type(exc).__name__ if not isinstance(exc, str) else ""
    if not head:
        return name or "(empty error message)"
    return f"{name}: {head}" if name else head


def _period_of_run(context) -> str:
    """The run's period: what ``prepare`` worked out (XCom), else the Param, else the run date's quarter."""
    ti = context.get("ti") or context.get("task_instance")
    try:
        prepared = ti.xcom_pull(task_ids="prepare") if ti is not None else None
        if isinstance(prepared, dict) and prepared.get("period"):
            return str(prepared["period"])
    except Exception:  # the callback must not fail because XCom is unreachable
        log.debug("no prepared context in XCom", exc_info=True)
    params = context.get("params") or {}
    if params.get("period"):
        return str(params["period"])
    run = context.get("dag_run")
    run_after = getattr(run, "run_after", None)
    if run_after is not None:
        return Period.containing(run_after.date()).slug
    return "(unknown period)"


def failure_summary(context) -> dict:
    """DAG, task, run, period and first error line of a failed task, from its callback context."""
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    dag = context.get("dag")
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None) or "(whole run)"
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        task_id = f"{task_id}[{map_index}]"
    return {
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", "?"),
        "task_id": task_id,
        "run_id": getattr(run, "run_id", None) or getattr(ti, "run_id", "?"),
        "try_number": getattr(ti, "try_number", None),
        "period": _period_of_run(context),
        # DAG-level callbacks (e.g. dagrun_timeout) carry a reason instead of an exception
        "error": first_error_line(context.get("exception") or context.get("reason")),
        "log_url": getattr(ti, "log_url", None),
    }


#: Mail clients show about this much of a subject; the whole error is in the body.
SUBJECT_LIMIT = 200


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at the last word boundary that fits, with an ellipsis: never mid-word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut and text[limit - 1] != " " else cut
    return head.rstrip(" ,;:-") + "…"


def failure_message(summary: dict) -> tuple[str, str]:
    """Subject and plain-text body of the failure e-mail."""
    subject = shorten(
        f"[GP allocations] FAILED {summary['dag_id']} / {summary['task_id']} "
        f"period {summary['period']}: {summary['error']}",
        SUBJECT_LIMIT,
    )
    body = "\n".join(
        [
            "A task of the GP allocations nightly run failed; nothing was published for this run.",
            "",
            f"DAG:    {summary['dag_id']}",
            f"Task:   {summary['task_id']} (try {summary.get('try_number')})",
            f"Run:    {summary['run_id']}",
            f"Period: {summary['period']}",
            f"Error:  {summary['error']}",
            f"Log:    {summary.get('log_url') or '(see the task log in the Airflow UI)'}",
        ]
    )
    return subject, body


def _html(text: str) -> str:
    import html

    return f"<pre>{html.escape(text)}</pre>"


def alert_recipients() -> list[str]:
    """Who gets failure alerts: the ``gp_alloc_alert_recipients`` Variable (comma separated)."""
    raw = _variable(ALERT_RECIPIENTS_VARIABLE, "")
    return [a.strip() for a in re.split(r"[,;]", raw) if a.strip()]


def send_alert(subject: str, body: str, to: list[str]) -> bool:
    """Send one alert through the ``smtp_default`` connection with the SMTP provider's notifier."""
    if not to:
        log.warning(
            "no alert recipients (Variable %s); alert not sent: %s", ALERT_RECIPIENTS_VARIABLE, subject
        )
        return False
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(to=to, subject=subject, html_content=_html(body), smtp_conn_id=SMTP_CONN_ID)
    # notify() directly and with an empty context: nothing of ours is a Jinja template, and an
    # exception text with braces must reach the reader as written
    notifier.notify({})
    log.info("alert sent to %s: %s", ", ".join(to), subject)
    return True


try:  # the notifier base class comes with the task SDK; keep this module importable without it
    from airflow.sdk.bases.notifier import BaseNotifier as _BaseNotifier
except ImportError:  # pragma: no cover
    _BaseNotifier = object  # type: ignore[assignment,misc]


class FailureAlert(_BaseNotifier):  # type: ignore[misc,valid-type]
    """on_failure_callback: e-mails DAG, task, period and the first error line via ``smtp_default``.

    Never raises: a broken mail server must not hide the task's own failure in the log.
    """

    template_fields = ()

    def __init__(self, to: list[str] | None = None):
        super().__init__()
        self.to = list(to) if to else None

    def render_template_fields(self, context, jinja_env=None) -> None:
        """Nothing is templated; skipping the render also spares a run-level callback in ``dag.test()``,
        which hands the notifier a serialised DAG without a template environment."""

    def notify(self, context) -> None:
        if context.get("reason") == "task_failure" and not context.get("ti"):
            # run-level callback after a task failure: that task has already sent its own alert
            log.info("run failed because a task failed; the task's alert covers it")
            return
        summary = failure_summary(context)
        subject, body = failure_message(summary)
        # not logged as an error: the task has just logged its own one-line reason
        try:
            send_alert(subject, body, self.to or alert_recipients())
        except Exception:
            log.exception("could not send the failure alert")


async def deadline_missed(context: dict | None = None, to: list[str] | None = None, **_) -> str:
    """DeadlineAlert callback (runs in the triggerer): the nightly run is still not done."""
    import asyncio

    run = (context or {}).get("dag_run") or {}
    conf = run.get("conf") or {}
    period = conf.get("period") or "(period of the run date)"
    dag_id = run.get("dag_id", "gp_allocations_nightly")
    subject = (
        f"[GP allocations] LATE {dag_id} run {run.get('dag_run_id', '?')}"
        f" period {period}: not finished by {((context or {}).get('deadline') or {}).get('deadline_time')}"
    )
    body = (
        f"{subject}\n\nThe nightly run has passed its deadline and is still running or queued. "
        "Check the grid view before finance teams start the working day (a run waiting at sign_off is "
        "waiting for its approver, not stuck)."
    )
    recipients = to or await asyncio.to_thread(alert_recipients)
    await asyncio.to_thread(send_alert, subject, body, recipients)
    return subject


# --- delivery of workbooks -------------------------------------------------------------------


def smtp_settings_from_connection(conn):
    """An Airflow SMTP connection -> ``delivery.SmtpSettings`` (same extras as the SMTP provider)."""
    from gp_allocations.delivery import SmtpSettings

    extra = conn.extra_dejson or {}

    def flag(name: str) -> bool:
        value = extra.get(name, False)
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes")

    sender = extra.get("from_email") or (conn.login if conn.login and "@" in conn.login else None)
    return SmtpSettings(
        host=conn.host or "localhost",
        port=int(conn.port or 587),
        user=conn.login or None,
        password=conn.password or None,
        starttls=not flag("disable_tls"),
        sender=sender or "gp-allocations@localhost",
        timeout=float(extra.get("timeout", 30)),
    )


def parse_recipients(raw: str | dict | None) -> dict[str, str]:
    """The finance recipients Variable: JSON ``{sub_icb_code: address}``; checked, never guessed."""
    if raw in (None, "", {}):
        return {}
    import json

    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict):
        raise ValueError(f"{FINANCE_RECIPIENTS_VARIABLE} must be a JSON object {{sub_icb_code: address}}")
    out: dict[str, str] = {}
    for code, address in data.items():
        if not isinstance(address, str) or not _EMAIL.match(address.strip()):
            raise ValueError(
                f"{FINANCE_RECIPIENTS_VARIABLE}: {code!r} has no valid e-mail address: {address!r}"
            )
        out[str(code).strip()] = address.strip()
    return out


def delivery_plan() -> tuple[dict[str, str], object | None, str | None]:
    """Recipients, SmtpSettings and, when delivery cannot happen, the reason to skip."""
    from airflow.sdk import Connection

    recipients = parse_recipients(_variable(FINANCE_RECIPIENTS_VARIABLE, ""))
    try:
        smtp = smtp_settings_from_connection(Connection.get(SMTP_CONN_ID))
    except Exception:
        smtp = None
    if not recipients and smtp is None:
        return (
            {},
            None,
            (
                f"no Variable {FINANCE_RECIPIENTS_VARIABLE} and no connection {SMTP_CONN_ID}: "
                "e-mail delivery is off"
            ),
        )
    if not recipients:
        return {}, smtp, f"no Variable {FINANCE_RECIPIENTS_VARIABLE}: nobody to send workbooks to"
    if smtp is None:
        # recipients expect their workbook: a missing mail server is an error, not a quiet skip
        raise ValueError(
            f"{FINANCE_RECIPIENTS_VARIABLE} is set but connection {SMTP_CONN_ID} is not configured"
        )
    return recipients, smtp, None
