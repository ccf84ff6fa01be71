"""The DAG file imports cleanly, is wired as documented, and parses without heavy imports."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags["gp_allocations_nightly"]


def test_dag_has_the_documented_stages_in_order(dag) -> None:
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else None
    ids = {t.task_id for t in dag.tasks}
    for stage in ("pull", "standardise", "validate", "load", "compute", "publish"):
        assert any(i.startswith(f"{stage}.") for i in ids), f"no task group {stage}"
    chain = [
        "pull.pull_extracts",
        "standardise.standardise_extracts",
        "validate.validate_extracts",
        "load.load_warehouse",
        "compute.compute_allocations",
    ]
    for upstream, downstream in itertools.pairwise(chain):
        assert downstream in dag.get_task(upstream).downstream_task_ids, (upstream, downstream, order)


def test_dag_is_nightly_without_catchup_and_documented(dag) -> None:
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "gp-allocations" in dag.tags and "nightly" in dag.tags
    assert dag.doc_md and "sub-ICB" in dag.doc_md
    assert dag.timetable.expression == "0 2 * * *"


def test_every_task_retries_with_backoff_except_deterministic_stages(dag) -> None:
    for task in dag.tasks:
        if task.task_id.startswith(("standardise.", "validate.")):
            assert task.retries == 0, "bad input does not get better by retrying"
        elif task.task_id == "publish.deliver_workbooks":
            assert task.retries == 0, "a retry would e-mail the same workbook twice"
        else:
            assert task.retries >= 2 and task.retry_exponential_backoff, task.task_id
        assert task.doc_md, f"{task.task_id} has no doc_md"


def test_params_cover_period_variant_and_price(dag) -> None:
    params = dag.params
    assert {"period", "variant", "parameter_set", "price_per_weighted_patient"} <= set(params.keys())
    assert "deprivation_weighted" in params.get_param("variant").schema["enum"]


HEAVY = ("great_expectations", "xlsxwriter", "gp_allocations.engine", "gp_allocations.validation")


def test_dag_file_parses_without_heavy_imports() -> None:
    code = (
        "import sys, runpy; runpy.run_path('dags/gp_allocations_nightly.py');"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert loaded == "", f"the DAG file imports {loaded} at parse time"


# --- Params form, alerts, deadline, assets, delivery wiring ------------------------------------


def _resolve(dag, **values):
    """What the trigger form does: validate the given values against each Param's JSON schema."""
    import copy

    params = copy.deepcopy(dag.params)
    for key, value in values.items():
        params[key] = value  # ParamsDict validates each value as it is set
    return params.validate()


def test_params_accept_good_values_and_reject_bad_ones(dag) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    ok = _resolve(
        dag,
        period="2025-26-Q2",
        variant="deprivation_weighted",
        price_per_weighted_patient=120.5,
        extracts=["contracts", "practice_map"],
    )
    assert ok["extracts"] == ["contracts", "practice_map"]
    assert _resolve(dag)["extracts"] == [], "default: the nightly set"
    bad = [
        {"period": "2025-Q2"},
        {"period": "2025-26-Q5"},
        {"variant": "made_up"},
        {"price_per_weighted_patient": 0},
        {"price_per_weighted_patient": 1000.01},
        {"extracts": ["contracts", "not_an_extract"]},
        {"extracts": ["contracts", "contracts"]},
        {"extracts": "contracts"},
    ]
    for values in bad:
        with pytest.raises(ParamValidationError):
            _resolve(dag, **values)


def test_extracts_param_offers_exactly_the_known_extracts(dag) -> None:
    from gp_allocations.extracts import EXTRACTS, NIGHTLY_EXTRACTS

    schema = dag.params.get_param("extracts").schema
    assert set(schema["items"]["enum"]) == set(EXTRACTS)
    assert set(NIGHTLY_EXTRACTS) <= set(EXTRACTS)


def test_every_task_and_the_run_alert_on_failure(dag) -> None:
    from gp_allocations_airflow import FailureAlert

    for task in dag.tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, FailureAlert) for c in callbacks), task.task_id
    run_callbacks = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    assert any(isinstance(c, FailureAlert) for c in run_callbacks)


def test_a_stuck_run_is_noticed_before_the_working_day(dag, monkeypatch) -> None:
    import datetime as dt

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.deadline import DeadlineAlert

    assert not dag.deadline, "off by default: dag.test() cannot run a DAG with a deadline in 3.3.2"
    monkeypatch.setenv("GP_ALLOC_LATE_ALERT", "true")
    late = DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False).dags["gp_allocations_nightly"]
    deadlines = late.deadline if isinstance(late.deadline, list) else [late.deadline]
    (alert,) = deadlines
    assert isinstance(alert, DeadlineAlert)
    assert alert.interval < dag.dagrun_timeout, "late alert comes before the run is stopped"
    assert alert.callback.path == "gp_allocations_airflow.deadline_missed"
    start = dt.datetime(2025, 7, 1, 2, 0)  # the 02:00 schedule
    assert start + dag.dagrun_timeout <= dt.datetime(2025, 7, 1, 8, 0)


def test_published_datasets_are_assets(dag) -> None:
    def names(task_id):
        return {getattr(o, "name", None) for o in dag.get_task(task_id).outlets}

    assert names("publish.finalise_publication") == {"gp_allocations_workbooks", "gp_allocations_manifest"}
    assert names("validate.validate_extracts") == {"gp_allocations_validation_report"}


def test_delivery_is_an_optional_step_after_publishing(dag) -> None:
    deliver = dag.get_task("publish.deliver_workbooks")
    assert deliver.upstream_task_ids == {"publish.finalise_publication"}
    assert deliver.downstream_task_ids == set()


def test_ui_plugin_loads_with_links_and_app() -> None:
    code = (
        "import sys; sys.path.insert(0, 'plugins'); import gp_allocations_ui as ui;"
        "p = ui.GpAllocationsUiPlugin;"
        "print(sorted(l.name for l in p.global_operator_extra_links),"
        " [a['url_prefix'] for a in p.fastapi_apps])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = "['Published outputs', 'Validation report'] ['/gp-allocations']"
    assert out.stdout.strip().splitlines()[-1] == expected
