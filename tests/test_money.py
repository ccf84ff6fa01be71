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
