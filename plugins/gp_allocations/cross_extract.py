"""Cross-extract rules in pandas: checks that need two extracts (or a previous run) at once, such as every
practice being in the contracts, list sizes agreeing between extracts, or QOF points within what an
indicator allows. The rules and their parameters live in ``expectations/cross_extract.json``; each rule
names its check, one of ``_CHECKS`` below."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import hierarchy
from .config import expectations_dir
from .findings import as_text, concat_quarantine, published_column, quarantine_frame, result_row
from .periods import Period

CROSS_EXTRACT = "cross_extract"

_LSOA_EN = re.compile(r"^E01\d{6}$")
_LSOA_WALES = re.compile(r"^W01\d{6}$")
_LIST_IN_MESSAGE = 20

Frames = Mapping[str, pd.DataFrame]
Params = dict[str, Any]
#: What a check returns: (passed, failing rows, message, column, quarantined rows or None).
Outcome = tuple[bool, int, str, str, pd.DataFrame | None]


def load_cross_rules(path: Path | None = None) -> list[dict[str, Any]]:
    """Cross-extract rules from expectations/cross_extract.json."""
    path = path or expectations_dir() / f"{CROSS_EXTRACT}.json"
    rules: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["rules"]
    return rules


def run_cross_extract_checks(
    frames: Frames,
    *,
    previous_list_sizes: pd.DataFrame | None = None,
    rules: list[dict[str, Any]] | None = None,
    period: Period | None = None,
    drift_threshold: float | None = None,
    extract_periods: Mapping[str, str | None] | None = None,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Run the cross-extract rules; returns (result rows as dicts, quarantine frame).

    A rule whose extracts are not all present is reported as not run (success, with a message).
    """
    rules = load_cross_rules() if rules is None else rules
    rows: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    for rule in rules:
        check = _CHECKS.get(rule["check"])
        if check is None:
            rows.append(
                result_row(
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
                result_row(
                    CROSS_EXTRACT,
                    rule["rule"],
                    rule["check"],
                    "",
                    rule["severity"],
                    True,
                    0,
                    f"not run: extract(s) {', '.join(missing)} not supplied",
                    str(rule.get("description") or ""),
                )
            )
            continue
        options = {
            "previous_list_sizes": previous_list_sizes,
            "period": period,
            "drift_threshold": drift_threshold,
            "extract_periods": extract_periods,
        }
        success, failing, message, column, quarantine = check(frames, params, **options)
        rows.append(
            result_row(
                CROSS_EXTRACT,
                rule["rule"],
                rule["check"],
                column,
                rule["severity"],
                success,
                failing,
                message,
                str(rule.get("description") or ""),
            )
        )
        if quarantine is not None and not quarantine.empty:
            quarantine = quarantine.assign(rule=rule["rule"], severity=rule["severity"])
            parts.append(quarantine)
    return rows, concat_quarantine(parts)


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
    "reference",
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
    vals = as_text(sub[column]) if value is None else as_text(value[mask])
    return quarantine_frame(source, sub, published_column(frame, column), vals, "", "", message)


def _check_practices_covered(frames: Frames, params: Params, **_: Any) -> Outcome:
    src, tgt, col = params["source"], params["target"], str(params["column"])
    source, target = frames[src], frames[tgt]
    missing = ~source[col].isin(pd.unique(target[col].dropna()))
    practices = sorted(pd.unique(source.loc[missing, col].dropna()).tolist())
    if not practices:
        return True, 0, f"every {col} in {src} is in {tgt}", col, None
    message = f"{len(practices)} practice(s) in {src} missing from {tgt}: {_listing(practices)}"
    quarantine = _cross_rows(src, source, missing, col, f"{col} in {src} but not in {tgt}")
    return False, int(missing.sum()), message, col, quarantine


def _check_practice_totals_agree(frames: Frames, params: Params, **_: Any) -> Outcome:
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


def _hierarchy_quarantine(found: hierarchy.Finding) -> pd.DataFrame:
    return concat_quarantine(
        quarantine_frame(extract, sub, column, values, "", "", reasons)
        for extract, sub, column, values, reasons in found.rows
    )


def _check_hierarchy_one_parent(frames: Frames, params: Params, **_: Any) -> Outcome:
    found = hierarchy.one_parent(frames, [hierarchy.Function.of(f) for f in params["functions"]])
    if not found.items:
        return True, 0, "every organisation has one parent, one ONS code and one name", "", None
    message = (
        f"{len(found.items)} case(s) of more than one value where the hierarchy allows one: "
        f"{hierarchy.listing(found.items)}"
    )
    return False, found.failing, message, found.first_column, _hierarchy_quarantine(found)


def _check_hierarchy_across(
    frames: Frames,
    params: Params,
    *,
    period: Period | None = None,
    extract_periods: Mapping[str, str | None] | None = None,
    **_: Any,
) -> Outcome:
    from .period_rules import financial_year_of

    compare, skipped = {}, []
    for name, columns in params["compare"].items():
        if name not in frames:
            continue
        if extract_periods is not None and period is not None:
            hint = extract_periods.get(name)
            if financial_year_of(hint) != period.start_year:
                skipped.append(f"{name} ({hint or 'period unknown'})")
                continue
        compare[name] = columns
    found = hierarchy.agree_across(frames, reference=params["reference"], key=params["key"], compare=compare)
    note = (
        f"; not compared, being for another period than the run's {period.financial_year} (a move between "
        f"them is a practice change, on the Practice changes sheet): {', '.join(skipped)}"
        if skipped and period is not None
        else ""
    )
    if not found.items:
        compared = ", ".join(compare) or "no other extract"
        return True, 0, f"{params['reference']} and {compared} place every practice alike{note}", "", None
    message = (
        f"{len(found.items)} disagreement(s) between extracts of the period on where a practice is: "
        f"{hierarchy.listing(found.items)}{note}"
    )
    return False, found.failing, message, found.first_column, _hierarchy_quarantine(found)


def _distinct_dates(frames: Frames, names: list[str], column: str) -> dict[str, list[pd.Timestamp]]:
    found = {}
    for name in names:
        if name in frames and column in frames[name]:
            values = pd.to_datetime(pd.Series(pd.unique(frames[name][column].dropna())), errors="coerce")
            found[name] = sorted(values.dropna().unique())
    return found


def _first_rows_per_date(frames: Frames, dates: dict[str, list[pd.Timestamp]], column: str) -> pd.DataFrame:
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
    return concat_quarantine(parts)


def _check_extract_dates(
    frames: Frames, params: Params, *, period: Period | None = None, **_: Any
) -> Outcome:
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


def _check_extract_dates_identical(frames: Frames, params: Params, **_: Any) -> Outcome:
    column = params["column"]
    dates = _distinct_dates(frames, params["extracts"], column)
    distinct = sorted({d for ds in dates.values() for d in ds})
    shown = "; ".join(f"{n}: {_listing(d.date() for d in ds)}" for n, ds in dates.items())
    if len(distinct) <= 1:
        return True, 0, f"one extract date ({shown or 'none'})", column, None
    return False, 0, f"{len(distinct)} different extract dates: {shown}", column, None


def _check_list_size_drift(
    frames: Frames,
    params: Params,
    *,
    previous_list_sizes: pd.DataFrame | None = None,
    drift_threshold: float | None = None,
    **_: Any,
) -> Outcome:
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


def _achieved_points(frames: Frames, params: Params) -> pd.DataFrame:
    """Only the ACHIEVED_POINTS rows (about a sixth of the 3M-row achievement file)."""
    ach = frames[params["achievement"]]
    points: pd.DataFrame = ach[(ach["measure"] == params["measure"]).fillna(False).astype(bool)]
    return points


def _check_qof_points_within_max(frames: Frames, params: Params, **_: Any) -> Outcome:
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


def _check_qof_indicator_known(frames: Frames, params: Params, **_: Any) -> Outcome:
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


def _check_lsoa_in_deprivation(frames: Frames, params: Params, **_: Any) -> Outcome:
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


_CHECKS: dict[str, Callable[..., Outcome]] = {
    "practices_covered": _check_practices_covered,
    "practice_totals_agree": _check_practice_totals_agree,
    "hierarchy_one_parent": _check_hierarchy_one_parent,
    "hierarchy_across_extracts": _check_hierarchy_across,
    "extract_dates": _check_extract_dates,
    "extract_dates_identical": _check_extract_dates_identical,
    "list_size_drift": _check_list_size_drift,
    "qof_points_within_max": _check_qof_points_within_max,
    "qof_indicator_known": _check_qof_indicator_known,
    "lsoa_in_deprivation": _check_lsoa_in_deprivation,
}
