"""Sign-off before publishing: the decision (does this run need an approver?), the approver's summary,
the recorded decision, and the command-line path from a staged run to published or rejected.

The command-line path (staged, awaiting sign-off, approved or rejected) is in
tests/test_signoff_pipeline.py; the Airflow path (a real scheduler waiting at the approval task,
approved and rejected through the REST API) in tests/test_signoff_airflow.py.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from _workbook_fixtures import make_result, make_run
from gp_allocations import signoff
from gp_allocations.manifest import build_manifest, content_sha256, manifest_changes
from gp_allocations.signoff import SignOff, SignOffError
from gp_allocations.variants import REGISTRY
from test_faults_common import PERIOD

LABELS = {v.name: v.label for v in REGISTRY}
FILES = [{"name": "a.xlsx", "sha256": "0" * 64, "bytes": 10, "rows": 3, "kind": "national"}]


def _manifest(run_id: str, **kw) -> dict:
    return build_manifest(make_result(**kw), make_run(), FILES, period_slug=PERIOD, run_id=run_id)


def _review(previous: dict | None, manifest: dict, **kw) -> signoff.Review:
    previous_id = previous["run_id"] if previous else None
    return signoff.review(
        previous,
        manifest,
        manifest_changes(previous, manifest, previous_id),
        unchanged=previous is not None and content_sha256(previous) == content_sha256(manifest),
        labels=LABELS,
        **kw,
    )


# --- does this run need sign-off? ------------------------------------------------------------------


def test_first_version_unchanged_and_same_figures_need_no_sign_off():
    first = _review(None, _manifest("run-1"))
    assert (first.status, first.required) == ("first", False)
    assert "first version" in first.skip_reason

    published = _manifest("run-1")
    again = _review(published, _manifest("run-2"))
    assert (again.status, again.required) == ("unchanged", False)
    assert "unchanged" in again.skip_reason and "run-1" in again.skip_reason

    # another fetch of an input with other bytes but the same figures: a new version, no sign-off
    refetched = _manifest("run-3")
    refetched["inputs"] = [{**refetched["inputs"][0], "sha256": "ef" * 32}, *refetched["inputs"][1:]]
    same = _review(published, refetched)
    assert (same.status, same.required) == ("same figures", False)
    assert same.inputs_changed, "the summary still says which input changed"


def test_changed_figures_of_a_published_period_need_sign_off():
    published = _manifest("run-1")
    moved = _review(published, _manifest("run-2", qof_moved=137))
    assert (moved.status, moved.required) == ("changed", True)
    assert moved.previous_run_id == "run-1"
    assert moved.reasons == (
        f"it changes the figures of {published['period_label']}, already published by run run-1 "
        "(finance may be paying from it)",
    )
    # one practice's QOF moved by 137p: its sub-ICB and England move by exactly that, every variant
    assert [c.difference_pence for c in moved.england] == [137] * len(moved.england)
    assert [(c.difference_pence, moved.sub_icbs_changed) for c in moved.sub_icbs] == [(137, 1)]


def test_an_overridden_gate_needs_sign_off_even_on_a_first_version():
    first = _review(
        None, _manifest("run-1"), overrides=["list growth 31% > 25%: practice merger (J. Bloggs)"]
    )
    assert first.required and first.status == "first"
    assert first.reasons == (
        "a plausibility gate was overridden: list growth 31% > 25%: practice merger (J. Bloggs)",
    )
    # ... but not when nothing new would be published
    published = _manifest("run-1")
    same = _review(published, _manifest("run-2"), overrides=["anything"])
    assert same.status == "unchanged" and not same.required


def test_a_missing_previous_manifest_is_treated_as_a_change():
    """``latest`` points at a folder whose manifest is unreadable: never assume it is a first version."""
    manifest = _manifest("run-2")
    changes = manifest_changes(None, manifest, "run-1")
    reviewed = signoff.review(None, manifest, changes, unchanged=False, labels=LABELS)
    assert reviewed.required and reviewed.status == "changed"


# --- the approver's summary -------------------------------------------------------------------------


def _totals(codes_and_pence: dict[str, int], variant: str = "global_sum") -> dict:
    return {
        code: {"name": f"Sub-ICB {code}", "variants": {variant: {"total_pence": pence}}}
        for code, pence in codes_and_pence.items()
    }


def _synthetic(run_id: str, subs: dict[str, int], england: int, **extra) -> dict:
    return {
        "run_id": run_id,
        "period": PERIOD,
        "period_label": "2025/26 Q2",
        "selected_variant": "global_sum",
        "variants": ["global_sum"],
        "results_sha256": run_id,
        "totals": {
            "sub_icb": _totals(subs),
            "england": {"variants": {"global_sum": {"total_pence": england}}},
        },
        "validation": {"status": "passed with warnings", "warnings": 7, "quarantined_rows": 3},
        **extra,
    }


def test_summary_shows_england_and_the_largest_sub_icb_changes_first():
    before = _synthetic("run-1", {f"{i:02d}A": 1_000_000 for i in range(14)}, 14_000_000)
    after_subs = {f"{i:02d}A": 1_000_000 + (i - 6) * 1000 for i in range(14)}  # 06A unchanged
    after = _synthetic("run-2", after_subs, 14_007_000)
    reviewed = _review(before, after, top=5, warning_messages=[f"warning {i}" for i in range(9)])
    assert reviewed.required and reviewed.sub_icbs_changed == 13
    assert [c.code for c in reviewed.sub_icbs] == ["13A", "00A", "12A", "01A", "11A"]
    text = reviewed.summary(staged_link="/gp-allocations/runs/r/staged/")
    assert "| Global sum | £140,000.00 | £140,070.00 | +£70.00 (+0.050%) |" in text
    assert "| 13A Sub-ICB 13A | £10,000.00 | £10,070.00 | +£70.00 (+0.700%) |" in text
    assert "| 00A Sub-ICB 00A | £10,000.00 | £9,940.00 | -£60.00 (-0.600%) |" in text
    assert "and 8 more: see the manifest." in text
    assert "passed with warnings, 7 warning(s), 3 quarantined row(s)" in text
    assert text.count("- warning ") == signoff.WARNINGS_SHOWN
    assert "[open the staged workbooks](/gp-allocations/runs/r/staged/)" in text
    assert "keeps `latest` at `run-1`" in text


def test_summary_shows_names_and_warnings_from_extracts_as_text_never_markup():
    hostile = "[pay here](javascript:alert(1)) <img src=x onerror=alert(2)> **bold** | cell"
    before = _synthetic("run-1", {"15N": 100}, 100)
    after = _synthetic("run-2", {"15N": 250}, 250)
    after["totals"]["sub_icb"]["15N"]["name"] = hostile
    reviewed = _review(before, after, warning_messages=[hostile], overrides=[hostile])
    text = reviewed.summary()
    # CommonMark: a backslash-escaped special is a literal character, never a link, tag or emphasis
    for raw in ("[pay here](", "<img", "**bold**", "| cell"):
        assert re.search(r"(?<!\\)" + re.escape(raw), text) is None, raw
    assert "\\[pay here\\]\\(javascript:alert\\(1\\)\\) \\<img src=x onerror=alert\\(2\\)\\>" in text


def test_review_survives_the_trip_through_json():
    reviewed = _review(_manifest("run-1"), _manifest("run-2", qof_moved=5), overrides=["x"])
    again = signoff.Review.from_dict(json.loads(json.dumps(reviewed.to_dict())))
    assert again == reviewed and again.summary() == reviewed.summary()


# --- the recorded decision --------------------------------------------------------------------------


def test_a_sign_off_says_who_when_and_why_and_refuses_what_it_cannot_record():
    reviewed = _review(_manifest("run-1"), _manifest("run-2", qof_moved=5))
    at = dt.datetime(2026, 12, 2, 9, 14, 5, tzinfo=dt.UTC)
    done = signoff.decide(
        reviewed, approve=True, by="Jane Smith", by_id="jsmith", comment=" ok\n by me ", at=at
    )
    assert done.cover_text() == "Approved by Jane Smith (jsmith) on 2026-12-02 09:14 UTC: ok by me"
    entry = done.manifest_entry()
    assert entry["decision"] == "approved" and entry["at"] == "2026-12-02T09:14:05+00:00"
    assert entry["reasons"] == list(reviewed.reasons) and entry["previous_run_id"] == "run-1"
    assert SignOff.from_dict(json.loads(json.dumps(done.to_dict()))) == done
    with pytest.raises(SignOffError, match="names who"):
        signoff.decide(reviewed, approve=True, by=" ", at=at)
    with pytest.raises(SignOffError, match="at most 2000"):
        signoff.decide(reviewed, approve=False, by="x", comment="x" * 2001, at=at)
    with pytest.raises(SignOffError, match="no time zone"):
        signoff.decide(reviewed, approve=False, by="x", at="2026-12-02T09:14:05")
    with pytest.raises(SignOffError, match="not 'approved'"):
        SignOff(decision="maybe", by="x", at=at.isoformat())


def test_an_airflow_response_becomes_the_decision():
    reviewed = _review(_manifest("run-1"), _manifest("run-2", qof_moved=5))
    response = {
        "chosen_options": ["Reject"],
        "params_input": {"comment": "QOF file is the draft"},
        "responded_at": dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC),
        "responded_by_user": {"id": "7", "name": "jane.approver"},
    }
    decided = signoff.from_hitl(reviewed, response)
    assert (decided.decision, decided.by, decided.by_id, decided.via) == (
        "rejected",
        "jane.approver",
        "7",
        "Airflow",
    )
    assert decided.comment == "QOF file is the draft" and decided.at == "2026-12-02T09:00:00+00:00"
    assert signoff.from_hitl(reviewed, {**response, "chosen_options": ["Approve"]}).approved
    with pytest.raises(SignOffError, match="not Approve or Reject"):
        signoff.from_hitl(reviewed, {**response, "chosen_options": ["Approve", "Reject"]})
    with pytest.raises(SignOffError, match="who gave it"):
        signoff.from_hitl(reviewed, {**response, "responded_by_user": {}})


def test_sign_off_is_not_part_of_the_content():
    """An approved version and a later run with the same figures are 'unchanged': who approved is not
    a figure (else every rerun after a sign-off would ask for another)."""
    published = {**_manifest("run-1"), "sign_off": {"required": True, "decision": "approved", "by": "x"}}
    assert content_sha256(published) == content_sha256(_manifest("run-2"))


# --- the Airflow operator's two outcomes that need no scheduler --------------------------------------


def test_the_approval_task_skips_with_the_reviews_reason_and_a_timeout_ends_in_one_line():
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowSkipException

    from gp_allocations_airflow.signoff import SignOffOperator
    from gp_allocations_airflow.tasks import TaskStopped

    operator = SignOffOperator(task_id="sign_off", review_task_id="review_publication")
    assert list(operator.serialized_params) == ["comment"], "the form asks for a comment only"
    published = _manifest("run-1")
    unchanged = _review(published, _manifest("run-2"))
    context = {"ti": SimpleNamespace(xcom_pull=lambda task_ids: unchanged.to_dict())}
    with pytest.raises(AirflowSkipException, match=r"no sign-off needed: .* \(unchanged\)"):
        operator.execute(context)
    timeout = {"error": "no response", "error_type": "timeout"}
    with pytest.raises(TaskStopped) as stopped:
        operator.execute_complete(context, timeout)
    assert "nothing was published, latest is unchanged and the staged workbooks are kept" in str(
        stopped.value
    )


def test_the_runs_overrides_reach_the_approver_as_sentences():
    """The manifest's ``overrides`` (each plausibility gate published over) become the review's reasons."""
    from gp_allocations.pipeline.publication import _overrides

    entry = {
        "gate": "list_vs_previous_load",
        "message": "practice Y01234 list 9,100 is 31% above last quarter's (limit 25%)",
        "reason": "practice merger, CQC letter 2026-11-03",
        "by": "j.bloggs",
        "at": "2026-12-02T01:00:00+00:00",
    }
    sentences = _overrides({"overrides": [entry]})
    assert sentences == [
        "list_vs_previous_load: practice Y01234 list 9,100 is 31% above last quarter's (limit 25%) "
        "(reason: practice merger, CQC letter 2026-11-03; by j.bloggs at 2026-12-02T01:00:00+00:00)"
    ]
    assert _overrides({}) == [] and _overrides({"overrides": None}) == []
    reviewed = _review(None, _manifest("run-1"), overrides=sentences)
    assert reviewed.required and "list\\_vs\\_previous\\_load" in reviewed.summary()
