"""Which period each extract may be for (include/extract_periods.yaml, period_rules): the rules file, each
kind of rule, the messages, a deployment's own rules file, and what "not yet available" means."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from gp_allocations.config import RunContext, resolve_settings
from gp_allocations.errors import InputError, PeriodMismatch
from gp_allocations.extracts import EXTRACTS
from gp_allocations.period_rules import (
    check_extract_periods,
    default_rules_file,
    judge,
    load_rules,
    not_yet_available,
    span_of,
    unchosen_period_outcome,
    where_read,
)
from gp_allocations.periods import Period

RUN = Period.parse("2025-26-Q2")  # July to September 2025


def _found(extract: str, hint: str | None, read_from: str | None = "file name", file: str = "f.csv") -> dict:
    return {extract: {"period_hint": hint, "period_from": read_from, "files": [file]}}


def _status(extract: str, hint: str | None, read_from: str | None = "file name", run: Period = RUN) -> str:
    (verdict,) = judge(_found(extract, hint, read_from), run, load_rules())
    return verdict.status


def test_every_extract_has_one_rule_with_a_reason() -> None:
    rules = load_rules()
    assert set(rules) == set(EXTRACTS)
    assert all(len(rule.reason) > 20 for rule in rules.values())


@pytest.mark.parametrize(
    ("extract", "hint", "status"),
    [
        ("contracts", "2025/26", "allowed"),  # the run's year
        ("contracts", "2023/24", "allowed"),  # the latest published until December 2025
        ("contracts", "2022/23", "breach"),
        ("contracts", "2026/27", "breach"),  # after the run: not a year the run could know
        ("qof_practice_summary", "2024/25", "allowed"),
        ("qof_indicators", "2021/22", "breach"),
        ("capitation_age_sex", "2025-07-01", "allowed"),
        ("capitation_age_sex", "2025-06-01", "allowed"),  # 30 days before the quarter
        ("capitation_age_sex", "2025-05-30", "breach"),  # 32 days before
        ("practice_map", "2025-10-01", "breach"),  # after the quarter
        ("capitation_lsoa", "2025/26", "breach"),  # a year is not a quarter's extract
        ("deprivation_lsoa", "2019", "allowed"),
        ("deprivation_lsoa", "2025", "allowed"),
        ("deprivation_lsoa", "2026", "breach"),
        ("deprivation_practice", "2025-10-01", "breach"),
        ("ods_practices", "2027-01-01", "not checked"),
        ("additional_needs", None, "not stated"),
    ],
)
def test_each_kind_of_rule(extract, hint, status) -> None:
    assert _status(extract, hint) == status


def test_a_latest_practice_date_is_not_the_year_of_an_annual_file() -> None:
    """A payments file with no year in its name: its latest open/close date says nothing of its year."""
    assert _status("contracts", "2025-05-01", "contents (latest date in Practice Close Date)") == "not stated"
    assert _status("ods_practices", "2025-05-01", "contents (latest date in field 11)") == "not checked"


def test_a_breach_names_file_column_period_run_and_what_is_allowed() -> None:
    found = {
        **_found(
            "capitation_age_sex", "2025-04-01", "contents (EXTRACT_DATE)", "gp-reg-pat-prac-quin-age.csv"
        ),
        **_found("contracts", "2022/23", "file name", "nhspaymentsgp-22-23-prac-csv.csv"),
    }
    with pytest.raises(PeriodMismatch) as raised:
        check_extract_periods(found, RUN)
    exc = raised.value
    assert str(exc) == (
        "file gp-reg-pat-prac-quin-age.csv, column 'EXTRACT_DATE', rule extract_period_matches_run: "
        "capitation_age_sex is for 2025-04-01 (read from column EXTRACT_DATE), the run is for 2025-26-Q2; "
        "include/extract_periods.yaml allows an extract date from 2025-05-31 to 2025-09-30 (the run's "
        "quarter, or at most 31 days before it starts); 1 more extract(s) of another period: "
        "contracts (2022/23)"
    )
    assert (exc.extract, exc.found_period, exc.run_period) == (
        "capitation_age_sex",
        "2025-04-01",
        "2025-26-Q2",
    )
    assert [m.extract for m in exc.also] == ["contracts"]


def test_no_period_is_an_error_or_a_warning_as_the_rule_says(caplog) -> None:
    with pytest.raises(PeriodMismatch, match="no period can be read for contracts from its contents or file"):
        check_extract_periods(_found("contracts", None, None, "payments.csv"), RUN)
    (verdict,) = check_extract_periods(_found("practice_characteristics", None, None), RUN)
    assert verdict.status == "not stated"
    assert "practice_characteristics: no period stated" in caplog.text


def _own_rules(tmp_path: Path, **changes) -> Path:
    doc = yaml.safe_load(default_rules_file().read_text(encoding="utf-8"))
    for name, change in changes.items():
        if change is None:
            del doc["extracts"][name]
        else:
            doc["extracts"][name].update(change)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_deployment_points_at_its_own_rules_file(tmp_path, monkeypatch) -> None:
    own = _own_rules(
        tmp_path, contracts={"years_after": 1, "reason": "payments of the next year allowed here"}
    )
    monkeypatch.setenv("GP_ALLOC_EXTRACT_PERIODS", str(own))
    assert resolve_settings().extract_periods_file == own.resolve()
    ctx = RunContext.prepare(run_id="r", period="2025-26-Q2", data_dir=tmp_path)
    assert RunContext.from_dict(ctx.to_dict()).extract_periods_file == own.resolve()
    found = _found("contracts", "2026/27")
    (verdict,) = check_extract_periods(found, RUN, ctx.extract_periods_file)
    assert verdict.status == "allowed" and verdict.reason == "payments of the next year allowed here"
    with pytest.raises(PeriodMismatch, match=f"{own} allows financial years 2023/24 to 2025/26"):
        check_extract_periods(_found("contracts", "2026/27"), RUN, _own_rules(tmp_path))


def test_a_broken_rules_file_is_an_error_naming_it(tmp_path) -> None:
    with pytest.raises(InputError, match=r"every extract needs one rule: missing \['contracts'\]"):
        load_rules(_own_rules(tmp_path, contracts=None))
    with pytest.raises(InputError, match="kind must be one of"):
        load_rules(_own_rules(tmp_path, contracts={"kind": "monthly"}))
    with pytest.raises(InputError, match=r"years_before must be a whole number"):
        load_rules(_own_rules(tmp_path, contracts={"years_before": "two"}))
    with pytest.raises(InputError, match="rule extract_periods:file"):
        load_rules(tmp_path / "absent.yaml")


def test_spans_and_where_a_period_was_read() -> None:
    assert span_of("2025-26-Q2") == (dt.date(2025, 7, 1), dt.date(2025, 9, 30))
    assert span_of("2024/25") == (dt.date(2024, 4, 1), dt.date(2025, 3, 31))
    assert span_of("2019") == (dt.date(2019, 1, 1), dt.date(2019, 12, 31))
    assert span_of("nonsense") is None
    assert where_read("contents (EXTRACT_DATE)") == "column EXTRACT_DATE"
    assert where_read("file name") == "the file name"
    assert where_read("file name (edition year)") == "the edition year in the file name"
    assert (
        where_read("contents (latest date in Open Date, Close Date)")
        == "the latest date in Open Date, Close Date"
    )


def _mismatch(found: str, *also: str) -> PeriodMismatch:
    others = tuple(
        PeriodMismatch("x", extract="practice_map", found_period=f, run_period="2025-26-Q3") for f in also
    )
    return PeriodMismatch(
        "x", extract="capitation_lsoa", found_period=found, run_period="2025-26-Q3", also=others
    )


def test_not_yet_available_needs_every_extract_of_another_period_to_be_older() -> None:
    assert not_yet_available(_mismatch("2025-07-01", "2025-07-01"), "2025-26-Q3")
    assert not not_yet_available(_mismatch("2025-07-01", "2026/27"), "2025-26-Q3"), "a later file is wrong"
    assert not not_yet_available(_mismatch("unknown"), "2025-26-Q3")


def test_not_yet_available_only_early_in_the_quarter(caplog) -> None:
    early = unchosen_period_outcome(_mismatch("2025-07-01"), dt.date(2025, 10, 10))
    assert early is not None and early.startswith(
        "not yet available: capitation_lsoa is for 2025-07-01, the run"
    )
    assert unchosen_period_outcome(_mismatch("2025-07-01"), dt.date(2025, 11, 20)) is None
    assert "still not available 50 days into the quarter" in caplog.text


def test_the_files_of_one_extract_name_one_year() -> None:
    found = {
        "qof_achievement": {
            "period_hint": "2025/26",
            "period_from": "file name",
            "files": ["ACHIEVEMENT_LONDON_2526.csv", "ACHIEVEMENT_MIDLANDS_2425.csv"],
        }
    }
    with pytest.raises(InputError) as raised:
        check_extract_periods(found, RUN)
    assert str(raised.value) == (
        "file ACHIEVEMENT_MIDLANDS_2425.csv, rule file:one-year: ACHIEVEMENT_MIDLANDS_2425.csv names 2024/25 "
        "but ACHIEVEMENT_LONDON_2526.csv names 2025/26: the files of one qof_achievement extract are of one "
        "year"
    )
