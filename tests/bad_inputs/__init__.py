"""The bad-input catalogue (catalogue.yaml), its breakage ops (breakers.py), every rule (rules.py) and
docs/bad-inputs.md.

Regenerate the doc after editing the catalogue:
``PYTHONPATH=plugins:tests .venv/bin/python -m bad_inputs``
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .rules import Rule, code_rules, data_rules, reconciliation_checks

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "catalogue.yaml"
DOC = HERE.parent.parent / "docs" / "bad-inputs.md"
SOURCE_IN_DOC = "<source folder>"


def load_cases() -> list[dict]:
    """Every case of the catalogue, in file order."""
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["cases"]


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell (pipes escaped, line breaks as <br>)."""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _breakage(steps: list[dict]) -> str:
    parts = []
    for step in steps:
        args = ", ".join(f"{k}={v!r}" for k, v in step.items() if k not in ("extract", "op"))
        parts.append(f"`{step['extract']}`: {step['op']}" + (f" ({args})" if args else ""))
    return "; ".join(parts)


def _seen(case: dict) -> str:
    outcome = case["outcome"]
    if outcome == "ok":
        return "Run publishes; every number is the same as from the unbroken file."
    if outcome == "warning":
        w = case["warning"]
        return f"Run publishes with warning `{w['rule']}` (message matching `{w['match']}`)."
    if "message" in case:
        text = case["message"].replace("{source}", SOURCE_IN_DOC)
        return f"`{case['error']}` at {case['stage']}:<br>`{_cell(text)}`"
    return f"`{case['error']}` at {case['stage']}, message matching:<br>`{_cell(case['match'])}`"


_RULE_IN_MESSAGE = re.compile(r"\brule (\S+?):\s")

#: What a user sees, by kind of rule (the table rows say which kind each rule is).
SEEN_BY_KIND = {
    "input error": (
        "The stage stops with one line naming file, row, column and rule: `file F, row R, column 'C', "
        "rule R: <message>`. The CLI prints that line and exits 2; the Airflow task log ends with it. "
        "Nothing is published and the outputs already published stay byte-for-byte as they were."
    ),
    "validation error": (
        "The validate stage stops: `file F, row R, column 'C', rule R: value 'V' fails <expectation> "
        "(<what it checks>); N row(s) in all. Failing rows are listed in the run's quarantine.csv`. The "
        "run's Data Docs (Airflow UI, *Validation report*) list every rule's result. Nothing is published."
    ),
    "reconciliation gate": (
        "The compute stage stops before anything is staged: `reconciliation check failed: <check>: expected "
        "X, got Y [detail]; nothing was published` (`ReconciliationFailed`, the first failed check and its "
        "two figures, and how many more failed). The CLI exits 2; the Airflow task log ends with it."
    ),
    "validation warning": (
        "The run publishes. The rule, its message and its failing rows are in the run's validation "
        "report (Data Docs), the published quarantine.csv and every workbook's Data quality sheet."
    ),
}


def case_rules(case: dict) -> set[str]:
    """The rule ids a case's expected message (or warning) names."""
    if case["outcome"] == "warning":
        return {case["warning"]["rule"]}
    text = case.get("message") or (case.get("match") or "").replace("\\", "")
    return set(_RULE_IN_MESSAGE.findall(text))


def _cases_by_rule(cases: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for case in cases:
        for rule in sorted(case_rules(case)):
            out.setdefault(rule, []).append(case)
    return out


def _cases_of(rule: Rule, by_rule: dict[str, list[dict]]) -> list[str]:
    """Ids of the cases that show ``rule``: for a suite's rule, only cases breaking that suite's extract."""
    cases = by_rule.get(rule.rule, [])
    suite = rule.source.removeprefix("expectations/").removesuffix(".json")
    if rule.source.startswith("expectations/") and not rule.source.endswith("/cross_extract.json"):
        cases = [c for c in cases if suite in {step["extract"] for step in c["break"]}]
    return [c["id"] for c in cases]


def _case_links(ids: list[str]) -> str:
    return ", ".join(f"`{i}`" for i in ids) or "-"


def _code_rule_lines(rules: list[Rule], by_rule: dict[str, list[dict]]) -> list[str]:
    grouped: dict[str, list[Rule]] = {}
    for rule in rules:
        grouped.setdefault(rule.rule, []).append(rule)
    lines = [
        f"## Rules checked in code ({len(grouped)})",
        "",
        "Found in the source of `plugins/gp_allocations` (every literal `rule=` of an error, or the rule a",
        "checking helper is given). Kind: input error. A message as written shows `{...}` where the value,",
        "row or file goes.",
        "",
        "| Rule | Severity | Stage | Where | Message as written in the code | Cases |",
        "|---|---|---|---|---|---|",
    ]
    for rule_id in sorted(grouped):
        found = grouped[rule_id]
        severities = sorted({s for r in found for s in r.severity.split(" / ")})
        stages = sorted({r.stage for r in found if r.stage}) or ["-"]
        where = "<br>".join(
            f"`{r.source.removeprefix('plugins/gp_allocations/')}` ({', '.join(r.raised_by)})" for r in found
        )
        messages = "<br>".join(dict.fromkeys(f"`{_cell(r.message)}`" for r in found if r.message)) or "-"
        lines.append(
            f"| `{rule_id}` | {' / '.join(severities)} | {', '.join(stages)} | {where} | {messages} "
            f"| {_case_links(_cases_of(found[0], by_rule))} |"
        )
    return lines


def _data_rule_lines(rules: list[Rule], by_rule: dict[str, list[dict]]) -> list[str]:
    lines = [
        f"## Validation rules ({len(rules)})",
        "",
        "One row per rule id of each suite (`expectations/<extract>.json`, run by Great Expectations) and of",
        "each rules file (`expectations/cross_extract.json`, run after the suites). Kind: validation error",
        "or validation warning, by severity.",
        "",
        "| Declared in | Rule | Severity | Column(s) | What it checks | Cases |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        columns = ", ".join(f"`{c}`" for c in rule.columns) or "-"
        lines.append(
            f"| `{rule.source.removeprefix('expectations/')}` | `{rule.rule}` | {rule.severity} | {columns} "
            f"| {_cell(rule.checks)} | {_case_links(_cases_of(rule, by_rule))} |"
        )
    return lines


def _gate_lines(checks: list[str]) -> list[str]:
    lines = [
        f"## Reconciliation gates ({len(checks)})",
        "",
        "Every check of the engine's result (`plugins/gp_allocations/checks.py`), as written there: `{...}`",
        "is a variant, level, grouping or line, one check each. Kind: reconciliation gate; severity: error",
        "(any failure stops the run; no override). No bad input can make one fail: they guard the engine",
        "and the warehouse, and `tests/test_gates.py` plants a defect for each kind.",
        "",
        "| Check | Severity | Stage |",
        "|---|---|---|",
    ]
    return [*lines, *(f"| `{_cell(c)}` | error | compute |" for c in checks)]


def render_doc(cases: list[dict]) -> str:
    """docs/bad-inputs.md: every rule (from where it is declared) and every catalogue case."""
    by_rule = _cases_by_rule(cases)
    data, code = data_rules(), code_rules()
    lines = [
        "# Bad inputs: every rule, and what the user sees",
        "",
        "Generated by `PYTHONPATH=plugins:tests python -m bad_inputs` from the rules where they are",
        "declared (`expectations/*.json`, and the `rule` of every error raised in `plugins/gp_allocations`)",
        "and from the catalogue of bad inputs `tests/bad_inputs/catalogue.yaml`;",
        "`tests/test_bad_inputs.py` runs every case through the pipeline and checks this page is current.",
        "",
        "## What the user sees",
        "",
        *(f"- **{kind}**: {text}" for kind, text in SEEN_BY_KIND.items()),
        "",
        *_code_rule_lines(code, by_rule),
        "",
        *_data_rule_lines(data, by_rule),
        "",
        *_gate_lines(reconciliation_checks()),
        "",
        f"## Catalogue of bad inputs ({len(cases)} cases)",
        "",
        "Each case breaks one file of a good generated sample (60 practices, period 2025-26-Q2). Rows are",
        "spreadsheet rows: the header is row 1, the first data row is row 2, whatever the number of physical",
        "lines a header cell spans. An **error** stops the run: nothing is published and the outputs already",
        "published stay byte-for-byte as they were. A **warning** is listed in the validation report and the",
        "workbooks' Data quality sheet, and the run publishes. **ok** cases are valid published variants",
        "(latin-1, UTF-8 with BOM, line breaks in headers, extra columns).",
        "",
        f"`{SOURCE_IN_DOC}` stands for the folder or URI the extracts are pulled from.",
        "",
        "| # | Case | What is wrong | Breakage | Outcome | What the user sees |",
        "|---|---|---|---|---|---|",
    ]
    for i, case in enumerate(cases, 1):
        lines.append(
            f"| {i} | `{case['id']}` | {_cell(case['description'])} | {_cell(_breakage(case['break']))} "
            f"| {case['outcome']} | {_seen(case)} |"
        )
    return "\n".join(lines) + "\n"
