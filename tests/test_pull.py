"""Pull copies raw bytes unchanged and records SHA-256, size, source and time; zips are searched."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from gp_allocations.config import RunContext
from gp_allocations.errors import InputError
from gp_allocations.pull import locate, pull_all, pull_extract


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    return path


def test_pull_copies_bytes_unchanged_and_records_their_hash(tmp_path) -> None:
    src = tmp_path / "src"
    content = "PRACTICE_CODE,X\r\nA81001,\xe9\r\n"  # CRLF and latin-1 survive untouched
    _write(src / "gp-reg-pat-prac-map.csv", content)
    ctx = RunContext.prepare(
        run_id="manual__1",
        period="2025-26-Q2",
        source=str(src),
        data_dir=str(tmp_path / "var"),
        extracts=["practice_map"],
    )
    (record,) = pull_all(ctx)
    copied = ctx.raw_dir / record.file
    assert copied.read_bytes() == content.encode("latin-1")
    assert record.sha256 == hashlib.sha256(content.encode("latin-1")).hexdigest()
    assert record.bytes == len(content.encode("latin-1"))
    assert record.source.endswith("gp-reg-pat-prac-map.csv")
    saved = json.loads((ctx.raw_dir / "pull.json").read_text())
    assert saved[0]["sha256"] == record.sha256 and saved[0]["fetched_at"]


def test_regional_qof_files_are_all_pulled(tmp_path) -> None:
    for region in ("LONDON", "NORTH_WEST", "SOUTH_WEST"):
        _write(tmp_path / f"ACHIEVEMENT_{region}_2526.csv", "x\n")
    uris = locate("qof_achievement", str(tmp_path))
    assert [Path(u).name for u in uris] == [
        "ACHIEVEMENT_LONDON_2526.csv",
        "ACHIEVEMENT_NORTH_WEST_2526.csv",
        "ACHIEVEMENT_SOUTH_WEST_2526.csv",
    ]


def test_a_member_inside_a_published_zip_is_found_and_extracted(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "QOF2526.zip", "w") as zf:
        zf.writestr("QOF2526/PREVALENCE_2526.csv", "PRACTICE_CODE\nA81001\n")
        zf.writestr("QOF2526/readme.txt", "not this")
    (record,) = pull_extract("qof_prevalence", str(src), tmp_path / "raw")
    assert record.source.startswith("zip://QOF2526/PREVALENCE_2526.csv::")
    assert (tmp_path / "raw" / record.file).read_text() == "PRACTICE_CODE\nA81001\n"


def test_missing_required_extract_names_the_location_and_patterns(tmp_path) -> None:
    with pytest.raises(InputError) as err:
        pull_extract("capitation_age_sex", str(tmp_path), tmp_path / "raw")
    message = str(err.value)
    assert str(tmp_path) in message and "gp-reg-pat-prac-quin-age" in message and "extract_present" in message


def test_missing_optional_extract_is_simply_absent(tmp_path) -> None:
    assert pull_extract("practice_characteristics", str(tmp_path), tmp_path / "raw") == []


def test_a_location_that_does_not_exist_is_an_error(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        pull_extract("contracts", str(tmp_path / "nowhere"), tmp_path / "raw")


def test_file_names_from_a_source_cannot_escape_the_raw_area(tmp_path) -> None:
    evil = _write(tmp_path / "src" / "..evil..gp-reg-pat-prac-map.csv", "x\n")
    (record,) = pull_extract("practice_map", str(evil), tmp_path / "raw")
    target = (tmp_path / "raw" / record.file).resolve()
    assert target.is_relative_to((tmp_path / "raw").resolve())


def _ctx(tmp_path: Path, src: Path, extracts: list[str]) -> RunContext:
    return RunContext.prepare(
        run_id="manual__limits",
        period="2025-26-Q2",
        source=str(src),
        data_dir=str(tmp_path / "var"),
        extracts=extracts,
    )


@pytest.mark.parametrize("target", ["/dev/zero", "secrets"])
def test_a_symlink_out_of_the_source_folder_is_refused_and_nothing_is_read(tmp_path, target) -> None:
    src = tmp_path / "src"
    src.mkdir()
    secret = tmp_path / "secrets.env"
    secret.write_text("POSTGRES_PASSWORD=hunter2\n")
    (src / "gp-reg-pat-prac-map.csv").symlink_to(secret if target == "secrets" else Path(target))
    with pytest.raises(InputError) as info:
        pull_all(_ctx(tmp_path, src, ["practice_map"]))
    err = info.value
    assert (err.file, err.rule) == ("gp-reg-pat-prac-map.csv", "source:outside-root")
    assert "hunter2" not in str(err) and "outside the source folder" in str(err)
    assert not list((tmp_path / "var").rglob("gp-reg-pat-prac-map.csv*"))


def test_a_symlink_inside_the_source_folder_is_followed(tmp_path) -> None:
    src = tmp_path / "src"
    _write(src / "2025-07" / "gp-reg-pat-prac-map.csv", "PRACTICE_CODE\nA81001\n")
    (src / "gp-reg-pat-prac-map.csv").symlink_to(src / "2025-07" / "gp-reg-pat-prac-map.csv")
    (record,) = pull_all(_ctx(tmp_path, src, ["practice_map"]))
    assert record.bytes == len("PRACTICE_CODE\nA81001\n")


def test_a_source_that_is_not_a_regular_file_is_refused(tmp_path) -> None:
    import os

    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "gp-reg-pat-prac-map.csv")  # opening a pipe would wait for ever
    with pytest.raises(InputError) as info:
        pull_all(_ctx(tmp_path, src, ["practice_map"]))
    assert info.value.rule == "source:not-a-file"


def test_the_configured_source_root_bounds_every_location(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    _write(src / "gp-reg-pat-prac-map.csv", "PRACTICE_CODE\nA81001\n")
    monkeypatch.setenv("GP_ALLOC_SOURCE_ROOT", str(tmp_path / "allowed"))
    with pytest.raises(InputError) as info:
        pull_all(_ctx(tmp_path, src, ["practice_map"]))
    assert info.value.rule == "source:outside-root"
    monkeypatch.setenv("GP_ALLOC_SOURCE_ROOT", str(tmp_path))
    assert len(pull_all(_ctx(tmp_path, src, ["practice_map"]))) == 1


def test_a_file_beyond_the_size_limit_is_refused_while_copying(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    _write(src / "gp-reg-pat-prac-map.csv", "PRACTICE_CODE\n" + "A81001\n" * 1000)
    monkeypatch.setenv("GP_ALLOC_LIMIT_MAX_FILE_BYTES", "4096")
    ctx = _ctx(tmp_path, src, ["practice_map"])
    with pytest.raises(InputError) as info:
        pull_all(ctx)
    assert info.value.rule == "limit:file-bytes" and "limit max_file_bytes" in str(info.value)
    assert not list(ctx.raw_dir.rglob("*.csv*"))  # the partial copy is removed


def test_a_zip_bomb_member_is_refused_while_copying(tmp_path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "QOF2526.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("PREVALENCE_2526.csv", "PRACTICE_CODE\n" + "0" * 20_000_000)
    ctx = _ctx(tmp_path, src, ["qof_prevalence"])
    with pytest.raises(InputError) as info:
        pull_extract("qof_prevalence", str(src), ctx.raw_dir)
    err = info.value
    assert (err.file, err.rule) == ("QOF2526.zip", "limit:expansion-ratio")
    assert "'PREVALENCE_2526.csv'" in str(err) and "zip bomb" in str(err)
