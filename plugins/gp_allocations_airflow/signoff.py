"""The sign-off step in Airflow: an approval task (Airflow 3.1+ Human-in-the-loop) between the staged
workbooks and ``publish``.

``SignOffOperator`` is the standard provider's ``ApprovalOperator`` (Approve / Reject, a comment) fed
by the domain's review (``gp_allocations.signoff``): when the review needs no sign-off (first version,
unchanged figures, a new version with the same figures) the task is **skipped** with the review's
reason and ``publish`` goes ahead; otherwise it waits, in the ``awaiting_input`` state without holding
a worker slot, showing the summary under *Required actions*. The response (who, when, Approve or
Reject, comment) is the task's result; ``publish`` records it in the manifest and on the covers
(approve) or publishes nothing and leaves ``latest`` alone (reject). Unlike the stock operator,
Reject does not skip ``publish`` itself: publishing is where the decision is recorded and enforced.

No response within ``response_timeout`` fails the task (the failure alert goes out); ``publish`` does
not run, ``latest`` stays, the staged workbooks are kept. Clearing the task asks again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param

from gp_allocations.signoff import COMMENT_MAX

log = logging.getLogger("gp_allocations")

APPROVER_RECIPIENTS_VARIABLE = "gp_alloc_approver_recipients"

#: How long a run waits for an approver (then it fails and alerts). Long enough for a weekend.
DEFAULT_WAIT_HOURS = 72


def sign_off_wait() -> dt.timedelta:
    """``GP_ALLOC_SIGN_OFF_HOURS`` (hours, may be fractional), else 72 hours."""
    text = os.environ.get("GP_ALLOC_SIGN_OFF_HOURS", "").strip()
    return dt.timedelta(hours=float(text) if text else DEFAULT_WAIT_HOURS)


class SignOffOperator(ApprovalOperator):
    """Approve / Reject the publication of a run whose review asks for it (see the module doc)."""

    def __init__(self, *, review_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Sign off the GP allocations publication")
        kwargs.setdefault("body", "The summary appears when the run reaches this task.")
        # the form's one field (Airflow has merged the DAG's Params into ``params`` by now: not wanted)
        kwargs["params"] = {
            "comment": Param(
                None,
                type=["null", "string"],
                maxLength=COMMENT_MAX,
                title="Comment",
                description="Recorded with your decision in the manifest and on every workbook cover.",
                source="task",  # HITLOperator keeps only task-level params for its form
            )
        }
        super().__init__(**kwargs)
        self.review_task_id = review_task_id

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowSkipException

        from gp_allocations.signoff import Review

        from .links import run_page_url

        reviewed = Review.from_dict(context["ti"].xcom_pull(task_ids=self.review_task_id))
        if not reviewed.required:
            log.info("%s", reviewed.skip_reason)
            raise AirflowSkipException(reviewed.skip_reason)
        self.subject = reviewed.subject
        self.body = reviewed.summary(staged_link=run_page_url(context["dag_run"].run_id))
        log.warning("waiting for sign-off (%s): %s", ", ".join(self.options), "; ".join(reviewed.reasons))
        self._tell_approvers(context, reviewed)
        return super().execute(context)

    def _tell_approvers(self, context: Any, reviewed: Any) -> None:
        """E-mail the Variable ``gp_alloc_approver_recipients`` (comma separated), if set, that a
        sign-off waits, with the summary and where to answer. A mail failure never stops the run."""
        from . import send_alert, variable_or_none

        raw = variable_or_none(APPROVER_RECIPIENTS_VARIABLE) or ""
        to = [a.strip() for a in raw.replace(";", ",").split(",") if a.strip()]
        if not to:
            log.info("no approver recipients (Variable %s): nobody e-mailed", APPROVER_RECIPIENTS_VARIABLE)
            return
        try:
            where = self.generate_link_to_ui_from_context(context=context)
        except ValueError:  # no [api] base_url configured: say where to look instead
            where = "Airflow UI > Browse > Required actions"
        try:
            send_alert(f"[GP allocations] {reviewed.subject}", f"{reviewed.summary()}\n\nAnswer: {where}", to)
        except Exception:
            log.warning("could not e-mail the approvers", exc_info=True)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from airflow.providers.standard.exceptions import HITLTimeoutError

        from gp_allocations.signoff import SignOffError

        from .tasks import TaskStopped

        try:
            # HITLOperator's, not ApprovalOperator's: a rejection must reach publish, which records it
            response = HITLOperator.execute_complete(self, context=context, event=event)
        except HITLTimeoutError:
            wait = self.response_timeout
            within = f"{wait.total_seconds() / 3600:g} h" if wait else "the time allowed"
            error = SignOffError(
                f"no sign-off within {within}: nothing was published, latest is unchanged "
                "and the staged workbooks are kept; clear this task to ask again"
            )
            log.error("%s", error)
            raise TaskStopped(error) from None
        user = response.get("responded_by_user") or {}
        log.info(
            "%s by %s at %s",
            response["chosen_options"][0],
            user.get("name") or user.get("id"),
            response.get("responded_at"),
        )
        return response
