"""The production stack's files agree with each other and with the project (no Docker engine here).

Checks what would otherwise only fail at `docker compose up`: every service of the official Airflow 3
CeleryExecutor stack is there, the image is the pinned Airflow version, the auth manager and executor
classes exist in that version, the project's folders are mounted where the settings point, secrets
come only from .env, and every long-running service has a health check.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import secrets
import shutil
import subprocess
import uuid
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


SECRETS = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "POSTGRES_PASSWORD",
    "GP_WAREHOUSE_PASSWORD",
    "REDIS_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
)


def _warehouse_login(env: dict[str, str]) -> tuple[str, str]:
    """(user, database) of the warehouse connection URI."""
    m = re.fullmatch(
        r"postgresql://([^:@/]+):\$\{(\w+)\}@postgres:5432/(\w+)", env["AIRFLOW_CONN_GP_WAREHOUSE"]
    )
    assert m, env["AIRFLOW_CONN_GP_WAREHOUSE"]
    assert m[2] == "GP_WAREHOUSE_PASSWORD"
    return m[1], m[3]


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
    assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD\}@redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
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
    for secret in SECRETS:
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
    # the warehouse database and login the connection names are the ones the init script creates
    env = _env(compose["services"]["airflow-worker"])
    user, database = _warehouse_login(env)
    postgres = _mounts(compose["services"]["postgres"])
    init_sh = next(src for dst, src in postgres.items() if dst.startswith("/docker-entrypoint-initdb.d"))
    script = (ROOT / init_sh).read_text()
    assert f"-v warehouse_db={database}" in script and f"-v warehouse_user={user}" in script
    sql_target = re.search(r"-f (\S+)", script)[1]
    assert postgres[sql_target] == "./deploy/warehouse-init.sql"


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


def test_task_logs_are_kept_free_of_airflows_own_deprecation_line(compose) -> None:
    from gp_allocations_airflow.tasks import TASK_PYTHONWARNINGS

    assert _env(compose["services"]["airflow-worker"])["PYTHONWARNINGS"] == TASK_PYTHONWARNINGS


def test_workers_scale_without_fixed_names_or_ports(compose) -> None:
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    assert _env(worker)["GP_ALLOC_LATE_ALERT"] == "true", "the stack runs the early late-run alert"


# --- secure by default: what an exposed deployment must not have ------------------------------------


def _default(value: str) -> str:
    """Compose's ``${NAME:-default}`` as it resolves with nothing set."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def security_problems(compose: dict) -> list[str]:
    """Every way the stack would be unsafe to start on a reachable host; [] when none."""
    problems = []
    services = compose["services"]
    api = _env(services["airflow-apiserver"])
    if api.get("AIRFLOW__CORE__AUTH_MANAGER") != FAB_AUTH_MANAGER:
        problems.append(f"auth manager is {api.get('AIRFLOW__CORE__AUTH_MANAGER')}, not FAB")
    if any("SIMPLE_AUTH_MANAGER" in key for key in api):
        problems.append("simple auth manager settings left in")
    for name, service in services.items():
        for spec in service.get("ports") or []:
            parts = _default(str(spec)).split(":")
            public = len(parts) < 3 or parts[0] not in ("127.0.0.1", "localhost", "::1")
            if public and not (name == TLS_PROXY and "tls" in (service.get("profiles") or [])):
                problems.append(f"{name} publishes {spec} on every interface")
    proxy = services.get(TLS_PROXY)
    if not proxy or "reverse_proxy airflow-apiserver:8080" not in (ROOT / "deploy" / "Caddyfile").read_text():
        problems.append("no TLS proxy in front of the API server")
    redis = services["redis"]
    if "--requirepass" not in " ".join(map(str, redis.get("command") or [])):
        problems.append("redis has no password")
    if ":${REDIS_PASSWORD}@" not in api["AIRFLOW__CELERY__BROKER_URL"]:
        problems.append("the broker URL carries no password")
    if "REDISCLI_AUTH" not in _env(redis):
        problems.append("the redis health check cannot authenticate")
    user, database = _warehouse_login(_env(services["airflow-worker"]))
    metadata_user = _env(services["postgres"])["POSTGRES_USER"]
    if user == metadata_user or database == _env(services["postgres"])["POSTGRES_DB"]:
        problems.append(f"the warehouse connects as {user} to {database}: the metadata database's login")
    for name in AIRFLOW_SERVICES:
        mounts = {spec.split(":")[1]: spec for spec in services[name].get("volumes") or []}
        for folder in ("dags", "plugins", "include", "expectations"):
            if not mounts[f"/opt/airflow/{folder}"].endswith(":ro"):
                problems.append(f"{name} can write /opt/airflow/{folder}")
    if api.get("AIRFLOW__API__EXPOSE_CONFIG", "false").lower() != "false":
        problems.append("the configuration (with secrets) is exposed in the UI")
    for name in AIRFLOW_SERVICES:
        if "no-new-privileges:true" not in (services[name].get("security_opt") or []):
            problems.append(f"{name} may gain privileges (no-new-privileges is off)")
    problems += _literal_secrets(services)
    return problems


def _literal_secrets(services: dict) -> list[str]:
    """Secrets written into docker-compose.yaml instead of taken from .env: a secret variable or a
    password inside a connection URL that is not a ``${...}`` reference."""
    found = []
    for name, service in services.items():
        for key, value in _env(service).items():
            if key in SECRETS and not re.fullmatch(r"\$\{\w+\}", value):
                found.append(f"{name}: {key} is written in the file, not taken from .env")
            for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", value):
                if not re.fullmatch(r"\$\{\w+\}", password):
                    found.append(f"{name}: {key} has a password written in the file")
    return found


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
TLS_PROXY = "tls-proxy"


def test_the_stack_is_secure_by_default(compose) -> None:
    assert security_problems(compose) == []


def _planted(compose: dict, change) -> dict:
    import copy

    planted = copy.deepcopy(compose)
    change(planted["services"])
    return planted


def _set_env(service: dict, key: str, value: str) -> None:
    service["environment"] = {**service["environment"], key: value}


PLANTED = {
    "simple auth": lambda s: _set_env(
        s["airflow-apiserver"],
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    ),
    "every interface": lambda s: s["airflow-apiserver"].update(ports=["8080:8080"]),
    "bind default": lambda s: s["airflow-apiserver"].update(ports=["${AIRFLOW_BIND:-0.0.0.0}:8080:8080"]),
    "proxy always on": lambda s: s[TLS_PROXY].pop("profiles"),
    "redis open": lambda s: s["redis"].pop("command"),
    "broker no password": lambda s: _set_env(
        s["airflow-apiserver"], "AIRFLOW__CELERY__BROKER_URL", "redis://redis:6379/0"
    ),
    "warehouse as airflow": lambda s: _set_env(
        s["airflow-worker"],
        "AIRFLOW_CONN_GP_WAREHOUSE",
        "postgresql://airflow:${GP_WAREHOUSE_PASSWORD}@postgres:5432/gp_warehouse",
    ),
    "simple auth settings left in": lambda s: _set_env(
        s["airflow-apiserver"], "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "true"
    ),
    "no proxy": lambda s: s.pop(TLS_PROXY),
    "redis health check unauthenticated": lambda s: s["redis"]["environment"].pop("REDISCLI_AUTH"),
    "config exposed": lambda s: _set_env(s["airflow-apiserver"], "AIRFLOW__API__EXPOSE_CONFIG", "true"),
    "worker may gain privileges": lambda s: s["airflow-worker"].pop("security_opt"),
    "secret in the file": lambda s: _set_env(s["airflow-scheduler"], "AIRFLOW__API__SECRET_KEY", "s3cret"),
    "password in a URL": lambda s: _set_env(
        s["airflow-scheduler"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "postgresql+psycopg2://airflow:hunter2@postgres/airflow",
    ),
    "writable dags": lambda s: s["airflow-worker"].update(
        volumes=[
            v.replace("./dags:/opt/airflow/dags:ro", "./dags:/opt/airflow/dags")
            for v in s["airflow-worker"]["volumes"]
        ]
    ),
}


@pytest.mark.parametrize("defect", sorted(PLANTED))
def test_the_security_check_catches_a_planted_defect(compose, defect) -> None:
    assert security_problems(_planted(compose, PLANTED[defect])), defect


def test_fab_auth_manager_creates_the_admin_from_the_environment(compose) -> None:
    init = compose["services"]["airflow-init"]
    env = _env(init)
    assert env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_PASSWORD"] == "${AIRFLOW_ADMIN_PASSWORD}"
    assert env["_AIRFLOW_WWW_USER_USERNAME"].startswith("${AIRFLOW_ADMIN_USERNAME")
    script = "\n".join(map(str, init["command"]))
    for secret in SECRETS:
        assert secret in script, f"airflow-init refuses to start without {secret}"
    module, _, cls = FAB_AUTH_MANAGER.rpartition(".")
    assert hasattr(importlib.import_module(module), cls)


def _psql(*args: str, env_password: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"PGPASSWORD": env_password} if env_password else {})}
    return subprocess.run(
        ["psql", "-X", "-q", "-h", "127.0.0.1", *args], capture_output=True, text=True, env=env
    )


@pytest.mark.skipif(
    shutil.which("psql") is None, reason="psql is part of the PostgreSQL client on every machine"
)
def test_the_warehouse_login_has_least_privilege_on_a_real_postgresql() -> None:
    """Run deploy/warehouse-init.sql as the container would, then try what the login may and may not do."""
    suffix = uuid.uuid4().hex[:8]
    db, user, airflow_db = f"gp_wh_{suffix}", f"gp_wh_{suffix}", f"gp_meta_{suffix}"
    password = secrets.token_urlsafe(18)
    assert _psql("-U", "postgres", "-c", f'CREATE DATABASE "{airflow_db}"').returncode == 0
    try:
        run = _psql(
            "-U", "postgres", "-d", airflow_db,
            "-v", f"warehouse_db={db}", "-v", f"warehouse_user={user}",
            "-v", f"warehouse_password={password}", "-v", f"airflow_db={airflow_db}",
            "-f", str(ROOT / "deploy" / "warehouse-init.sql"),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        as_user = ["-U", user, "-d", db]
        ok = _psql(*as_user, "-c", "CREATE TABLE core_probe (x int); INSERT INTO core_probe VALUES (1); "
                   "DROP TABLE core_probe;", env_password=password)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        role = _psql(*as_user, "-tAc", "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                     "WHERE rolname = current_user", env_password=password)  # fmt: skip
        assert role.stdout.strip() == "f|f|f"
        denied = _psql("-U", user, "-d", airflow_db, "-c", "SELECT 1", env_password=password)
        assert denied.returncode != 0 and "permission denied" in denied.stderr, denied.stderr
        for sql in ("CREATE DATABASE probe_db", "CREATE ROLE probe_role"):
            refused = _psql(*as_user, "-c", sql, env_password=password)
            assert refused.returncode != 0 and "permission denied" in refused.stderr, (sql, refused.stderr)
    finally:
        _psql("-U", "postgres", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        _psql("-U", "postgres", "-c", f'DROP DATABASE IF EXISTS "{airflow_db}" WITH (FORCE)')
        _psql("-U", "postgres", "-c", f'DROP ROLE IF EXISTS "{user}"')
