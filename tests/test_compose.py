"""The production stack's files agree with each other and with the project (no Docker engine here).

Checks what would otherwise only fail at `docker compose up`: every service of the official Airflow 3
CeleryExecutor stack is there, the image is the pinned Airflow version, the auth manager and executor
classes exist in that version, the project's folders are mounted where the settings point, secrets
come only from .env, and every long-running service has a health check.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", line.strip())
        if m:
            pins[re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")] = m.group(2)
    return pins


def _env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _mounts(service: dict) -> dict[str, str]:
    """container path -> host source (bind path or volume name)."""
    out = {}
    for spec in service.get("volumes") or []:
        source, target = spec.split(":")[:2]
        out[target] = source
    return out


def test_every_service_of_the_celery_stack_is_there(compose) -> None:
    assert AIRFLOW_SERVICES | {"postgres", "redis"} <= set(compose["services"])


def test_image_and_requirements_name_the_same_airflow(compose) -> None:
    pins = _pins(ROOT / "requirements.txt")
    version = pins["apache-airflow"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+apache/airflow:(\S+)", dockerfile, flags=re.M)
    assert base.split("-")[0] == version
    installed = importlib.metadata.version("apache-airflow")
    assert installed == version, "the venv the tests run in is the version the image ships"
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service.get("build") == ".", name
        assert service["image"].endswith(f":{version}"), (name, service["image"])
    constraints = _pins(ROOT / "constraints.txt")
    for package, pinned in pins.items():
        assert constraints.get(package) == pinned, (package, pinned, constraints.get(package))
    for provider in ("celery", "postgres", "smtp"):
        assert f"apache-airflow-providers-{provider}" in pins


def test_executor_broker_and_metadata_database(compose) -> None:
    env = _env(compose["services"]["airflow-scheduler"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert re.fullmatch(r"redis://(:@)?redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    importlib.import_module("airflow.providers.celery.executors.celery_executor")


def test_auth_manager_exists_in_this_airflow(compose) -> None:
    env = _env(compose["services"]["airflow-apiserver"])
    module, _, cls = env["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert hasattr(importlib.import_module(module), cls), env["AIRFLOW__CORE__AUTH_MANAGER"]


def test_one_jwt_secret_and_fernet_key_from_env_file(compose) -> None:
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service.get("env_file") == [".env"], name
        env = _env(service)
        assert env["AIRFLOW__CORE__FERNET_KEY"] == "${AIRFLOW__CORE__FERNET_KEY}", name
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "${AIRFLOW__API_AUTH__JWT_SECRET}", name
    for secret in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "POSTGRES_PASSWORD",
        "AIRFLOW_ADMIN_PASSWORD",
    ):
        assert secret in example and example[secret] == "", f"{secret}: listed, value never committed"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    text = (ROOT / "docker-compose.yaml").read_text()
    literal = re.search(r"PASSWORD:\s*(?!\$\{)['\"]?\w", text)
    assert literal is None, "no literal password in compose"


def test_project_folders_are_mounted_where_settings_point(compose) -> None:
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        mounts, env = _mounts(service), _env(service)
        for folder in ("dags", "plugins", "include", "expectations"):
            assert mounts.get(f"/opt/airflow/{folder}") == f"./{folder}", (name, folder)
            assert (ROOT / folder).is_dir()
        assert env["GP_ALLOC_PROJECT_ROOT"] == "/opt/airflow"
        assert env["GP_ALLOC_OUTPUT_ROOT"] in mounts, "published workbooks live on a volume"
        assert env["GP_ALLOC_DATA_DIR"] in mounts
        assert mounts[env["GP_ALLOC_OUTPUT_ROOT"]] in compose["volumes"]
        assert "/opt/airflow/plugins" in env["PYTHONPATH"].split(":")
    # the warehouse database the connection names is the one the init script creates
    env = _env(compose["services"]["airflow-worker"])
    database = env["AIRFLOW_CONN_GP_WAREHOUSE"].rsplit("/", 1)[1]
    postgres = _mounts(compose["services"]["postgres"])
    init_sql = next(src for dst, src in postgres.items() if dst.startswith("/docker-entrypoint-initdb.d"))
    assert re.search(rf"CREATE DATABASE {database}\b", (ROOT / init_sql).read_text())


def test_long_running_services_have_health_checks(compose) -> None:
    for name, service in compose["services"].items():
        if name == "airflow-init":
            continue
        assert service.get("healthcheck", {}).get("test"), name
        if name.startswith("airflow-"):
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert compose["services"]["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == (
        "service_healthy"
    ), "workers talk to the API server's execution API"
    scheduler = _env(compose["services"]["airflow-scheduler"])
    assert scheduler["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"


def test_workers_scale_without_fixed_names_or_ports(compose) -> None:
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    assert _env(worker)["GP_ALLOC_LATE_ALERT"] == "true", "the stack runs the early late-run alert"
