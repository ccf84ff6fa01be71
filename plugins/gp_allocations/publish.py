"""Atomic, reproducible publishing of the workbooks with a manifest.

Layout under the output root::

    <output root>/.staging/<period>/<run id>/     workbooks being written (readers never look here)
    <output root>/<period>/<run id>/              a finished run: workbooks + manifest.json
    <output root>/<period>/latest -> <run id>     symlink, replaced atomically, updated LAST
    <output root>/<period>/LATEST                 the same run id as text, for filesystems without links

The staging folder is on the same filesystem as the published one, so moving a finished run into place
is one ``os.rename`` of the folder: a reader sees the whole run or nothing. The pieces (``stage_dir``,
``stage_sub_icb_workbook``, ``stage_national_workbook``, ``manifest.build_manifest``, ``finalise_run``) let
a DAG map one task per sub-ICB; ``pipeline.stage_publish`` runs them for the CLI (its one publish
path), the workbooks in ``GP_ALLOC_PUBLISH_WORKERS`` processes.

The manifest (``manifest.py``) is deterministic: sorted keys, no clock reads (times appear only if they
came in with the run metadata, e.g. the fetch time of an input file).

Reruns and concurrency: ``finalise_run`` works under an exclusive per-period lock
(``<output root>/.locks/<period>.lock``, released by the kernel if the process dies). Under the lock it
compares the run's manifest *content* (``manifest.manifest_content``: everything except run-specific
values such as the run id, input fetch times and sources, the Data Docs location and the workbooks' own
bytes, which embed the run id) with the ``latest`` run's; if equal it can record "unchanged" instead of
a new version. Else the new manifest gets a ``changes`` section (inputs, per sub-ICB totals, parameters)
against the run it replaces. A run that started from one ``latest`` refuses to publish over another that
appeared meanwhile.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import safe_name
from .errors import PublishError
from .files import TMP_PREFIX, atomic_write, inside
from .ledger import Allocation
from .manifest import MANIFEST, content_sha256, manifest_bytes, manifest_changes, read_manifest
from .workbooks import RunInfo, write_national_workbook, write_sub_icb_workbook
from .workbooks.statements import write_statements_workbook

STAGING = ".staging"
LATEST_LINK = "latest"
LATEST_FILE = "LATEST"
LOCKS = ".locks"
LOCK_SUFFIX = ".lock"
LOCK_TIMEOUT_SECONDS = 900.0
ANY_LATEST = object()  # finalise_run(expected_latest=ANY_LATEST): do not check that latest stayed put


def check_component(text: str, what: str) -> str:
    """Return ``text`` if it is safe as one path component, else raise PublishError (e.g. '../x')."""
    if not isinstance(text, str) or not text or text in {".", ".."} or safe_name(text) != text:
        raise PublishError(
            f"{what} {text!r} is not safe in a file name (letters, digits, '.', '_', '-' only)"
        )
    return text


def _inside(folder: Path, path: Path) -> Path:
    """Resolve ``path`` and insist it stays inside ``folder`` (defence in depth after check_component)."""
    resolved = inside(folder, path)
    if resolved is None:
        raise PublishError(f"{path} would be written outside {folder}")
    return resolved


def sub_icb_file_name(period_slug: str, sub_icb_code: str) -> str:
    period = check_component(period_slug, "period")
    return f"gp-allocations_{period}_{check_component(sub_icb_code, 'sub-ICB code')}.xlsx"


def statements_file_name(period_slug: str, sub_icb_code: str, suffix: str = ".xlsx") -> str:
    """``gp-allocations_<period>_<sub-ICB>_statements.xlsx`` (``.pdf`` for its PDF)."""
    return sub_icb_file_name(period_slug, sub_icb_code).removesuffix(".xlsx") + f"_statements{suffix}"


def national_file_name(period_slug: str) -> str:
    return f"gp-allocations_{check_component(period_slug, 'period')}_england.xlsx"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path, *, kind: str, rows: int, sub_icb_code: str | None = None) -> dict[str, Any]:
    """The manifest entry of one written file: name, sha256, bytes, rows (practice rows), kind."""
    entry = {
        "name": path.name,
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size,
        "rows": int(rows),
        "kind": kind,
    }
    if sub_icb_code is not None:
        entry["sub_icb_code"] = sub_icb_code
    return entry


def stage_dir(output_root: Path, period_slug: str, run_id: str) -> Path:
    """The hidden staging folder of one run under ``output_root`` (same filesystem); created if absent.

    Deterministic, so every mapped task of the run writes into the same folder.
    """
    root = Path(output_root)
    path = (
        root / STAGING / check_component(period_slug, "period") / check_component(safe_name(run_id), "run id")
    )
    path = _inside(root, path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            f"cannot create the staging folder {path} under the output root {root}: {_reason(exc)}; "
            "nothing was published and the previous published outputs are untouched"
        ) from exc
    return path


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind an exception, if any (XlsxWriter wraps 'disk full' in FileCreateError)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError):
            return exc
        if exc.args and isinstance(exc.args[0], OSError):
            return exc.args[0]
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _reason(exc: OSError) -> str:
    """A short, readable cause: 'No space left on device' rather than a traceback."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full (no space left on device)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not writable ({exc.strerror})"
    return exc.strerror or str(exc)


def stage_sub_icb_workbook(
    result: Allocation, run: RunInfo, staging: Path, sub_icb_code: str, *, period_slug: str
) -> dict[str, Any]:
    """Write one sub-ICB workbook into the staging folder; return its manifest entry."""
    check_component(sub_icb_code, "sub-ICB code")
    rows = int((result.practices["sub_icb_code"] == sub_icb_code).sum())
    if rows == 0:
        raise PublishError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    path = _inside(Path(staging), Path(staging) / sub_icb_file_name(period_slug, sub_icb_code))
    _write_staged(path, lambda: write_sub_icb_workbook(result, sub_icb_code, path, run=run))
    return file_entry(path, kind="sub_icb", rows=rows, sub_icb_code=sub_icb_code)


def stage_sub_icb_statements(
    result: Allocation,
    run: RunInfo,
    staging: Path,
    sub_icb_code: str,
    *,
    period_slug: str,
    pdf: bool = True,
) -> list[dict[str, Any]]:
    """Write one sub-ICB's practice statements workbook (and, with ``pdf``, its PDF through LibreOffice)
    into the staging folder; return their manifest entries."""
    from .office import convert_to_pdf

    path = _inside(Path(staging), Path(staging) / statements_file_name(period_slug, sub_icb_code))
    rows = 0

    def write() -> None:
        nonlocal rows
        rows = write_statements_workbook(result, sub_icb_code, path, run=run)

    _write_staged(path, write)
    entries = [file_entry(path, kind="statements", rows=rows, sub_icb_code=sub_icb_code)]
    if pdf:
        target = _inside(
            Path(staging), Path(staging) / statements_file_name(period_slug, sub_icb_code, ".pdf")
        )

        def make_pdf() -> None:
            # the PDF is of the statements alone (no Contents or Notes page): one practice per page
            with tempfile.TemporaryDirectory(prefix=TMP_PREFIX, dir=staging) as work:
                source = Path(work) / target.with_suffix(".xlsx").name
                write_statements_workbook(result, sub_icb_code, source, run=run, for_print=True)
                convert_to_pdf(source, target)

        _write_staged(target, make_pdf)
        entries.append(file_entry(target, kind="statements_pdf", rows=rows, sub_icb_code=sub_icb_code))
    return entries


def _write_staged(path: Path, write: Callable[[], None]) -> None:
    """Run a workbook writer; a disk or permission failure becomes a PublishError naming the file."""
    try:
        write()
    except Exception as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        path.unlink(missing_ok=True)
        raise PublishError(
            f"could not write {path.name} into the staging folder: {_reason(cause)}; "
            "the previous published outputs are untouched"
        ) from exc


def stage_national_workbook(
    result: Allocation, run: RunInfo, staging: Path, *, period_slug: str
) -> dict[str, Any]:
    """Write the national workbook into the staging folder; return its manifest entry."""
    path = _inside(Path(staging), Path(staging) / national_file_name(period_slug))
    _write_staged(path, lambda: write_national_workbook(result, path, run=run))
    return file_entry(path, kind="national", rows=len(result.practices))


def stage_practice_facts(result: Allocation, staging: Path) -> dict[str, Any]:
    """The practices' facts the next publications' bridges start from (``bridge.FACTS_FILE``)."""
    from .bridge import FACTS_FILE, practice_facts

    facts = practice_facts(result)
    target = staging / FACTS_FILE
    _write_staged(target, lambda: facts.to_parquet(target, index=False))
    return file_entry(target, kind="practice_facts", rows=len(facts))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not support fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def _check_staged_files(staging: Path, manifest: dict[str, Any]) -> None:
    for entry in manifest.get("files", []):
        path = _inside(staging, staging / check_component(entry["name"], "file name"))
        if not path.is_file():
            raise PublishError(f"{entry['name']} is listed in the manifest but was not written")
        if path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            raise PublishError(f"{entry['name']} changed after it was written (size or SHA-256 differs)")


def _point_latest(period_dir: Path, run_name: str) -> None:
    """Point ``latest`` and ``LATEST`` at the run; each is replaced atomically, never removed first."""
    atomic_write(period_dir / LATEST_FILE, (run_name + "\n").encode("utf-8"))
    tmp = period_dir / f".{LATEST_LINK}.{run_name}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_name, tmp, target_is_directory=True)  # relative: the tree can be moved or mounted
        os.replace(tmp, period_dir / LATEST_LINK)
    except (OSError, NotImplementedError):
        # no symlinks here (some network shares, Windows without privilege): LATEST is the pointer
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    _fsync_dir(period_dir)


def lock_path(output_root: Path, period_slug: str) -> Path:
    """The period's lock file: in the hidden staging area, never where readers look."""
    root = Path(output_root)
    return _inside(root, root / LOCKS / f"{check_component(period_slug, 'period')}{LOCK_SUFFIX}")


@contextlib.contextmanager
def period_lock(
    output_root: Path, period_slug: str, *, timeout: float = LOCK_TIMEOUT_SECONDS
) -> Iterator[Path]:
    """Hold the period's exclusive publishing lock (``flock``; the kernel drops it if the holder dies).

    Waits up to ``timeout`` seconds for another publisher of the same period, then raises PublishError.
    Different periods have different locks, so they never wait for each other.
    """
    path = lock_path(output_root, period_slug)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PublishError(
            f"cannot open the publishing lock {path}: {_reason(exc)}; nothing was published and the "
            "previous published outputs are untouched"
        ) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishError(
                        f"another run is publishing period {period_slug} (lock {path} held for more than "
                        f"{timeout:.0f} s); nothing was published by this run"
                    ) from None
                time.sleep(0.1)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@dataclass
class FinaliseOutcome:
    """What ``finalise_run`` did: 'published' a new version, or found the content 'unchanged'."""

    status: str
    directory: Path  # the new run, or (unchanged) the earlier run with the same content
    manifest: dict[str, Any]
    previous_run_id: str | None


def _without_changes(manifest: dict[str, Any]) -> dict[str, Any]:
    # sign_off is left out too: a retry of the same run reviews again and, seeing its own folder,
    # words a not-required reason differently; an approval's cover line is in the workbooks' hashes
    return {k: v for k, v in manifest.items() if k not in ("changes", "sign_off")}


def _latest_name(output_root: Path, period_slug: str) -> str | None:
    latest = latest_run(output_root, period_slug)
    return latest.name if latest is not None else None


def finalise_run(
    staging: Path,
    output_root: Path,
    period_slug: str,
    run_id: str,
    manifest: dict[str, Any],
    *,
    skip_unchanged: bool = True,
    expected_latest: Any = ANY_LATEST,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
) -> FinaliseOutcome:
    """Publish the staged run under the period lock, or record that its content is unchanged.

    In order: a retry of this very run (already moved into place) is accepted; content equal to
    ``latest``'s gives 'unchanged' (if ``skip_unchanged``) and the staging folder is removed; if
    ``latest`` is no longer ``expected_latest`` (another run published meanwhile) PublishError;
    else the manifest gets its ``changes`` section, the run is moved into
    ``<root>/<period>/<run id>/`` in one rename and ``latest`` is pointed at it last.
    """
    root = Path(output_root)
    period_dir = _inside(root, root / check_component(period_slug, "period"))
    run_name = check_component(safe_name(run_id), "run id")
    final = _inside(root, period_dir / run_name)
    staging = Path(staging)
    with period_lock(root, period_slug, timeout=lock_timeout):
        latest_name = _latest_name(root, period_slug)
        if final.exists():
            return _accept_retry(staging, final, period_dir, run_name, latest_name, manifest)
        if not staging.is_dir():
            raise PublishError(f"staging folder {staging} is missing; nothing to publish")
        _inside(root / STAGING, staging)
        _check_staged_files(staging, manifest)
        previous = read_manifest(period_dir / latest_name) if latest_name else None
        if (
            skip_unchanged
            and latest_name is not None
            and previous is not None
            and content_sha256(previous) == content_sha256(manifest)
        ):
            shutil.rmtree(staging, ignore_errors=True)
            return FinaliseOutcome("unchanged", period_dir / latest_name, previous, latest_name)
        if expected_latest is not ANY_LATEST and latest_name != expected_latest:
            raise PublishError(
                f"period {period_slug}: 'latest' moved from {expected_latest or 'nothing'} to {latest_name} "
                f"while run {run_id} was being published, and the content differs; not publishing over it "
                "(rerun the period to publish on top of the newer run)"
            )
        manifest = {**manifest, "changes": manifest_changes(previous, manifest, latest_name)}
        for leftover in staging.glob(f"{TMP_PREFIX}*"):
            leftover.unlink()  # temp files of an interrupted writer must not be published
        _move_into_place(staging, final, period_dir, run_name, manifest, period_slug, run_id, latest_name)
        return FinaliseOutcome("published", final, manifest, latest_name)


def _accept_retry(
    staging: Path,
    final: Path,
    period_dir: Path,
    run_name: str,
    latest_name: str | None,
    manifest: dict[str, Any],
) -> FinaliseOutcome:
    """``final`` exists: accept it only if it is this very run (a retry after the rename succeeded)."""
    existing = read_manifest(final)
    if existing is None or _without_changes(existing) != _without_changes(manifest):
        raise PublishError(f"{final} already exists: a published run is never overwritten")
    base = (existing.get("changes") or {}).get("previous_run_id")
    if latest_name != run_name:
        if latest_name != base:
            # another run became latest after this one: pointing back would publish stale figures
            raise PublishError(
                f"{final} already exists and {latest_name} was published after it: "
                "a published run is never overwritten and 'latest' is not moved back"
            )
        _point_latest(period_dir, run_name)  # the earlier attempt died between the rename and this
    if staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)
    return FinaliseOutcome("published", final, existing, base)


def _move_into_place(
    staging: Path,
    final: Path,
    period_dir: Path,
    run_name: str,
    manifest: dict[str, Any],
    period_slug: str,
    run_id: str,
    latest_name: str | None,
) -> None:
    untouched = f"the previous published outputs (latest -> {latest_name or 'none'}) are untouched"
    try:
        atomic_write(staging / MANIFEST, manifest_bytes(manifest))
        _fsync_dir(staging)
        period_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            f"publishing {period_slug} run {run_id} failed: could not write the manifest or create "
            f"{period_dir}: {_reason(exc)}; {untouched}"
        ) from exc
    try:
        os.rename(staging, final)
    except OSError as exc:
        raise PublishError(
            f"publishing {period_slug} run {run_id} failed: could not move {staging} to {final}: "
            f"{_reason(exc)}; {untouched}"
        ) from exc
    _fsync_dir(period_dir)
    try:
        _point_latest(period_dir, run_name)  # last: readers of 'latest' only ever see a complete run
    except OSError as exc:
        # take the run back out of sight, so what readers see is exactly what they saw before
        with contextlib.suppress(OSError):
            os.rename(final, staging)
        raise PublishError(
            f"publishing {period_slug} run {run_id} failed: could not point 'latest' at {run_name}: "
            f"{_reason(exc)}; {untouched}"
        ) from exc


def publication_number(output_root: Path, period_slug: str, run_id: str | None = None) -> int:
    """The version the next publication of the period will have: 1 + the runs published for it, not
    counting ``run_id``'s own folder (a retry after its move into place keeps the number it had)."""
    period_dir = Path(output_root) / period_slug
    if not period_dir.is_dir():
        return 1
    own = safe_name(run_id) if run_id is not None else None
    published = [
        d
        for d in period_dir.iterdir()
        if d.is_dir() and not d.is_symlink() and (d / MANIFEST).is_file() and d.name != own
    ]
    return len(published) + 1


def latest_run(output_root: Path, period_slug: str) -> Path | None:
    """The folder ``latest`` points at (symlink first, else the LATEST file), or None."""
    period_dir = Path(output_root) / check_component(period_slug, "period")
    link = period_dir / LATEST_LINK
    if link.is_symlink():
        return (period_dir / os.readlink(link)).resolve()
    text = period_dir / LATEST_FILE
    if text.is_file():
        return period_dir / check_component(text.read_text(encoding="utf-8").strip(), "run id")
    return None
