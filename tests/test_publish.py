"""Publishing: versioned folders, manifest, atomic move, latest pointer, failure leaves nothing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from _publishing import publish_result
from _workbook_fixtures import make_result, make_run
from gp_allocations import publish as pub
from gp_allocations.errors import PublishError
from gp_allocations.manifest import MANIFEST, build_manifest
from gp_allocations.views import practice_table

PERIOD = "2025-26-Q2"
RUN = "manual__2025-10-01T02:00:00"
RUN_DIR = "manual__2025-10-01T02_00_00"  # ':' is not safe in a folder name on every filesystem


def _visible(root: Path) -> list[str]:
    """Everything a reader could find: the tree minus the hidden staging area."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".staging" not in p.parts)


def test_publish_writes_versioned_folder_with_manifest(tmp_path):
    result = make_result()
    done = publish_result(result, make_run(), tmp_path, period_slug=PERIOD, run_id=RUN)
    assert done.directory == (tmp_path / PERIOD / RUN_DIR).resolve()
    names = sorted(p.name for p in done.directory.iterdir())
    assert names == [
        "gp-allocations_2025-26-Q2_15C.xlsx",
        "gp-allocations_2025-26-Q2_15N.xlsx",
        "gp-allocations_2025-26-Q2_england.xlsx",
        "manifest.json",
        "practice_facts.parquet",
    ]
    manifest = json.loads((done.directory / "manifest.json").read_text())
    assert manifest == done.manifest
    for entry in manifest["files"]:
        data = (done.directory / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    rows = {e["name"]: e["rows"] for e in manifest["files"]}
    assert rows == {
        "gp-allocations_2025-26-Q2_15C.xlsx": 3,
        "gp-allocations_2025-26-Q2_15N.xlsx": 5,
        "gp-allocations_2025-26-Q2_england.xlsx": 8,
        "practice_facts.parquet": 8,
    }
    assert manifest["run_id"] == RUN and manifest["period"] == PERIOD
    assert manifest["variants"] == ["global_sum", "deprivation_weighted"]
    assert manifest["parameter_set"] == "carr_hill_2004"
    assert {p["parameter"] for p in manifest["parameters"]} >= {"price_per_weighted_patient"}
    assert [i["sha256"] for i in manifest["inputs"]] == ["ab" * 32, "cd" * 32]
    # totals per sub-ICB per variant add up (in pennies) to the envelope of each variant
    for v in manifest["variants"]:
        total = sum(s["variants"][v]["capitation_pence"] for s in manifest["totals"]["sub_icb"].values())
        assert total == manifest["envelopes_pence"][v] == 825_012_780
    wide = practice_table(result)
    devon = wide[wide["sub_icb_code"] == "15N"]
    assert manifest["totals"]["sub_icb"]["15N"]["variants"]["deprivation_weighted"]["total_pence"] == int(
        devon["capitation_pence__deprivation_weighted"].sum() + devon["qof_pence"].sum()
    )
    # latest points at the run (symlink and text file), and staging is gone
    assert os.readlink(tmp_path / PERIOD / "latest") == RUN_DIR
    assert (tmp_path / PERIOD / "LATEST").read_text() == RUN_DIR + "\n"
    assert pub.latest_run(tmp_path, PERIOD) == done.directory
    assert not any((tmp_path / ".staging").rglob("*.xlsx"))


def test_same_inputs_give_identical_manifest_and_workbooks(tmp_path):
    a = publish_result(make_result(), make_run(), tmp_path / "a", period_slug=PERIOD, run_id=RUN)
    b = publish_result(make_result(), make_run(), tmp_path / "b", period_slug=PERIOD, run_id=RUN)
    for name in sorted(p.name for p in a.directory.iterdir()):
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes(), name
    text = (a.directory / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_failure_leaves_previous_run_and_no_half_written_output(tmp_path, monkeypatch):
    first = publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1")
    before = _visible(tmp_path)

    def broken(result, path, *, run):
        path.write_bytes(b"PK half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(pub, "write_national_workbook", broken)
    with pytest.raises(PublishError, match="disk full"):
        publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-2")
    assert _visible(tmp_path) == before  # nothing new where readers look
    assert not (tmp_path / PERIOD / "run-2").exists()
    assert pub.latest_run(tmp_path, PERIOD) == first.directory
    assert not [p for p in (tmp_path / ".staging").rglob("*") if p.is_file()]  # staging cleaned up


def test_second_run_moves_latest_and_keeps_the_first(tmp_path):
    first = publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1")
    second = publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-2")
    assert pub.latest_run(tmp_path, PERIOD) == second.directory
    assert (first.directory / "manifest.json").is_file()
    with pytest.raises(PublishError, match="never overwritten"):
        publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1")
    assert pub.latest_run(tmp_path, PERIOD) == second.directory


@pytest.mark.parametrize("code", ["../x", "..", "15N/../../etc", "a b", ""])
def test_unsafe_codes_are_rejected(tmp_path, code):
    with pytest.raises(PublishError, match="not safe"):
        publish_result(
            make_result(), make_run(), tmp_path / "out", period_slug=PERIOD, run_id=RUN, sub_icb_codes=[code]
        )
    assert not (tmp_path / "x").exists() and not (tmp_path / "out" / PERIOD).exists()
    with pytest.raises(PublishError, match="not safe"):
        pub.sub_icb_file_name(PERIOD, code)


def test_mapped_pieces_and_idempotent_finalise(tmp_path):
    """What a DAG does: one task per sub-ICB into the shared staging folder, then one finalise task."""
    result, run = make_result(), make_run()
    staging = pub.stage_dir(tmp_path, PERIOD, RUN)
    assert staging == pub.stage_dir(tmp_path, PERIOD, RUN)  # every mapped task finds the same folder
    assert staging.is_relative_to(tmp_path.resolve()) and ".staging" in staging.parts
    files = [
        pub.stage_sub_icb_workbook(result, run, staging, code, period_slug=PERIOD) for code in ["15N", "15C"]
    ]
    files.append(pub.stage_national_workbook(result, run, staging, period_slug=PERIOD))
    manifest = build_manifest(result, run, files, period_slug=PERIOD, run_id=RUN)
    assert not (tmp_path / PERIOD / RUN_DIR).exists()  # nothing visible before finalise
    final = pub.finalise_run(staging, tmp_path, PERIOD, RUN, manifest, skip_unchanged=False).directory
    assert final == (tmp_path / PERIOD / RUN_DIR).resolve() and not staging.exists()
    # a retried finalise (task retry after the rename) is accepted and changes nothing
    assert pub.finalise_run(staging, tmp_path, PERIOD, RUN, manifest, skip_unchanged=False).directory == final
    with pytest.raises(PublishError):
        pub.finalise_run(
            staging, tmp_path, PERIOD, RUN, {**manifest, "run_id": "other"}, skip_unchanged=False
        )


def test_finalise_refuses_a_tampered_staged_file(tmp_path):
    result, run = make_result(), make_run()
    staging = pub.stage_dir(tmp_path, PERIOD, RUN)
    files = [pub.stage_sub_icb_workbook(result, run, staging, "15N", period_slug=PERIOD)]
    manifest = build_manifest(result, run, files, period_slug=PERIOD, run_id=RUN)
    (staging / files[0]["name"]).write_bytes(b"not the workbook")
    with pytest.raises(PublishError, match="SHA-256"):
        pub.finalise_run(staging, tmp_path, PERIOD, RUN, manifest, skip_unchanged=False)
    assert not (tmp_path / PERIOD / RUN_DIR).exists() and not (tmp_path / PERIOD / "latest").exists()


def test_latest_falls_back_to_text_file(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not supported")

    monkeypatch.setattr(pub.os, "symlink", no_symlinks)
    done = publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id=RUN)
    assert not (tmp_path / PERIOD / "latest").is_symlink()
    assert pub.latest_run(tmp_path, PERIOD) == tmp_path / PERIOD / RUN_DIR == done.directory


def test_publication_number_counts_the_periods_published_runs(tmp_path):
    assert pub.publication_number(tmp_path, "2025-26-Q2") == 1
    period = tmp_path / "2025-26-Q2"
    for name in ("run-a", "run-b"):
        (period / name).mkdir(parents=True)
        (period / name / MANIFEST).write_text("{}")
    (period / "half-written").mkdir()  # no manifest: never published
    (period / "latest").symlink_to(period / "run-b")
    assert pub.publication_number(tmp_path, "2025-26-Q2") == 3
    assert pub.publication_number(tmp_path, "2025-26-Q3") == 1


def test_organisation_and_contact_come_from_configuration_and_travel_with_the_run(monkeypatch, tmp_path):
    from gp_allocations.config import RunContext, resolve_settings

    monkeypatch.setenv("GP_ALLOC_CONTACT", "Primary care finance, finance@example.nhs.uk")
    monkeypatch.setenv("GP_ALLOC_ORGANISATION", "NHS Example ICB")
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(tmp_path))
    settings = resolve_settings(lambda name: "From a Variable" if name == "gp_alloc_contact" else None)
    assert settings.contact == "From a Variable" and settings.organisation == "NHS Example ICB"
    ctx = RunContext.prepare(run_id="r1", period="2025-26-Q2", settings=resolve_settings())
    again = RunContext.from_dict(json.loads(json.dumps(ctx.to_dict())))
    assert again.contact == "Primary care finance, finance@example.nhs.uk"
    assert again.organisation == "NHS Example ICB"
