"""Exact money. Amounts are integer pennies; pounds appear only when a workbook formats a cell.

Rounding rule (one rule, everywhere): a single amount is rounded to the nearest penny with halves
rounded away from zero (ROUND_HALF_UP on the absolute value). An envelope split between practices
is apportioned by the largest-remainder method, so the parts always add up to the envelope exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np

PENNY = Decimal("0.01")


def pounds_to_pence(value: str | int | float | Decimal) -> int:
    """Parse a pounds amount such as ``"438099.78"`` or ``"-84,342.76"`` to integer pennies.

    Text is parsed as Decimal, so no binary rounding creeps in. Raises ValueError on non-numbers.
    """
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip().replace(",", "").replace("£", "")
    if text in {"", "-"}:
        raise ValueError(f"{value!r} is not an amount of money")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount of money") from exc
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount of money")
    return int(amount.quantize(PENNY, rounding=ROUND_HALF_UP) * 100)


def round_pence(amount: Decimal) -> int:
    """Round an amount in pennies (Decimal) to a whole penny, halves away from zero."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def pence_to_pounds(pence: int) -> Decimal:
    """Integer pennies to a Decimal pounds value with two places (for display and workbooks)."""
    return (Decimal(int(pence)) / 100).quantize(PENNY)


def apportion(total_pence: int, weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Split ``total_pence`` in proportion to ``weights`` by the largest-remainder method.

    Weights are first fixed to integers (2**40 for the largest), then the split is done in exact
    integer arithmetic: every share is a whole penny, the shares add up to ``total_pence``
    exactly, and ties in the remainders go to the earlier position, so the result depends only
    on the order the caller fixes (callers sort by practice code first).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0:
        if total_pence != 0:
            raise ValueError("cannot apportion a non-zero amount over nothing")
        return np.zeros(0, dtype=np.int64)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    top = w.max()
    if top <= 0:
        raise ValueError("weights add up to zero")
    units = [int(x) for x in np.rint(w / top * float(2**40)).astype(np.int64)]
    unit_sum = sum(units)
    total = int(total_pence)
    shares = [total * u // unit_sum for u in units]
    remainders = [total * u % unit_sum for u in units]
    short = total - sum(shares)
    if short:
        order = sorted(range(len(units)), key=lambda i: (-remainders[i], i))
        for i in order[:short]:
            shares[i] += 1
    return np.asarray(shares, dtype=np.int64)
