import datetime as dt

import pytest

from gp_allocations.periods import Period


@pytest.mark.parametrize(
    ("day", "slug"),
    [
        (dt.date(2025, 4, 1), "2025-26-Q1"),
        (dt.date(2025, 6, 30), "2025-26-Q1"),
        (dt.date(2025, 7, 1), "2025-26-Q2"),
        (dt.date(2025, 12, 31), "2025-26-Q3"),
        (dt.date(2026, 1, 1), "2025-26-Q4"),
        (dt.date(2026, 3, 31), "2025-26-Q4"),
        (dt.date(2026, 11, 22), "2026-27-Q3"),
    ],
)
def test_quarter_containing_a_date_follows_the_april_financial_year(day, slug) -> None:
    assert Period.containing(day).slug == slug


def test_period_round_trips_and_knows_its_dates() -> None:
    p = Period.parse("2025/26 Q4")
    assert p == Period.parse("2025-26-Q4") == Period.parse(p.slug)
    assert p.financial_year == "2025/26"
    assert p.label == "2025/26 Q4"
    assert p.start_date == dt.date(2026, 1, 1)
    assert p.end_date == dt.date(2026, 3, 31)
    assert p.next() == Period(2026, 1)
    assert Period.parse("1999-00-Q1").financial_year == "1999/00"


@pytest.mark.parametrize("text", ["", "2025", "2025-27-Q1", "2025-26-Q5", "Q1 2025", "../2025-26-Q1"])
def test_malformed_periods_are_rejected_with_the_expected_form(text) -> None:
    with pytest.raises(ValueError, match=r"2025-26-Q2|does not follow"):
        Period.parse(text)
