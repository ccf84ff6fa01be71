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


MONTHS_IN_YEAR = 12


def monthly_split(annual_pence: np.ndarray, months: Sequence[int]) -> np.ndarray:
    """Months of an annual amount (1 = April ... 12 = March): a twelfth each month, the remainder's pennies
    to the earliest months (the largest-remainder method with equal weights; negatives mirror positives).

    ``annual_pence`` has one amount per row; the result has one column per month asked for. The twelve
    months of any amount add up to it exactly, so the quarters do too.
    """
    a = np.asarray(annual_pence, dtype=np.int64)
    sign, size = np.sign(a), np.abs(a)
    base, rest = size // MONTHS_IN_YEAR, size % MONTHS_IN_YEAR
    cols = [sign * (base + (rest >= m)) for m in months]
    if any(not 1 <= m <= MONTHS_IN_YEAR for m in months):
        raise ValueError(f"months {list(months)} are not 1 to {MONTHS_IN_YEAR}")
    return np.stack(cols, axis=1).astype(np.int64) if cols else np.zeros((len(a), 0), dtype=np.int64)


def split_exactly(parts: np.ndarray, totals: Sequence[int] | np.ndarray) -> np.ndarray:
    """Round each row of signed ``parts`` (pennies, real) to whole pennies adding up to the row's
    ``total`` exactly, by the largest-remainder method: every part is first rounded down, then the pennies
    still short go one each to the parts with the largest remainders (ties to the earlier part).

    The parts of a row should add up to its total (as real numbers); any penny of float error left over
    after the remainders are used goes to the last part, so the rows always add up exactly.
    """
    p = np.asarray(parts, dtype=np.float64)
    t = np.asarray(totals, dtype=np.int64)
    if p.ndim != 2 or p.shape[0] != t.shape[0]:
        raise ValueError("parts must be one row of parts per total")
    if p.shape[1] == 0 or np.any(~np.isfinite(p)):
        raise ValueError("every row needs one or more finite parts")
    floors = np.floor(p)
    out = floors.astype(np.int64)
    short = np.clip(t - out.sum(axis=1), 0, p.shape[1])
    order = np.argsort(-(p - floors), axis=1, kind="stable")  # largest remainder first, ties earlier
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(p.shape[1])[None, :].repeat(len(p), axis=0), axis=1)
    out += (rank < short[:, None]).astype(np.int64)
    out[:, -1] += t - out.sum(axis=1)
    return out
