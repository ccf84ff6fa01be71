"""Atomic, reproducible publishing of the workbooks with a manifest.

Layout under the output root::

    <output root>/.staging/<period>/<run id>/     workbooks being written (readers never look here)
    <output root>/<period>/<run id>/              a finished run: workbooks + manifest.json
    <output root>/<period>/latest -> <run id>     symlink, replaced atomically, updated LAST
    <output root>/<period>/LATEST                 the same run id as text, for filesystems without links

The staging folder is on the same filesystem as the published one, so moving a finished run into place
is one ``os.rename`` of the folder: a reader sees the whole run or nothing. The pieces (``stage_dir``,
``stage_sub_icb_workbook``, ``stage_national_workbook``, ``build_manifest``, ``finalise``) let a DAG map
one task per sub-ICB; ``publish`` does everything in one call.

The manifest is deterministic: sorted keys, no clock reads (times appear only if they came in with the
run metadata, e.g. the fetch time of an input file).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import safe_name
from .errors import PublishError
from .results import AllocationResult
from .workbooks import RunInfo, write_national_workbook, write_sub_icb_workbook

STAGING = ".staging"
MANIFEST = "manifest.json"
LATEST_LINK = "latest"
LATEST_FILE = "LATEST"
MANIFEST_VERSION = 1


@dataclass
class PublishedRun:
    """A finished run: where it is and what its manifest says."""

    directory: Path
    manifest_path: Path
    manifest: dict

    @property
    def files(self) -> list[dict]:
        return self.manifest["files"]


def check_component(text: str, what: str) -> str:
    """Return ``text`` if it is safe as one path component, else raise PublishError (e.g. '../x')."""
    if not isinstance(text, str) or not text or text in {".", ".."} or safe_name(text) != text:
        raise PublishError(
            f"{what} {text!r} is not safe in a file name (letters, digits, '.', '_', '-' only)"
        )
    return text


def _inside(folder: Path, path: Path) -> Path:
    """Resolve ``path`` and insist it stays inside ``folder`` (defence in depth after check_component)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise PublishError(f"{path} would be written outside {folder}")
    return resolved


def sub_icb_file_name(period_slug: str, sub_icb_code: str) -> str:
    period = check_component(period_slug, "period")
    return f"gp-allocations_{period}_{check_component(sub_icb_code, 'sub-ICB code')}.xlsx"


def national_file_name(period_slug: str) -> str:
    return f"gp-allocations_{check_component(period_slug, 'period')}_england.xlsx"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path, *, kind: str, rows: int, sub_icb_code: str | None = None) -> dict:
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
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage_sub_icb_workbook(
    result: AllocationResult, run: RunInfo, staging: Path, sub_icb_code: str, *, period_slug: str
) -> dict:
    """Write one sub-ICB workbook into the staging folder; return its manifest entry."""
    check_component(sub_icb_code, "sub-ICB code")
    rows = int((result.practices["sub_icb_code"] == sub_icb_code).sum())
    if rows == 0:
        raise PublishError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    path = _inside(Path(staging), Path(staging) / sub_icb_file_name(period_slug, sub_icb_code))
    write_sub_icb_workbook(result, sub_icb_code, path, run=run)
    return file_entry(path, kind="sub_icb", rows=rows, sub_icb_code=sub_icb_code)


def stage_national_workbook(
    result: AllocationResult, run: RunInfo, staging: Path, *, period_slug: str
) -> dict:
    """Write the national workbook into the staging folder; return its manifest entry."""
    path = _inside(Path(staging), Path(staging) / national_file_name(period_slug))
    write_national_workbook(result, path, run=run)
    return file_entry(path, kind="national", rows=len(result.practices))


def _jsonable(value: Any) -> Any:
    """Plain JSON values from pandas/numpy cells (NaN -> null, Decimal -> text, numpy -> Python)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None:
        return []
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def sub_icb_totals(result: AllocationResult) -> dict[str, dict]:
    """Totals per sub-ICB per variant in pennies (exact integer sums of practices)."""
    p = result.practices
    out: dict[str, dict] = {}
    for code, part in p.groupby("sub_icb_code", sort=True):
        entry: dict[str, Any] = {
            "name": str(part["sub_icb_name"].iloc[0]),
            "practices": len(part),
            "registered_patients": int(part["registered_patients"].sum()),
            "qof_pence": int(part["qof_pence"].sum()),
            "variants": {},
        }
        for v in result.variants:
            entry["variants"][v] = {
                "capitation_pence": int(part[f"capitation_pence__{v}"].sum()),
                "total_pence": int(part[f"total_pence__{v}"].sum()),
            }
        out[str(code)] = entry
    return out


def build_manifest(
    result: AllocationResult, run: RunInfo, files: list[dict], *, period_slug: str, run_id: str
) -> dict:
    """The run's manifest: files, parameters, variants, envelopes, totals, inputs. No wall-clock time."""
    inputs = sorted(
        ({str(k): _jsonable(v) for k, v in item.items()} for item in run.inputs),
        key=lambda d: (str(d.get("extract")), str(d.get("file"))),
    )
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id,
        "period": period_slug,
        "period_label": run.period_label,
        "parameter_set": result.parameter_set,
        "parameter_set_title": result.parameter_set_title,
        "parameters": _records(result.parameters),
        "components": _records(result.components),
        "variants": list(result.variants),
        "selected_variant": result.selected_variant,
        "envelopes_pence": {k: int(v) for k, v in result.envelopes_pence.items()},
        "totals": {"sub_icb": sub_icb_totals(result)},
        "reconciliation": _records(result.reconciliation),
        "validation": {
            "status": run.validation_status,
            "warnings": len(run.warnings) if run.warnings is not None else 0,
            "quarantined_rows": int(run.quarantined_rows),
            "data_docs": run.data_docs,
        },
        "inputs": inputs,
        "files": sorted(files, key=lambda f: f["name"]),
    }


def manifest_bytes(manifest: dict) -> bytes:
    """Canonical bytes of a manifest: sorted keys, two-space indent, UTF-8, final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


def _check_staged_files(staging: Path, manifest: dict) -> None:
    for entry in manifest.get("files", []):
        path = _inside(staging, staging / check_component(entry["name"], "file name"))
        if not path.is_file():
            raise PublishError(f"{entry['name']} is listed in the manifest but was not written")
        if path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            raise PublishError(f"{entry['name']} changed after it was written (size or SHA-256 differs)")


def _point_latest(period_dir: Path, run_name: str) -> None:
    """Point ``latest`` and ``LATEST`` at the run; each is replaced atomically, never removed first."""
    _write_atomic(period_dir / LATEST_FILE, (run_name + "\n").encode("utf-8"))
    tmp = period_dir / f".{LATEST_LINK}.{run_name}.tmp"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_name, tmp, target_is_directory=True)  # relative: the tree can be moved or mounted
        os.replace(tmp, period_dir / LATEST_LINK)
    except (OSError, NotImplementedError):
        # no symlinks here (some network shares, Windows without privilege): LATEST is the pointer
        tmp.unlink(missing_ok=True)
    _fsync_dir(period_dir)


def finalise(staging: Path, output_root: Path, period_slug: str, run_id: str, manifest: dict) -> Path:
    """Write the manifest, move the staged run to ``<root>/<period>/<run id>/`` in one rename, then
    point ``latest`` at it. Safe to retry: a run already in place with the same manifest is accepted."""
    root = Path(output_root)
    period_dir = _inside(root, root / check_component(period_slug, "period"))
    run_name = check_component(safe_name(run_id), "run id")
    final = _inside(root, period_dir / run_name)
    staging = Path(staging)
    data = manifest_bytes(manifest)
    if not staging.is_dir():
        # a retry after the rename succeeded: accept only the very same run
        if (final / MANIFEST).is_file() and (final / MANIFEST).read_bytes() == data:
            _point_latest(period_dir, run_name)
            return final
        raise PublishError(f"staging folder {staging} is missing; nothing to publish")
    _inside(root / STAGING, staging)
    if final.exists():
        raise PublishError(f"{final} already exists: a published run is never overwritten")
    _check_staged_files(staging, manifest)
    for leftover in staging.glob(".tmp-*"):
        leftover.unlink()  # temp files of an interrupted writer must not be published
    _write_atomic(staging / MANIFEST, data)
    _fsync_dir(staging)
    period_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, final)
    except OSError as exc:
        raise PublishError(f"could not move {staging} to {final}: {exc}") from exc
    _fsync_dir(period_dir)
    _point_latest(period_dir, run_name)  # last: readers of 'latest' only ever see a complete run
    return final


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


def publish(
    result: AllocationResult,
    run: RunInfo,
    output_root: Path,
    *,
    period_slug: str,
    run_id: str,
    sub_icb_codes: list[str] | None = None,
) -> PublishedRun:
    """Write every sub-ICB workbook and the national workbook, then the manifest, and move them into
    place atomically. On any failure nothing new is visible to readers and PublishError is raised."""
    root = Path(output_root)
    check_component(period_slug, "period")
    codes = (
        sorted(sub_icb_codes)
        if sub_icb_codes is not None
        else sorted(str(c) for c in result.practices["sub_icb_code"].unique())
    )
    for code in codes:
        check_component(code, "sub-ICB code")
    root.mkdir(parents=True, exist_ok=True)
    staging = stage_dir(root, period_slug, run_id)
    shutil.rmtree(staging)  # leftovers of an earlier failed attempt must not leak into this run
    staging.mkdir(parents=True)
    try:
        files = [stage_sub_icb_workbook(result, run, staging, c, period_slug=period_slug) for c in codes]
        files.append(stage_national_workbook(result, run, staging, period_slug=period_slug))
        manifest = build_manifest(result, run, files, period_slug=period_slug, run_id=run_id)
        final = finalise(staging, root, period_slug, run_id, manifest)
    except PublishError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(
            f"publishing {period_slug} run {run_id} failed; previous outputs untouched: {exc}"
        ) from exc
    return PublishedRun(directory=final, manifest_path=final / MANIFEST, manifest=manifest)
