"""Transition protection (issue 17.5): moving each practice from the current formula to a chosen
variant over N years, with a floor and a cap on its year-on-year change, envelope-neutral each year.

Year y's unprotected amount is ``from + (to - from) x y / N``. A practice's year-on-year change is held
between the floor and the cap (% of its previous year's amount; a practice with nothing the year
before is not held). The year's envelope is the interpolation of the two envelopes (the same every
year when they are equal). Holding some practices at a floor or cap changes what is left for the
others, so the amounts of the free practices are rescaled (in proportion to their unprotected
amounts) to spend exactly what is left, and the bound practices are fixed; that can push another
practice past its floor or cap, so it is repeated, fixing the side that overshoots most first, until
no free practice is past a bound. Pennies last: whole pennies with the remainder by largest
remainder among practices below their cap, so each year adds up to its envelope exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from .errors import InputError


@dataclass(frozen=True)
class Protection:
    years: int
    floor: Decimal  # e.g. -0.05: no practice loses more than 5% a year
    cap: Decimal  # e.g. 0.10: no practice gains more than 10% a year

    def __post_init__(self) -> None:
        if self.years < 1:
            raise ValueError("a transition takes at least one year")
        if not self.floor <= 0 <= self.cap:
            raise ValueError("the floor is a change of 0% or less and the cap of 0% or more")


def bounds(previous: np.ndarray, protection: Protection) -> tuple[np.ndarray, np.ndarray]:
    """Whole-penny floor and cap of each practice for the year after ``previous`` (integers)."""
    lo = np.array(
        [int((Decimal(int(p)) * (1 + protection.floor)).to_integral_value(ROUND_CEILING)) for p in previous],
        dtype=np.int64,
    )
    hi = np.array(
        [int((Decimal(int(p)) * (1 + protection.cap)).to_integral_value(ROUND_FLOOR)) for p in previous],
        dtype=np.int64,
    )
    unheld = previous <= 0
    lo[unheld] = np.iinfo(np.int64).min // 4
    hi[unheld] = np.iinfo(np.int64).max // 4
    return lo, hi


def protect(
    target: np.ndarray, lo: np.ndarray, hi: np.ndarray, envelope: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Whole pennies within [lo, hi], adding up to ``envelope`` exactly, as close to ``target`` as the
    bounds allow (the iteration in the module docstring); also which bound held each practice
    ('floor', 'cap' or '') and the passes it took."""
    n = len(target)
    if lo.sum() > envelope or hi.sum() < envelope:
        raise ValueError(
            f"no amounts within the floors and caps add up to the envelope ({envelope} pence; floors add "
            f"up to {int(lo.sum())}, caps to {int(hi.sum())})"
        )
    amount = np.zeros(n)
    free = np.ones(n, dtype=bool)
    passes = 0
    while True:
        passes += 1
        remaining = envelope - amount[~free].sum()
        base = target[free].astype(float)
        x = base * (remaining / base.sum()) if base.sum() > 0 else np.full(len(base), remaining / len(base))
        low, high = x < lo[free], x > hi[free]
        if not low.any() and not high.any():
            amount[free] = x
            break
        idx = np.flatnonzero(free)
        if (lo[free] - x)[low].sum() >= (x - hi[free])[high].sum():
            amount[idx[low]] = lo[idx[low]]
            free[idx[low]] = False
        else:
            amount[idx[high]] = hi[idx[high]]
            free[idx[high]] = False
        if not free.any():
            break
    pennies = np.floor(amount + 1e-9).astype(np.int64)
    pennies = np.clip(pennies, lo, hi)
    short = envelope - int(pennies.sum())
    room = np.flatnonzero(free & (pennies < hi))
    order = room[np.argsort(-(amount[room] - pennies[room]), kind="stable")]
    if short < 0 or short > len(order):
        raise ValueError("the protected amounts cannot be made whole pennies within the bounds")
    pennies[order[:short]] += 1
    held = np.where(free, "", np.where(pennies <= lo, "floor", "cap"))
    return pennies, held, passes


def interpolate(start: int, end: int, year: int, years: int) -> int:
    """The year's envelope: start + (end - start) x year / years, half up to a penny."""
    value = Decimal(start) + Decimal(end - start) * Decimal(year) / Decimal(years)
    return int(value.to_integral_value(ROUND_HALF_UP))


def phase(current: pd.Series, target: pd.Series, protection: Protection) -> pd.DataFrame:
    """Every year's amount per practice (pennies): long, one row per year (0 = now) and practice, with
    the change on the year, the distance from the target and which bound held it."""
    codes = current.index
    start = current.to_numpy(dtype=np.int64)
    goal = target.reindex(codes).to_numpy(dtype=np.int64)
    frames = [_year_frame(0, codes, start, start, goal, np.array([""] * len(codes)))]
    previous = start
    e_start, e_end = int(start.sum()), int(goal.sum())
    for year in range(1, protection.years + 1):
        unprotected = start + (goal - start) * (year / protection.years)
        lo, hi = bounds(previous, protection)
        envelope = interpolate(e_start, e_end, year, protection.years)
        amounts, held, _passes = protect(unprotected, lo, hi, envelope)
        frames.append(_year_frame(year, codes, amounts, previous, goal, held))
        previous = amounts
    return pd.concat(frames, ignore_index=True)


def _year_frame(
    year: int,
    codes: pd.Index,
    amounts: np.ndarray,
    previous: np.ndarray,
    goal: np.ndarray,
    held: np.ndarray,
) -> pd.DataFrame:
    change = amounts - previous
    return pd.DataFrame(
        {
            "year": year,
            "practice_code": codes,
            "amount_pence": amounts,
            "change_pence": change,
            "change": np.divide(change, previous, out=np.full(len(codes), np.nan), where=previous != 0),
            "to_target_pence": goal - amounts,
            "held": held,
        }
    )


def protection_error(message: str, file: str) -> InputError:
    return InputError(message, file=file, rule="transition-scenario")


@dataclass(frozen=True)
class Transition:
    """One configured transition (include/scenarios/transition.yaml)."""

    name: str
    label: str
    from_variant: str
    from_paid: tuple[str, ...]
    to_variant: str
    protection: Protection


def load_transitions(scenario: str = "transition") -> list[Transition]:
    """The transitions declared in the scenario file; a malformed one is an InputError naming it."""
    from .scenarios import load_scenario

    values = load_scenario(scenario)
    names = sorted({k.split(".", 1)[0] for k in values.values if "." in k})
    out = []
    for name in names:
        file = values.path.name
        try:
            start = [part.strip() for part in values.text(f"{name}.from").split("+")]
            protection = Protection(
                int(values.text(f"{name}.years")),
                values.decimal(f"{name}.floor_pct") / 100,
                values.decimal(f"{name}.cap_pct") / 100,
            )
        except ValueError as exc:
            raise protection_error(f"transition {name}: {exc}", file) from None
        label = values.values.get(f"{name}.label", {}).get("value", name)
        out.append(Transition(name, label, start[0], tuple(start[1:]), values.text(f"{name}.to"), protection))
    return out


def fact_column(name: str, year: int) -> str:
    """The per-practice fact holding a transition's amount in a year (summed by aggregates)."""
    return f"{FACT_PREFIX}{name}__y{year}"


FACT_PREFIX = "transition_pence__"
