"""The manifest of a publication: what a run published (files with their SHA-256, parameters, variants
as the registry declares them, envelopes, totals, reconciliation, validation, inputs), its canonical
bytes, its content without what is specific to the run (so two runs can be compared), and what changed
since the run it replaces. Deterministic: sorted keys, no clock reads."""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import views
from .aggregates import ENGLAND_CODE, PAYABLE
from .ledger import Allocation
from .scenario_views import transition_manifest
from .variants import REGISTRY
from .workbooks import RunInfo

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
ALLOCATION_KINDS = ("sub_icb", "national")  # manifest file kinds of the allocation workbooks


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


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    if df is None:
        return []
    return [{str(k): _jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def results_sha256(result: Allocation) -> str:
    """SHA-256 of the ledger, the per-practice facts and the weighted lists (columns and rows sorted):
    equal digests, equal numbers.

    The workbooks embed the run id, so their bytes differ between runs; this digest is what says the
    numbers they carry are the same.
    """
    digest = hashlib.sha256()
    for frame, keys in (
        (result.ledger, ["practice_code", "variant", "line"]),
        (result.practices, ["practice_code"]),
        (result.weights, ["practice_code", "variant"]),
    ):
        ordered = frame[sorted(frame.columns)].sort_values(keys, kind="stable").reset_index(drop=True)
        digest.update(ordered.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return digest.hexdigest()


def _variant_entries(result: Allocation) -> list[dict[str, Any]]:
    """Each computed variant as the registry declares it, with its envelope lines."""
    out = []
    for name in result.variants:
        decl = REGISTRY.get(name)
        env = result.envelopes[result.envelopes["variant"] == name]
        out.append(
            {
                "name": name,
                "label": decl.label,
                "envelope_neutral": decl.envelope_neutral,
                "parameters": list(decl.parameters),
                "description": decl.description,
                "envelope_lines_pence": {
                    str(k): int(v) for k, v in zip(env["line"], env["pence"], strict=True)
                },
            }
        )
    return out


def _england_totals(result: Allocation) -> dict[str, Any]:
    """Per variant, England's payable capitation and total, in pennies (read from the aggregates)."""
    return {
        "variants": {
            v: {
                "capitation_pence": result.totals.amount("england", ENGLAND_CODE, v, PAYABLE),
                "total_pence": result.totals.amount("england", ENGLAND_CODE, v, "total"),
            }
            for v in result.variants
        }
    }


def build_manifest(
    result: Allocation, run: RunInfo, files: list[dict[str, Any]], *, period_slug: str, run_id: str
) -> dict[str, Any]:
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
        "variant_declarations": _variant_entries(result),
        "selected_variant": result.selected_variant,
        "envelopes_pence": {k: int(v) for k, v in result.envelopes_pence.items()},
        "results_sha256": results_sha256(result),
        "totals": {"sub_icb": views.sub_icb_totals(result), "england": _england_totals(result)},
        "reconciliation": _records(result.checks),
        "validation": {
            "status": run.validation_status,
            "warnings": len(run.warnings) if run.warnings is not None else 0,
            "quarantined_rows": int(run.quarantined_rows),
            "data_docs": run.data_docs,
        },
        "inputs": inputs,
        "extract_periods": {k: dict(v) for k, v in sorted(run.extract_periods.items())},
        "files": sorted(files, key=lambda f: f["name"]),
        **({"bridge": {c.kind: c.manifest_entry() for c in run.comparisons}} if run.comparisons else {}),
        # breached plausibility gates published over (gate, message, reason, by, at); only when any
        **({"overrides": [dict(o) for o in run.overrides]} if run.overrides else {}),
        **({"transitions": moves} if (moves := transition_manifest(result)) else {}),
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical bytes of a manifest: sorted keys, two-space indent, UTF-8, final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_manifest(run_dir: Path | None) -> dict[str, Any] | None:
    """The manifest of a published run folder, or None if there is none (or it is unreadable)."""
    if run_dir is None:
        return None
    try:
        manifest: dict[str, Any] = json.loads((Path(run_dir) / MANIFEST).read_text(encoding="utf-8"))
        return manifest
    except (OSError, ValueError):
        return None


def allocation_workbooks(run_dir: Path) -> list[Path]:
    """The allocation workbooks of a published or staged run, by manifest kind (not statements)."""
    manifest = read_manifest(run_dir) or {"files": []}
    return [Path(run_dir) / f["name"] for f in manifest["files"] if f.get("kind") in ALLOCATION_KINDS]


# sign_off: who approved this run, not its figures; plausibility: what this run's gates compared with
_RUN_SPECIFIC_KEYS = ("run_id", "changes", "sign_off", "plausibility")


_RUN_SPECIFIC_INPUT_KEYS = ("fetched_at", "source")


_RUN_SPECIFIC_FILE_KEYS = ("sha256", "bytes")  # workbooks embed the run id, so their bytes always differ


def manifest_content(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a run published, without what is specific to the run: run id, ``changes``, ``sign_off``,
    input fetch times and sources, the Data Docs location, and the workbooks' bytes/SHA-256
    (``results_sha256`` covers their figures). Two runs with equal content published the same
    numbers from the same inputs."""
    content = {k: v for k, v in manifest.items() if k not in _RUN_SPECIFIC_KEYS}
    content["inputs"] = [
        {k: v for k, v in item.items() if k not in _RUN_SPECIFIC_INPUT_KEYS}
        for item in manifest.get("inputs", [])
    ]
    content["files"] = [
        {k: v for k, v in item.items() if k not in _RUN_SPECIFIC_FILE_KEYS}
        for item in manifest.get("files", [])
    ]
    content["validation"] = {k: v for k, v in manifest.get("validation", {}).items() if k != "data_docs"}
    return content


def content_sha256(manifest: dict[str, Any]) -> str:
    """SHA-256 of ``manifest_content`` in canonical JSON."""
    return hashlib.sha256(manifest_bytes(manifest_content(manifest))).hexdigest()


def manifest_changes(
    previous: dict[str, Any] | None, current: dict[str, Any], previous_run_id: str | None
) -> dict[str, Any]:
    """What changed since the run this one replaces: inputs by SHA-256, totals per sub-ICB per variant,
    parameters. With no previous run, every list is empty and ``previous_run_id`` is None."""
    changes: dict[str, Any] = {
        "previous_run_id": previous_run_id,
        "previous_content_sha256": content_sha256(previous) if previous else None,
        "inputs": [],
        "totals": [],
        "parameters_changed": False,
        "results_changed": previous is None,
    }
    if previous is None:
        return changes

    def by_file(m: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(str(i.get("extract")), str(i.get("file"))): i for i in m.get("inputs", [])}

    old, new = by_file(previous), by_file(current)
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before and after and before.get("sha256") == after.get("sha256"):
            continue
        changes["inputs"].append(
            {
                "extract": key[0],
                "file": key[1],
                "change": "added" if before is None else "removed" if after is None else "changed",
                "previous_sha256": before.get("sha256") if before else None,
                "sha256": after.get("sha256") if after else None,
            }
        )
    old_tot = previous.get("totals", {}).get("sub_icb", {})
    new_tot = current.get("totals", {}).get("sub_icb", {})
    variants = sorted(set(previous.get("variants", [])) | set(current.get("variants", [])))
    for code in sorted(set(old_tot) | set(new_tot)):
        for v in variants:
            before = old_tot.get(code, {}).get("variants", {}).get(v, {}).get("total_pence")
            after = new_tot.get(code, {}).get("variants", {}).get(v, {}).get("total_pence")
            if before != after:
                changes["totals"].append(
                    {
                        "sub_icb_code": code,
                        "variant": v,
                        "previous_total_pence": before,
                        "total_pence": after,
                        "difference_pence": None if before is None or after is None else after - before,
                    }
                )
    changes["parameters_changed"] = (
        previous.get("parameter_set"),
        previous.get("parameters"),
        previous.get("components"),
    ) != (current.get("parameter_set"), current.get("parameters"), current.get("components"))
    changes["results_changed"] = previous.get("results_sha256") != current.get("results_sha256")
    return changes
