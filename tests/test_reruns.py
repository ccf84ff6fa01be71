"""Reruns and backfills: unchanged inputs record 'unchanged' without a new version; one corrected extract
publishes a new version whose manifest says what changed (inputs, totals per sub-ICB per variant)."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from _publishing import publish_result
from _workbook_fixtures import make_result, make_run
from gp_allocations import pipeline
from gp_allocations.ledger import load_allocation
from gp_allocations.manifest import build_manifest, content_sha256
from gp_allocations.views import practice_table
from test_faults_common import (
    PERIOD,
    context,
    generate_source,
    leftovers,
    publications,
    run_stages,
    visible_tree,
)


def test_unchanged_content_publishes_nothing_new(tmp_path):
    first = publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1")
    before = visible_tree(tmp_path)
    again = publish_result(
        make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-2", skip_unchanged=True
    )
    assert again.status == "unchanged" and again.directory == first.directory
    assert visible_tree(tmp_path) == before  # byte for byte: no new version, latest not moved
    assert not (tmp_path / PERIOD / "run-2").exists() and leftovers(tmp_path) == []


def test_content_ignores_run_specific_values_only():
    result, run = make_result(), make_run()
    files = [{"name": "a.xlsx", "sha256": "0" * 64, "bytes": 10, "rows": 3, "kind": "national"}]
    one = build_manifest(result, run, files, period_slug=PERIOD, run_id="run-1")
    other_run = {**one, "run_id": "run-2", "files": [{**files[0], "sha256": "1" * 64, "bytes": 11}]}
    other_run["inputs"] = [{**i, "fetched_at": "2030-01-01T00:00:00+00:00"} for i in one["inputs"]]
    assert content_sha256(other_run) == content_sha256(one)
    corrected = {**one, "inputs": [{**one["inputs"][0], "sha256": "ef" * 32}, *one["inputs"][1:]]}
    assert content_sha256(corrected) != content_sha256(one)
    moved_penny = make_result(qof_moved=1)
    other = build_manifest(moved_penny, run, files, period_slug=PERIOD, run_id="run-1")
    assert content_sha256(other) != content_sha256(one)


def _sub_icb_totals(practices: pd.DataFrame, variants: list[str]) -> dict[tuple[str, str], int]:
    return {
        (str(code), v): int(part[f"total_pence__{v}"].sum())
        for code, part in practices.groupby("sub_icb_code")
        for v in variants
    }


def test_rerun_unchanged_then_with_a_corrected_extract(tmp_path):
    source = generate_source(tmp_path / "src", practices=30, seed=5)
    data = tmp_path / "data"
    r1 = context(data, source, "run-1")
    run_stages(r1, ["pull", "standardise", "validate", "load", "compute", "publish"])
    published = visible_tree(data / "outputs")

    r2 = context(data, source, "run-2")  # e.g. a second trigger of the same night, same files
    out = run_stages(r2, ["pull", "standardise", "validate", "load", "compute", "publish"])
    assert out["status"] == "unchanged" and out["previous_run_id"] == "run-1"
    assert visible_tree(data / "outputs") == published
    assert publications(r1.warehouse_url) == [("run-1", "published"), ("run-2", "unchanged")]

    # a corrected QOF file: one practice's achieved points on one indicator go down
    corrected = tmp_path / "src2"
    shutil.copytree(source, corrected)
    (qof_file,) = [p for p in sorted(corrected.glob("ACHIEVEMENT_*.csv"))][:1]
    lines = qof_file.read_text().splitlines()
    i = next(
        n for n, line in enumerate(lines) if ",ACHIEVED_POINTS," in line and float(line.split(",")[-1]) > 2
    )
    fields = lines[i].split(",")
    practice = fields[3]
    fields[-1] = f"{float(fields[-1]) - 2:.2f}"
    lines[i] = ",".join(fields)
    qof_file.write_text("\n".join(lines) + "\n")

    r3 = context(data, corrected, "run-3")
    out = run_stages(r3, ["pull", "standardise", "validate", "load", "compute", "publish"])
    # figures finance may be paying from change: an approver signs off first (tests/test_signoff.py)
    assert out["status"] == "awaiting sign-off" and visible_tree(data / "outputs") == published
    out = pipeline.stage_sign_off(r3, approve=True, by="finance lead", comment="corrected QOF")
    assert out["status"] == "published" and out["previous_run_id"] == "run-1"
    assert publications(r1.warehouse_url)[-1] == ("run-3", "published")
    assert (data / "outputs" / PERIOD / "run-1").is_dir()  # the earlier version stays, for restoring
    manifest = json.loads((data / "outputs" / PERIOD / "latest" / "manifest.json").read_text())
    changes = manifest["changes"]
    assert changes["previous_run_id"] == "run-1" and changes["results_changed"] is True
    assert changes["parameters_changed"] is False
    assert [(c["extract"], c["file"], c["change"]) for c in changes["inputs"]] == [
        ("qof_achievement", f"qof_achievement/{qof_file.name}", "changed")
    ]
    # totals per sub-ICB per variant, from the two runs' practice figures
    old = load_allocation(r1.compute_dir / "result")
    new = load_allocation(r3.compute_dir / "result")
    before = _sub_icb_totals(practice_table(old), old.variants)
    after = _sub_icb_totals(practice_table(new), new.variants)
    expected = [
        {
            "sub_icb_code": code,
            "variant": v,
            "previous_total_pence": before[(code, v)],
            "total_pence": after[(code, v)],
            "difference_pence": after[(code, v)] - before[(code, v)],
        }
        for code, v in sorted(before)
        if before[(code, v)] != after[(code, v)]
    ]
    assert changes["totals"] == expected
    # only the corrected practice's QOF moved: its sub-ICB, every variant, by its QOF difference
    row_old = practice_table(old).set_index("practice_code").loc[practice]
    row_new = practice_table(new).set_index("practice_code").loc[practice]
    qof_delta = int(row_new["qof_pence"]) - int(row_old["qof_pence"])
    assert qof_delta < 0
    assert {(c["sub_icb_code"], c["difference_pence"]) for c in changes["totals"]} == {
        (str(row_old["sub_icb_code"]), qof_delta)
    }
    assert len(changes["totals"]) == len(old.variants)
