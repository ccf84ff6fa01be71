"""Sign-off through a real Airflow 3.3 scheduler (API server, scheduler, DAG processor; LocalExecutor on a
fresh PostgreSQL metadata database), answered through the public REST API as an approver would.

One period P: the first run publishes it without asking (sign_off skipped). A corrected QOF extract:
the next run waits at ``sign_off`` (state ``awaiting_input``, ``latest`` untouched); a viewer may not
answer; the approver approves with a comment through ``PATCH .../hitlDetails`` and ``latest`` moves,
with who, when and the comment in the manifest and on every workbook's Cover. Another correction is
rejected: every published byte stays as it was and the runs page says *rejected*. The approved
figures once more: *unchanged* without waiting. With Chromium, the approver's screen is captured
(docs/img/airflow-sign-off.png when GP_ALLOC_UPDATE_DOCS=1, as ``make screenshots`` does).

A second stack with a short wait (GP_ALLOC_SIGN_OFF_HOURS): nobody answers, the scheduler's timeout
fails ``sign_off``, nothing is published, the staged workbooks stay; clearing it asks again.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest

from gp_allocations.config import safe_name
from gp_allocations.manifest import allocation_workbooks
from test_faults_common import visible_tree
from test_ui_standalone import (
    CHROMIUM,
    DAG_ID,
    PERIOD,
    _keep,
    _request,
    _scale_out_module,
    _token,
    _wait_run,
    airflow_ui,
)

pytestmark = pytest.mark.e2e

APPROVER, VIEWER = "jane.approver", "vic.viewer"


class QofPoints:
    """One practice's achieved points on one indicator in the source's QOF extract, to move up and down:
    each new value changes the period's figures; the original value gives them back."""

    def __init__(self, source: Path) -> None:
        (self.path,) = sorted(source.glob("ACHIEVEMENT_*.csv"))[:1]
        lines = self.path.read_text().splitlines()
        self.row = next(
            n
            for n, line in enumerate(lines)
            if ",ACHIEVED_POINTS," in line and float(line.split(",")[-1]) > 5
        )
        self.original = float(lines[self.row].split(",")[-1])

    def set(self, value: float) -> None:
        lines = self.path.read_text().splitlines()
        fields = lines[self.row].split(",")
        fields[-1] = f"{value:.2f}"
        lines[self.row] = ",".join(fields)
        self.path.write_text("\n".join(lines) + "\n")


def _trigger(base: str, token: str) -> str:
    run = _request(
        f"{base}/api/v2/dags/{DAG_ID}/dagRuns",
        token,
        "POST",
        {"logical_date": None, "conf": {"period": PERIOD}},
    )
    return run["dag_run_id"]


def _task(base: str, token: str, run_id: str, task_id: str) -> dict:
    return _request(
        f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}", token
    )


def _hitl_url(base: str, run_id: str) -> str:
    return (
        f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/sign_off/-1/hitlDetails"
    )


def _paused(stack, run_id: str) -> int:
    """How many times the scheduler has seen run_id's sign_off leave its worker to wait for input."""
    log = (stack.workdir / "scheduler.log").read_text(errors="replace")
    return sum(
        1
        for line in log.splitlines()
        if "TaskInstance Finished:" in line and "task_id=sign_off," in line
        and f"run_id={run_id}," in line and "state=awaiting_input" in line
    )  # fmt: skip


def _wait_for_sign_off(base, token, run_id, stack, times: int = 1) -> dict:
    """Wait until sign_off awaits its approver (the ``times``-th time it asks). Also until the
    scheduler has seen the worker that paused it finish: Airflow 3.3.2 takes that worker's exit,
    when it is processed after an answer, for a task killed externally and fails sign_off. A person
    reads the summary before answering; a test answering within seconds must wait for it."""
    so = _scale_out_module()

    def waiting():
        state = _task(base, token, run_id, "sign_off")["state"]
        assert state not in ("failed", "skipped", "upstream_failed"), f"sign_off is {state}"
        return state == "awaiting_input" and _paused(stack, run_id) >= times

    so.wait_for(f"run {run_id} to wait for sign-off", waiting, 900, stack, every=5)
    return _request(_hitl_url(base, run_id), token)


def _cover_sign_off(folder: Path) -> set[str]:
    lines = set()
    for path in allocation_workbooks(folder):
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = {str(r[0]): r[1] for r in wb["Cover"].iter_rows(values_only=True) if r and r[0] and len(r) > 1}
        wb.close()
        lines.add(str(rows.get("Sign-off")))
    return lines


def _run_page(base, token, run_id) -> dict:
    return _request(f"{base}/gp-allocations/api/runs/{quote(run_id, safe='')}", token)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by .ci/run")
def test_an_approver_signs_off_changed_figures_through_the_rest_api(tmp_path) -> None:
    from _browser import Browser

    so = _scale_out_module()
    users = {APPROVER: "user", VIEWER: "viewer"}
    with airflow_ui(tmp_path, practices=40, users=users) as (base, password, stack):
        passwords = json.loads((tmp_path / "passwords.json").read_text())
        token = _token(base, password)
        so.wait_for(
            "the DAG to be parsed", lambda: _request(f"{base}/api/v2/dags/{DAG_ID}", token), 240, stack
        )
        _request(f"{base}/api/v2/dags/{DAG_ID}", token, "PATCH", {"is_paused": False})
        outputs = tmp_path / "outputs"
        latest = outputs / PERIOD / "latest"

        # 1. the first version of P: no sign-off asked
        first = _trigger(base, token)
        assert _wait_run(base, token, first, stack) == "success"
        assert _task(base, token, first, "sign_off")["state"] == "skipped"
        first_folder = latest.resolve().name
        assert first_folder == safe_name(first)
        first_manifest = json.loads((latest / "manifest.json").read_text())
        assert first_manifest["sign_off"]["required"] is False
        published = visible_tree(outputs)

        # 2. a corrected extract changes P's figures: the run waits, nothing moves
        points = QofPoints(tmp_path / "extracts")
        points.set(points.original - 3)
        second = _trigger(base, token)
        detail = _wait_for_sign_off(base, token, second, stack)
        assert detail["options"] == ["Approve", "Reject"] and detail["responded_at"] is None
        body = detail["body"]
        assert "Sign-off is needed because" in body and "it changes the figures of" in body
        assert "**England**" in body and "Largest sub-ICB changes" in body and "ACHIEVEMENT" in body
        assert f"would replace the published version `{first_folder}`" in body
        assert visible_tree(outputs) == published, "nothing is published while the run waits"
        assert _run_page(base, token, second)["outcome"]["status"] == "awaiting sign-off"

        # a viewer may read the request but not answer it
        viewer = _token(base, passwords[VIEWER], VIEWER)
        with pytest.raises(urllib.error.HTTPError) as refused:
            _request(_hitl_url(base, second), viewer, "PATCH", {"chosen_options": ["Approve"]})
        assert refused.value.code == 403

        browser = Browser(tmp_path / "chromium")
        try:
            browser.login(base, APPROVER, passwords[APPROVER])
            browser.open(
                f"{base}/dags/{DAG_ID}/runs/{quote(second, safe='')}/tasks/sign_off/required_actions"
            )
            browser.wait_for_text("Sign-off is needed because", 120)
            browser.wait_for_text("Largest sub-ICB changes", 30)
            assert "Approve" in browser.text() and "Reject" in browser.text()
            browser.resize(1500, 1400)
            _keep(browser.screenshot(tmp_path / "sign-off.png"), "airflow-sign-off.png")
        finally:
            browser.close()

        approver = _token(base, passwords[APPROVER], APPROVER)
        comment = "Corrected QOF file for one practice; checked against CQRS"
        answer = _request(
            _hitl_url(base, second),
            approver,
            "PATCH",
            {"chosen_options": ["Approve"], "params_input": {"comment": comment}},
        )
        assert answer["responded_by"]["name"] == APPROVER
        assert _wait_run(base, token, second, stack) == "success"
        approved = latest.resolve()
        assert approved.name == safe_name(second)
        manifest = json.loads((latest / "manifest.json").read_text())
        sign_off = manifest["sign_off"]
        assert (sign_off["decision"], sign_off["by"], sign_off["comment"]) == ("approved", APPROVER, comment)
        at = dt.datetime.fromisoformat(sign_off["at"])
        assert at == dt.datetime.fromisoformat(answer["responded_at"].replace("Z", "+00:00"))
        assert sign_off["previous_run_id"] == first_folder
        assert _cover_sign_off(latest) == {f"Approved by {APPROVER} on {at:%Y-%m-%d %H:%M} UTC: {comment}"}
        assert _run_page(base, token, second)["outcome"]["status"] == "published"
        approved_tree = visible_tree(outputs)

        # 3. another correction, rejected: not one published byte changes
        points.set(points.original - 4)
        third = _trigger(base, token)
        _wait_for_sign_off(base, token, third, stack)
        _request(
            _hitl_url(base, third),
            approver,
            "PATCH",
            {"chosen_options": ["Reject"], "params_input": {"comment": "the draft QOF file"}},
        )
        assert _wait_run(base, token, third, stack) == "success"
        assert _task(base, token, third, "publish")["state"] == "skipped"
        assert _task(base, token, third, "deliver_workbooks")["state"] == "skipped"
        assert visible_tree(outputs) == approved_tree, "latest and every published file byte-identical"
        outcome = _run_page(base, token, third)["outcome"]
        assert outcome["status"] == "rejected" and f"rejected by {APPROVER}" in outcome["detail"]
        assert f"latest still points at {approved.name}" in outcome["detail"]

        # 4. the approved figures again: 'unchanged', nobody asked
        points.set(points.original - 3)
        fourth = _trigger(base, token)
        assert _wait_run(base, token, fourth, stack) == "success"
        assert _task(base, token, fourth, "sign_off")["state"] == "skipped"
        assert _run_page(base, token, fourth)["outcome"]["status"] == "unchanged"
        assert visible_tree(outputs) == approved_tree
        # the skipped sign-off says why in its log
        for run_id, why in ((first, "first version of"), (fourth, "so nothing new is published (unchanged)")):
            # e.g. "no sign-off needed: the figures equal the published version X, so nothing new ..."
            (log_file,) = (tmp_path / "airflow" / "logs").rglob(
                f"run_id={run_id}/task_id=sign_off/attempt=1.log"
            )
            text = log_file.read_text()
            assert "no sign-off needed: " in text and why in text, log_file


#: The sign-off wait of the timeout test (GP_ALLOC_SIGN_OFF_HOURS): long enough for the approver to
#: answer once the request is there, short enough that the test sees it expire.
SHORT_WAIT_HOURS = 0.03


def test_no_answer_within_the_wait_fails_sign_off_publishes_nothing_and_clearing_asks_again(
    tmp_path, monkeypatch
) -> None:
    """The documented timeout: no answer within GP_ALLOC_SIGN_OFF_HOURS fails *sign_off* (the real
    scheduler's awaiting-input sweep), *publish* does not run, ``latest`` and every published byte stay,
    the staged workbooks are kept; clearing *sign_off* asks again and an approval then publishes them."""
    so = _scale_out_module()
    monkeypatch.setenv("GP_ALLOC_SIGN_OFF_HOURS", str(SHORT_WAIT_HOURS))  # read when the DAG is parsed
    with airflow_ui(tmp_path, practices=40) as (base, password, stack):
        token = _token(base, password)
        so.wait_for(
            "the DAG to be parsed", lambda: _request(f"{base}/api/v2/dags/{DAG_ID}", token), 240, stack
        )
        _request(f"{base}/api/v2/dags/{DAG_ID}", token, "PATCH", {"is_paused": False})
        outputs = tmp_path / "outputs"
        first = _trigger(base, token)
        assert _wait_run(base, token, first, stack) == "success"
        published = visible_tree(outputs)

        points = QofPoints(tmp_path / "extracts")
        points.set(points.original - 3)
        second = _trigger(base, token)
        assert _wait_run(base, token, second, stack) == "failed", "nobody answered"
        assert _task(base, token, second, "sign_off")["state"] == "failed"
        assert _task(base, token, second, "publish")["state"] == "upstream_failed"
        assert _request(_hitl_url(base, second), token)["responded_at"] is None
        assert visible_tree(outputs) == published, "latest and every published file byte-identical"
        page = _run_page(base, token, second)
        assert page["outcome"]["status"] == "failed" and "sign_off" in page["outcome"]["detail"]
        assert page["staged"] and page["sub_icbs"], "the staged workbooks are kept"
        (log_file,) = (tmp_path / "airflow" / "logs").rglob(f"run_id={second}/task_id=sign_off/attempt=1.log")
        text = log_file.read_text()
        assert (
            f"no sign-off within {SHORT_WAIT_HOURS:g} h: nothing was published, latest is unchanged and "
            "the staged workbooks are kept; clear this task to ask again"
        ) in text
        assert "Traceback" not in text, "an expected outcome, not a bug"

        # clear sign_off: it asks again, and an approval publishes the staged workbooks
        _request(
            f"{base}/api/v2/dags/{DAG_ID}/clearTaskInstances",
            token,
            "POST",
            {
                "dry_run": False,
                "dag_run_id": second,
                "task_ids": ["sign_off"],
                "include_downstream": True,
                "only_failed": False,
            },
        )
        _wait_for_sign_off(base, token, second, stack, times=2)
        comment = "answered after the reminder"
        answer = {"chosen_options": ["Approve"], "params_input": {"comment": comment}}
        _request(_hitl_url(base, second), token, "PATCH", answer)
        assert _wait_run(base, token, second, stack) == "success"
        latest = outputs / PERIOD / "latest"
        assert latest.resolve().name == safe_name(second)
        sign_off = json.loads((latest / "manifest.json").read_text())["sign_off"]
        assert (sign_off["decision"], sign_off["comment"]) == ("approved", comment)
        assert _run_page(base, token, second)["outcome"]["status"] == "published"
