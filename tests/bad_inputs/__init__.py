"""The bad-input catalogue (catalogue.yaml), its breakage ops (breakers.py) and docs/bad-inputs.md.

Regenerate the doc after editing the catalogue:
``PYTHONPATH=plugins:tests .venv/bin/python -m bad_inputs``
"""

from __future__ import annotations

from pathlib import Path

import yaml

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


def render_doc(cases: list[dict]) -> str:
    """docs/bad-inputs.md: one table row per catalogue case with what the user sees."""
    lines = [
        "# Bad inputs: what the user sees",
        "",
        "Generated from `tests/bad_inputs/catalogue.yaml` by",
        "`PYTHONPATH=plugins:tests python -m bad_inputs`;",
        "`tests/test_bad_inputs.py` runs every case through the pipeline and checks this page is current.",
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
