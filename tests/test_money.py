import random
from decimal import Decimal

import numpy as np
import pytest

from gp_allocations.money import apportion, pence_to_pounds, pounds_to_pence, round_pence


@pytest.mark.parametrize(
    ("text", "pence"),
    [
        ("438099.78", 43809978),
        ("-84342.76", -8434276),
        ("1,234.5", 123450),
        ("0", 0),
        ("0.005", 1),
        ("0.004", 0),
        ("-0.005", -1),
        ("£12.34", 1234),
    ],
)
def test_pounds_parse_to_exact_pence_with_half_up_rounding(text, pence) -> None:
    assert pounds_to_pence(text) == pence


@pytest.mark.parametrize("text", ["", "-", "abc", "1.2.3", "nan", "inf"])
def test_non_money_is_rejected(text) -> None:
    with pytest.raises(ValueError, match="not an amount of money"):
        pounds_to_pence(text)


def test_round_pence_rounds_halves_away_from_zero() -> None:
    assert round_pence(Decimal("2.5")) == 3
    assert round_pence(Decimal("-2.5")) == -3
    assert round_pence(Decimal("2.4999")) == 2
    assert pence_to_pounds(123456) == Decimal("1234.56")


def test_apportion_splits_a_penny_remainder_by_largest_remainder() -> None:
    # 100p over thirds: 33.33.. each, one penny left, goes to the first (ties go to the earlier)
    assert apportion(100, [1, 1, 1]).tolist() == [34, 33, 33]
    # 3p over two equal weights: 1.5 each, the remainders tie and the earlier position gets it
    assert apportion(3, [2, 2]).tolist() == [2, 1]
    # 10p over 11:9 = 5.5 and 4.5
    assert sum(apportion(10, [11, 9]).tolist()) == 10
    # largest remainder wins over position: 7p by 1:2:4 = 1, 2, 4 exactly
    assert apportion(7, [1, 2, 4]).tolist() == [1, 2, 4]
    # 10p by 1:1:1:7 -> 1,1,1,7 exact
    assert apportion(10, [1, 1, 1, 7]).tolist() == [1, 1, 1, 7]
    # 5p by 3:3:4 -> 1.5, 1.5, 2.0: floors 1,1,2 (=4), the penny goes to the first .5
    assert apportion(5, [3, 3, 4]).tolist() == [2, 1, 2]
    # 7p by 1:2 -> 2.33, 4.67: floors 2, 4; the penny goes to the larger remainder, not the first
    assert apportion(7, [1, 2]).tolist() == [2, 5]


def test_apportion_conserves_an_england_sized_envelope_exactly() -> None:
    rng = random.Random(7)
    weights = [rng.lognormvariate(9, 0.6) for _ in range(6500)]
    envelope = 7_812_345_678_91  # about GBP 7.8bn in pence
    shares = apportion(envelope, weights)
    assert int(shares.sum()) == envelope
    exact = np.asarray(weights) / sum(weights) * envelope
    assert np.all(np.abs(shares - exact) < 1.0 + 1e-6)


def test_apportion_rejects_impossible_weights() -> None:
    with pytest.raises(ValueError):
        apportion(10, [0, 0])
    with pytest.raises(ValueError):
        apportion(10, [1, -1])
    with pytest.raises(ValueError):
        apportion(10, [])
    assert apportion(0, []).tolist() == []


def test_monthly_split_gives_a_twelfth_and_the_remainder_to_the_earliest_months() -> None:
    from gp_allocations.money import monthly_split

    months = monthly_split(np.array([1_000_007, 12, 11, 0, -25]), range(1, 13))
    assert months[0].tolist() == [83_334] * 11 + [83_333]
    assert months[1].tolist() == [1] * 12
    assert months[2].tolist() == [1] * 11 + [0]
    assert months[3].tolist() == [0] * 12
    assert months[4].tolist() == [-3] + [-2] * 11  # negatives mirror positives
    assert months.sum(axis=1).tolist() == [1_000_007, 12, 11, 0, -25]
    # the same rule as an envelope split between twelve equal months by the largest-remainder method
    for amount in (1_000_007, 5, 123_456_789):
        assert months_of(amount) == apportion(amount, [1.0] * 12).tolist()
    with pytest.raises(ValueError):
        monthly_split(np.array([1]), [13])


def months_of(amount: int) -> list[int]:
    from gp_allocations.money import monthly_split

    return monthly_split(np.array([amount]), range(1, 13))[0].tolist()


def test_quarters_of_random_amounts_add_up_to_the_year() -> None:
    from gp_allocations.money import monthly_split

    rng = random.Random(16)
    amounts = np.array([rng.randrange(-(10**9), 10**10) for _ in range(2000)])
    quarters = [monthly_split(amounts, range(3 * q + 1, 3 * q + 4)).sum(axis=1) for q in range(4)]
    assert (sum(quarters) == amounts).all()
