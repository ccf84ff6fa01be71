"""Failure alerts, the deadline callback and the delivery glue, against a real SMTP server (aiosmtpd).

The failure alert is exercised the way Airflow runs it: a small DAG run with dag.test() whose task
fails, with the SMTP connection and the recipients given as AIRFLOW_CONN_/AIRFLOW_VAR_ variables.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from _publishing import publish_result
from _support import smtp_server
from _workbook_fixtures import make_result, make_run

PERIOD = "2025-26-Q2"


@pytest.fixture
def smtp(monkeypatch):
    """A local SMTP server, configured as Airflow's smtp_default connection through the environment."""
    with smtp_server() as (inbox, port):
        monkeypatch.setenv(
            "AIRFLOW_CONN_SMTP_DEFAULT",
            f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true"
            "&from_email=gp-allocations%40example.nhs.uk&timeout=10",
        )
        yield inbox


def _text(msg) -> str:
    part = msg.get_body(preferencelist=("html", "plain"))
    return part.get_content() if part is not None else msg.get_payload()


# --- pure parts -----------------------------------------------------------------------------------


def test_first_error_line_keeps_type_and_first_non_empty_line() -> None:
    from gp_allocations.errors import ValidationFailed
    from gp_allocations_airflow import first_error_line

    exc = ValidationFailed("\n  contracts.csv row 7 column PRACTICE_CODE: not a practice code  \nmore")
    expected = "ValidationFailed: contracts.csv row 7 column PRACTICE_CODE: not a practice code"
    assert first_error_line(exc) == expected
    assert first_error_line(None) == "(no exception recorded)"
    assert first_error_line("timed_out") == "timed_out"
    assert first_error_line(KeyError()) == "KeyError"


def test_a_run_level_failure_names_the_reason_and_the_run_dates_quarter() -> None:
    from gp_allocations_airflow import failure_message, failure_summary

    run = types.SimpleNamespace(
        run_id="scheduled__2025-08-14T02:00:00+00:00", run_after=dt.datetime(2025, 8, 14, 2, tzinfo=dt.UTC)
    )
    context = {
        "dag": types.SimpleNamespace(dag_id="gp_allocations_nightly"),
        "dag_run": run,
        "params": {"period": ""},
        "reason": "timed_out",
    }
    summary = failure_summary(context)
    # 14 August 2025 is in July-September: financial year 2025-26, quarter 2
    assert summary["period"] == "2025-26-Q2"
    assert summary["task_id"] == "(whole run)"
    subject, body = failure_message(summary)
    assert "gp_allocations_nightly" in subject and "timed_out" in subject and "2025-26-Q2" in subject
    assert "Run:    scheduled__2025-08-14T02:00:00+00:00" in body


def test_a_long_alert_subject_is_cut_at_a_word_boundary() -> None:
    from gp_allocations_airflow import SUBJECT_LIMIT, failure_message, shorten

    summary = {
        "dag_id": "gp_allocations_nightly",
        "task_id": "validate_extracts",
        "run_id": "manual__x",
        "period": "2025-26-Q2",
        "error": "ValidationFailed: file gp-reg-pat-prac-lsoa-all.csv, row 1204, column 'LSOA_CODE', "
        "rule lsoa_code_format: value 'E0100000X' fails expect_column_values_to_match_regex (LSOA "
        "codes are E01 and six digits); 3 row(s) in all. Failing rows cannot be next to the others",
    }
    subject, body = failure_message(summary)
    assert len(subject) <= SUBJECT_LIMIT and subject.endswith("\u2026")
    full = "[GP allocations] FAILED gp_allocations_nightly / validate_extracts period 2025-26-Q2: "
    full += summary["error"]
    head = subject[:-1]
    assert full.startswith(head) and full[len(head)] in " ,;:-", "cut at a word boundary"
    assert summary["error"] in body, "the body keeps the whole error"
    text = "the list size cannot be negative when the practice list is empty"
    for limit in range(10, len(text) + 2):  # a cut at every length never splits a word
        cut = shorten(text, limit)
        assert len(cut) <= limit, (limit, cut)
        assert cut == text or (text.startswith(cut[:-1]) and text[len(cut) - 1] == " "), (limit, cut)


# --- the failure alert in a real DAG run ------------------------------------------------------------

ALERT_DAG = """
import datetime as dt
from airflow.sdk import dag, task
from gp_allocations.errors import ValidationFailed
from gp_allocations_airflow import FailureAlert

@dag(dag_id="alert_probe", schedule=None, start_date=dt.datetime(2025, 1, 1), catchup=False,
     default_args={"retries": 0, "on_failure_callback": FailureAlert()})
def alert_probe():
    @task
    def prepare() -> dict:
        return {"period": "2025-26-Q3"}

    @task
    def validate_extracts(ctx: dict) -> None:
        raise ValidationFailed(
            "contracts.csv row 12 column PRACTICE_CODE: 'Z9' is not a practice code {{ oops }}\\n"
            "second line that must not be in the subject"
        )

    validate_extracts(prepare())

alert_probe()
"""


def test_a_failed_task_emails_dag_task_period_and_first_error_line(smtp, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alert_probe.py").write_text(ALERT_DAG)
    code = (
        "from airflow.dag_processing.dagbag import DagBag;"
        f"d = DagBag(dag_folder={str(dags)!r}).dags['alert_probe'];"
        "r = d.test(); print('STATE', r.state)"
    )
    recipients = "oncall@example.nhs.uk, data@example.nhs.uk"
    env = {
        **os.environ,
        "AIRFLOW_VAR_GP_ALLOC_ALERT_RECIPIENTS": recipients,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "plugins"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
    }
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)
    assert "STATE failed" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    assert len(smtp.messages) == 1, out.stderr[-3000:]
    msg = smtp.messages[0]
    subject = msg["Subject"]
    assert "alert_probe" in subject
    assert "validate_extracts" in subject
    assert "2025-26-Q3" in subject, "period comes from what prepare worked out"
    first_line = "ValidationFailed: contracts.csv row 12 column PRACTICE_CODE: 'Z9' is not a practice code"
    assert first_line in subject
    assert "{{ oops }}" in subject, "exception text is never rendered as a template"
    assert "second line" not in subject
    assert sorted(smtp.rcpt[0]) == ["data@example.nhs.uk", "oncall@example.nhs.uk"]
    assert msg["From"] == "gp-allocations@example.nhs.uk"
    assert "Period: 2025-26-Q3" in _text(msg)


def test_run_level_alerts_only_when_no_task_alert_was_sent(smtp, monkeypatch):
    from gp_allocations_airflow import FailureAlert

    run = types.SimpleNamespace(
        run_id="scheduled__2025-08-14T02:00:00+00:00", run_after=dt.datetime(2025, 8, 14, 2, tzinfo=dt.UTC)
    )
    base = {"dag": types.SimpleNamespace(dag_id="gp_allocations_nightly"), "dag_run": run, "params": {}}
    FailureAlert(to=["oncall@example.nhs.uk"]).notify({**base, "reason": "task_failure"})
    assert smtp.messages == [], "the failed task has already sent its alert"
    FailureAlert(to=["oncall@example.nhs.uk"]).notify({**base, "reason": "timed_out"})
    assert len(smtp.messages) == 1
    assert "(whole run)" in smtp.messages[0]["Subject"] and "timed_out" in smtp.messages[0]["Subject"]


def test_without_recipients_the_alert_is_logged_not_sent(smtp, monkeypatch):
    from gp_allocations_airflow import send_alert

    assert send_alert("subject", "body", []) is False
    assert smtp.messages == []


def test_the_deadline_callback_emails_that_the_run_is_late(smtp):
    from gp_allocations_airflow import deadline_missed

    context = {
        "dag_run": {
            "dag_id": "gp_allocations_nightly",
            "dag_run_id": "scheduled__2025-08-14T02:00:00+00:00",
            "conf": {"period": "2025-26-Q2"},
        },
        "deadline": {"id": "x", "deadline_time": "2025-08-14T04:30:00+00:00"},
    }
    subject = asyncio.run(deadline_missed(context=context, to=["oncall@example.nhs.uk"]))
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == subject
    assert "LATE gp_allocations_nightly" in subject and "2025-26-Q2" in subject and "04:30" in subject


# --- delivery glue: Airflow connection -> SmtpSettings -> deliver_workbooks ---------------------------


def test_smtp_connection_becomes_delivery_settings_and_delivers(smtp, tmp_path):
    from airflow.sdk import Connection

    from gp_allocations.delivery import deliver_workbooks
    from gp_allocations_airflow import smtp_settings_from_connection

    uri = os.environ["AIRFLOW_CONN_SMTP_DEFAULT"]
    conn = Connection.from_uri(uri, conn_id="smtp_default") if hasattr(Connection, "from_uri") else None
    if conn is None:  # older SDKs: build it field by field, same values as the URI
        port = int(uri.split(":")[2].split("?")[0])
        extra = {"disable_tls": "true", "from_email": "gp-allocations@example.nhs.uk"}
        conn = Connection(
            conn_id="smtp_default", conn_type="smtp", host="127.0.0.1", port=port, extra=json.dumps(extra)
        )
    settings = smtp_settings_from_connection(conn)
    assert settings.host == "127.0.0.1" and settings.starttls is False
    assert settings.sender == "gp-allocations@example.nhs.uk" and settings.user is None

    published = publish_result(
        make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1"
    ).directory
    codes = sorted(json.loads((published / "manifest.json").read_text())["totals"]["sub_icb"])
    recipients = {codes[0]: "first.finance@example.nhs.uk"}
    outcome = deliver_workbooks(published, recipients, settings)
    sent = [o for o in outcome if o["status"] == "sent"]
    assert [o["sub_icb_code"] for o in sent] == [codes[0]]
    assert len(smtp.messages) == 1 and smtp.rcpt[0] == ["first.finance@example.nhs.uk"]
    attachment = next(smtp.messages[0].iter_attachments())
    assert attachment.get_content() == (published / sent[0]["file"]).read_bytes()


def test_settings_from_a_tls_connection_with_login():
    from airflow.sdk import Connection

    from gp_allocations_airflow import smtp_settings_from_connection

    conn = Connection(
        conn_id="smtp_default",
        conn_type="smtp",
        host="smtp.example.nhs.uk",
        port=587,
        login="svc-gp-alloc@example.nhs.uk",
        password="s3cret",
    )
    settings = smtp_settings_from_connection(conn)
    assert (settings.host, settings.port, settings.starttls) == ("smtp.example.nhs.uk", 587, True)
    assert settings.user == settings.sender == "svc-gp-alloc@example.nhs.uk"
    assert "s3cret" not in repr(settings)


def test_delivery_skips_with_a_reason_when_nothing_is_configured(monkeypatch):
    from gp_allocations_airflow import delivery_plan

    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_GP_ALLOC_FINANCE_RECIPIENTS", raising=False)
    recipients, smtp_settings, reason = delivery_plan()
    assert recipients == {} and smtp_settings is None
    assert "gp_alloc_finance_recipients" in reason and "smtp_default" in reason

    monkeypatch.setenv("AIRFLOW_VAR_GP_ALLOC_FINANCE_RECIPIENTS", json.dumps({"15N": "devon@example.nhs.uk"}))
    with pytest.raises(ValueError, match="smtp_default"):
        delivery_plan()


def test_recipients_variable_is_checked():
    from gp_allocations_airflow import parse_recipients

    assert parse_recipients("") == {}
    assert parse_recipients('{"15N": " devon@example.nhs.uk "}') == {"15N": "devon@example.nhs.uk"}
    for bad in ('["devon@example.nhs.uk"]', '{"15N": "not an address"}', '{"15N": 5}'):
        with pytest.raises(ValueError):
            parse_recipients(bad)
