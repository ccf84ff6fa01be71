"""Nightly GP allocations: wiring only. The work is done by the ``gp_allocations`` package."""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, Param, dag, get_current_context, task, task_group
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from gp_allocations.extracts import EXTRACTS, NIGHTLY_EXTRACTS
from gp_allocations.variants import DEFAULT_VARIANT, REGISTRY
from gp_allocations_airflow import FailureAlert, deadline_missed
from gp_allocations_airflow.links import publication_task, validation_task
from gp_allocations_airflow.signoff import SignOffOperator, sign_off_wait
from gp_allocations_airflow.tasks import retry_policy

DESCRIPTION = (
    "Nightly: pull GP contract, capitation and QOF extracts, validate, compute Carr-Hill and "
    "deprivation-weighted capitation, publish one Excel workbook per sub-ICB location"
)

DOC = """
# GP allocations, nightly

Pulls the GP **contract** (NHS Payments to General Practice), **capitation** (patients registered by
age/sex and by LSOA, practice map) and **QOF** extracts, validates each with Great Expectations,
loads them into the warehouse, recomputes **Carr-Hill weighted capitation** with its
**deprivation-weighted** variants and QOF in exact pennies, and publishes one Excel workbook per
**sub-ICB location** (formerly CCG) plus a national summary and `manifest.json`.

| task | what it does |
|---|---|
| prepare | the run's period and settings, fixed once so every retry works on the same inputs |
| pull_extracts | copies each extract unchanged into the run's raw area, with SHA-256, size, source, time |
| standardise_extracts | recognises each file's published layout (any era); maps it to one canonical schema |
| validate_extracts | GX suites in `expectations/` and cross-extract checks; errors stop the run |
| load_warehouse | staging then core tables for the period, one transaction (SQL in `include/sql`) |
| compute_allocations | weighted list per practice for every variant, QOF, marts per level |
| workbooks | one workbook per sub-ICB location (mapped) and the national one, in a hidden staging folder |
| review_publication | compares the staged version with `latest`: does an approver need to sign it off? |
| sign_off | Human-in-the-loop approval, only when the review asks for it (else skipped, saying why) |
| publish | `manifest.json`, then the run moves into `<output>/<period>/<run>/` at once and `latest` follows |
| deliver_workbooks | optional e-mail of each sub-ICB workbook to its finance team |

**Period**: leave *period* empty on a nightly run: it is the financial-year quarter containing the
run date. Set it (e.g. `2025-26-Q2`) to rerun a period. Nothing is published when validation fails:
the task log ends with one line naming file, row, column and rule.

**Not yet available**: NHS extracts for a quarter come out during that quarter. Until they do, a
nightly run finds the previous quarter's files: it is **skipped** from *standardise_extracts* on,
with "not yet available: ... is for ..., the run is for ..." in that task's log; nothing fails and no
alert is sent. Which period each extract may be for is `include/extract_periods.yaml`.
After 45 days into the quarter the same finding fails the run (and alerts): the source is not being
updated or the publication is late. A run whose period you set yourself fails instead, naming the
extract and the period it is for.

**Manual runs** (Trigger, with the form): every field may stay empty or at its default. Choose the
period, the formula variant shown as the headline, the parameter set, optionally a price per
weighted patient (GBP 1 to 1000) and a subset of extracts (empty: the nightly set). Values are
checked before the run starts. *Unpause on trigger* (ticked by default on a paused DAG) also makes
the scheduler start the nightly run of the latest 02:00 slot at once: untick it to run only what you
trigger.

**Where to look**: *validate_extracts* has a **Validation report** button (Great Expectations Data
Docs of this run); *publish* has **Published outputs** (the run's page: status, sub-ICB workbooks,
manifest). *Browse > GP allocations* lists every run: status, period, sub-ICB locations, links.
Published datasets are Assets (`gp_allocations_workbooks`, `gp_allocations_manifest`,
`gp_allocations_validation_report`), so downstream DAGs can be scheduled on them.

**When it goes wrong**: any failed task e-mails the addresses in the Variable
`gp_alloc_alert_recipients` through the `smtp_default` connection, naming the DAG, task, period and
the first error line. Bad input fails at once (never retried); pull, load, compute and publish
retry other errors with exponential back-off (network, database and disk blips). A run still going
2 h 30 after it was queued raises a *late* alert, and is stopped at 3 h, well before the working day
(plus the sign-off wait when it waits for an approver).

**Sign-off**: a run that would change the figures of a period already published (finance may be
paying from them), or whose plausibility gate was overridden, stops at *sign_off* until an approver
answers under *Browse > Required actions*: **Approve** publishes and moves `latest`, **Reject**
publishes nothing and `latest` stays; who, when and the comment go into the manifest and on the
workbook covers. A first version, unchanged figures, or a new version with the same figures need no
sign-off: *sign_off* is skipped, saying why. No answer within 72 h (`GP_ALLOC_SIGN_OFF_HOURS`) fails
*sign_off* with an alert; nothing is published and the staged workbooks are kept (clear *sign_off* to
ask again). The Variable `gp_alloc_approver_recipients` (comma separated) is e-mailed the summary.

**Delivery** (optional): when the Variable `gp_alloc_finance_recipients` holds
`{"<sub-ICB code>": "<address>"}`, each sub-ICB workbook is e-mailed to its finance team after
publishing; otherwise that task is skipped and says why.
"""

#: The formula variants, as declared in gp_allocations.variants (one declaration each).
VARIANTS = REGISTRY.names()
PARAMETER_SETS = ["carr_hill_2004", "health_foundation_lsoa"]

EXTRACT_NAMES = sorted(EXTRACTS)

#: Downstream DAGs (e.g. delivery to finance) can schedule on the published datasets. Each event's
#: extra carries the period and the published folder, so a consumer never has to guess the path.
WORKBOOKS = Asset(name="gp_allocations_workbooks", uri="file:///gp-allocations/outputs/workbooks")
MANIFEST = Asset(name="gp_allocations_manifest", uri="file:///gp-allocations/outputs/manifest")
VALIDATION_REPORT = Asset(
    name="gp_allocations_validation_report", uri="file:///gp-allocations/validation/data-docs"
)

#: Nightly at 02:00; a run not finished 2 h 30 after it was queued is late (alert), at 3 h it is
#: stopped (failure alert): both well before finance teams start at 08:00. A run that waits for its
#: sign-off gets the wait on top (an approver answers in working hours).
LATE_AFTER = dt.timedelta(hours=2, minutes=30)
STOP_AFTER = dt.timedelta(hours=3)
# The early "late" alert is an Airflow 3 DeadlineAlert, switched on where a scheduler runs the DAG
# (docker-compose sets it). Off by default because dag.test() in Airflow 3.3.2 fails on a DAG with a
# deadline (it looks deadline ids up on the unserialised DAG); the 3 h stop and its alert always apply.
LATE_ALERT = os.environ.get("GP_ALLOC_LATE_ALERT", "").strip().lower() in ("1", "true", "yes")
#: How long a run waits for its sign-off (then it fails and alerts; nothing is published).
SIGN_OFF_WAIT = sign_off_wait()
#: First retry waits this long, then doubles (exponential back-off). 2 minutes in production; the
#: real-Airflow kill test sets a few seconds so a killed task's retry starts at once.
RETRY_DELAY = dt.timedelta(seconds=int(os.environ.get("GP_ALLOC_RETRY_DELAY_SECONDS", "120")))


def _resolve_run() -> dict:
    """The run context, worked out once by ``prepare`` (cheap; no heavy imports)."""
    from gp_allocations_airflow import run_context_from_airflow

    context = get_current_context()
    run = context["dag_run"]
    user = getattr(run, "triggering_user_name", None)
    return run_context_from_airflow(context["params"], run.run_id, run.run_after, user).to_dict()


def _ctx() -> dict:
    """What ``prepare`` resolved, read by every later task. Taken from XCom inside the task rather
    than passed as an argument, so the graph shows the data flow, not an edge from prepare to all."""
    return get_current_context()["ti"].xcom_pull(task_ids="prepare")


def _asset_extra(asset: Asset, extra: dict) -> None:
    """Attach where the dataset is to this task's asset event, for downstream DAGs."""
    get_current_context()["outlet_events"][asset].extra = extra


def _stage(name: str, *args):
    from gp_allocations_airflow.tasks import run_stage

    return run_stage(name, _ctx(), *args)


@dag(
    dag_id="gp_allocations_nightly",
    description=DESCRIPTION,
    schedule="0 2 * * *",
    start_date=dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=STOP_AFTER + SIGN_OFF_WAIT,  # the work, plus the wait for an approver
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=LATE_AFTER,
        callback=AsyncCallback(deadline_missed),
    )
    if LATE_ALERT
    else None,
    on_failure_callback=FailureAlert(),
    tags=["gp-allocations", "primary-care", "finance", "nightly"],
    doc_md=DOC,
    default_args={
        "owner": "primary-care-data",
        "retries": 2,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=20),
        "retry_policy": retry_policy(),
        "execution_timeout": dt.timedelta(minutes=45),
        "on_failure_callback": FailureAlert(),
    },
    params={
        # Optional fields allow null: the form then shows them without a star and Trigger works with
        # them empty (the UI sends null for an empty field).
        "period": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-\d{2}-Q[1-4]$",
            title="Reporting period",
            description="Financial-year quarter, e.g. 2025-26-Q2. Empty: the quarter of the run date.",
        ),
        "variant": Param(
            DEFAULT_VARIANT,
            enum=VARIANTS,
            title="Formula variant shown as the headline",
            description="; ".join(f"{v.name}: {v.label}" for v in REGISTRY),
        ),
        "parameter_set": Param("carr_hill_2004", enum=PARAMETER_SETS, title="Parameter set"),
        "price_per_weighted_patient": Param(
            None,
            type=["null", "number"],
            minimum=1,
            maximum=1000,
            title="Price per weighted patient (GBP)",
            description="Empty: the financial year's price from the parameter file.",
        ),
        "extracts": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "enum": EXTRACT_NAMES},
            uniqueItems=True,
            # the form offers the names to pick from (a multi-select), labelled by what each file is
            examples=EXTRACT_NAMES,
            values_display={name: EXTRACTS[name].title for name in EXTRACT_NAMES},
            title="Extracts to pull",
            description="Empty: the nightly set (" + ", ".join(NIGHTLY_EXTRACTS) + ").",
        ),
        "override_reason": Param(
            None,
            type=["null", "string"],
            maxLength=2000,
            title="Override plausibility gates: reason",
            description="Empty: a breached plausibility gate stops the run. A reason publishes over the "
            "breaches: the reason, who triggered the run and when go into the manifest and on every "
            "workbook's Cover, and the run then needs sign-off.",
        ),
    },
)
def gp_allocations_nightly():
    @task(
        doc_md="Resolves this run's context once: the **period** (the Param, else the quarter of the run "
        "date), the variant (from the registry), the parameter set and its file for the year, the price "
        "(a Decimal), the extracts, and every location: each extract's source (Variables "
        "`gp_alloc_source`, `gp_alloc_source_<extract>`), the warehouse (connection `gp_warehouse`), the "
        "output folder (Variable `gp_alloc_output_root`). A bad choice fails here, naming it. Every later "
        "task reads this, so a retry of any one task works on exactly the same settings."
    )
    def prepare() -> dict:
        return _resolve_run()

    @task(
        doc_md="Copies each extract file, byte for byte, from its source (folder, zip or URL) into "
        "this run's raw area and records its SHA-256, size, source and time. Network hiccups are "
        "retried with growing waits; a missing file is not."
    )
    def pull_extracts() -> dict:
        return _stage("pull")

    @task(
        doc_md="Recognises which published NHS layout each file uses (old CCG or new sub-ICB "
        "headings, any era) and rewrites it in the one standard shape the rest of the run expects. "
        "An unknown layout stops the run with the file and the missing columns named. Extracts still "
        "for an earlier quarter on a run nobody chose the period of mean the new ones are **not yet "
        "available**: the run is skipped from here, nothing fails. Not retried: a file does not "
        "change by reading it again.",
        retries=0,
    )
    def standardise_extracts() -> dict:
        return _stage("standardise")

    @validation_task(
        doc_md="Checks every extract with its Great Expectations suite (`expectations/`) and the "
        "cross-extract rules (same practices, dates, totals). **Errors stop the run** before anything "
        "is loaded; warnings are reported. Failing rows are kept with the reason. The **Validation "
        "report** button opens this run's Data Docs. Not retried.",
        retries=0,
        outlets=[VALIDATION_REPORT],
    )
    def validate_extracts() -> dict:
        out = _stage("validate")
        _asset_extra(VALIDATION_REPORT, {"period": _ctx()["period"], "data_docs": out.get("data_docs")})
        return out

    @task(
        doc_md="Loads the period into the warehouse (staging, then core tables) in one transaction, "
        "replacing any earlier load of the same period, so a rerun never double counts. Database "
        "blips are retried with growing waits."
    )
    def load_warehouse() -> dict:
        return _stage("load")

    @task(
        doc_md="Works out each practice's Carr-Hill weighted list, its capitation under every formula "
        "variant (global sum and the deprivation-weighted ones) and its QOF payment, in whole pennies, "
        "then totals per PCN, sub-ICB location, ICB and region. Totals must reconcile to the penny."
    )
    def compute_allocations() -> dict:
        return _stage("compute")

    @task_group(
        group_id="workbooks",
        tooltip="Writes every workbook into a hidden staging folder: nothing is visible to readers yet",
    )
    def workbooks():
        @task(doc_md="Opens a clean, hidden staging folder and lists the sub-ICB locations to write.")
        def open_staging() -> list[str]:
            return _stage("publish_prepare")

        @task(
            doc_md="Writes one sub-ICB location's Excel workbook and its practice statements (workbook, and "
            "PDF when `GP_ALLOC_STATEMENT_PDFS=1`) into the staging folder. Mapped: one task per location, "
            "so the work spreads over every Celery worker.",
            map_index_template="{{ sub_icb_code }}",
        )
        def write_sub_icb_workbook(sub_icb_code: str) -> list[dict]:
            get_current_context()["sub_icb_code"] = sub_icb_code
            return _stage("publish_sub_icb", sub_icb_code)

        @task(
            doc_md="Writes the national summary workbook: every sub-ICB, ICB and region, and the equity view."
        )
        def write_national_workbook() -> dict:
            return _stage("publish_national")

        codes = open_staging()
        sub_icb_files = write_sub_icb_workbook.expand(sub_icb_code=codes)
        national = write_national_workbook()
        codes >> national
        return codes, sub_icb_files, national

    @task(
        doc_md="Compares what this run would publish with the period's `latest` version and decides "
        "whether an approver must **sign it off**: yes when it changes the figures of a period already "
        "published (finance may be paying from it) or when a plausibility gate was overridden; no for a "
        "first version, unchanged figures, or a new version with the same figures. Its log says which."
    )
    def review_publication(sub_icb_files: list[dict], national: dict) -> dict:
        return _stage("publish_review", [*sub_icb_files, national])

    sign_off = SignOffOperator(
        task_id="sign_off",
        review_task_id="review_publication",
        doc_md="**Sign-off** (Human-in-the-loop). When the review asks for it, waits for an approver "
        "(*Required actions*, or the REST API): the summary shows England and the largest sub-ICB "
        "changes, changed inputs, warnings, overrides and a link to the staged workbooks. **Approve** "
        "publishes and moves `latest`; **Reject** publishes nothing and `latest` stays. Who, when and "
        "the comment go into the manifest and on every workbook cover. Skipped, saying why, when no "
        "sign-off is needed. No answer within the wait (default 72 h, `GP_ALLOC_SIGN_OFF_HOURS`) fails "
        "it with an alert: nothing published, staged workbooks kept; clear the task to ask again.",
        response_timeout=SIGN_OFF_WAIT,
        retries=0,
    )

    @publication_task(
        doc_md="Writes `manifest.json` (every file's SHA-256, rows, parameters, input hashes, the "
        "sign-off), then moves the whole run into `<output>/<period>/<run>/` in one step and points "
        "`latest` at it: readers never see half a publication. Figures equal to `latest`'s publish "
        "nothing new (*unchanged*). A rejected sign-off publishes nothing: skipped, saying who rejected "
        "it and that `latest` stays. The **Published outputs** button opens the run's page.",
        outlets=[WORKBOOKS, MANIFEST],
        trigger_rule="none_failed_min_one_success",  # runs when sign_off was skipped as not needed
    )
    def publish() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        context = get_current_context()
        decision = context["ti"].xcom_pull(task_ids="sign_off")  # None: no sign-off was needed
        out = _stage("publish_finalise", decision)
        if out["status"] == "rejected":
            context["ti"].xcom_push("return_value", out)  # the run's outcome, for the runs page
            raise AirflowSkipException(out["detail"])
        run = _ctx()
        extra = {"period": run["period"], "run_id": run["run_id"], "directory": out["directory"]}
        _asset_extra(WORKBOOKS, {**extra, "workbooks": out["workbooks"]})
        _asset_extra(MANIFEST, {**extra, "manifest": out["manifest"]})
        return out

    @task(
        doc_md="Optional: e-mails each sub-ICB workbook to its finance team (Variable "
        "`gp_alloc_finance_recipients`, JSON `{sub_icb_code: address}`) through the `smtp_default` "
        "connection. Skipped, saying why, when no recipients are configured. Not retried, so nobody "
        "receives the same workbook twice.",
        retries=0,
    )
    def deliver_workbooks(published: dict) -> list[dict]:
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowSkipException

        from gp_allocations.delivery import deliver_workbooks as deliver
        from gp_allocations_airflow import delivery_plan

        recipients, smtp, skip_reason = delivery_plan()
        if skip_reason:
            raise AirflowSkipException(skip_reason)
        return deliver(Path(published["directory"]), recipients, smtp)

    staging, sub_icb_files, national = workbooks()
    (
        prepare()
        >> pull_extracts()
        >> standardise_extracts()
        >> validate_extracts()
        >> load_warehouse()
        >> compute_allocations()
        >> staging
    )
    review = review_publication(sub_icb_files, national)
    published = publish()
    review >> sign_off >> published
    review >> published
    deliver_workbooks(published)


gp_allocations_nightly()
