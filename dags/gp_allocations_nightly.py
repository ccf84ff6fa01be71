"""Nightly GP allocations: wiring only. The work is done by the ``gp_allocations`` package."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, get_current_context, task, task_group

DOC = """
# GP allocations, nightly

Pulls the GP **contract** (NHS Payments to General Practice), **capitation** (patients registered by
age/sex and by LSOA, practice map) and **QOF** extracts, validates each with Great Expectations,
loads them into the warehouse, recomputes **Carr-Hill weighted capitation** with its
**deprivation-weighted** variants and QOF in exact pennies, and publishes one Excel workbook per
**sub-ICB location** (formerly CCG) plus a national summary and `manifest.json`.

| stage | what it does |
|---|---|
| pull | copies each extract unchanged into the run's raw area, with SHA-256, size, source, time |
| standardise | recognises each file's published layout (any era); maps it to one canonical schema |
| validate | GX suites in `expectations/` and cross-extract checks; errors stop the run |
| load | staging then core tables for the period, one transaction (SQL in `include/sql`) |
| compute | weighted list per practice for every variant, QOF, marts per level |
| publish | workbooks and manifest written aside, moved into `<output>/<period>/<run>/` at once |

**Period**: leave *period* empty on a nightly run: it is the financial-year quarter containing the
run date. Set it (e.g. `2025-26-Q2`) to rerun a period. Nothing is published when validation fails:
the task log names file, row, column and rule.
"""

VARIANTS = ["global_sum", "deprivation_weighted", "imd_quintile_uplift", "mpig_recycled"]
PARAMETER_SETS = ["carr_hill_2004", "health_foundation_lsoa"]

#: Downstream DAGs (e.g. delivery to finance) can schedule on the published workbooks.
WORKBOOKS = Asset(name="gp_allocations_workbooks", uri="file:///gp-allocations/outputs/workbooks")


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
        @task(doc_md="Open a clean staging folder; list the sub-ICB locations to write.")
        def prepare_publication(ctx: dict) -> list[str]:
            return _stage("publish_prepare", ctx)

        @task(
            doc_md="One sub-ICB location's workbook (mapped: one task per location).",
            map_index_template="{{ sub_icb_code }}",
        )
        def write_sub_icb_workbook(ctx: dict, sub_icb_code: str) -> dict:
            get_current_context()["sub_icb_code"] = sub_icb_code
            from gp_allocations import pipeline
            from gp_allocations.config import RunContext

            return pipeline.stage_publish_sub_icb(RunContext.from_dict(ctx), sub_icb_code)

        @task(doc_md="The national summary workbook: every sub-ICB, ICB and region, and the equity view.")
        def write_national_workbook(ctx: dict) -> dict:
            return _stage("publish_national", ctx)

        @task(
            doc_md="Manifest, then the run moved into `<output>/<period>/<run>/` at once; `latest` last.",
            outlets=[WORKBOOKS],
        )
        def finalise_publication(ctx: dict, sub_icb_files: list[dict], national: dict) -> dict:
            from gp_allocations import pipeline
            from gp_allocations.config import RunContext

            return pipeline.stage_publish_finalise(RunContext.from_dict(ctx), [*sub_icb_files, national])

        codes = prepare_publication(ctx)
        files = write_sub_icb_workbook.partial(ctx=ctx).expand(sub_icb_code=codes)
        national = write_national_workbook(ctx)
        codes >> national
        return codes, finalise_publication(ctx, files, national)

    ctx = prepare()
    pulled = pull(ctx)
    standardised = standardise(ctx)
    validated = validate(ctx)
    loaded = load(ctx)
    computed = compute(ctx)
    first_publish, _ = publish(ctx)
    pulled >> standardised >> validated >> loaded >> computed >> first_publish


gp_allocations_nightly()
