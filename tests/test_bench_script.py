"""Smoke test of scripts/bench.py's pieces at tiny size.

No timing assertions: the figures come from `make bench`, never from tests.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
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


def _series(validate_s: float, total_others: float, publish_s: float) -> dict:
    stages = {
        "validate": {"wall_s": validate_s},
        "compute": {"wall_s": 6.0},
        "publish": {"wall_s": publish_s},
    }
    stages["load"] = {"wall_s": total_others - 6.0}
    total = validate_s + total_others + publish_s
    return {"stages": stages, "total_wall_s": total, "peak_rss_mb": 900.0}


def test_targets_compare_each_figure_with_its_limit(bench):
    targets = bench.check_targets(_series(10.0, 14.0, 6.0), peer_s=3.0, dags={"wall_s": 95.0, "ok": True})
    assert targets["stages_total_s"] == {"value": 30.0, "limit": 45.0, "met": True}
    assert targets["validate_share"]["value"] == pytest.approx(10 / 30, abs=1e-3)
    assert targets["validate_share"]["met"] is False  # exactly a third is not "under a third"
    assert targets["compute_vs_duckdb"] == {"value": 2.0, "limit": 3.0, "met": True}
    assert targets["dags_test_s"]["met"] is False
    assert targets["publish_s"]["met"] is True


def test_markdown_block_is_replaced_and_hand_written_text_kept(bench, tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nAnalysis written by hand.\n")
    bench.write_markdown(page, f"{bench.MD_START}\nfirst\n{bench.MD_END}")
    bench.write_markdown(page, f"{bench.MD_START}\nsecond\n{bench.MD_END}")
    text = page.read_text()
    assert "Analysis written by hand." in text
    assert "second" in text and "first" not in text
    assert text.count(bench.MD_START) == 1
