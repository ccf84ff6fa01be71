"""Scale-out without Docker: the nightly DAG on CeleryExecutor with two workers, then every process stopped.

Starts, on this machine, what docker-compose.yaml starts in containers: a fresh PostgreSQL metadata
database, a Redis broker database, the API server (Airflow 3 workers run tasks through its execution
API), the scheduler, the DAG processor and two Celery workers with distinct hostnames. Triggers one run
on a small generated sample, waits for it, reports which worker ran each task, then stops every process
it started by process group (SIGTERM, then SIGKILL) and checks that none is left.

    PYTHONPATH=plugins .venv/bin/python scripts/scale_out.py --practices 60 --json /tmp/scale.json

Needs PostgreSQL (trust auth for the admin URL given) and Redis on localhost. Prints one JSON summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "gp_allocations_nightly"
WORKERS = ("worker-a", "worker-b")

HOSTNAME_MODULE = '''
import os


def hostname() -> str:
    """Each scale-out worker reports its own name (both run on one machine)."""
    return os.environ.get("GP_SCALE_OUT_HOSTNAME") or os.uname().nodename
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_redis_db(host: str = "127.0.0.1", port: int = 6379) -> int:
    """An empty Redis database number (1-15), so nobody else's queue is touched."""
    import redis

    for number in range(15, 0, -1):
        client = redis.Redis(host=host, port=port, db=number)
        try:
            if client.dbsize() == 0:
                client.set("gp-alloc-scale-out-lock", "1", ex=3600)
                return number
        finally:
            client.close()
    raise RuntimeError("no empty Redis database between 1 and 15")


class Stack:
    """The processes of one scale-out run; every one in its own process group, stopped by PID."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: children (task runners) stop with it
            cwd=self.workdir,
        )

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"process(es) exited early: {dead}; logs in {self.workdir}")

    def stop(self, grace: float = 30.0) -> dict:
        """SIGTERM each process group, wait, SIGKILL what is left; return what was stopped and how."""
        report: dict[str, dict] = {}
        for name, proc in self.procs.items():
            report[name] = {"pid": proc.pid, "signal": None}
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
                report[name]["signal"] = "SIGTERM"
        deadline = time.monotonic() + grace
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                report[name]["signal"] = "SIGKILL"
                proc.wait(timeout=10)
        # a group outlives its leader if a child ignored SIGTERM: finish those too
        time.sleep(0.5)
        for name, proc in self.procs.items():
            if group_members(proc.pid):
                _signal_group(proc.pid, signal.SIGKILL)
                report[name]["signal"] = "SIGKILL (group)"
        time.sleep(0.5)
        for name, proc in self.procs.items():
            report[name]["left"] = group_members(proc.pid)
        return report


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """PIDs still alive in a process group (read from /proc; zombies of ours do not count)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            alive.append(int(entry.name))
    return alive


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(what: str, check, timeout: float, stack: Stack | None = None, every: float = 2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if stack is not None:
            stack.check_alive()
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def run(args: argparse.Namespace) -> dict:
    from gp_allocations.periods import Period
    from gp_allocations_samples import generate_samples

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gp-alloc-scale-out-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "scale_out_hostname.py").write_text(HOSTNAME_MODULE)
    extracts = workdir / "extracts"
    generate_samples(extracts, period=Period.parse(args.period), practices=args.practices, seed=11)

    db_name = f"gp_alloc_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    base = args.pg_admin_url.rsplit("/", 1)[0].split("://", 1)[1]
    meta_url = f"postgresql+psycopg2://{base}/{db_name}"
    redis_db = args.redis_db if args.redis_db is not None else free_redis_db()
    api_port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{ROOT / 'plugins'}:{workdir}",
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{base}/{db_name}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(args.concurrency),
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scale_out_hostname.hostname",
        # only the triggered run: the nightly cron must not add a run of its own
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "GP_ALLOC_SOURCE": str(extracts),
        "GP_ALLOC_DATA_DIR": str(workdir / "var"),
        "GP_ALLOC_OUTPUT_ROOT": str(workdir / "outputs"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{workdir / 'warehouse.sqlite'}",
        "GP_ALLOC_LATE_ALERT": "true",  # the DeadlineAlert path, as in the Docker stack
        "GX_ANALYTICS_ENABLED": "false",
    }
    env.pop("AIRFLOW__CORE__DAGS_FOLDER_OVERRIDE", None)
    summary: dict = {"workdir": str(workdir), "metadata_db": db_name, "redis_db": redis_db}
    stack = Stack(workdir, env)
    started = time.monotonic()
    try:
        migrate = airflow_cli(env, "db", "migrate", timeout=300)
        if migrate.returncode:
            raise RuntimeError(f"db migrate failed: {migrate.stderr[-2000:]}")
        stack.start("api-server", ["api-server", "--port", str(api_port)])
        stack.start("scheduler", ["scheduler"])
        stack.start("dag-processor", ["dag-processor"])
        for name in WORKERS:
            stack.start(
                name,
                [
                    "celery",
                    "worker",
                    "--celery-hostname",
                    f"{name}@%h",
                    "--concurrency",
                    str(args.concurrency),
                ],
                # two workers on one machine: each needs its own log-server port
                {"GP_SCALE_OUT_HOSTNAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        meta = sa.create_engine(meta_url.replace("+psycopg2", "+psycopg"))

        def dag_parsed() -> bool:
            with meta.connect() as conn:
                found = conn.execute(sa.text("SELECT 1 FROM dag WHERE dag_id = :d"), {"d": DAG_ID}).first()
                return found is not None

        wait_for("the DAG to be parsed", dag_parsed, args.timeout / 3, stack)
        run_id = f"scale_out__{uuid.uuid4().hex[:8]}"
        trigger = airflow_cli(
            env, "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"period": args.period})
        )
        if trigger.returncode:
            raise RuntimeError(f"trigger failed: {trigger.stderr[-2000:]}")
        airflow_cli(env, "dags", "unpause", DAG_ID)

        def finished() -> str | None:
            with meta.connect() as conn:
                state = conn.execute(
                    sa.text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"),
                    {"d": DAG_ID, "r": run_id},
                ).scalar()
            return state if state in ("success", "failed") else None

        summary["run_id"] = run_id
        summary["state"] = wait_for("the run to finish", finished, args.timeout, stack, every=3)
        summary["run_seconds"] = round(time.monotonic() - started, 1)
        with meta.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT task_id, map_index, state, hostname FROM task_instance"
                    " WHERE dag_id = :d AND run_id = :r ORDER BY task_id, map_index"
                ),
                {"d": DAG_ID, "r": run_id},
            ).all()
            deadlines = conn.execute(sa.text("SELECT count(*) FROM deadline_alert")).scalar()
        meta.dispose()
        summary["tasks"] = [{"task_id": t, "map_index": m, "state": s, "hostname": h} for t, m, s, h in rows]
        summary["hosts"] = sorted({h for *_, h in rows if h})
        summary["mapped_by_host"] = {}
        for _, m, _, h in rows:
            if m >= 0:
                summary["mapped_by_host"][h] = summary["mapped_by_host"].get(h, 0) + 1
        summary["deadline_alerts_registered"] = deadlines
        from gp_allocations.config import safe_name
        from gp_allocations.manifest import allocation_workbooks

        published = allocation_workbooks(workdir / "outputs" / args.period / safe_name(run_id))
        summary["workbooks"] = len(published)
    finally:
        summary["stopped"] = stack.stop()
        summary["left_running"] = sorted({p for s in summary["stopped"].values() for p in s["left"]})
        try:
            import redis

            redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
        except Exception:
            pass
        if not args.keep_db:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
    return summary


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", default="2025-26-Q2")
    parser.add_argument("--practices", type=int, default=60)
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    summary = run(args)
    text = json.dumps(summary, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text)
    print(text)
    return 0 if summary.get("state") == "success" and not summary["left_running"] else 1


if __name__ == "__main__":
    sys.exit(main())
