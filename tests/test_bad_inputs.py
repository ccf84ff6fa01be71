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
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from bad_inputs import DOC, case_rules, load_cases, render_doc
from bad_inputs.breakers import OPS, apply_break
from bad_inputs.rules import all_rules, code_rules, data_rules, reconciliation_checks, rule_ids
from gp_allocations import errors
from gp_allocations.config import RunContext
from gp_allocations.ledger import load_allocation
from gp_allocations.periods import Period
from gp_allocations.pipeline import STAGES, load_validation_report, read_standardised
from gp_allocations.views import practice_table
from gp_allocations.workbooks.prose import plain

PERIOD = "2025-26-Q2"
PREVIOUS = "2025-26-Q1"
CASES = load_cases()
STAGE_NAMES = [s.__name__.removeprefix("stage_") for s in STAGES]


def _context(root: Path, run_id: str, source: Path, output_root: Path, period: str = PERIOD) -> RunContext:
    return RunContext.prepare(
        run_id=run_id,
        period=period,
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


def _warehouse(path: Path, but_run: str | None = None) -> dict[str, str]:
    """Every warehouse table by SHA-256 of its sorted rows; ``but_run``'s quarantined rows left out (a
    run that stops at validate keeps its failing rows there, by design, beside earlier runs')."""
    out = {}
    with sqlite3.connect(path) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in sorted(tables):
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            if table == "quarantine_rows":
                run = [d[0] for d in conn.execute('SELECT * FROM "quarantine_rows" LIMIT 0').description]
                rows = [r for r in rows if r[run.index("run_id")] != but_run]
            out[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
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
    from gp_allocations_samples import generate_samples

    out = tmp_path_factory.mktemp("good-sample")
    generate_samples(out, period=Period.parse(PERIOD), practices=60, seed=7)
    return out


@pytest.fixture(scope="module")
def baseline(sample, tmp_path_factory) -> dict:
    from gp_allocations_samples import generate_samples

    root = tmp_path_factory.mktemp("baseline")
    # the quarter before, published first: the plausibility gates then have a previous loaded period and
    # a previous publication to compare with (the sample's lists are the same in both quarters)
    before = Period.parse(PREVIOUS)
    generate_samples(root / "sample-before", period=before, practices=60, seed=7)
    stage, exc = _run(_context(root, "baseline-before", root / "sample-before", root / "outputs", PREVIOUS))
    assert exc is None, f"the good sample of {PREVIOUS} failed at {stage}: {exc}"
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


def test_every_rule_a_case_names_is_listed():
    declared = rule_ids(all_rules())
    named = {rule for case in CASES for rule in case_rules(case)}
    assert named and named <= declared, sorted(named - declared)


def test_rules_are_found_where_they_are_declared(tmp_path):
    """A rule added anywhere (an error's rule=, a helper's rule argument, a suite, a rules file) is
    listed without editing the generator; a rule given as a variable is not mistaken for an id."""
    package = tmp_path / "pkg"
    (package / "engine").mkdir(parents=True)
    (package / "engine" / "planted.py").write_text(
        "from ..errors import InputError\n"
        "def _fail(values, rule, what, severity='error'):\n"
        "    raise InputError(f'value is not {what}', rule=rule)\n"
        "def check(values, name):\n"
        "    if not values:\n"
        "        raise InputError(f'no rows in {name}', file=name, rule='planted:keyword')\n"
        "    _fail(values, 'planted:positional', 'a planted thing', 'warning')\n",
        encoding="utf-8",
    )
    found = {r.rule: r for r in code_rules(package)}
    assert set(found) == {"planted:keyword", "planted:positional"}
    keyword = found["planted:keyword"]
    assert (keyword.stage, keyword.message) == ("compute", "no rows in {name}")
    assert found["planted:positional"].raised_by == ["_fail"]
    assert found["planted:positional"].severity == "warning"

    suites = tmp_path / "expectations"
    suites.mkdir()
    (suites / "planted.json").write_text(
        '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"},'
        ' "meta": {"severity": "warning", "rule": "planted_suite_rule", "description": "a is there"}}],'
        ' "rules": [{"rule": "planted_threshold", "severity": "error", "description": "at most 5"}]}',
        encoding="utf-8",
    )
    data = {r.rule: r for r in data_rules(suites)}
    assert (data["planted_suite_rule"].severity, data["planted_suite_rule"].columns) == ("warning", ["a"])
    assert data["planted_threshold"].checks == "at most 5"


def test_the_doc_lists_every_rule():
    text = DOC.read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"| `{rule.rule}` |" in text, rule


def test_the_doc_lists_every_reconciliation_gate(tmp_path):
    """Each check of checks.py is in the doc as written; a check added there is found without a list."""
    text = DOC.read_text(encoding="utf-8")
    checks = reconciliation_checks()
    assert len(checks) >= 10 and all(f"| `{c}` | error | compute |" in text for c in checks), checks
    planted = tmp_path / "checks.py"
    planted.write_text(
        "def _row(check, expected, actual, passed): ...\n"
        "def f(level, a, b):\n"
        "    return [_row(f'{level}: planted rows equal', a, b, a == b), _row('plain check', 1, 1, True)]\n",
        encoding="utf-8",
    )
    assert reconciliation_checks(planted) == ["plain check", "{level}: planted rows equal"]


def test_warehouse_snapshot_sees_a_change(tmp_path):
    """The before-load check can fail: a changed core row is seen; only the run's own quarantine is not."""
    path = tmp_path / "w.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE core_practice (practice_code TEXT)")
        conn.execute("CREATE TABLE quarantine_rows (run_id TEXT, rule TEXT)")
    before = _warehouse(path, but_run="r")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO quarantine_rows VALUES ('r', 'unique_key')")
    assert _warehouse(path, but_run="r") == before and _warehouse(path, but_run="other") != before
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO core_practice VALUES ('A81001')")
    assert _warehouse(path, but_run="r") != before


def _broken_copy(sample: Path, tmp_path: Path, case: dict) -> Path:
    source = tmp_path / "extracts"
    shutil.copytree(sample, source)
    apply_break(source, case["break"])
    return source


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, sample, baseline, tmp_path, monkeypatch):
    for name, value in (case.get("env") or {}).items():  # a deployment's setting, e.g. a reading limit
        monkeypatch.setenv(name, str(value))
    source = _broken_copy(sample, tmp_path, case)
    if case["outcome"] == "error":
        _check_error(case, source, baseline, tmp_path)
    else:
        _check_published(case, source, baseline, tmp_path)


def _check_error(case: dict, source: Path, baseline: dict, tmp_path: Path) -> None:
    # same warehouse, data folder and output root as the baseline: a real second night on bad files
    ctx = _context(baseline["root"], case["id"], source, baseline["outputs"])
    warehouse = _warehouse(baseline["root"] / "warehouse.sqlite")
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
    if STAGE_NAMES.index(stage) < STAGE_NAMES.index("load"):
        # stopped before load: the warehouse holds exactly what it held (only this run's quarantine added)
        assert _warehouse(baseline["root"] / "warehouse.sqlite", but_run=case["id"]) == warehouse


def _check_published(case: dict, source: Path, baseline: dict, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    ctx = _context(baseline["root"], case["id"], source, outputs)
    stage, exc = _run(ctx)
    assert exc is None, f"{case['id']}: failed at {stage}: {exc}"
    published = _snapshot(outputs)
    books = sorted(
        p for p in published if p.endswith(".xlsx") and "/.staging" not in p and "_statements" not in p
    )
    assert books and (outputs / PERIOD / "latest").resolve().name == case["id"]
    warnings = load_validation_report(ctx).warnings()
    if case["outcome"] == "warning":
        rule, pattern = case["warning"]["rule"], case["warning"]["match"]
        hits = warnings[warnings["rule"] == rule]
        assert len(hits) == 1 and re.search(pattern, hits.iloc[0]["message"]), warnings.to_string()
        national = next(outputs / p for p in books if p.endswith("_england.xlsx"))
        sheet = openpyxl.load_workbook(national, read_only=True)["Data quality"]
        cells = [str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
        # the sheet shows rule ids in words (no snake_case key reaches a workbook)
        assert plain(rule) in cells and any(re.search(pattern, c) for c in cells), cells
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
