"""The command line shows a run's progress (stage, rows, elapsed) on stderr and closes with a summary; stdout
keeps the JSON outcome for scripts. Run as a user runs it: ``python -m gp_allocations run`` in a process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gp_allocations.periods import Period
from gp_allocations.progress import stage_detail
from gp_allocations_samples import generate_samples

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025-26-Q2"
STAGES = ("pull", "standardise", "validate", "load", "compute", "publish")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("progress")
    generate_samples(root / "src", period=Period.parse(PERIOD), practices=30, seed=3)
    return root


def _run(root: Path, run_id: str, source: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "plugins"),
        "GP_ALLOC_DATA_DIR": str(root / "var"),
        "GP_ALLOC_OUTPUT_ROOT": str(root / "out"),
        "GP_ALLOC_WAREHOUSE_URL": f"sqlite:///{root / 'wh.sqlite'}",
    }
    cmd = [sys.executable, "-m", "gp_allocations", "run", "--period", PERIOD, "--source", str(source)]
    return subprocess.run(
        [*cmd, "--run-id", run_id], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def test_a_run_shows_each_stage_with_its_rows_and_time_then_a_summary(root):
    done = _run(root, "progress-1", root / "src")
    assert done.returncode == 0, done.stderr[-2000:]
    err = done.stderr
    for number, stage in enumerate(STAGES, start=1):
        assert f"stage {number}/6 {stage} ..." in err
        assert re.search(rf"^{stage} done in \d+\.\d s: ", err, re.MULTILINE), stage
    rows = int(
        re.search(r"^standardise done in [\d.]+ s: ([\d,]+) rows in \d+ extracts", err, re.M)[1].replace(
            ",", ""
        )
    )
    assert rows > 30  # every row of every extract of the 30-practice sample
    assert re.search(
        r"^compute done in [\d.]+ s: 30 practices, \d+ variants; England annual global_sum £[\d,]+\.\d\d",
        err,
        re.M,
    )
    assert "Run summary" in err and re.search(r"total\s+│\s+[\d.]+\s+│\s+published", err)
    assert "Traceback" not in err
    outcome = json.loads(done.stdout)  # stdout is still the JSON outcome, nothing else
    assert outcome["status"] == "published" and outcome["workbooks"] >= 2


def test_a_stopped_run_ends_with_the_summary_and_one_error_line(root, tmp_path):
    bad = tmp_path / "src"
    bad.mkdir()
    for p in (root / "src").iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    target = next(bad.glob("gp-reg-pat-prac-quin-age*.csv"))
    lines = target.read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ",-5"  # a negative count of patients
    target.write_text("\n".join(lines) + "\n")
    done = _run(root, "progress-2", bad)
    assert done.returncode == 2
    # the reader refuses a negative count: the run stops in stage 2, before anything is loaded
    assert "stage 2/6 standardise ..." in done.stderr and "standardise done" not in done.stderr
    assert re.search(r"total\s+│\s+[\d.]+\s+│\s+stopped before publishing", done.stderr)
    assert done.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in done.stderr


def test_stage_details_read_each_stage_summary():
    assert stage_detail("pull", {"files": 16, "extracts": ["a", "b"]}) == "16 files of 2 extracts"
    assert (
        stage_detail("standardise", {"a": {"rows": 1000}, "b": {"rows": 234}}) == "1,234 rows in 2 extracts"
    )
    assert stage_detail("load", {"a": 10, "b": 5}) == "15 rows loaded into 2 tables"
    compute = {"practices": 3, "england_total_pence": {"global_sum": 123456, "mpig_recycled": 200000}}
    assert stage_detail("compute", compute) == "3 practices, 2 variants; England annual global_sum £1,234.56"
    assert stage_detail("compute", compute, "mpig_recycled").endswith("mpig_recycled £2,000.00")
    assert stage_detail("publish", {"status": "awaiting sign-off"}).startswith("awaiting sign-off")
