"""Nightly GP allocations: wiring only. The work is done by the ``gp_allocations`` package."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task, task_group

DOC = """
# GP allocations, nightly

Pulls the GP **contract** (NHS Payments to General Practice), **capitation** (patients registered by
age/sex and by LSOA, practice map) and **QOF** extracts, validates each with Great Expectations,
loads them into the warehouse, recomputes **Carr-Hill weighted capitation** with its
**deprivation-weighted** variants and QOF in exact pennies, and publishes one Excel workbook per
**sub-ICB location** (formerly CCG) plus a national summary and `manifest.json`.

| stage | what it does | where it writes |
|---|---|---|
| pull | copies each extract unchanged into the run's raw area with SHA-256, size, source, time | `var/runs/<period>/<run>/raw` |
| standardise | recognises each file's published layout (any era) and maps it to one canonical schema | `.../standardised/*.parquet` |
| validate | GX suites in `expectations/` + cross-extract checks; errors stop the run, warnings are reported | `.../validation` (Data Docs, quarantine.csv) |
| load | staging -> core tables for the period, one transaction (SQL in `include/sql`) | warehouse |
| compute | weighted list per practice, every variant, QOF; marts per level | warehouse marts |
| publish | workbooks + manifest written aside, then moved into `<output>/<period>/<run>/` at once; `latest` last | output root |

**Period**: leave *period* empty on a nightly run: it is the financial-year quarter containing the
run date. Set it (e.g. `2025-26-Q2`) to rerun a period. Nothing is published when validation fails:
the task log names file, row, column and rule.
"""

VARIANTS = ["global_sum", "deprivation_weighted", "imd_quintile_uplift", "mpig_recycled"]
PARAMETER_SETS = ["carr_hill_2004", "health_foundation_lsoa"]


def _ctx() -> dict:
    """The run context every task rebuilds the same way (cheap; no heavy imports)."""
    from gp_allocations_airflow import run_context_from_airflow

    context = get_current_context()
    run = context["dag_run"]
    return run_context_from_airflow(context["params"], run.run_id, run.run_after).to_dict()


def _stage(name: str, ctx: dict):
    from gp_allocations import pipeline
    from gp_allocations.config import RunContext

    return getattr(pipeline, f"stage_{name}")(RunContext.from_dict(ctx))


@dag(
    dag_id="gp_allocations_nightly",
    schedule="0 2 * * *",
    start_date=dt.datetime(2025, 4, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=3),
    tags=["gp-allocations", "primary-care", "finance", "nightly"],
    doc_md=DOC,
    default_args={
        "owner": "primary-care-data",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=20),
        "execution_timeout": dt.timedelta(minutes=45),
    },
    params={
        "period": Param(
            "",
            type="string",
            pattern=r"^(|\d{4}-\d{2}-Q[1-4])$",
            title="Reporting period",
            description="Financial-year quarter, e.g. 2025-26-Q2. Empty: the quarter of the run date.",
        ),
        "variant": Param("global_sum", enum=VARIANTS, title="Formula variant shown as the headline"),
        "parameter_set": Param("carr_hill_2004", enum=PARAMETER_SETS, title="Parameter set"),
        "price_per_weighted_patient": Param(
            None,
            type=["null", "number"],
            minimum=1,
            maximum=1000,
            title="Price per weighted patient (GBP)",
            description="Empty: the financial year's price from the parameter file.",
        ),
    },
)
def gp_allocations_nightly():
    @task(doc_md="Work out the period and settings of this run (Params, connections, variables).")
    def prepare() -> dict:
        return _ctx()

    @task_group(group_id="pull")
    def pull(ctx):
        @task(doc_md="Copy each extract, unchanged, into the run's raw area with its SHA-256.")
        def pull_extracts(ctx: dict) -> dict:
            return _stage("pull", ctx)

        return pull_extracts(ctx)

    @task_group(group_id="standardise")
    def standardise(ctx):
        @task(doc_md="Recognise each file's published layout and map it to the canonical schema.", retries=0)
        def standardise_extracts(ctx: dict) -> dict:
            return _stage("standardise", ctx)

        return standardise_extracts(ctx)

    @task_group(group_id="validate")
    def validate(ctx):
        @task(doc_md="Great Expectations suites and cross-extract checks; errors stop the run.", retries=0)
        def validate_extracts(ctx: dict) -> dict:
            return _stage("validate", ctx)

        return validate_extracts(ctx)

    @task_group(group_id="load")
    def load(ctx):
        @task(doc_md="Load the period into the warehouse: staging, then core, in one transaction.")
        def load_warehouse(ctx: dict) -> dict:
            return _stage("load", ctx)

        return load_warehouse(ctx)

    @task_group(group_id="compute")
    def compute(ctx):
        @task(doc_md="Weighted list, capitation per variant and QOF per practice; marts per level.")
        def compute_allocations(ctx: dict) -> dict:
            return _stage("compute", ctx)

        return compute_allocations(ctx)

    @task_group(group_id="publish")
    def publish(ctx):
        @task(doc_md="Workbooks per sub-ICB location, national summary and manifest, moved into place at once.")
        def publish_workbooks(ctx: dict) -> dict:
            return _stage("publish", ctx)

        return publish_workbooks(ctx)

    ctx = prepare()
    pulled = pull(ctx)
    standardised = standardise(ctx)
    validated = validate(ctx)
    loaded = load(ctx)
    computed = compute(ctx)
    published = publish(ctx)
    pulled >> standardised >> validated >> loaded >> computed >> published


gp_allocations_nightly()
