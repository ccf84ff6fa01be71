"""The DAG file imports cleanly, is wired as documented, and parses without heavy imports."""

from __future__ import annotations

import itertools
import os
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


DATA_FLOW = [
    "prepare",
    "pull_extracts",
    "standardise_extracts",
    "validate_extracts",
    "load_warehouse",
    "compute_allocations",
    "workbooks.open_staging",
]


def test_the_graph_reads_as_the_data_flow(dag) -> None:
    for upstream, downstream in itertools.pairwise(DATA_FLOW):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}, (upstream, downstream)
    assert dag.get_task("workbooks.open_staging").downstream_task_ids == {
        "workbooks.write_sub_icb_workbook",
        "workbooks.write_national_workbook",
    }
    assert dag.get_task("review_publication").upstream_task_ids == {
        "workbooks.write_sub_icb_workbook",
        "workbooks.write_national_workbook",
    }
    # the sign-off sits between the review and publish; publish also hears from the review, so it runs
    # when the sign-off is skipped as not needed (and only then without one)
    assert dag.get_task("sign_off").upstream_task_ids == {"review_publication"}
    assert dag.get_task("publish").upstream_task_ids == {"review_publication", "sign_off"}
    assert dag.get_task("publish").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("deliver_workbooks").upstream_task_ids == {"publish"}
    # every task has exactly one way in, except the fan-ins: no edge from prepare to all
    fan_in = ("prepare", "review_publication", "publish", "workbooks.write_national_workbook")
    for task in dag.tasks:
        if task.task_id not in fan_in:
            assert len(task.upstream_task_ids) == 1, (task.task_id, task.upstream_task_ids)


def test_task_groups_only_where_they_group_several_tasks(dag) -> None:
    groups: dict[str, list[str]] = {}
    for task in dag.tasks:
        if "." in task.task_id:
            groups.setdefault(task.task_id.rsplit(".", 1)[0], []).append(task.task_id)
    assert groups, "the workbooks step is a group"
    for group, members in groups.items():
        assert len(members) >= 2, (group, members)


def test_the_dag_list_shows_a_description(dag) -> None:
    assert dag.description and 40 <= len(dag.description) <= 200
    assert "sub-ICB" in dag.description and "nightly" in dag.description.lower()


def test_dag_is_nightly_without_catchup_and_documented(dag) -> None:
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "gp-allocations" in dag.tags and "nightly" in dag.tags
    assert dag.doc_md and "sub-ICB" in dag.doc_md
    assert dag.timetable.expression == "0 2 * * *"


def test_every_task_retries_with_backoff_except_deterministic_stages(dag) -> None:
    for task in dag.tasks:
        if task.task_id in ("standardise_extracts", "validate_extracts"):
            assert task.retries == 0, "bad input does not get better by retrying"
        elif task.task_id == "deliver_workbooks":
            assert task.retries == 0, "a retry would e-mail the same workbook twice"
        elif task.task_id == "sign_off":
            assert task.retries == 0, "no answer in time is final (alert); clearing the task asks again"
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
    defaults = _resolve(dag)
    assert defaults["extracts"] is None and defaults["period"] is None, "defaults: the nightly set, run date"
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
    assert schema["examples"] == schema["items"]["enum"], "the form's multi-select offers exactly these"
    assert set(schema["values_display"]) == set(EXTRACTS)
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
    # a run waiting for its approver is not stuck: it may wait for the sign-off on top of the work
    wait = dag.get_task("sign_off").response_timeout
    assert wait >= dt.timedelta(hours=48), "an approver answers in working hours, maybe after a weekend"
    assert start + (dag.dagrun_timeout - wait) <= dt.datetime(2025, 7, 1, 8, 0)


def test_published_datasets_are_assets(dag) -> None:
    def names(task_id):
        return {getattr(o, "name", None) for o in dag.get_task(task_id).outlets}

    assert names("publish") == {"gp_allocations_workbooks", "gp_allocations_manifest"}
    assert names("validate_extracts") == {"gp_allocations_validation_report"}


def test_delivery_is_an_optional_step_after_publishing(dag) -> None:
    deliver = dag.get_task("deliver_workbooks")
    assert deliver.upstream_task_ids == {"publish"}
    assert deliver.downstream_task_ids == set()


def test_extra_links_only_on_the_tasks_they_belong_to(dag) -> None:
    links = {t.task_id: sorted(link.name for link in t.operator_extra_links) for t in dag.tasks}
    assert links.pop("validate_extracts") == ["Validation report"]
    assert links.pop("publish") == ["Published outputs"]
    assert all(names == [] for names in links.values()), links


def test_ui_plugin_adds_no_global_links_and_mounts_its_app() -> None:
    code = (
        "import sys; sys.path.insert(0, 'plugins'); import gp_allocations_ui as ui;"
        "p = ui.GpAllocationsUiPlugin;"
        "print(len(getattr(p, 'global_operator_extra_links', [])), [a['url_prefix'] for a in p.fastapi_apps])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 ['/gp-allocations']"


def test_the_plugins_folder_loads_with_no_import_errors(tmp_path) -> None:
    # Airflow imports every .py under plugins/ as a top-level module: a package that is not
    # listed in plugins/.airflowignore fails on its relative imports and every task log
    # carries the traceback.
    code = (
        "from airflow import plugins_manager; plugins, errors = plugins_manager._get_plugins();"
        "print(sorted(p.name for p in plugins if p.name.startswith('gp_')), sorted(errors))"
    )
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
    env["AIRFLOW_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "['gp_allocations_ui'] []"


# --- the trigger form's refusals read as sentences ----------------------------------------------------

BAD_TRIGGERS = [
    (
        {"period": "2025-Q2"},
        "Reporting period: '2025-Q2' is not in the expected form. Financial-year quarter",
    ),
    ({"period": "2025-26-Q5"}, "Reporting period: '2025-26-Q5' is not in the expected form."),
    (
        {"variant": "made_up"},
        "Formula variant shown as the headline: 'made_up' is not one of the choices: global_sum,",
    ),
    (
        {"price_per_weighted_patient": 0},
        "Price per weighted patient (GBP): 0 is below the lowest allowed value, 1.",
    ),
    ({"price_per_weighted_patient": 1000.01}, "is above the highest allowed value, 1000."),
    (
        {"extracts": ["contracts", "not_an_extract"]},
        "Extracts to pull: 'not_an_extract' is not one of the choices",
    ),
    ({"extracts": ["contracts", "contracts"]}, "Extracts to pull: each value may be chosen only once."),
    ({"extracts": "contracts"}, "Extracts to pull: 'contracts' is not empty or a list."),
    ({"override_reason": "x" * 2001}, "Override plausibility gates: reason: 'xxx"),
    ({"override_reason": "x" * 2001}, "is too long (2000 characters at most). Empty: a breached"),
]


@pytest.mark.parametrize(("conf", "sentence"), BAD_TRIGGERS)
def test_a_refused_trigger_value_is_explained_in_a_sentence(dag, conf, sentence) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    from gp_allocations_airflow.trigger_errors import readable_param_error

    ((key, value),) = conf.items()
    with pytest.raises(ParamValidationError) as raw:
        _resolve(dag, **conf)
    assert "Failed validating" in str(raw.value), "what Airflow itself answers"
    param = dag.params.get_param(key)
    text = readable_param_error(key, value, {**param.schema, "description": param.description})
    assert sentence in text and text.endswith("The run was not started.")
    assert "Failed validating" not in text and "^" not in text and "schema" not in text
    assert readable_param_error(key, param.value, {**param.schema}) is None, "defaults are valid"


def test_the_api_servers_400_is_reworded_for_this_dag_only(dag) -> None:
    """The middleware in front of an endpoint that answers as Airflow's trigger endpoint does."""
    import copy

    from fastapi import FastAPI, HTTPException
    from fastapi.testclient import TestClient

    from gp_allocations_airflow.trigger_errors import ReadableParamErrors

    app = FastAPI()

    @app.post("/api/v2/dags/{dag_id}/dagRuns")
    def trigger(dag_id: str, body: dict) -> dict:
        params = copy.deepcopy(dag.params)
        try:
            for key, value in (body.get("conf") or {}).items():
                params[key] = value
            params.validate()
        except Exception as exc:  # Airflow: HTTPException(400, str(ParamValidationError))
            raise HTTPException(400, str(exc)) from exc
        return {"dag_run_id": "manual__1", "state": "queued"}

    def schema_of(dag_id, key):
        param = dag.params.get_param(key)
        return {**param.schema, "description": param.description}

    wrapped = ReadableParamErrors(app, schema_of=schema_of)
    client = TestClient(wrapped)
    bad = {"logical_date": None, "conf": {"period": "2025-Q9"}}
    answer = client.post("/api/v2/dags/gp_allocations_nightly/dagRuns", json=bad)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail.startswith("Reporting period: '2025-Q9' is not in the expected form.")
    assert int(answer.headers["content-length"]) == len(answer.content)
    ok = client.post("/api/v2/dags/gp_allocations_nightly/dagRuns", json={"conf": {}})
    assert ok.status_code == 200 and ok.json()["state"] == "queued", "the body still reaches the endpoint"
    other = client.post("/api/v2/dags/another_teams_dag/dagRuns", json=bad)
    assert "Failed validating" in other.json()["detail"], "other teams' DAGs are left alone"
    planted = TestClient(ReadableParamErrors(app, schema_of=lambda d, k: 1 / 0))
    kept = planted.post("/api/v2/dags/gp_allocations_nightly/dagRuns", json=bad)
    assert kept.status_code == 400 and "Invalid input for param period" in kept.json()["detail"]


def test_an_override_reason_is_fixed_in_the_run_context_with_the_triggering_user(dag, tmp_path, monkeypatch):
    import datetime as dt

    from gp_allocations_airflow import run_context_from_airflow

    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(tmp_path))
    params = _resolve(dag, period="2025-26-Q2", override_reason="merger of Y01234 confirmed")
    when = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    ctx = run_context_from_airflow(params, "manual__1", when, "jane.smith")
    assert (ctx.override_reason, ctx.override_by) == ("merger of Y01234 confirmed", "jane.smith")
    assert ctx.override_at
    plain = run_context_from_airflow(_resolve(dag, period="2025-26-Q2"), "manual__2", when, "jane.smith")
    assert (plain.override_reason, plain.override_by, plain.override_at) == (None, None, None)
