"""The bad-input catalogue, run through the real pipeline stages (pipeline.STAGES, as the DAG runs them).

One good sample is generated and published once (the baseline). Each case copies the sample, breaks one
file as tests/bad_inputs/catalogue.yaml says and runs the pipeline again under a new run id:
- error cases stop at the stated stage with the stated exception and exact message, and the output root
  is byte-for-byte what the baseline left (no new run folder, no staging leftovers, ``latest`` unchanged);
- warning cases publish, with the warning in the validation report and the workbooks' Data quality sheet;
- ok cases (valid published variants) publish the same numbers as the baseline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from bad_inputs import DOC, load_cases, render_doc
from bad_inputs.breakers import OPS, apply_break
from gp_allocations import errors
from gp_allocations.config import RunContext
from gp_allocations.ledger import load_allocation
from gp_allocations.periods import Period
from gp_allocations.pipeline import STAGES, load_validation_report, read_standardised
from gp_allocations.views import practice_table

PERIOD = "2025-26-Q2"
CASES = load_cases()
STAGE_NAMES = [s.__name__.removeprefix("stage_") for s in STAGES]


def _context(root: Path, run_id: str, source: Path, output_root: Path) -> RunContext:
    return RunContext.prepare(
        run_id=run_id,
        period=PERIOD,
        source=str(source),
        sources={},
        warehouse_url=f"sqlite:///{root / 'warehouse.sqlite'}",
        output_root=str(output_root),
        data_dir=str(root / "data"),
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """Every path under folder: files by SHA-256, links by target, folders as such."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "link -> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _run(ctx: RunContext) -> tuple[str | None, Exception | None]:
    """Run the stages in order; return the stage that raised a PipelineError and the error."""
    for stage, name in zip(STAGES, STAGE_NAMES, strict=True):
        try:
            stage(ctx)
        except errors.PipelineError as exc:
            return name, exc
    return None, None


def _totals(ctx: RunContext) -> pd.DataFrame:
    practices = practice_table(load_allocation(ctx.compute_dir / "result"))
    cols = ["practice_code", *sorted(c for c in practices.columns if c.startswith("total_pence__"))]
    return practices[cols].sort_values("practice_code").reset_index(drop=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from gp_allocations.sample_data import generate_samples

    out = tmp_path_factory.mktemp("good-sample")
    generate_samples(out, period=Period.parse(PERIOD), practices=60, seed=7)
    return out


@pytest.fixture(scope="module")
def baseline(sample, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("baseline")
    ctx = _context(root, "baseline", sample, root / "outputs")
    stage, exc = _run(ctx)
    assert exc is None, f"the good sample failed at {stage}: {exc}"
    published = _snapshot(root / "outputs")
    assert any(p.endswith(".xlsx") for p in published) and f"{PERIOD}/latest" in published
    shutil.copytree(root / "outputs", root / "pristine", symlinks=True)
    return {
        "pristine": root / "pristine",
        "root": root,
        "outputs": root / "outputs",
        "snapshot": published,
        "frames": read_standardised(ctx),
        "totals": _totals(ctx),
    }


def test_catalogue_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25
    for case in CASES:
        assert case["outcome"] in {"error", "warning", "ok"}, case["id"]
        assert all(step["op"] in OPS for step in case["break"]), case["id"]
        if case["outcome"] == "error":
            assert case["stage"] in STAGE_NAMES and hasattr(errors, case["error"]), case["id"]
            assert ("message" in case) != ("match" in case), case["id"]
    assert sum(c["outcome"] == "error" for c in CASES) >= 20


def test_doc_is_generated_from_the_catalogue():
    assert DOC.read_text(encoding="utf-8") == render_doc(CASES), (
        "docs/bad-inputs.md is stale: run PYTHONPATH=plugins:tests .venv/bin/python -m bad_inputs"
    )


def _broken_copy(sample: Path, tmp_path: Path, case: dict) -> Path:
    source = tmp_path / "extracts"
    shutil.copytree(sample, source)
    apply_break(source, case["break"])
    return source


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, sample, baseline, tmp_path):
    source = _broken_copy(sample, tmp_path, case)
    if case["outcome"] == "error":
        _check_error(case, source, baseline, tmp_path)
    else:
        _check_published(case, source, baseline, tmp_path)


def _check_error(case: dict, source: Path, baseline: dict, tmp_path: Path) -> None:
    # same warehouse, data folder and output root as the baseline: a real second night on bad files
    ctx = _context(baseline["root"], case["id"], source, baseline["outputs"])
    stage, exc = _run(ctx)
    if exc is None:  # put the baseline back so that this failure does not spill into other cases
        shutil.rmtree(baseline["outputs"])
        shutil.copytree(baseline["pristine"], baseline["outputs"], symlinks=True)
    assert exc is not None, f"{case['id']}: the run did not fail"
    text = str(exc)
    assert (stage, type(exc).__name__) == (case["stage"], case["error"]), text
    if "message" in case:
        assert text == case["message"].format(source=source), text
    else:
        assert re.match(case["match"], text), text
    # the message names the rule (and, for an error in a file, the file)
    assert re.search(r"\brule \S+", text), text
    # nothing new under the output root, nothing changed: no run folder, no staging, same latest
    assert _snapshot(baseline["outputs"]) == baseline["snapshot"]


def _check_published(case: dict, source: Path, baseline: dict, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    ctx = _context(baseline["root"], case["id"], source, outputs)
    stage, exc = _run(ctx)
    assert exc is None, f"{case['id']}: failed at {stage}: {exc}"
    published = _snapshot(outputs)
    books = sorted(p for p in published if p.endswith(".xlsx") and "/.staging" not in p)
    assert books and (outputs / PERIOD / "latest").resolve().name == case["id"]
    warnings = load_validation_report(ctx).warnings()
    if case["outcome"] == "warning":
        rule, pattern = case["warning"]["rule"], case["warning"]["match"]
        hits = warnings[warnings["rule"] == rule]
        assert len(hits) == 1 and re.search(pattern, hits.iloc[0]["message"]), warnings.to_string()
        national = next(outputs / p for p in books if p.endswith("_england.xlsx"))
        sheet = openpyxl.load_workbook(national, read_only=True)["Data quality"]
        cells = [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
        assert rule in cells and any(re.search(pattern, c) for c in cells)
    else:
        # a valid variant of the file: the standardised values and every allocation are unchanged
        changed = case.get("changed") or {}
        frames = read_standardised(ctx)
        for extract, frame in baseline["frames"].items():
            got = frames[extract].drop(columns=["_file"])
            want = frame.drop(columns=["_file"])
            for column, value in (changed.get(extract) or {}).items():
                moved = got[column] != want[column]
                assert moved.sum() == 1 and (got.loc[moved, column] == value).all(), (extract, column)
                got = got.drop(columns=[column])
                want = want.drop(columns=[column])
            pd.testing.assert_frame_equal(got, want, obj=f"{case['id']}: {extract}")
        pd.testing.assert_frame_equal(_totals(ctx), baseline["totals"])
