"""Validate canonical extracts with Great Expectations Core 1.x, plus cross-extract checks in pandas.

One GX suite per extract lives in ``expectations/<extract>.json``; every expectation carries GX's own
``severity`` ("critical" or "warning") and ``meta`` = {severity: error|warning, rule, description}, so
the rules are read in the suite files, not in this module. Cross-extract rules and their parameters
live in ``expectations/cross_extract.json``.

Errors stop publication; warnings are reported. Rows failing a row-level rule are kept in a
quarantine (file, 1-based row, column, value, rule, severity). Data Docs are built per run.

Great Expectations is imported lazily inside functions: importing it costs about 3 s.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import expectations_dir
from .errors import ValidationFailed
from .periods import Period

log = logging.getLogger(__name__)

PROVENANCE: tuple[str, str] = ("_file", "_row")
RESULT_COLUMNS: list[str] = [
    "extract",
    "rule",
    "expectation_type",
    "column",
    "severity",
    "success",
    "failing_rows",
    "message",
]
QUARANTINE_COLUMNS: list[str] = ["extract", "file", "row", "column", "value", "rule", "severity", "message"]
CROSS_EXTRACT = "cross_extract"
DATA_DOCS_SITE = "gp_allocations_validation"

# GX's native severity -> ours. "info" is treated as a warning: it must never block publication.
_GX_SEVERITY = {"critical": "error", "warning": "warning", "info": "warning"}
_LSOA_EN = re.compile(r"^E01\d{6}$")
_LSOA_WALES = re.compile(r"^W01\d{6}$")
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_LIST_IN_MESSAGE = 20


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
        if qpath is not None and qpath.exists() and data.get("quarantine_rows", 0) > len(quarantine):
            quarantine = pd.read_csv(qpath, dtype=str, keep_default_na=False)
            quarantine["row"] = pd.to_numeric(quarantine["row"], errors="coerce").astype("Int64")
        results = pd.DataFrame(data["results"], columns=RESULT_COLUMNS)
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


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


# ----------------------------------------------------------------------------------------- suites


def suite_path(extract: str, directory: Path | None = None) -> Path:
    return (directory or expectations_dir()) / f"{extract}.json"


def load_suite_dict(extract: str, directory: Path | None = None) -> dict:
    """The suite of one extract as the JSON dict kept in expectations/."""
    return json.loads(suite_path(extract, directory).read_text(encoding="utf-8"))


def load_cross_rules(path: Path | None = None) -> list[dict]:
    """Cross-extract rules from expectations/cross_extract.json."""
    path = path or expectations_dir() / f"{CROSS_EXTRACT}.json"
    return json.loads(path.read_text(encoding="utf-8"))["rules"]


def _published(frame: pd.DataFrame, column: str) -> str:
    """The published column name, when the reader recorded it in attrs['source_columns']."""
    mapping = frame.attrs.get("source_columns")
    if isinstance(mapping, Mapping):
        return str(mapping.get(column) or column)
    return column


# ----------------------------------------------------------------------------------------- validate


def validate(
    frames: dict[str, pd.DataFrame],
    *,
    out_dir: Path,
    period: Period | None = None,
    previous_list_sizes: pd.DataFrame | None = None,
    drift_threshold: float | None = None,
    build_data_docs: bool = True,
    suites_dir: Path | None = None,
    cross_rules: list[dict] | None = None,
) -> ValidationReport:
    """Run each extract's suite and the cross-extract rules; write quarantine.csv and Data Docs to out_dir.

    ``frames`` maps extract name -> canonical DataFrame with ``_file`` and ``_row`` columns.
    ``drift_threshold`` (a fraction, 0.1 = 10%) overrides the list-size drift rule's parameter.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result_rows: list[dict] = []
    quarantine_parts: list[pd.DataFrame] = []
    docs_index: Path | None = None

    if frames:
        ctx = _ephemeral_context(out_dir / "data_docs" if build_data_docs else None)
        import great_expectations as gx

        source = ctx.data_sources.add_pandas("extracts")
        for extract, frame in frames.items():
            path = suite_path(extract, suites_dir)
            if not path.exists():
                result_rows.append(
                    _row(
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
            suite = ctx.suites.add(gx.ExpectationSuite(**load_suite_dict(extract, suites_dir)))
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
        if build_data_docs:
            ctx.build_data_docs(site_names=[DATA_DOCS_SITE])
            index = out_dir / "data_docs" / "index.html"
            docs_index = index if index.exists() else None

    started = time.perf_counter()
    cross_rows, cross_quarantine = run_cross_extract_checks(
        frames,
        previous_list_sizes=previous_list_sizes,
        rules=cross_rules,
        period=period,
        drift_threshold=drift_threshold,
    )
    log.info("cross-extract rules in %.1f s", time.perf_counter() - started)
    result_rows.extend(cross_rows)
    quarantine_parts.append(cross_quarantine)

    results = pd.DataFrame(result_rows, columns=RESULT_COLUMNS)
    results["success"] = results["success"].astype(bool)
    results["failing_rows"] = results["failing_rows"].astype("int64")
    quarantine = _concat_quarantine(quarantine_parts)
    quarantine_path = out_dir / "quarantine.csv"
    write_quarantine_csv(quarantine, quarantine_path)
    write_results_csv(results, out_dir / "results.csv")
    passed = not bool(((results["severity"] == "error") & ~results["success"]).any())
    extra = {"period": period.slug if period else None, "extracts": sorted(frames)}
    report = ValidationReport(passed, results, quarantine, docs_index, quarantine_path, extra)
    log.info("%s", report.outcome_line())
    return report


def _ephemeral_context(docs_dir: Path | None):
    """One ephemeral GX context for the whole run, quiet, with a Data Docs site in docs_dir if given."""
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
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site(
            DATA_DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir.resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return ctx


def _with_unique_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Failing rows come back as index labels, so labels must be unique (row numbers live in ``_row``)."""
    if not (isinstance(frame.index, pd.RangeIndex) or frame.index.is_unique):
        attrs = dict(frame.attrs)
        frame = frame.reset_index(drop=True)
        frame.attrs.update(attrs)
    return frame


def _row(
    extract: str, rule: str, etype: str, column: str, severity: str, success: bool, failing: int, message: str
) -> dict:
    return {
        "extract": extract,
        "rule": rule,
        "expectation_type": etype,
        "column": column,
        "severity": severity,
        "success": bool(success),
        "failing_rows": int(failing),
        "message": message,
    }


def _columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    if kwargs.get("column"):
        return [kwargs["column"]]
    if kwargs.get("column_list"):
        return list(kwargs["column_list"])
    if kwargs.get("column_A"):
        return [kwargs["column_A"], kwargs["column_B"]]
    return []


def _read_outcome(extract: str, frame: pd.DataFrame, outcome) -> tuple[list[dict], list[pd.DataFrame]]:
    """Turn one suite's GX result into result rows and quarantine frames."""
    rows: list[dict] = []
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
        shown = ",".join(_published(frame, c) for c in columns)
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
        rows.append(_row(extract, rule, etype, shown, severity, bool(res.success), failing, message))
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
    labels: list,
    columns: list[str],
    rule: str,
    severity: str,
    etype: str,
) -> pd.DataFrame:
    """Failing rows named by file, row, published column and value (vectorised: may be millions)."""
    sub = frame.loc[labels]
    if len(columns) == 1:
        value = _as_text(sub[columns[0]])
    else:
        value = None
        for col in columns:
            part = col + "=" + _as_text(sub[col])
            value = part if value is None else value + "; " + part
    column = ",".join(_published(frame, c) for c in columns)
    return _quarantine_frame(
        extract, sub, column, value, rule, severity, f"rule {rule} ({etype}) failed for value " + value
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Values as the text a user would see; a missing value is an empty string, not 'nan' or 'NaT'."""
    obj = values.astype("object")
    return obj.where(obj.notna(), "").astype(str)


def _quarantine_frame(
    extract: str,
    sub: pd.DataFrame,
    column: str,
    value: pd.Series,
    rule: str,
    severity: str,
    message: pd.Series | str,
) -> pd.DataFrame:
    n = len(sub)
    files = sub["_file"].astype(str).to_numpy() if "_file" in sub else [extract] * n
    rows = (
        pd.to_numeric(sub["_row"], errors="coerce").astype("Int64").to_numpy()
        if "_row" in sub
        else pd.array([None] * n, dtype="Int64")
    )
    return pd.DataFrame(
        {
            "extract": extract,
            "file": files,
            "row": rows,
            "column": column,
            "value": pd.Series(value).astype(str).to_numpy(),
            "rule": rule,
            "severity": severity,
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
        },
        index=pd.RangeIndex(n),
    )


def _concat_quarantine(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
        frame["row"] = frame["row"].astype("Int64")
        return frame
    frame = pd.concat(parts, ignore_index=True)
    frame["row"] = frame["row"].astype("Int64")
    return frame[QUARANTINE_COLUMNS]


# ----------------------------------------------------------------------------------------- CSV output


def neutralise_csv_value(value: Any) -> Any:
    """Prefix ' to text a spreadsheet would read as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(_CSV_TRIGGERS):
        return "'" + value
    return value


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell that starts with a formula trigger prefixed by ' (vectorised)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        text = out[col].astype("string")
        risky = text.str[:1].isin(_CSV_TRIGGERS).fillna(False).astype(bool)
        if risky.any():
            text = text.mask(risky, "'" + text)
        out[col] = text
    return out


def write_quarantine_csv(quarantine: pd.DataFrame, path: Path) -> Path:
    """quarantine.csv with every text cell neutralised against CSV injection."""
    _neutralised(quarantine).to_csv(path, index=False)
    return path


def write_results_csv(results: pd.DataFrame, path: Path) -> Path:
    _neutralised(results).to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------- cross-extract


def run_cross_extract_checks(
    frames: Mapping[str, pd.DataFrame],
    *,
    previous_list_sizes: pd.DataFrame | None = None,
    rules: list[dict] | None = None,
    period: Period | None = None,
    drift_threshold: float | None = None,
) -> tuple[list[dict], pd.DataFrame]:
    """Run the cross-extract rules; returns (result rows as dicts, quarantine frame).

    A rule whose extracts are not all present is reported as not run (success, with a message).
    """
    rules = load_cross_rules() if rules is None else rules
    rows: list[dict] = []
    parts: list[pd.DataFrame] = []
    for rule in rules:
        check = _CHECKS.get(rule["check"])
        if check is None:
            rows.append(
                _row(
                    CROSS_EXTRACT,
                    rule["rule"],
                    rule["check"],
                    "",
                    "error",
                    False,
                    0,
                    f"unknown check {rule['check']!r} in cross_extract.json",
                )
            )
            continue
        params = dict(rule.get("params") or {})
        needed = [v for k, v in params.items() if k in _EXTRACT_PARAMS]
        missing = [name for name in needed if name not in frames]
        if missing:
            rows.append(
                _row(
                    CROSS_EXTRACT,
                    rule["rule"],
                    rule["check"],
                    "",
                    rule["severity"],
                    True,
                    0,
                    f"not run: extract(s) {', '.join(missing)} not supplied",
                )
            )
            continue
        options = {
            "previous_list_sizes": previous_list_sizes,
            "period": period,
            "drift_threshold": drift_threshold,
        }
        success, failing, message, column, quarantine = check(frames, params, **options)
        rows.append(
            _row(
                CROSS_EXTRACT,
                rule["rule"],
                rule["check"],
                column,
                rule["severity"],
                success,
                failing,
                message,
            )
        )
        if quarantine is not None and not quarantine.empty:
            quarantine = quarantine.assign(rule=rule["rule"], severity=rule["severity"])
            parts.append(quarantine)
    return rows, _concat_quarantine(parts)


# Parameter names that name an extract that must be present for the rule to run.
_EXTRACT_PARAMS = {
    "source",
    "target",
    "left",
    "right",
    "achievement",
    "indicators",
    "capitation",
    "deprivation",
}


def _listing(items: Iterable[Any], limit: int = _LIST_IN_MESSAGE, total: int | None = None) -> str:
    """The first few items, comma separated, and how many more there are."""
    items = list(items)[:limit] if total is not None else list(items)
    total = len(items) if total is None else total
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" and {total - limit} more" if total > limit else "")


def _cross_rows(
    source: str,
    frame: pd.DataFrame,
    mask: pd.Series,
    column: str,
    message: str | pd.Series,
    value: pd.Series | None = None,
) -> pd.DataFrame:
    sub = frame[mask]
    vals = _as_text(sub[column]) if value is None else _as_text(value[mask])
    return _quarantine_frame(source, sub, _published(frame, column), vals, "", "", message)


def _check_practices_covered(frames, params, **_):
    src, tgt, col = params["source"], params["target"], params["column"]
    source, target = frames[src], frames[tgt]
    missing = ~source[col].isin(pd.unique(target[col].dropna()))
    practices = sorted(pd.unique(source.loc[missing, col].dropna()).tolist())
    if not practices:
        return True, 0, f"every {col} in {src} is in {tgt}", col, None
    message = f"{len(practices)} practice(s) in {src} missing from {tgt}: {_listing(practices)}"
    quarantine = _cross_rows(src, source, missing, col, f"{col} in {src} but not in {tgt}")
    return False, int(missing.sum()), message, col, quarantine


def _check_practice_totals_agree(frames, params, **_):
    left_name, right_name, value, tol = params["left"], params["right"], params["value"], params["tolerance"]
    left = frames[left_name].groupby("practice_code")[value].sum()
    right = frames[right_name].groupby("practice_code")[value].sum()
    both = pd.concat([left.rename("left"), right.rename("right")], axis=1, join="inner")
    diff = (both["left"] - both["right"]).abs() / both["right"].clip(lower=1)
    bad = both[diff > tol]
    if bad.empty:
        return True, 0, f"{len(both)} practice totals agree within {tol:.2%}", value, None
    shown = [f"{p}: {int(r.left)} vs {int(r.right)}" for p, r in bad.head(_LIST_IN_MESSAGE).iterrows()]
    message = (
        f"{len(bad)} practice(s) where {left_name} and {right_name} totals differ by more than "
        f"{tol:.2%}: {_listing(shown, total=len(bad))}"
    )
    return False, len(bad), message, value, None


def _check_codes_agree(frames, params, **_):
    left_name, right_name, key, col = params["left"], params["right"], params["key"], params["column"]
    left = frames[left_name]
    right_map = frames[right_name].drop_duplicates(key).set_index(key)[col]
    other = left[key].map(right_map)
    mask = other.notna() & left[col].notna() & (left[col].astype(str) != other.astype(str))
    if not mask.any():
        return True, 0, f"{col} agrees between {left_name} and {right_name}", col, None
    n = _LIST_IN_MESSAGE
    shown = [
        f"{k}: {a} in {left_name}, {b} in {right_name}"
        for k, a, b in zip(left.loc[mask, key][:n], left.loc[mask, col][:n], other[mask][:n], strict=True)
    ]
    count = int(mask.sum())
    message = f"{count} practice(s) with a different {col}: {_listing(shown, total=count)}"
    quarantine = _cross_rows(
        left_name, left, mask, col, f"{col} differs from {right_name}: " + other[mask].astype(str)
    )
    return False, int(mask.sum()), message, col, quarantine


def _distinct_dates(frames, names: list[str], column: str) -> dict[str, list[pd.Timestamp]]:
    found = {}
    for name in names:
        if name in frames and column in frames[name]:
            values = pd.to_datetime(pd.Series(pd.unique(frames[name][column].dropna())), errors="coerce")
            found[name] = sorted(values.dropna().unique())
    return found


def _first_rows_per_date(frames, dates: dict[str, list], column: str) -> pd.DataFrame:
    parts = []
    for name in dates:
        frame = frames[name]
        stamps = pd.to_datetime(frame[column], errors="coerce")
        first = ~stamps.duplicated() & stamps.notna()
        parts.append(
            _cross_rows(
                name, frame, first, column, f"{column} of {name}", value=stamps.dt.strftime("%Y-%m-%d")
            )
        )
    return _concat_quarantine(parts)


def _check_extract_dates(frames, params, *, period: Period | None = None, **_):
    column = params["column"]
    dates = _distinct_dates(frames, params["extracts"], column)
    if not dates:
        return True, 0, "not run: no extract dates supplied", column, None
    problems = []
    quarters = {str(Period.containing(d.date())) for ds in dates.values() for d in ds}
    if len(quarters) > 1:
        problems.append("extract dates fall in different quarters (" + ", ".join(sorted(quarters)) + ")")
    if period is not None:
        lead_days = int(params["days_before_period_start"])
        earliest = pd.Timestamp(period.start_date) - pd.Timedelta(days=lead_days)
        latest = pd.Timestamp(period.end_date)
        outside = sorted({d for ds in dates.values() for d in ds if not earliest <= d <= latest})
        if outside:
            problems.append(
                f"extract date(s) {_listing(d.date() for d in outside)} outside period {period} "
                f"({earliest.date()} to {latest.date()})"
            )
    shown = "; ".join(f"{n}: {_listing(d.date() for d in ds)}" for n, ds in dates.items())
    if not problems:
        return True, 0, f"extract dates consistent ({shown})", column, None
    quarantine = _first_rows_per_date(frames, dates, column)
    return False, len(quarantine), "; ".join(problems) + f" [{shown}]", column, quarantine


def _check_extract_dates_identical(frames, params, **_):
    column = params["column"]
    dates = _distinct_dates(frames, params["extracts"], column)
    distinct = sorted({d for ds in dates.values() for d in ds})
    shown = "; ".join(f"{n}: {_listing(d.date() for d in ds)}" for n, ds in dates.items())
    if len(distinct) <= 1:
        return True, 0, f"one extract date ({shown or 'none'})", column, None
    return False, 0, f"{len(distinct)} different extract dates: {shown}", column, None


def _check_list_size_drift(frames, params, *, previous_list_sizes=None, drift_threshold=None, **_):
    threshold = float(drift_threshold if drift_threshold is not None else params["threshold"])
    if previous_list_sizes is None or previous_list_sizes.empty:
        return True, 0, "not run: no previous successful run to compare with", params["value"], None
    current = frames[params["source"]].groupby("practice_code")[params["value"]].sum()
    previous = previous_list_sizes.groupby("practice_code")["registered_patients"].sum()
    both = pd.concat([current.rename("now"), previous.rename("before")], axis=1, join="inner")
    change = (both["now"] - both["before"]) / both["before"].where(both["before"] > 0)
    both = both.assign(change=change)  # before filtering: assigning onto an empty frame would adopt the index
    drifted = both[both["change"].abs() > threshold]
    new = sorted(set(current.index) - set(previous.index))
    gone = sorted(set(previous.index) - set(current.index))
    tail = f"; {len(new)} new practice(s), {len(gone)} no longer listed" + (
        f" ({_listing(gone)})" if gone else ""
    )
    if drifted.empty:
        return True, 0, f"no list moved by more than {threshold:.1%}{tail}", params["value"], None
    shown = [
        f"{p}: {int(r.before)} -> {int(r.now)} ({r.change:+.1%})"
        for p, r in drifted.head(_LIST_IN_MESSAGE).iterrows()
    ]
    message = (
        f"{len(drifted)} practice list(s) moved by more than {threshold:.1%}: "
        f"{_listing(shown, total=len(drifted))}{tail}"
    )
    return False, len(drifted), message, params["value"], None


def _achieved_points(frames, params) -> pd.DataFrame:
    """Only the ACHIEVED_POINTS rows (about a sixth of the 3M-row achievement file)."""
    ach = frames[params["achievement"]]
    return ach[(ach["measure"] == params["measure"]).fillna(False).astype(bool)]


def _check_qof_points_within_max(frames, params, **_):
    points = _achieved_points(frames, params)
    maxima = (
        frames[params["indicators"]]
        .drop_duplicates("indicator_code")
        .set_index("indicator_code")["indicator_point_value"]
    )
    available = points["indicator_code"].map(maxima).astype("float64")
    over = (points["value"] > available + float(params["epsilon"])).fillna(False).astype(bool)
    if not over.any():
        return True, 0, "no indicator's achieved points exceed the points available", "value", None
    bad = points[over]
    detail = (
        "ACHIEVED_POINTS "
        + bad["value"].astype(str)
        + " for "
        + bad["indicator_code"].astype(str)
        + " above the "
        + available[over].astype(str)
        + " available"
    )
    shown = [
        f"{p} {i}"
        for p, i in zip(
            bad["practice_code"][:_LIST_IN_MESSAGE], bad["indicator_code"][:_LIST_IN_MESSAGE], strict=True
        )
    ]
    message = (
        f"{len(bad)} row(s) with more points than the indicator allows: {_listing(shown, total=len(bad))}"
    )
    quarantine = _cross_rows(params["achievement"], points, over, "value", detail)
    return False, len(bad), message, "value", quarantine


def _check_qof_indicator_known(frames, params, **_):
    points = _achieved_points(frames, params)
    known = pd.unique(frames[params["indicators"]]["indicator_code"].dropna())
    unknown = ~points["indicator_code"].isin(known)
    if not unknown.any():
        return True, 0, "every indicator with points is in the mapping", "indicator_code", None
    codes = sorted(pd.unique(points.loc[unknown, "indicator_code"].dropna()).tolist())
    quarantine = _cross_rows(
        params["achievement"], points, unknown, "indicator_code", "indicator not in the indicator mapping"
    )
    return (
        False,
        int(unknown.sum()),
        f"{len(codes)} indicator(s) not in the mapping: {_listing(codes)}",
        "indicator_code",
        quarantine,
    )


def _check_lsoa_in_deprivation(frames, params, **_):
    cap = frames[params["capitation"]]
    patients = cap.groupby("lsoa_code")["patients"].sum()
    scored = pd.Index(pd.unique(frames[params["deprivation"]]["lsoa_code"].dropna()))
    missing = patients[~patients.index.isin(scored)]
    if missing.empty:
        return True, 0, "every LSOA with registered patients has a deprivation score", "lsoa_code", None
    codes = missing.index.astype(str)
    english = missing[codes.str.match(_LSOA_EN.pattern)]
    welsh = missing[codes.str.match(_LSOA_WALES.pattern)]
    unknown = missing[~codes.str.match(_LSOA_EN.pattern) & ~codes.str.match(_LSOA_WALES.pattern)]
    message = (
        f"{len(english)} English LSOA code(s) ({int(english.sum())} patients) without a deprivation score"
        + (f": {_listing(english.index)}" if len(english) else "")
        + f"; {len(welsh)} Welsh code(s) ({int(welsh.sum())} patients)"
        + f"; {len(unknown)} unknown code(s) ({int(unknown.sum())} patients)"
        + (f": {_listing(unknown.index)}" if len(unknown) else "")
    )
    return False, int(cap["lsoa_code"].isin(missing.index).sum()), message, "lsoa_code", None


_CHECKS = {
    "practices_covered": _check_practices_covered,
    "practice_totals_agree": _check_practice_totals_agree,
    "codes_agree": _check_codes_agree,
    "extract_dates": _check_extract_dates,
    "extract_dates_identical": _check_extract_dates_identical,
    "list_size_drift": _check_list_size_drift,
    "qof_points_within_max": _check_qof_points_within_max,
    "qof_indicator_known": _check_qof_indicator_known,
    "lsoa_in_deprivation": _check_lsoa_in_deprivation,
}
