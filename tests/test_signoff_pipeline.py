"""Sign-off on the command-line path: a run that changes a published period's figures stops at
'awaiting sign-off' with its workbooks staged; approving publishes with the sign-off on the manifest and
every cover, rejecting leaves every published byte as it was; unchanged figures never ask."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import openpyxl
import pytest

from gp_allocations import publish as pub
from gp_allocations.manifest import allocation_workbooks
from gp_allocations.signoff import SignOffError
from test_faults_common import PERIOD, context, generate_source, publications, run_stages, visible_tree

# --- the command-line path: staged, awaiting sign-off, then approved or rejected ----------------------


def _corrected(source, folder, points: float = 2):
    """A copy of the source with one practice's QOF points lowered: the figures change."""
    shutil.copytree(source, folder)
    (qof_file,) = sorted(folder.glob("ACHIEVEMENT_*.csv"))[:1]
    lines = qof_file.read_text().splitlines()
    i = next(
        n for n, line in enumerate(lines) if ",ACHIEVED_POINTS," in line and float(line.split(",")[-1]) > 3
    )
    fields = lines[i].split(",")
    fields[-1] = f"{float(fields[-1]) - points:.2f}"
    lines[i] = ",".join(fields)
    qof_file.write_text("\n".join(lines) + "\n")
    return folder


def _cover(path) -> dict[str, str]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = {
        str(r[0]): str(r[1]) for r in wb["Cover"].iter_rows(values_only=True) if r and r[0] and len(r) > 1
    }
    wb.close()
    return rows


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """Period P published once by run-1; a corrected extract's run-2 stopped at 'awaiting sign-off'."""
    base = tmp_path_factory.mktemp("signoff")
    source = generate_source(base / "src", practices=30, seed=5)
    corrected = _corrected(source, base / "src2")
    data = base / "data"
    run_stages(
        context(data, source, "run-1"), ["pull", "standardise", "validate", "load", "compute", "publish"]
    )
    return base, data, source, corrected


def _copy_world(staged, tmp_path):
    _base, data, source, corrected = staged
    world = tmp_path / "data"
    shutil.copytree(data, world, symlinks=True)
    return world, source, corrected


def _stop_for_sign_off(world, corrected, run_id="run-2"):
    ctx = context(world, corrected, run_id)
    out = run_stages(ctx, ["pull", "standardise", "validate", "load", "compute", "publish"])
    return ctx, out


def test_a_changed_rerun_waits_then_approval_publishes_with_the_sign_off_on_manifest_and_covers(
    staged, tmp_path
):
    from gp_allocations import pipeline

    world, _, corrected = _copy_world(staged, tmp_path)
    before = visible_tree(world / "outputs")
    ctx, out = _stop_for_sign_off(world, corrected)
    assert out["status"] == "awaiting sign-off" and out["previous_run_id"] == "run-1"
    assert "it changes the figures of" in out["summary"] and "Largest sub-ICB changes" in out["summary"]
    assert visible_tree(world / "outputs") == before, "nothing moves while waiting"
    assert sorted(p.name for p in (world / "outputs" / ".staging" / PERIOD / "run-2").glob("*.xlsx"))
    with pytest.raises(SignOffError, match="needs sign-off before publishing"):
        pipeline.stage_publish_finalise(ctx)  # no way round the approver
    assert visible_tree(world / "outputs") == before

    comment = '=HYPERLINK("http://x","pay") corrected QOF for one practice'
    done = pipeline.stage_sign_off(ctx, approve=True, by="Jane Smith", comment=comment)
    assert done["status"] == "published" and done["previous_run_id"] == "run-1"
    latest = world / "outputs" / PERIOD / "latest"
    assert latest.resolve().name == "run-2"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["sign_off"]["decision"] == "approved" and manifest["sign_off"]["by"] == "Jane Smith"
    assert manifest["sign_off"]["comment"] == comment and manifest["sign_off"]["via"] == "command line"
    at = dt.datetime.fromisoformat(manifest["sign_off"]["at"])
    assert abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=10)
    workbooks = allocation_workbooks(latest)
    assert len(workbooks) >= 3
    for path in workbooks:
        line = _cover(path)["Sign-off"]
        assert line.startswith(f"Approved by Jane Smith on {at:%Y-%m-%d %H:%M} UTC: =HYPERLINK"), line
        entry = next(f for f in manifest["files"] if f["name"] == path.name)
        assert entry["sha256"] == pub.sha256_of(path), "the manifest lists the rewritten workbook"
    statements = [f for f in manifest["files"] if f["kind"] == "statements"]
    assert len(statements) == len(workbooks) - 1  # one per sub-ICB location
    for entry in statements:
        path = latest / entry["name"]
        assert entry["sha256"] == pub.sha256_of(path), "the manifest lists the rewritten statements"
        book = openpyxl.load_workbook(path, read_only=True)
        practices = [ws for ws in book.worksheets if ws.title not in ("Contents", "Notes")]
        assert practices and entry["rows"] == len(practices)
        for ws in practices:  # every statement says who approved the publication, and when
            items = {r[1]: r[2] for r in ws.iter_rows(min_row=4, values_only=True) if r and r[1]}
            assert str(items["Sign-off"]).startswith(f"Approved by Jane Smith on {at:%Y-%m-%d %H:%M} UTC")
        book.close()
    wb = openpyxl.load_workbook(workbooks[0])
    cell = next(c for row in wb["Cover"].iter_rows() for c in row if str(c.value).startswith("Approved"))
    assert cell.data_type == "s", "a comment is text, never a formula"
    assert publications(ctx.warehouse_url)[-1] == ("run-2", "published")

    # the same figures again: 'unchanged', no sign-off asked, the approved version stays latest
    again = run_stages(
        context(world, corrected, "run-3"), ["pull", "standardise", "validate", "load", "compute", "publish"]
    )
    assert again["status"] == "unchanged" and again["previous_run_id"] == "run-2"
    assert latest.resolve().name == "run-2"


def test_a_rejection_publishes_nothing_and_leaves_latest_byte_identical(staged, tmp_path, capsys):
    from gp_allocations import cli

    world, _, corrected = _copy_world(staged, tmp_path)
    before = visible_tree(world / "outputs")
    ctx, out = _stop_for_sign_off(world, corrected)
    assert out["status"] == "awaiting sign-off"
    env = {"GP_ALLOC_DATA_DIR": str(world)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli.main(["sign-off", "--period", PERIOD, "--run-id", "run-2"]) == 0
        shown = capsys.readouterr().out
        assert "Sign-off is needed because" in shown and "run-1" in shown
        assert cli.main(["sign-off", "--period", PERIOD, "--run-id", "run-2", "--reject"]) == 2
        assert "--as NAME" in capsys.readouterr().err
        args = ["sign-off", "--period", PERIOD, "--run-id", "run-2", "--reject", "--as", "Jane Smith"]
        assert cli.main([*args, "--comment", "QOF looks like the draft file"]) == 0
        rejected = json.loads(capsys.readouterr().out)
    assert rejected["status"] == "rejected"
    assert "nothing published; latest still points at run-1" in rejected["detail"]
    assert visible_tree(world / "outputs") == before, "latest and every published byte untouched"
    staged_manifest = json.loads(
        (world / "outputs" / ".staging" / PERIOD / "run-2" / "manifest.json").read_text()
    )
    assert staged_manifest["sign_off"]["decision"] == "rejected"
    assert staged_manifest["sign_off"]["comment"] == "QOF looks like the draft file"
    assert ("run-2", "published") not in publications(ctx.warehouse_url)


def test_first_publication_needs_no_sign_off_and_says_so(staged):
    _, data, _, _ = staged
    manifest = json.loads((data / "outputs" / PERIOD / "latest" / "manifest.json").read_text())
    assert manifest["sign_off"]["required"] is False
    assert "first version" in manifest["sign_off"]["reason"]
    assert "Sign-off" not in _cover(next((data / "outputs" / PERIOD / "latest").glob("*_england.xlsx")))
