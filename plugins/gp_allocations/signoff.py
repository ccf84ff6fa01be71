"""Sign-off before publishing: does a run need an approver, what the approver is shown, what is recorded.

Finance teams pay practices from the published workbooks of a period. A run that would **change the
figures of a period that already has a published version**, or whose plausibility gate was
**overridden**, waits for an approver before ``latest`` moves (the DAG's ``sign_off`` task; on the
command line ``python -m gp_allocations sign-off``). A first version of a period, a run whose figures
equal the published ones ("unchanged") and a new version with the same figures (e.g. a re-fetched
input with other bytes) need no sign-off; the review says why.

``review`` compares the manifest a run would publish with the ``latest`` one and returns a ``Review``:
the decision, the reasons, and the facts of the summary (England and the largest sub-ICB changes,
changed inputs, warnings, overrides). ``SignOff`` is the approver's decision (who, when, comment),
written into the manifest (``sign_off``) and on the workbook covers. Plain data; no Airflow import.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import PipelineError
from .money import pence_to_pounds

#: How many sub-ICB locations the summary lists (largest absolute change in the headline total first).
TOP_SUB_ICBS = 10
#: How many validation warnings the summary quotes (the count is always given).
WARNINGS_SHOWN = 5
#: Longest comment kept (characters); a longer one is refused, not cut.
COMMENT_MAX = 2000

APPROVED, REJECTED = "approved", "rejected"
FIRST, CHANGED, SAME_FIGURES, UNCHANGED = "first", "changed", "same figures", "unchanged"


class SignOffError(PipelineError):
    """A sign-off that cannot be used: missing where it is needed, malformed, or for another review."""


@dataclass(frozen=True)
class FigureChange:
    """One line of the summary: an organisation's headline total before and after, in pennies."""

    code: str
    name: str
    previous_pence: int | None
    pence: int | None

    @property
    def difference_pence(self) -> int | None:
        if self.previous_pence is None or self.pence is None:
            return None
        return self.pence - self.previous_pence


@dataclass(frozen=True)
class Review:
    """What the approver is asked to sign off (or why nobody is asked)."""

    period: str
    period_label: str
    run_id: str
    status: str  # FIRST | CHANGED | SAME_FIGURES | UNCHANGED
    previous_run_id: str | None
    reasons: tuple[str, ...]  # empty: no sign-off needed
    headline_variant: str
    headline_label: str
    england: tuple[FigureChange, ...] = ()  # one per variant (code = variant name, name = its label)
    sub_icbs: tuple[FigureChange, ...] = ()  # largest changes of the headline total
    sub_icbs_changed: int = 0
    inputs_changed: tuple[str, ...] = ()
    parameters_changed: bool = False
    validation_status: str = "passed"
    warnings: int = 0
    warning_messages: tuple[str, ...] = ()
    quarantined_rows: int = 0
    overrides: tuple[str, ...] = ()
    staging: str = ""

    @property
    def required(self) -> bool:
        return bool(self.reasons)

    @property
    def subject(self) -> str:
        return f"Sign off GP allocations {self.period_label}: {self.headline_label} figures change"

    @property
    def skip_reason(self) -> str:
        """Why no sign-off is asked for (the sign-off task's skip message)."""
        if self.status == UNCHANGED:
            return (
                f"no sign-off needed: the figures equal the published version {self.previous_run_id}, "
                "so nothing new is published (unchanged)"
            )
        if self.status == FIRST:
            return f"no sign-off needed: first version of {self.period_label}, nothing published to replace"
        if self.status == SAME_FIGURES:
            return (
                f"no sign-off needed: a new version of {self.period_label} with the same figures as "
                f"{self.previous_run_id} (only run details such as input files' bytes differ)"
            )
        return "sign-off needed: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Review:
        values = dict(data)
        for name in ("england", "sub_icbs"):
            values[name] = tuple(FigureChange(**row) for row in values.get(name, ()))
        for name in ("reasons", "inputs_changed", "warning_messages", "overrides"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)

    def summary(self, staged_link: str | None = None) -> str:
        """The approver's summary in Markdown (rendered by the Airflow UI; plain enough for a terminal).

        Every value that came from an extract or a person (names, warnings, reasons) is escaped, so it
        is shown as text and never becomes a link, an image or markup."""
        lines = [
            f"**GP allocations {_md(self.period_label)}**, run `{_code(self.run_id)}`, would replace the "
            f"published version `{_code(self.previous_run_id or 'none')}`.",
            "",
            "Sign-off is needed because:",
            *(f"- {_md(reason)}" for reason in self.reasons),
            "",
            f"**England** (total payable, pounds; the headline variant is {_md(self.headline_label)})",
            "",
            "| variant | published | this run | change |",
            "|---|---:|---:|---:|",
            *(_row(c.name, c) for c in self.england),
            "",
        ]
        if self.sub_icbs:
            lines += [
                f"**Largest sub-ICB changes** ({_md(self.headline_label)}, total payable; "
                f"{self.sub_icbs_changed} sub-ICB location(s) change)",
                "",
                "| sub-ICB location | published | this run | change |",
                "|---|---:|---:|---:|",
                *(_row(f"{c.code} {c.name}", c) for c in self.sub_icbs),
                "",
            ]
            if self.sub_icbs_changed > len(self.sub_icbs):
                lines += [f"and {self.sub_icbs_changed - len(self.sub_icbs)} more: see the manifest.", ""]
        else:
            lines += [f"No sub-ICB total of {_md(self.headline_label)} changes.", ""]
        lines += [
            "**Inputs changed**: " + (", ".join(_md(i) for i in self.inputs_changed) or "none"),
            "",
            f"**Parameters changed**: {'yes' if self.parameters_changed else 'no'}",
            "",
            f"**Validation**: {_md(self.validation_status)}, {self.warnings} warning(s), "
            f"{self.quarantined_rows} quarantined row(s)",
            *(f"- {_md(message)}" for message in self.warning_messages),
            "",
            "**Overrides**: " + ("; ".join(_md(o) for o in self.overrides) or "none"),
            "",
        ]
        where = f"`{_code(self.staging)}`"
        staged = f"[open the staged workbooks]({staged_link}) ({where})" if staged_link else where
        lines += [
            f"**Staged workbooks**: {staged}",
            "",
            f"**Approve** publishes this version and moves `latest` to it. **Reject** keeps `latest` at "
            f"`{_code(self.previous_run_id or 'none')}`; nothing is published. The comment is recorded "
            "in the manifest and on the workbook covers.",
        ]
        return "\n".join(lines)


def _pounds(pence: int | None, signed: bool = False) -> str:
    if pence is None:
        return "-"
    text = f"{abs(pence_to_pounds(pence)):,.2f}"
    if pence < 0:
        return f"-£{text}"
    return f"+£{text}" if signed and pence > 0 else f"£{text}"


def _row(label: str, change: FigureChange) -> str:
    diff = change.difference_pence
    pct = ""
    if diff is not None and change.previous_pence:
        pct = f" ({diff / change.previous_pence:+.3%})"  # England moves by thousandths of a percent
    return (
        f"| {_md(label)} | {_pounds(change.previous_pence)} | {_pounds(change.pence)} | "
        f"{_pounds(diff, signed=True)}{pct} |"
    )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~&])")


def _md(text: object) -> str:
    """Text shown as text in Markdown: specials escaped, line breaks flattened."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: object) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _total(totals: Mapping[str, Any], variant: str) -> int | None:
    value = totals.get("variants", {}).get(variant, {}).get("total_pence")
    return int(value) if value is not None else None


def _figures_changed(changes: Mapping[str, Any]) -> bool:
    return bool(changes["results_changed"] or changes["totals"] or changes["parameters_changed"])


def review(
    previous: Mapping[str, Any] | None,
    manifest: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    unchanged: bool,
    labels: Mapping[str, str],
    overrides: Sequence[str] = (),
    warning_messages: Sequence[str] = (),
    staging: str = "",
    top: int = TOP_SUB_ICBS,
) -> Review:
    """Decide whether the run needs sign-off and gather its summary.

    ``previous``: the manifest ``latest`` points at (None: nothing published for the period);
    ``changes``: ``manifest.manifest_changes(previous, manifest, ...)``; ``unchanged``: the run's content
    equals ``latest``'s (it would publish nothing new); ``labels``: variant name -> label;
    ``overrides``: each overridden plausibility gate, as a sentence.
    """
    period_label = str(manifest.get("period_label") or manifest["period"])
    headline = str(manifest["selected_variant"])
    previous_run_id = changes.get("previous_run_id")
    status = _status(changes, unchanged=unchanged)
    reasons = _reasons(status, period_label, previous_run_id, previous is None, overrides)
    england, moved = _figure_changes(previous, manifest, headline, labels)
    validation = manifest.get("validation", {})
    return Review(
        period=str(manifest["period"]),
        period_label=period_label,
        run_id=str(manifest["run_id"]),
        status=status,
        previous_run_id=previous_run_id,
        reasons=tuple(reasons),
        headline_variant=headline,
        headline_label=labels.get(headline, headline),
        england=england,
        sub_icbs=tuple(moved[:top]),
        sub_icbs_changed=len(moved),
        inputs_changed=tuple(
            f"{i['file']} ({i['change']})" for i in changes.get("inputs", []) if i.get("file")
        ),
        parameters_changed=bool(changes.get("parameters_changed")),
        validation_status=str(validation.get("status", "passed")),
        warnings=int(validation.get("warnings", 0)),
        warning_messages=tuple(" ".join(str(m).split()) for m in warning_messages[:WARNINGS_SHOWN]),
        quarantined_rows=int(validation.get("quarantined_rows", 0)),
        overrides=tuple(" ".join(str(o).split()) for o in overrides),
        staging=staging,
    )


def _status(changes: Mapping[str, Any], *, unchanged: bool) -> str:
    """FIRST (nothing published for the period), UNCHANGED, CHANGED (figures) or SAME_FIGURES."""
    if changes.get("previous_run_id") is None:
        return FIRST
    if unchanged:
        return UNCHANGED
    return CHANGED if _figures_changed(changes) else SAME_FIGURES


def _reasons(
    status: str, period_label: str, previous_run_id: object, unreadable: bool, overrides: Sequence[str]
) -> list[str]:
    """Why the run needs an approver: changed figures of a published period (or a published version
    whose manifest cannot be read), an overridden plausibility gate. Empty: no sign-off needed."""
    reasons: list[str] = []
    if status == CHANGED and unreadable:
        reasons.append(
            f"{period_label} has a published version, {previous_run_id}, whose manifest cannot be read: "
            "the change cannot be measured"
        )
    elif status == CHANGED:
        reasons.append(
            f"it changes the figures of {period_label}, already published by run {previous_run_id} "
            "(finance may be paying from it)"
        )
    if overrides and status != UNCHANGED:
        reasons.append(
            "a plausibility gate was overridden: " + "; ".join(" ".join(str(o).split()) for o in overrides)
        )
    return reasons


def _figure_changes(
    previous: Mapping[str, Any] | None, manifest: Mapping[str, Any], headline: str, labels: Mapping[str, str]
) -> tuple[tuple[FigureChange, ...], list[FigureChange]]:
    """England's total per variant, before and after; the sub-ICBs whose headline total moved,
    largest move first."""
    old_subs = (previous or {}).get("totals", {}).get("sub_icb", {})
    new_subs = manifest.get("totals", {}).get("sub_icb", {})
    old_eng = (previous or {}).get("totals", {}).get("england", {})
    new_eng = manifest.get("totals", {}).get("england", {})
    england = tuple(
        FigureChange(v, labels.get(v, v), _total(old_eng, v) if previous else None, _total(new_eng, v))
        for v in manifest.get("variants", [])
    )
    moved = [
        FigureChange(
            str(code),
            str((new_subs.get(code) or old_subs.get(code) or {}).get("name", "")),
            _total(old_subs.get(code, {}), headline) if code in old_subs else None,
            _total(new_subs.get(code, {}), headline) if code in new_subs else None,
        )
        for code in sorted(set(old_subs) | set(new_subs))
    ]
    moved = [c for c in moved if previous is not None and c.previous_pence != c.pence]
    moved.sort(key=lambda c: (-abs(c.difference_pence or 0), c.difference_pence is not None, c.code))
    return england, moved


@dataclass(frozen=True)
class SignOff:
    """An approver's decision on a review: who, when (UTC), what, and their comment."""

    decision: str  # APPROVED | REJECTED
    by: str  # the approver's name as the login knows it
    at: str  # ISO 8601, UTC
    comment: str = ""
    by_id: str | None = None
    via: str = "Airflow"  # "Airflow" (the sign_off task) | "command line"
    reasons: tuple[str, ...] = field(default_factory=tuple)
    previous_run_id: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in (APPROVED, REJECTED):
            raise SignOffError(f"sign-off decision {self.decision!r} is not 'approved' or 'rejected'")
        if not self.by.strip():
            raise SignOffError("a sign-off names who gave it")
        if len(self.comment) > COMMENT_MAX:
            raise SignOffError(
                f"the sign-off comment is {len(self.comment)} characters long; at most {COMMENT_MAX}"
            )
        when = dt.datetime.fromisoformat(self.at)
        if when.tzinfo is None:
            raise SignOffError(f"sign-off time {self.at!r} has no time zone")

    @property
    def approved(self) -> bool:
        return self.decision == APPROVED

    def manifest_entry(self) -> dict[str, Any]:
        """The manifest's ``sign_off`` section."""
        return {
            "required": True,
            "decision": self.decision,
            "by": self.by,
            "by_id": self.by_id,
            "at": self.at,
            "comment": self.comment,
            "via": self.via,
            "reasons": list(self.reasons),
            "previous_run_id": self.previous_run_id,
        }

    def cover_text(self) -> str:
        """The workbook cover's 'Sign-off' line."""
        when = dt.datetime.fromisoformat(self.at).astimezone(dt.UTC)
        who = self.by if not self.by_id or self.by_id == self.by else f"{self.by} ({self.by_id})"
        text = f"{self.decision.capitalize()} by {who} on {when:%Y-%m-%d %H:%M} UTC"
        comment = " ".join(self.comment.split())
        return f"{text}: {comment}" if comment else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignOff:
        values = dict(data)
        values["reasons"] = tuple(values.get("reasons", ()))
        return cls(**values)


def not_required_entry(reviewed: Review) -> dict[str, Any]:
    """The manifest's ``sign_off`` section of a version published without one, saying why."""
    return {"required": False, "reason": reviewed.skip_reason}


def decide(
    reviewed: Review,
    *,
    approve: bool,
    by: str,
    comment: str = "",
    at: dt.datetime | str | None = None,
    by_id: str | None = None,
    via: str = "command line",
) -> SignOff:
    """A decision on ``reviewed``, e.g. from the command line (the time defaults to now, UTC)."""
    when = at if at is not None else dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = when if isinstance(when, str) else when.astimezone(dt.UTC).isoformat()
    return SignOff(
        decision=APPROVED if approve else REJECTED,
        by=by,
        at=text,
        comment=comment or "",
        by_id=by_id,
        via=via,
        reasons=reviewed.reasons,
        previous_run_id=reviewed.previous_run_id,
    )


def from_hitl(reviewed: Review, response: Mapping[str, Any]) -> SignOff:
    """The decision an Airflow Human-in-the-loop response carries (the approval task's result):
    ``chosen_options`` (["Approve"] or ["Reject"]), ``params_input`` (the comment), ``responded_at``
    and ``responded_by_user`` ({"id", "name"})."""
    chosen = list(response.get("chosen_options") or [])
    if chosen not in (["Approve"], ["Reject"]):
        raise SignOffError(f"the sign-off response chose {chosen!r}, not Approve or Reject")
    user = response.get("responded_by_user") or {}
    if not user.get("name") and not user.get("id"):
        raise SignOffError("the sign-off response does not say who gave it")
    comment = (response.get("params_input") or {}).get("comment") or ""
    return decide(
        reviewed,
        approve=chosen == ["Approve"],
        by=str(user.get("name") or user.get("id")),
        by_id=str(user["id"]) if user.get("id") is not None else None,
        comment=str(comment),
        at=response["responded_at"],
        via="Airflow",
    )
