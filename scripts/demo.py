"""`make demo`: generate sample extracts, run the nightly DAG once with `airflow dags test`, show outputs.

Everything lands in the git-ignored ``var/`` folder: Airflow home (SQLite metadata DB), sample
extracts, the SQLite warehouse, run areas and the published workbooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
BIN = Path(sys.executable).parent


def main() -> int:
    practices = os.environ.get("PRACTICES", "6500")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(VAR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONPATH": str(ROOT / "plugins"),
        "GX_ANALYTICS_ENABLED": "false",
        "GP_ALLOC_DATA_DIR": str(VAR),
    }
    python = str(BIN / "python")
    period = subprocess.run(
        [python, "-m", "gp_allocations", "period"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    source = VAR / "sample-extracts"
    print(f"== generating sample extracts for {period} ({practices} practices) in {source}", flush=True)
    subprocess.run(
        [
            python,
            "-m",
            "gp_allocations",
            "generate",
            "--out",
            str(source),
            "--period",
            period,
            "--practices",
            practices,
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print("== preparing the Airflow metadata database (SQLite)", flush=True)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    print("== running gp_allocations_nightly once with `airflow dags test`", flush=True)
    started = time.monotonic()
    test = subprocess.run([str(BIN / "airflow"), "dags", "test", "gp_allocations_nightly"], env=env)
    if test.returncode != 0:
        print("the DAG run failed: see the task log above", file=sys.stderr)
        return test.returncode
    latest = VAR / "outputs" / period / "latest"
    if not latest.exists():
        print(f"the run finished but {latest} is missing", file=sys.stderr)
        return 1
    published = latest.resolve()
    manifest = json.loads((published / "manifest.json").read_text())
    workbooks = sorted(published.glob("*.xlsx"))
    print()
    print(f"== done in {time.monotonic() - started:.0f} s")
    print(f"workbooks ({len(workbooks)}): {published}")
    print(f"national summary:   {next((w for w in workbooks if w.name.endswith('_england.xlsx')), '-')}")
    print(f"manifest:           {published / 'manifest.json'} ({len(manifest.get('files', []))} files)")
    print(f"latest pointer:     {latest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
