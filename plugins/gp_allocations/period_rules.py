"""Which period each extract may be for (``include/extract_periods.yaml``), and the rule that stops a run
on an extract of another period (``errors.PeriodMismatch``, rule ``extract_period_matches_run``).

The period an extract is for is inferred by the reader (``standardise``: the extract date in the file, a
period column, else the year in the file name: ``period_hint``); this module only judges it against the
run's period, so the inference and the rule can change apart. It also says when old extracts on a run
whose period nobody chose mean "not yet available" (the scheduled run's outcome, in Airflow and the CLI).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, PeriodMismatch
from .periods import Period

log = logging.getLogger(__name__)

KINDS = ("quarter", "financial_year", "edition", "any")
WHEN_UNKNOWN = ("error", "warning")

#: Days into a quarter during which old extracts on a run whose period nobody chose are "not yet
#: available" rather than an error: NHS England publishes a quarter's extracts within weeks, so later
#: than that the old files mean something is wrong (a late publication, a source not updated).
NOT_YET_AVAILABLE_DAYS = 45

_FINANCIAL_YEAR = re.compile(r"^\s*(\d{4})\s*[-/]\s*(\d{2})\s*$")
_YEAR = re.compile(r"^\s*(\d{4})\s*$")
_LATEST_DATE = re.compile(r"contents \(latest date in ")


def financial_year_of(hint: str | None) -> int | None:
    """The first calendar year of the financial year a period hint falls in: ``2025/26`` -> 2025, an
    ISO date -> the year of April to March holding it, a quarter ``2025-26-Q2`` -> 2025; else None."""
    text = (hint or "").strip()
    if not text:
        return None
    try:
        return Period.parse(text).start_year
    except ValueError:
        pass
    match = _FINANCIAL_YEAR.match(text)
    if match and (int(match[1]) + 1) % 100 == int(match[2]):
        return int(match[1])
    try:
        return Period.containing(dt.date.fromisoformat(text[:10])).start_year
    except ValueError:
        return None


def span_of(hint: str | None) -> tuple[dt.date, dt.date] | None:
    """The days a period hint covers: a date (one day), a quarter, a financial year (April to March) or
    a calendar year (an edition); None if it is none of these."""
    text = (hint or "").strip()
    if not text:
        return None
    try:
        period = Period.parse(text)
        return period.start_date, period.end_date
    except ValueError:
        pass
    match = _FINANCIAL_YEAR.match(text)
    if match and (int(match[1]) + 1) % 100 == int(match[2]):
        return dt.date(int(match[1]), 4, 1), dt.date(int(match[1]) + 1, 3, 31)
    year = _YEAR.match(text)
    if year:
        return dt.date(int(year[1]), 1, 1), dt.date(int(year[1]), 12, 31)
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return day, day


def _fy(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


@dataclass(frozen=True)
class ExtractPeriodRule:
    """One extract's rule: which periods it may be for, relative to the run's, and why."""

    extract: str
    kind: str
    reason: str
    when_unknown: str = "error"
    days_before_start: int = 0
    years_before: int = 0
    years_after: int = 0

    def allowed(self, run: Period) -> str:
        """What the rule allows for this run, in words."""
        if self.kind == "quarter":
            earliest = run.start_date - dt.timedelta(days=self.days_before_start)
            return (
                f"an extract date from {earliest} to {run.end_date} (the run's quarter, or at most "
                f"{self.days_before_start} days before it starts)"
            )
        if self.kind == "financial_year":
            first, last = run.start_year - self.years_before, run.start_year + self.years_after
            return (
                f"financial year {_fy(first)}"
                if first == last
                else f"financial years {_fy(first)} to {_fy(last)}"
            )
        if self.kind == "edition":
            year, day = run.end_date.year, run.end_date
            return f"an edition not after the run (a year up to {year}, a date up to {day})"
        return "any period (not checked)"

    def allows(self, hint: str, run: Period) -> bool | None:
        """Whether the period ``hint`` is allowed for a run of ``run``; None when the hint is not a
        period of this rule's kind (a bare year for a financial-year rule)."""
        if self.kind == "any":
            return True
        if self.kind == "financial_year":
            year = financial_year_of(hint)
            if year is None:
                return None
            return run.start_year - self.years_before <= year <= run.start_year + self.years_after
        span = span_of(hint)
        if span is None:
            return None
        if self.kind == "quarter":
            earliest = run.start_date - dt.timedelta(days=self.days_before_start)
            return earliest <= span[0] and span[1] <= run.end_date
        return span[0] <= run.end_date  # edition: published by the run's period


def default_rules_file() -> Path:
    from .config import include_dir

    return include_dir() / "extract_periods.yaml"


def _rules_error(path: Path, message: str) -> InputError:
    return InputError(message, file=str(path), rule="extract_periods:file")


def _int(path: Path, name: str, entry: Mapping[str, Any], key: str) -> int:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 400:
        raise _rules_error(path, f"{name}.{key} must be a whole number from 0 to 400, not {value!r}")
    return value


def load_rules(path: Path | None = None) -> dict[str, ExtractPeriodRule]:
    """Every extract's rule from the rules file (default ``include/extract_periods.yaml``). A file that
    misses an extract, names an unknown one, or gives an unknown kind is an error naming the file."""
    from .extracts import EXTRACTS

    path = Path(path) if path is not None else default_rules_file()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise _rules_error(path, f"the extract period rules cannot be read ({type(exc).__name__})") from None
    entries = doc.get("extracts") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise _rules_error(path, "the extract period rules file has no 'extracts' mapping")
    missing, unknown = sorted(set(EXTRACTS) - set(entries)), sorted(set(entries) - set(EXTRACTS))
    if missing or unknown:
        raise _rules_error(path, f"every extract needs one rule: missing {missing}, unknown {unknown}")
    rules = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise _rules_error(path, f"the rule of {name} is not a mapping")
        kind, unknown_is = entry.get("kind"), entry.get("when_unknown", "error")
        if kind not in KINDS or unknown_is not in WHEN_UNKNOWN:
            raise _rules_error(
                path,
                f"{name}: kind must be one of {list(KINDS)} and when_unknown one of {list(WHEN_UNKNOWN)}",
            )
        if not str(entry.get("reason") or "").strip():
            raise _rules_error(path, f"{name}: every rule gives its reason")
        rules[name] = ExtractPeriodRule(
            extract=name,
            kind=kind,
            reason=" ".join(str(entry["reason"]).split()),
            when_unknown=unknown_is,
            days_before_start=_int(path, name, entry, "days_before_start"),
            years_before=_int(path, name, entry, "years_before"),
            years_after=_int(path, name, entry, "years_after"),
        )
    return rules


@dataclass(frozen=True)
class ExtractPeriod:
    """The period one extract of a run is for, where it was read, and the rule's verdict."""

    extract: str
    period: str | None
    read_from: str | None
    files: tuple[str, ...]
    status: str  # "allowed" | "not stated" | "not checked" | "breach"
    allowed: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "read_from": self.read_from,
            "files": list(self.files),
            "status": self.status,
            "allowed": self.allowed,
            "reason": self.reason,
        }


def _column_of(read_from: str | None) -> str | None:
    """``contents (EXTRACT_DATE)`` -> ``EXTRACT_DATE``: the one column a period was read from."""
    match = re.fullmatch(r"contents \(([^,()]+)\)", read_from or "")
    return match[1] if match and not match[1].startswith("latest date in") else None


def judge(
    found: Mapping[str, Mapping[str, Any]], run: Period, rules: Mapping[str, ExtractPeriodRule]
) -> list[ExtractPeriod]:
    """Each extract's period against its rule. ``found``: extract -> ``period_hint``, ``period_from``
    and ``files`` (the standardise stage's summary)."""
    out = []
    for extract in sorted(found):
        info, rule = found[extract], rules[extract]
        hint = info.get("period_hint")
        hint = str(hint).strip() if hint is not None and str(hint).strip() else None
        if rule.kind in ("quarter", "financial_year") and _LATEST_DATE.match(info.get("period_from") or ""):
            hint = None  # a practice's latest open or close date is not the year an annual file is for
        if rule.kind == "any":
            status = "not checked"
        elif hint is None:
            status = "not stated"
        else:
            status = "allowed" if rule.allows(hint, run) else "breach"
        out.append(
            ExtractPeriod(
                extract=extract,
                period=hint,
                read_from=info.get("period_from"),
                files=tuple(info.get("files") or ()),
                status=status,
                allowed=rule.allowed(run),
                reason=rule.reason,
            )
        )
    return out


def where_read(read_from: str | None) -> str:
    """``contents (EXTRACT_DATE)`` -> ``column EXTRACT_DATE``; ``file name`` -> ``the file name``."""
    text = (read_from or "").strip()
    column = _column_of(text)
    if column is not None:
        return f"column {column}"
    latest = re.fullmatch(r"contents \(latest date in (.+)\)", text)
    if latest:
        return f"the latest date in {latest[1]}"
    named = re.fullmatch(r"file name \((.+)\)", text)
    if named:
        return f"the {named[1]} in the file name"
    return f"the {text}" if text == "file name" else text


def _mismatch(item: ExtractPeriod, run: Period, rules_file: str) -> PeriodMismatch:
    where = f" (read from {where_read(item.read_from)})" if item.read_from else ""
    if item.period is None:
        what = f"no period can be read for {item.extract} from its contents or file name"
    else:
        what = f"{item.extract} is for {item.period}{where}"
    return PeriodMismatch(
        f"{what}, the run is for {run.slug}; {rules_file} allows {item.allowed}",
        extract=item.extract,
        found_period=item.period or "unknown",
        run_period=run.slug,
        file=", ".join(item.files) or None,
        column=_column_of(item.read_from),
        rule="extract_period_matches_run",
    )


def enforce(
    judged: Sequence[ExtractPeriod],
    run: Period,
    rules: Mapping[str, ExtractPeriodRule],
    *,
    rules_file: Path | None = None,
) -> None:
    """Raise ``PeriodMismatch`` for the first extract of another period (the others ride along in
    ``also`` and the message); an extract with no period is an error or a logged warning, as its rule
    says."""
    shown = _shown(rules_file)
    errors = [
        _mismatch(item, run, shown)
        for item in judged
        if item.status == "breach"
        or (item.status == "not stated" and rules[item.extract].when_unknown == "error")
    ]
    for item in judged:
        if item.status == "not stated" and rules[item.extract].when_unknown == "warning":
            log.warning(
                "%s: no period stated in the file or its name (allowed: %s)", item.extract, item.allowed
            )
    if not errors:
        return
    first, others = errors[0], tuple(errors[1:])
    if others:
        names = ", ".join(f"{e.extract} ({e.found_period})" for e in others)
        first = PeriodMismatch(
            f"{first.detail}; {len(others)} more extract(s) of another period: {names}",
            extract=first.extract,
            found_period=first.found_period,
            run_period=first.run_period,
            file=first.file,
            column=first.column,
            also=others,
            rule="extract_period_matches_run",
        )
    raise first


def _shown(rules_file: Path | None) -> str:
    """The rules file as a user names it: relative to the project when it is the project's."""
    from .config import project_root

    path = Path(rules_file) if rules_file is not None else default_rules_file()
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


def one_year_per_extract(found: Mapping[str, Mapping[str, Any]]) -> None:
    """The files of one extract (the regional QOF files) that name years must name the same one: the
    extract's period is read from the first, so a second year would pass unseen."""
    from .standardise import period_from_name

    for extract in sorted(found):
        named: dict[str, str] = {}
        for name in found[extract].get("files") or ():
            year = period_from_name(Path(name).name, qof=extract.startswith("qof"))
            if year:
                named.setdefault(year, Path(name).name)
        if len(named) > 1:
            (first, first_file), (other, other_file) = list(named.items())[:2]
            raise InputError(
                f"{other_file} names {other} but {first_file} names {first}: the files of one {extract} "
                "extract are of one year",
                file=other_file,
                rule="file:one-year",
            )


def check_extract_periods(
    found: Mapping[str, Mapping[str, Any]], run: Period, rules_file: Path | None = None
) -> list[ExtractPeriod]:
    """Judge every extract's period and stop on a breach (``enforce``); return the verdicts."""
    one_year_per_extract(found)
    rules = load_rules(rules_file)
    judged = judge(found, run, rules)
    enforce(judged, run, rules, rules_file=rules_file)
    return judged


# ---------------------------------------------------------------------------- "not yet available"


def not_yet_available(exc: PeriodMismatch, run_period: str) -> bool:
    """True when every extract of another period is wholly before the run's: the new ones are not out
    yet. An unreadable or later period is never taken for that."""
    start = Period.parse(run_period).start_date
    for mismatch in (exc, *exc.also):
        span = span_of(str(mismatch.found_period))
        if span is None or not span[1] < start:
            return False
    return True


def not_yet_available_message(exc: PeriodMismatch) -> str:
    also = f" (so are {', '.join(m.extract for m in exc.also)})" if exc.also else ""
    return (
        f"not yet available: {exc.extract} is for {exc.found_period}{also}, the run is for {exc.run_period}; "
        "nothing published; the next nightly run tries again (give a period to run an earlier quarter)"
    )


def overdue_message(exc: PeriodMismatch, days: int) -> str:
    return (
        f"extracts for {exc.run_period} are still not available {days} days into the quarter "
        f"(more than {NOT_YET_AVAILABLE_DAYS}): {exc.extract} is still for {exc.found_period}. "
        "Check the source is updated, or whether the publication is late"
    )


def unchosen_period_outcome(exc: PeriodMismatch, run_date: dt.date) -> str | None:
    """On a run whose period nobody chose (a scheduled run): the "not yet available" message when the
    extracts are all older than the run's period and the quarter is young; None when it is an error
    (the overdue reason is logged)."""
    if not not_yet_available(exc, exc.run_period):
        return None
    days = (run_date - Period.parse(exc.run_period).start_date).days
    if days <= NOT_YET_AVAILABLE_DAYS:
        return not_yet_available_message(exc)
    log.error("%s", overdue_message(exc, days))
    return None
