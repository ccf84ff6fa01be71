"""Concurrency: two runs of one period cannot both publish; two periods run side by side untouched.

Airflow's ``max_active_runs=1`` keeps two DAG runs apart; these tests are about the output-level guard
underneath it (a per-period flock held while finalising, and 'latest must not move under a run'), which
also covers a CLI run started by hand during the nightly run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from _workbook_fixtures import make_result, make_run
from gp_allocations import publish as pub
from gp_allocations.errors import PublishError
from gp_allocations.manifest import build_manifest
from test_faults_common import (
    PERIOD,
    context,
    env_for,
    generate_source,
    leftovers,
    period_counts,
    publications,
    run_stages,
    stage_command,
)


def _stage_run(root, run_id, result, run):
    staging = pub.stage_dir(root, PERIOD, run_id)
    codes = result.sub_icb_codes
    files = [pub.stage_sub_icb_workbook(result, run, staging, c, period_slug=PERIOD) for c in codes]
    files.append(pub.stage_national_workbook(result, run, staging, period_slug=PERIOD))
    return staging, build_manifest(result, run, files, period_slug=PERIOD, run_id=run_id)


def test_a_run_does_not_publish_over_a_newer_run_that_appeared_meanwhile(tmp_path):
    # both runs start while nothing is published; the later inputs (b) finish first
    old, new = make_result(), make_result(qof_moved=100)
    staging_a, manifest_a = _stage_run(tmp_path, "run-a", old, make_run())
    staging_b, manifest_b = _stage_run(tmp_path, "run-b", new, make_run())
    done = pub.finalise_run(staging_b, tmp_path, PERIOD, "run-b", manifest_b, expected_latest=None)
    assert done.status == "published"
    with pytest.raises(PublishError, match="'latest' moved from nothing to run-b"):
        pub.finalise_run(staging_a, tmp_path, PERIOD, "run-a", manifest_a, expected_latest=None)
    assert pub.latest_run(tmp_path, PERIOD) == done.directory
    assert not (tmp_path / PERIOD / "run-a").exists()
    # the same content arriving late is simply 'unchanged'
    staging_c, manifest_c = _stage_run(tmp_path, "run-c", new, make_run())
    late = pub.finalise_run(staging_c, tmp_path, PERIOD, "run-c", manifest_c, expected_latest=None)
    assert late.status == "unchanged" and late.directory == done.directory and not staging_c.exists()


def test_lock_waits_and_times_out_with_a_clear_message(tmp_path):
    with pub.period_lock(tmp_path, PERIOD):
        with (
            pytest.raises(PublishError, match="another run is publishing period 2025-26-Q2"),
            pub.period_lock(tmp_path, PERIOD, timeout=0.3),
        ):
            pass
        with pub.period_lock(tmp_path, "2025-26-Q3", timeout=0.3):  # another period: no wait
            pass
    with pub.period_lock(tmp_path, PERIOD, timeout=0.3):  # released
        pass


def test_two_processes_publishing_the_same_period_at_once(tmp_path):
    source = generate_source(tmp_path / "src", practices=30, seed=3)
    data = tmp_path / "data"
    ctx = context(data, source, "run-a")
    run_stages(ctx, ["pull", "standardise", "validate", "load", "compute"])
    # a second trigger of the same night with the same files: same computed state under another run id
    shutil.copytree(ctx.run_dir, ctx.run_dir.parent / "run-b")
    env = env_for(data)
    outputs = data / "outputs"
    with pub.period_lock(outputs, PERIOD):  # both will reach finalise while the period is locked
        procs = {
            r: subprocess.Popen(
                stage_command("publish", r, source),
                env={**env, "FAULT_POINT": "none", "FAULT_MARKER": os.devnull},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for r in ("run-a", "run-b")
        }
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not all(
            len(list((outputs / ".staging" / PERIOD / r).glob("*_england.xlsx"))) == 1 for r in procs
        ):
            assert all(p.poll() is None for p in procs.values()), "a publisher ended while the lock was held"
            time.sleep(0.1)
        assert all(p.poll() is None for p in procs.values())  # both waiting for the lock, none published
        assert not (outputs / PERIOD).exists()
    results = {}
    for r, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        results[r] = json.loads(out)
    statuses = sorted(v["status"] for v in results.values())
    assert statuses == ["published", "unchanged"]
    winner = next(r for r, v in results.items() if v["status"] == "published")
    loser = next(r for r in results if r != winner)
    assert results[loser]["previous_run_id"] == winner
    assert sorted(p.name for p in (outputs / PERIOD).iterdir()) == sorted(["LATEST", "latest", winner])
    assert pub.latest_run(outputs, PERIOD).name == winner
    assert sorted(publications(ctx.warehouse_url)) == sorted([(winner, "published"), (loser, "unchanged")])
    assert leftovers(outputs) == []


def test_two_periods_side_by_side(tmp_path):
    # one sample a quarter apart (its lists do not move within a year): two unrelated 25-practice samples
    # would be England's list changing by a fifth overnight, which the plausibility gates stop
    periods = {"2025-26-Q1": 21, "2025-26-Q2": 21}
    data = tmp_path / "data"
    env = env_for(data)
    procs = {}
    for period, seed in periods.items():
        src = generate_source(tmp_path / f"src-{period}", practices=25, seed=seed, period=period)
        cmd = [sys.executable, "-m", "gp_allocations", "run", "--period", period, "--source", str(src)]
        procs[period] = subprocess.Popen(
            [*cmd, "--run-id", f"nightly-{period}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for p in procs.values():
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert json.loads(out)["status"] == "published"
    url = f"sqlite:///{data / 'warehouse.sqlite'}"
    for period in periods:
        manifest = json.loads((data / "outputs" / period / "latest" / "manifest.json").read_text())
        assert manifest["period"] == period and manifest["run_id"] == f"nightly-{period}"
        practices = sum(t["practices"] for t in manifest["totals"]["sub_icb"].values())
        assert practices == 25
        counts = period_counts(url, period)
        assert counts["core_practice"] == 25 and counts["load_runs"] == 1
        assert counts["mart_practice_allocation"] == 25 * len(manifest["variants"])
        assert publications(url, period) == [(f"nightly-{period}", "published")]
        assert leftovers(data / "outputs", period) == []
