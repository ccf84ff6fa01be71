"""Smoke test of scripts/bench.py's pieces at tiny size.

No timing assertions: the figures come from `make bench`, never from tests.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025-26-Q2"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_script"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_sample(bench, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("bench")
    return bench.ensure_sample(work, 20, 5, PERIOD)


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_growth_exponent_is_the_log_log_slope(bench):
    assert bench.growth_exponent([1, 2, 4], [3.0, 6.0, 12.0]) == pytest.approx(1.0)
    assert bench.growth_exponent([1, 2, 4], [1.0, 4.0, 16.0]) == pytest.approx(2.0)
    assert bench.growth_exponent([1, 2], [5.0, None]) is None  # one usable point is no slope


def test_peak_memory_is_per_child_not_the_largest_child_so_far(tmp_path):
    # Measured from a small parent, as `make bench` runs: a forked child's peak RSS starts at its
    # parent's size, so measuring from inside pytest (hundreds of MB) would hide the difference.
    code = f"""
import importlib.util, json, pathlib, sys
spec = importlib.util.spec_from_file_location("bench_script", {str(ROOT / "scripts" / "bench.py")!r})
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_script"] = bench
spec.loader.exec_module(bench)
big = "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"
out = {{}}
logs = pathlib.Path({str(tmp_path)!r})
for name, snippet in (("big", big), ("small", "pass"), ("fail", "raise SystemExit(3)")):
    m = bench.run_measured([sys.executable, "-c", snippet], log_path=logs / (name + ".log"))
    out[name] = [m.ok, m.peak_rss_mb, m.returncode]
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    measures = json.loads(done.stdout.strip().splitlines()[-1])
    assert measures["big"][0] and measures["big"][1] >= 300
    assert measures["small"][1] < 150  # would be >= 300 with getrusage(RUSAGE_CHILDREN)
    assert measures["fail"][0] is False and measures["fail"][2] == 3


def test_sample_is_cached_and_floor_reads_every_row(bench, tiny_sample):
    marker = tiny_sample / ".complete.json"
    stamp = marker.stat().st_mtime_ns
    assert bench.ensure_sample(tiny_sample.parent.parent, 20, 5, PERIOD) == tiny_sample
    assert marker.stat().st_mtime_ns == stamp  # not generated twice

    floor = bench.read_floor(tiny_sample)
    expected = {p.name: len(_csv_rows(p)) for p in tiny_sample.iterdir() if p.suffix == ".csv"}
    assert floor["files"] == expected
    assert floor["rows"] == sum(expected.values())


def test_duckdb_peer_totals_the_national_list_at_the_quarter_price(bench, tiny_sample):
    frame = bench.duckdb_peer(tiny_sample, PERIOD)

    age = _csv_rows(tiny_sample / "gp-reg-pat-prac-quin-age.csv")
    registered = sum(
        int(r["NUMBER_OF_PATIENTS"])
        for r in age
        if r["ORG_TYPE"] == "GP" and r["SEX"] in ("MALE", "FEMALE") and r["AGE_GROUP_5"] != "ALL"
    )
    params = yaml.safe_load((ROOT / "include/parameters/carr_hill_2004/2025-26.yaml").read_text())[
        "parameters"
    ]
    price_quarter = float(params["price_per_weighted_patient"]["value"]) / 4
    sub_icbs = {r["SUB_ICB_LOCATION_CODE"] for r in _csv_rows(tiny_sample / "gp-reg-pat-prac-map.csv")}

    assert set(frame["sub_icb_code"]) == sub_icbs
    # Normalising to the registered list makes each variant's England total the list times the price.
    for column in ("capitation_age_sex_gbp", "capitation_deprivation_gbp"):
        assert frame[column].sum() == pytest.approx(registered * price_quarter, abs=0.01 * len(frame))
    # Deprivation moves money between sub-ICB locations (else the variant would measure nothing).
    assert (frame["capitation_age_sex_gbp"] - frame["capitation_deprivation_gbp"]).abs().max() > 1


def test_run_context_fields_match_the_pipeline(bench, tmp_path):
    sys.path.insert(0, str(ROOT / "plugins"))
    from gp_allocations.config import RunContext

    ctx = RunContext.from_dict(bench.make_ctx("r1", tmp_path / "src", tmp_path, "sqlite:///x.db", PERIOD))
    assert ctx.run_dir == tmp_path / "runs" / PERIOD / "r1"
    assert ctx.output_root == (tmp_path / "outputs").resolve()


def _series(total: float, compute_s: float, publish_s: float, peak: float, ok: bool = True) -> dict:
    stages = {
        "compute": {"wall_s": compute_s, "ok": True},
        "publish": {"wall_s": publish_s, "ok": True},
        "load": {"wall_s": total - compute_s - publish_s, "ok": ok},
    }
    return {"stages": stages, "total_wall_s": total, "peak_rss_mb": peak, "ok": ok}


def _results(**parts) -> dict:
    base = {"full_sqlite": _series(24.0, 4.0, 14.0, 1400.0), "duckdb_peer": {"wall_s": 2.5, "ok": True}}
    return {**base, **parts}


def test_targets_are_issue_20s_table_with_its_before_column(bench):
    assert set(bench.TARGETS) == set(bench.BEFORE) == set(bench.TARGET_LABELS)
    targets = bench.check_targets(_results())
    assert targets["stages_total_s"] == {"value": 24.0, "limit": 25.0, "met": True, "before": "60.9 s"}
    assert targets["compute_vs_duckdb"]["value"] == 1.6 and targets["compute_vs_duckdb"]["met"]
    assert targets["publish_s"]["met"] and targets["stage_peak_rss_mb"]["met"]
    # steps not run are absent, never "met"
    for name in ("stages_total_postgresql_s", "cli_run_peak_rss_mb", "dags_test_s", "x4_peak_rss_mb"):
        assert name not in targets


def test_each_target_fails_past_its_limit_or_when_its_step_failed(bench):
    slow = _results(
        full_sqlite=_series(25.5, 5.5, 15.5, 1600.0),
        full_postgresql=_series(39.0, 6.0, 10.0, 1000.0, ok=False),
        cli_run={"wall_s": 30.0, "peak_rss_mb": 2100.0, "ok": True},
        dags_test={"wall_s": 70.0, "ok": False},
        sqlite_4x={"peak_rss_mb": 9000.0, "ok": True},
        scaling={"exponent": {"load": 1.06, "compute": 0.9}},
    )
    targets = bench.check_targets(slow)
    met = {name: t["met"] for name, t in targets.items()}
    assert met == {
        "stages_total_s": False,  # 25.5 > 25
        "compute_vs_duckdb": False,  # 5.5 / 2.5 = 2.2x > 2x
        "publish_s": False,
        "stages_total_postgresql_s": False,  # under 40 s but a stage failed
        "stage_peak_rss_mb": False,  # 1600 MB > 1.5 GB
        "cli_run_peak_rss_mb": False,
        "dags_test_s": False,  # fast but failed
        "growth_exponent": False,
        "x4_peak_rss_mb": True,
    }
    assert targets["growth_exponent"]["value"] == 1.06
    # a stage without a slope (it failed at some size) fails the growth target
    gaps = bench.check_targets(_results(scaling={"exponent": {"load": 1.0, "publish": None}}))
    assert gaps["growth_exponent"]["met"] is False


def test_growth_exponent_is_fitted_from_a_quarter_to_twice_england(bench):
    scaling = {"sizes": [0.25, 0.5, 1.0, 2.0, 4.0], "seconds": {"load": [1.0, 2.0, 4.0, 8.0, 64.0]}}
    assert bench.growth_exponents(scaling, 1.0) == {"load": pytest.approx(1.0)}  # 4x shown, not fitted


def test_scaling_table_stays_in_order_of_size_whatever_order_the_series_ran(bench):
    scaling = {"sizes": [], "practices": [], "seconds": {s: [] for s in bench.STAGES}}
    for size, load_s in ((1.0, 4.0), (4.0, 16.0), (0.25, 1.0), (2.0, 8.0)):
        bench.add_to_scaling(scaling, size, int(6500 * size), {"stages": {"load": {"wall_s": load_s}}})
    assert scaling["sizes"] == [0.25, 1.0, 2.0, 4.0]
    assert scaling["practices"] == [1625, 6500, 13000, 26000]
    assert scaling["seconds"]["load"] == [1.0, 4.0, 8.0, 16.0]
    assert scaling["seconds"]["publish"] == [None] * 4


def test_page_shows_before_and_after_and_says_what_was_not_run(bench):
    args = bench._parser().parse_args(["--no-x4", "--no-dags-test"])
    results = _results(not_run=bench._not_run(args))
    results["targets"] = bench.check_targets(results)
    text = "\n".join(bench.render_targets(results))
    assert "| 60.9 s | 24.00 | 25.00 | yes |" in text
    assert "| `airflow dags test`, England, s | 110.5 s | not run |" in text
    assert "stages at 4x (--no-x4)" in text and "`airflow dags test` (--no-dags-test)" in text


def test_profile_of_a_stage_returns_its_result_and_writes_the_call_tree(bench, tmp_path):
    def stage(ctx):
        # long enough for pyinstrument's sampler (1 ms) to see it: a shorter stage records no samples
        start = time.perf_counter()
        while time.perf_counter() - start < 0.2:
            sum(range(10_000))
        return {"ctx": ctx, "sum": sum(range(10_000))}

    out, profiler = bench.profiled(stage, "c", tmp_path / "profile.txt")
    assert out == {"ctx": "c", "sum": 49995000}
    assert profiler in {"pyinstrument", "cProfile (pyinstrument is not installed)"}
    assert "stage" in (tmp_path / "profile.txt").read_text()


def test_cli_run_is_measured_as_one_child_that_publishes(bench, tiny_sample, tmp_path):
    cli = bench.cli_run(tiny_sample, tmp_path / "cli", PERIOD)
    assert cli["ok"], Path(cli["log"]).read_text()[-2000:]
    assert cli["workbooks"] > 0 and cli["peak_rss_mb"] > 50


def test_markdown_block_is_replaced_and_hand_written_text_kept(bench, tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nAnalysis written by hand.\n")
    bench.write_markdown(page, f"{bench.MD_START}\nfirst\n{bench.MD_END}")
    bench.write_markdown(page, f"{bench.MD_START}\nsecond\n{bench.MD_END}")
    text = page.read_text()
    assert "Analysis written by hand." in text
    assert "second" in text and "first" not in text
    assert text.count(bench.MD_START) == 1
