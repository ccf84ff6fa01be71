"""Validate canonical extracts with Great Expectations Core 1.x, plus cross-extract checks in pandas.

One GX suite per extract lives in ``expectations/<extract>.json``; every expectation carries GX's own
``severity`` ("critical" or "warning") and ``meta`` = {severity: error|warning, rule, description}, so
the rules are read in the suite files, not in this module. Cross-extract rules and their parameters
live in ``expectations/cross_extract.json`` (run by ``cross_extract.py``).

Errors stop publication; warnings are reported. Rows failing a row-level rule are kept in a
quarantine (file, 1-based row, column, value, rule, severity; records in ``findings.py``). The run's
Data Docs are one escaped, self-contained page (``data_docs.py``), not GX's CDN-based site.

Great Expectations is imported lazily inside functions: importing it costs about 3 s.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import expectations_dir
from .cross_extract import CROSS_EXTRACT, load_cross_rules, run_cross_extract_checks
from .era_rules import apply_era_cross_rules, apply_era_rules
from .errors import ValidationFailed
from .findings import (
    QUARANTINE_COLUMNS,
    RESULT_COLUMNS,
    as_text,
    concat_quarantine,
    published_column,
    quarantine_frame,
    result_row,
    write_quarantine_csv,
    write_results_csv,
)
from .periods import Period

log = logging.getLogger(__name__)

# GX's native severity -> ours. "info" is treated as a warning: it must never block publication.
_GX_SEVERITY = {"critical": "error", "warning": "warning", "info": "warning"}


# ----------------------------------------------------------------------------------------- report


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class ValidationReport:
    """Outcome of one validation run: every rule's result, the quarantined rows, the Data Docs."""

    passed: bool
    results: pd.DataFrame
    quarantine: pd.DataFrame
    data_docs_index: Path | None = None
    quarantine_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _failed(self, severity: str) -> pd.DataFrame:
        res = self.results
        return res[(res["severity"] == severity) & ~res["success"].astype(bool)].reset_index(drop=True)

    def warnings(self) -> pd.DataFrame:
        """Results of warning rules that failed."""
        return self._failed("warning")

    def errors(self) -> pd.DataFrame:
        """Results of error rules that failed (any of them means nothing may be published)."""
        return self._failed("error")

    def _first_error(self) -> tuple[pd.Series, pd.DataFrame] | None:
        """The first failed error rule and its quarantined rows (same column first), or None."""
        errors = self.errors()
        if errors.empty:
            return None
        first = errors.iloc[0]
        q = self.quarantine
        rows = q[(q["rule"] == first["rule"]) & (q["severity"] == "error")]
        if first["extract"] != CROSS_EXTRACT:  # cross-extract rows carry the extract they came from
            rows = rows[rows["extract"] == first["extract"]]
        if first["column"]:
            same_col = rows[rows["column"].astype(str) == str(first["column"])]
            rows = same_col if not same_col.empty else rows
        return first, rows

    def first_error_line(self) -> str | None:
        """One line a user can act on: file, row, column, rule and value of the first error."""
        found = self._first_error()
        if found is None:
            return None
        first, rows = found
        what = f"rule {first['rule']} ({first['expectation_type']})"
        if rows.empty:
            return f"{first['extract']}: {what} failed: {first['message']}"
        row = rows.iloc[0]
        return (
            f"{row['file']} row {row['row']} column {row['column']}: {what} failed for value "
            f"{row['value']}; {int(first['failing_rows'])} row(s) in all"
        )

    def error_summary(self) -> str | None:
        """What a data engineer reads when validation stops the run: the first failing row as
        ``file F, row R, column 'C', rule R: ...`` (the form of every input error), what the rule
        checks, and which other error rules failed."""
        found = self._first_error()
        if found is None:
            return None
        first, rows = found
        errors = self.errors()
        failing = int(first["failing_rows"])
        if rows.empty:
            head = f"extract {first['extract']}, rule {first['rule']}: {first['message']}"
        else:
            row = rows.iloc[0]
            what = re.sub(r"^\d+ row\(s\) failed: ", "", str(first["message"]))
            head = (
                f"file {row['file']}, row {row['row']}, column {str(row['column'])!r}, rule {first['rule']}: "
                f"value {str(row['value'])!r} fails {first['expectation_type']} ({what})"
            )
        others = sorted(set(errors["rule"]) - {first["rule"]})
        tail = f"; other error rule(s) failed: {', '.join(others)}" if others else ""
        return f"{head}; {failing} row(s) in all{tail}. Failing rows are listed in the run's quarantine.csv"

    def outcome_line(self) -> str:
        """``validation passed with 2 warnings (no errors), 14 rows quarantined``: errors and warnings
        apart, so a pass with warnings never reads as a failure."""
        errors, warnings = len(self.errors()), len(self.warnings())
        rows = len(self.quarantine)
        quarantined = f"{_count(rows, 'row')} quarantined"
        if not self.passed:
            also = f" and {_count(warnings, 'warning rule')}" if warnings else ""
            return f"validation FAILED: {_count(errors, 'error rule')}{also} failed, {quarantined}"
        if warnings:
            return f"validation passed with {_count(warnings, 'warning')} (no errors), {quarantined}"
        return f"validation passed: no errors, no warnings, {quarantined}"

    def raise_for_errors(self) -> None:
        """Raise ValidationFailed naming the first error, if any error rule failed."""
        line = self.first_error_line()
        if line is not None:
            raise ValidationFailed(f"{len(self.errors())} validation error(s); first: {line}")

    def to_json(self, *, max_quarantine_rows: int = 1000) -> str:
        """Serialise for passing between tasks; the quarantine is cut to its first rows (the CSV has all)."""
        return json.dumps(
            {
                "passed": bool(self.passed),
                "results": _records(self.results),
                "quarantine": _records(self.quarantine.head(max_quarantine_rows)),
                "quarantine_rows": len(self.quarantine),
                "data_docs_index": str(self.data_docs_index) if self.data_docs_index else None,
                "quarantine_path": str(self.quarantine_path) if self.quarantine_path else None,
                "extra": self.extra,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ValidationReport:
        """Rebuild a report; the full quarantine is re-read from its CSV when that file still exists."""
        data = json.loads(text)
        qpath = Path(data["quarantine_path"]) if data.get("quarantine_path") else None
        quarantine = pd.DataFrame(data["quarantine"], columns=QUARANTINE_COLUMNS)
        quarantine["practice_code"] = quarantine["practice_code"].fillna("")  # a report from before it
        if qpath is not None and qpath.exists() and data.get("quarantine_rows", 0) > len(quarantine):
            quarantine = pd.read_csv(qpath, dtype=str, keep_default_na=False)
            quarantine["row"] = pd.to_numeric(quarantine["row"], errors="coerce").astype("Int64")
            quarantine = quarantine.reindex(columns=QUARANTINE_COLUMNS, fill_value="")
        results = pd.DataFrame(data["results"], columns=RESULT_COLUMNS)
        results["description"] = results["description"].fillna("")  # a report from before the column
        results["success"] = results["success"].astype(bool)
        results["failing_rows"] = results["failing_rows"].astype("int64")
        return cls(
            passed=data["passed"],
            results=results,
            quarantine=quarantine,
            data_docs_index=Path(data["data_docs_index"]) if data.get("data_docs_index") else None,
            quarantine_path=qpath,
            extra=data.get("extra") or {},
        )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return records


# ----------------------------------------------------------------------------------------- suites


def suite_path(extract: str, directory: Path | None = None) -> Path:
    return (directory or expectations_dir()) / f"{extract}.json"


def load_suite_dict(extract: str, directory: Path | None = None) -> dict[str, Any]:
    """The suite of one extract as the JSON dict kept in expectations/."""
    suite: dict[str, Any] = json.loads(suite_path(extract, directory).read_text(encoding="utf-8"))
    return suite


# ----------------------------------------------------------------------------------------- validate


def validate(
    frames: dict[str, pd.DataFrame],
    *,
    out_dir: Path,
    period: Period | None = None,
    previous_list_sizes: pd.DataFrame | None = None,
    drift_threshold: float | None = None,
    extract_periods: Mapping[str, str | None] | None = None,
    build_data_docs: bool = True,
    suites_dir: Path | None = None,
    cross_rules: list[dict[str, Any]] | None = None,
) -> ValidationReport:
    """Run each extract's suite and the cross-extract rules; write quarantine.csv, results.csv and the
    Data Docs page (``data_docs/index.html``) to out_dir.

    ``frames`` maps extract name -> canonical DataFrame with ``_file`` and ``_row`` columns.
    ``drift_threshold`` (a fraction, 0.1 = 10%) overrides the list-size drift rule's parameter.
    ``extract_periods`` (extract -> the period it is for, as the reader inferred it) says which extracts
    are of the run's period; without it every extract is taken to be.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result_rows, quarantine_parts = _run_suites(frames, suites_dir)
    started = time.perf_counter()
    cross_rows, cross_quarantine = run_cross_extract_checks(
        frames,
        previous_list_sizes=previous_list_sizes,
        rules=apply_era_cross_rules(load_cross_rules() if cross_rules is None else cross_rules, frames),
        period=period,
        drift_threshold=drift_threshold,
        extract_periods=extract_periods,
    )
    log.info("cross-extract rules in %.1f s", time.perf_counter() - started)
    result_rows.extend(cross_rows)
    quarantine_parts.append(cross_quarantine)

    results = pd.DataFrame(result_rows, columns=RESULT_COLUMNS)
    results["success"] = results["success"].astype(bool)
    results["failing_rows"] = results["failing_rows"].astype("int64")
    quarantine = concat_quarantine(quarantine_parts)
    quarantine_path = out_dir / "quarantine.csv"
    write_quarantine_csv(quarantine, quarantine_path)
    write_results_csv(results, out_dir / "results.csv")
    passed = not bool(((results["severity"] == "error") & ~results["success"]).any())
    extra = {"period": period.slug if period else None, "extracts": sorted(frames)}
    report = ValidationReport(passed, results, quarantine, None, quarantine_path, extra)
    if build_data_docs:
        from .data_docs import write_data_docs

        report.data_docs_index = write_data_docs(
            report, out_dir / "data_docs", period=period.slug if period else None
        )
    log.info("%s", report.outcome_line())
    return report


def _run_suites(
    frames: Mapping[str, pd.DataFrame], suites_dir: Path | None
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Each extract's GX suite, in one ephemeral context: (result rows, quarantine frames)."""
    result_rows: list[dict[str, Any]] = []
    quarantine_parts: list[pd.DataFrame] = []
    if not frames:
        return result_rows, quarantine_parts
    ctx = _ephemeral_context()
    import great_expectations as gx

    source = ctx.data_sources.add_pandas("extracts")
    for extract, frame in frames.items():
        path = suite_path(extract, suites_dir)
        if not path.exists():
            result_rows.append(
                result_row(
                    extract,
                    "suite_exists",
                    "suite",
                    "",
                    "error",
                    False,
                    0,
                    f"no expectation suite {path.name} for extract {extract!r}",
                )
            )
            continue
        started = time.perf_counter()
        frame = _with_unique_index(frame)
        suite_dict = apply_era_rules(load_suite_dict(extract, suites_dir), frame)
        suite = ctx.suites.add(gx.ExpectationSuite(**suite_dict))
        batch_definition = source.add_dataframe_asset(extract).add_batch_definition_whole_dataframe("all")
        definition = ctx.validation_definitions.add(
            gx.ValidationDefinition(name=extract, data=batch_definition, suite=suite)
        )
        # COMPLETE without unexpected_index_column_names: GX returns the failing row labels cheaply.
        outcome = definition.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}
        )
        rows, parts = _read_outcome(extract, frame, outcome)
        log.info("suite %s: %d rows in %.1f s", extract, len(frame), time.perf_counter() - started)
        result_rows.extend(rows)
        quarantine_parts.extend(parts)
    return result_rows, quarantine_parts


def _ephemeral_context() -> Any:
    """One ephemeral GX context for the whole run, quiet (no Data Docs site: see data_docs.py)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # before the import: GX logs ~200 "Skipping registering function ..." INFO lines while importing
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # ...and after it: a few GX modules set their own logger to INFO when imported
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]:
        if 0 < logging.getLogger(name).level < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:  # GX md5-hashes every frame under 1 GB as a batch marker (about 1 s at 3M rows); we never use it
        from great_expectations.execution_engine import pandas_execution_engine

        pandas_execution_engine.HASH_THRESHOLD = 0
    except (ImportError, AttributeError):  # pragma: no cover - a later GX may drop the knob
        pass
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def _with_unique_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Failing rows come back as index labels, so labels must be unique (row numbers live in ``_row``)."""
    if not (isinstance(frame.index, pd.RangeIndex) or frame.index.is_unique):
        attrs = dict(frame.attrs)
        frame = frame.reset_index(drop=True)
        frame.attrs.update(attrs)
    return frame


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    if kwargs.get("column"):
        return [kwargs["column"]]
    if kwargs.get("column_list"):
        return list(kwargs["column_list"])
    if kwargs.get("column_A"):
        return [kwargs["column_A"], kwargs["column_B"]]
    return []


def _read_outcome(
    extract: str, frame: pd.DataFrame, outcome: Any
) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Turn one suite's GX result into result rows and quarantine frames."""
    rows: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    for res in outcome.results:
        config = res.expectation_config
        meta = dict(config.meta or {})
        kwargs = dict(config.kwargs or {})
        etype = config.type
        native = getattr(getattr(config, "severity", None), "value", None)
        severity = meta.get("severity") or _GX_SEVERITY.get(str(native), "error")
        rule = meta.get("rule") or etype
        columns = _columns_of(kwargs)
        shown = ",".join(published_column(frame, c) for c in columns)
        result = dict(res.result or {})
        exception = _exception_of(res.exception_info)
        index_list = result.get("unexpected_index_list") or []
        failing = int(result.get("unexpected_count") or len(index_list) or 0)
        missing = [c for c in columns if c not in frame.columns]
        if res.success:
            message = "ok"
        elif missing:
            message = f"column(s) {', '.join(missing)} missing: rule not evaluated"
        elif exception:
            message = f"could not be evaluated: {_short(exception)}"
        elif index_list:
            message = f"{failing} row(s) failed: {meta.get('description', '')}".strip()
            parts.append(_quarantine_rows(extract, frame, list(index_list), columns, rule, severity, etype))
        else:
            observed = result.get("observed_value")
            message = f"{meta.get('description', '')} Observed: {_short(observed)}".strip()
        rows.append(
            result_row(
                extract,
                rule,
                etype,
                shown,
                severity,
                bool(res.success),
                failing,
                message,
                str(meta.get("description") or ""),
            )
        )
    return rows, parts


def _exception_of(info: Any) -> str | None:
    """GX reports exceptions flat ({raised_exception, exception_message}) or keyed by metric: handle both."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for value in info.values():
        found = _exception_of(value)
        if found:
            return found
    return None


def _short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _quarantine_rows(
    extract: str,
    frame: pd.DataFrame,
    labels: list[Any],
    columns: list[str],
    rule: str,
    severity: str,
    etype: str,
) -> pd.DataFrame:
    """Failing rows named by file, row, published column and value (vectorised: may be millions)."""
    sub = frame.loc[labels]
    value = as_text(sub[columns[0]])
    if len(columns) > 1:  # every column named: a=1; b=2
        value = columns[0] + "=" + value
        for col in columns[1:]:
            value = value + "; " + col + "=" + as_text(sub[col])
    column = ",".join(published_column(frame, c) for c in columns)
    return quarantine_frame(
        extract, sub, column, value, rule, severity, f"rule {rule} ({etype}) failed for value " + value
    )
