"""Shared helpers of the fault tests (kill, database restart, disk, concurrency, reruns). No tests here.

The kill harness: a stage runs in its own process through ``python -m gp_allocations stage NAME`` (the
same code an Airflow task runs). A fault point is patched in by a tiny driver: when the process reaches
it (inside the load transaction, between two workbooks, after the rename and before ``latest`` ...)
it writes a marker file and waits; the test then SIGKILLs it. Deterministic: no timing, no sleeps in the
test. Running the stage again with the same run id is what Airflow's retry (or a user's "clear") does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025-26-Q2"
STAGE_ORDER = ["pull", "standardise", "validate", "load", "compute", "publish"]

# Fault points: (module to patch, attribute, which call hangs, write a partial file first?)
_DRIVER = r"""
import os, sys, time
from pathlib import Path

marker = Path(os.environ["FAULT_MARKER"])
point = os.environ["FAULT_POINT"]


def hang():
    marker.write_text(str(os.getpid()))
    while True:  # killed from outside; never returns
        time.sleep(60)


def hang_on_call(module, name, nth, before=True, partial=None):
    original = getattr(module, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == nth:
            if partial:
                partial(*args, **kwargs)
            if before:
                hang()
            out = original(*args, **kwargs)
            hang()
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


from gp_allocations import ledger, publish, pull, warehouse

if point == "pull-mid-file":
    # third file: half its bytes are in the raw area's .part file when the worker dies
    def half(stream, target, *_limits):
        target.with_name(target.name + ".part").write_bytes(stream.read(2000))
    hang_on_call(pull, "_copy_stream", 3, partial=half)
elif point == "load-in-transaction":
    hang_on_call(warehouse, "bulk_insert", 3, before=False)  # staging rows written, not committed
elif point == "compute-in-marts":
    hang_on_call(warehouse, "bulk_insert", 1, before=False)  # ledger mart written, not committed
elif point == "compute-saving-result":
    def some(result, folder):
        folder.mkdir(parents=True, exist_ok=True)
        result.practices.to_parquet(folder / "practices.parquet", index=False)
    hang_on_call(ledger, "save_allocation", 1, partial=some)  # marts committed, hand-off half written
elif point == "publish-some-workbooks":
    hang_on_call(publish, "stage_sub_icb_workbook", 2, before=False)
elif point == "publish-after-rename":
    hang_on_call(publish, "_point_latest", 1)  # run folder moved into place, latest not yet moved
elif point == "publish-before-record":
    hang_on_call(warehouse, "record_publication", 1)  # published on disk, not yet in the warehouse
elif point != "none":
    raise SystemExit(f"unknown fault point {point}")

from gp_allocations.cli import main
sys.exit(main(sys.argv[1:]))
"""


def env_for(data_dir: Path, warehouse_url: str | None = None, output_root: Path | None = None) -> dict:
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "plugins"), env.get("PYTHONPATH", "")])
    env["GP_ALLOC_DATA_DIR"] = str(data_dir)
    env["GX_ANALYTICS_ENABLED"] = "false"
    env["GP_ALLOC_WAREHOUSE_URL"] = warehouse_url or f"sqlite:///{data_dir / 'warehouse.sqlite'}"
    env["GP_ALLOC_OUTPUT_ROOT"] = str(output_root or data_dir / "outputs")
    return env


def stage_command(stage: str, run_id: str, source: Path, period: str = PERIOD) -> list[str]:
    args = ["stage", stage, "--run-id", run_id, "--period", period, "--source", str(source)]
    return [sys.executable, "-c", _DRIVER, *args]


def run_stage_process(stage: str, run_id: str, source: Path, env: dict, period: str = PERIOD):
    """Run one stage in a fresh process with no fault; return the CompletedProcess."""
    env = {**env, "FAULT_POINT": "none", "FAULT_MARKER": os.devnull}
    return subprocess.run(
        stage_command(stage, run_id, source, period), env=env, capture_output=True, text=True, timeout=600
    )


def kill_stage_at(point: str, stage: str, run_id: str, source: Path, env: dict, marker: Path) -> int:
    """Start the stage in its own process, wait until it reaches ``point``, SIGKILL it. Returns the
    exit status (negative signal number)."""
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        stage_command(stage, run_id, source),
        env={**env, "FAULT_POINT": point, "FAULT_MARKER": str(marker)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(
                    f"stage {stage} ended (status {proc.returncode}) before reaching {point}: "
                    f"{proc.stderr.read()[-3000:]}"
                )
            time.sleep(0.05)  # polling for the marker only; the kill point itself is deterministic
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()


def context(data_dir: Path, source: Path, run_id: str, **kw):
    from gp_allocations.config import RunContext

    return RunContext.prepare(
        run_id=run_id,
        period=kw.pop("period", PERIOD),
        source=str(source),
        data_dir=str(data_dir),
        warehouse_url=kw.pop("warehouse_url", None) or f"sqlite:///{data_dir / 'warehouse.sqlite'}",
        output_root=str(kw.pop("output_root", None) or data_dir / "outputs"),
        **kw,
    )


def run_stages(ctx, names: list[str]) -> dict:
    from gp_allocations import pipeline

    out: dict = {}
    for name in names:
        out = getattr(pipeline, f"stage_{name}")(ctx)
    return out


def generate_source(folder: Path, practices: int = 40, seed: int = 11, period: str = PERIOD) -> Path:
    from gp_allocations.periods import Period
    from gp_allocations_samples import generate_samples

    generate_samples(folder, period=Period.parse(period), practices=practices, seed=seed)
    return folder


def visible_tree(output_root: Path, period: str = PERIOD) -> dict[str, bytes]:
    """Everything a reader of ``<root>/<period>/`` sees: file bytes, and link targets for symlinks."""
    out: dict[str, bytes] = {}
    base = Path(output_root) / period
    for path in sorted(base.rglob("*")):
        rel = str(path.relative_to(base))
        if path.is_symlink():
            out[rel] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def leftovers(output_root: Path, period: str = PERIOD) -> list[str]:
    """Temporary files where a reader could find them, and files left in the run's staging area."""
    base = Path(output_root) / period
    found = [
        str(p)
        for p in base.rglob("*")
        if p.name.startswith(".") or p.name.endswith((".part", ".tmp")) or ".staging" in p.parts
    ]
    staging = Path(output_root) / ".staging" / period
    found += [str(p) for p in staging.rglob("*") if p.is_file()] if staging.exists() else []
    return found


def period_counts(url: str, period: str = PERIOD) -> dict[str, int]:
    """Rows for the period in every warehouse table that has a period column."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        counts = {}
        with engine.connect() as conn:
            for table in sorted(inspector.get_table_names()):
                if "period" in {c["name"] for c in inspector.get_columns(table)}:
                    counts[table] = conn.execute(
                        sa.text(f"SELECT count(*) FROM {table} WHERE period = :p"), {"p": period}
                    ).scalar_one()
        return counts
    finally:
        engine.dispose()


def publications(url: str, period: str = PERIOD) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT run_id, status FROM publication WHERE period = :p ORDER BY run_id"),
                {"p": period},
            ).fetchall()
        return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
