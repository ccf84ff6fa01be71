"""The run's Data Docs: the validation report as one self-contained HTML page, every value escaped.

Great Expectations runs the suites; this page shows their results (and the cross-extract rules'), in
place of GX's own Data Docs site, which pulls Bootstrap, jQuery, Vega and fonts from CDNs and renders
extract values into markup. Here the template is rendered by Jinja2 with autoescaping on, so any
text from an extract (a practice code, a file name, a failing value) is text, never markup; the page
has no script, and its one stylesheet sits beside it (``report.css``), so it renders with no network
and under a Content-Security-Policy of ``default-src 'none'; style-src 'self'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from .files import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from .validation import ValidationReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
INDEX, STYLESHEET = "index.html", "report.css"
#: Failing rows shown under each failed rule (quarantine.csv holds them all).
ROWS_SHOWN = 20


@dataclass(frozen=True)
class RuleResult:
    """One rule's result as the page shows it."""

    rule: str
    expectation: str
    column: str
    severity: str
    success: bool
    failing_rows: int
    message: str
    checks: str
    rows: list[dict[str, str]]
    more_rows: int


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every {{ value }} is HTML-escaped: extract values are text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _failing_rows(quarantine: pd.DataFrame) -> dict[tuple[str, str, str], pd.DataFrame]:
    """The first ROWS_SHOWN quarantined rows of each (extract, rule, severity)."""
    if quarantine.empty:
        return {}
    head = quarantine.groupby(["extract", "rule", "severity"], sort=False, dropna=False).head(ROWS_SHOWN)
    return {
        (str(k[0]), str(k[1]), str(k[2])): g
        for k, g in head.groupby(["extract", "rule", "severity"], sort=False, dropna=False)
    }


def _sections(report: ValidationReport) -> list[tuple[str, list[RuleResult]]]:
    from .cross_extract import CROSS_EXTRACT

    shown = _failing_rows(report.quarantine)
    q = report.quarantine
    counts = q.groupby(["extract", "rule", "severity"], dropna=False).size().to_dict() if len(q) else {}
    sections: dict[str, list[RuleResult]] = {}
    for res in report.results.to_dict(orient="records"):
        extract, rule, severity = str(res["extract"]), str(res["rule"]), str(res["severity"])
        if extract == CROSS_EXTRACT:  # cross-extract rows carry the extract they came from
            keys = [k for k in shown if k[1] == rule and k[2] == severity]
        else:
            keys = [(extract, rule, severity)] if (extract, rule, severity) in shown else []
        rows = [
            {str(c): _text(v) for c, v in r.items()}
            for k in keys
            for r in shown[k][["file", "row", "column", "value", "message"]].to_dict(orient="records")
        ][:ROWS_SHOWN]
        total = sum(int(counts.get(k, 0)) for k in keys)
        sections.setdefault(extract, []).append(
            RuleResult(
                rule=rule,
                expectation=_text(res["expectation_type"]),
                column=_text(res["column"]),
                severity=severity,
                success=bool(res["success"]),
                failing_rows=int(res["failing_rows"]),
                message=_text(res["message"]),
                checks=_text(res.get("description")),
                rows=rows,
                more_rows=max(total - len(rows), 0),
            )
        )
    return list(sections.items())


def write_data_docs(report: ValidationReport, folder: Path, *, period: str | None = None) -> Path:
    """Write ``index.html`` and ``report.css`` into ``folder``; returns the index."""
    sections = _sections(report)
    failed = [(extract, r) for extract, rules in sections for r in rules if not r.success]
    html = (
        _environment()
        .get_template("data_docs.html")
        .render(
            period=period or "",
            outcome=report.outcome_line(),
            passed=report.passed,
            failed=sorted(failed, key=lambda f: (f[1].severity != "error", f[0], f[1].rule)),
            sections=sections,
            quarantined=len(report.quarantine),
            rows_shown=ROWS_SHOWN,
            stylesheet=STYLESHEET,
        )
    )
    atomic_write(folder / STYLESHEET, (TEMPLATES / STYLESHEET).read_bytes())
    return atomic_write(folder / INDEX, html.encode("utf-8"))
