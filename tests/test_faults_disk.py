"""Disk and permission faults while publishing: the run fails with a clear message (what failed, and that
the previous outputs are untouched) and the previous ``latest`` outputs stay byte for byte as they were.

Root ignores permission bits, so the faults are real ones the test owns: an output root that is a file,
an immutable period folder (``chattr +i``), a tiny tmpfs that fills up, and the tmpfs remounted
read-only. The mount/chattr cases need root (as on this project's machines and CI).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _publishing import publish_result
from _workbook_fixtures import make_result, make_run
from gp_allocations import publish as pub
from gp_allocations.errors import PublishError
from test_faults_common import PERIOD, leftovers, visible_tree


def _corrected():
    """Different content from make_result() (one practice's QOF moved), so it is not 'unchanged'."""
    return make_result(qof_moved=250)


def _publish(root: Path, run_id: str, result=None):
    return publish_result(
        result if result is not None else make_result(),
        make_run(),
        root,
        period_slug=PERIOD,
        run_id=run_id,
        skip_unchanged=True,
    )


def _staged_files(root: Path) -> list[Path]:
    staging = root / ".staging"
    return [p for p in staging.rglob("*") if p.is_file()] if staging.exists() else []


def test_output_root_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(
        PublishError, match=r"cannot create the staging folder .*previous published outputs are untouched"
    ):
        _publish(blocker / "nested", "run-1")
    assert blocker.read_text() == "a file where the output folder should be"


@pytest.fixture
def immutable(tmp_path):
    changed: list[Path] = []

    def make(path: Path) -> None:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {done.stderr.strip()}")
        changed.append(path)

    yield make
    for path in changed:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_period_folder_not_writable(tmp_path, immutable):
    root = tmp_path / "outputs"
    first = _publish(root, "run-1")
    before = visible_tree(root)
    immutable(root / PERIOD)
    with pytest.raises(PublishError) as failed:
        _publish(root, "run-2", _corrected())
    message = str(failed.value)
    assert "could not move" in message and "not writable" in message
    assert "previous published outputs (latest -> run-1) are untouched" in message
    assert visible_tree(root) == before
    assert pub.latest_run(root, PERIOD) == first.directory
    assert _staged_files(root) == []


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)  # lazy: a failed test may hold a file open


def test_disk_full(small_disk):
    root = small_disk / "outputs"
    first = _publish(root, "run-1")  # about 200 KB: fits once, not twice
    before = visible_tree(root)
    free_before = shutil.disk_usage(small_disk).free
    with pytest.raises(PublishError, match="the disk is full") as failed:
        _publish(root, "run-2", _corrected())
    assert "previous published outputs are untouched" in str(failed.value)
    assert visible_tree(root) == before
    assert pub.latest_run(root, PERIOD) == first.directory
    assert _staged_files(root) == [] and leftovers(root) == []
    del failed  # its traceback keeps the writer's (deleted) temp file open
    gc.collect()
    assert shutil.disk_usage(small_disk).free == free_before  # the failed run's space is given back
    # once there is room again the corrected run publishes normally
    shutil.rmtree(first.directory)
    os.unlink(root / PERIOD / "latest")
    (root / PERIOD / "LATEST").unlink()
    assert _publish(root, "run-2", _corrected()).status == "published"


def test_output_folder_read_only(small_disk):
    root = small_disk / "outputs"
    _publish(root, "run-1")
    before = visible_tree(root)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(PublishError, match=r"not writable .*Read-only file system.*untouched"):
            _publish(root, "run-2", _corrected())
        assert visible_tree(root) == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
