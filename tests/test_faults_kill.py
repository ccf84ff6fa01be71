"""Kill tests: the task process is SIGKILLed in the middle of each stage, then the stage is run again with
the same run id (what Airflow's retry or a user's "clear" does) and the rest of the run follows.

Afterwards: the warehouse holds exactly one copy of the period (same row counts as an uninterrupted run,
one load run, one publication), the published folder is byte-identical to the uninterrupted run's
(workbooks, manifest, ``latest``), and no temporary file is left where a reader would look.
Killing pull means the files are fetched again, so the fetch times differ: there the manifest and
workbooks are compared with those times masked (everything else byte for byte / cell for cell).
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import openpyxl
import pytest

from gp_allocations.manifest import manifest_content
from test_faults_common import (
    PERIOD,
    STAGE_ORDER,
    context,
    copy_tree,
    env_for,
    generate_source,
    kill_stage_at,
    leftovers,
    period_counts,
    publications,
    run_stages,
    visible_tree,
)

RUN = "scheduled__2026-11-22T03-00-00"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One data folder for every scenario (paths inside the run folder appear in outputs, so they must
    be the same), the state after validation kept aside, and the uninterrupted run's results."""
    base = tmp_path_factory.mktemp("kill")
    source = generate_source(base / "src")
    data = base / "data"
    ctx = context(data, source, RUN)
    run_stages(ctx, STAGE_ORDER[:3])
    copy_tree(data, base / "after_validate")
    run_stages(ctx, STAGE_ORDER[3:])
    reference = {
        "tree": visible_tree(data / "outputs"),
        "counts": period_counts(ctx.warehouse_url),
        "raw": {p.name: p.read_bytes() for p in (data / "runs").rglob("raw/*/*")},
    }
    return {"base": base, "source": source, "data": data, "ctx": ctx, "reference": reference}


def _mask_times(text: str) -> str:
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\+00:00|Z)?", "<time>", text)


def _cells(path: Path) -> dict:
    wb = openpyxl.load_workbook(path)
    try:
        return {
            ws.title: [[_mask_times(str(c.value)) for c in row] for row in ws.iter_rows()]
            for ws in wb.worksheets
        }
    finally:
        wb.close()


@pytest.mark.parametrize(
    ("stage", "point"),
    [
        ("load", "load-in-transaction"),
        ("compute", "compute-in-marts"),
        ("compute", "compute-saving-result"),
        ("publish", "publish-some-workbooks"),
        ("publish", "publish-after-rename"),
        ("publish", "publish-before-record"),
    ],
)
def test_kill_mid_stage_then_retry_gives_the_uninterrupted_result(world, stage, point):
    data, ctx, ref = world["data"], world["ctx"], world["reference"]
    copy_tree(world["base"] / "after_validate", data)  # same state as the reference run had here
    run_stages(ctx, STAGE_ORDER[3 : STAGE_ORDER.index(stage)])  # the stages before the one that dies
    status = kill_stage_at(
        point, stage, RUN, world["source"], env_for(data), world["base"] / f"marker-{point}"
    )
    assert status == -signal.SIGKILL
    if stage != "publish" or point == "publish-some-workbooks":
        assert not (data / "outputs" / PERIOD / "latest").exists()  # nothing published by a dead run
    if point == "publish-after-rename":
        assert (data / "outputs" / PERIOD / RUN).is_dir() and not (
            data / "outputs" / PERIOD / "latest"
        ).exists()

    # Airflow's retry: the same stage, same run context; then the rest of the run
    run_stages(ctx, STAGE_ORDER[STAGE_ORDER.index(stage) :])

    assert visible_tree(data / "outputs") == ref["tree"]  # byte-identical workbooks, manifest, latest
    assert period_counts(ctx.warehouse_url) == ref["counts"]  # exactly one copy of the period
    assert period_counts(ctx.warehouse_url)["load_runs"] == 1
    assert publications(ctx.warehouse_url) == [(RUN, "published")]
    assert leftovers(data / "outputs") == []


def test_kill_mid_pull_then_retry(world):
    data, ctx, ref = world["data"], world["ctx"], world["reference"]
    import shutil

    shutil.rmtree(data)
    data.mkdir()
    marker = world["base"] / "marker-pull"
    assert (
        kill_stage_at("pull-mid-file", "pull", RUN, world["source"], env_for(data), marker) == -signal.SIGKILL
    )
    assert list((data / "runs").rglob("*.part"))  # the dead worker left half a file in the raw area
    assert not list((data / "runs").rglob("pull.json"))

    run_stages(ctx, STAGE_ORDER)

    raw = {p.name: p.read_bytes() for p in (data / "runs").rglob("raw/*/*")}
    assert raw == ref["raw"]  # the retry fetched every file whole (its .part replaced)
    tree = visible_tree(data / "outputs")
    assert sorted(tree) == sorted(ref["tree"])
    published = data / "outputs" / PERIOD / RUN
    for name, content in ref["tree"].items():
        if name.endswith(".xlsx"):
            assert _cells(published / Path(name).name) == _cells_from_bytes(content, world["base"]), name
        elif name.endswith(".json"):
            # the workbooks' bytes differ (fetch times inside), so the manifest is compared without them
            new, old = json.loads(tree[name]), json.loads(content)
            assert manifest_content(new) == manifest_content(old) and new["inputs"] != []
            assert new["run_id"] == old["run_id"] and new["changes"] == old["changes"]
        else:
            assert tree[name] == content, name
    assert period_counts(ctx.warehouse_url) == ref["counts"]
    assert publications(ctx.warehouse_url) == [(RUN, "published")]
    assert leftovers(data / "outputs") == []


def _cells_from_bytes(content: bytes, scratch: Path) -> dict:
    path = scratch / "reference-copy.xlsx"
    path.write_bytes(content)
    return _cells(path)
