"""Seeded random streams and exact integer splits the sample generator is built from."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .tables import SYLLABLES_A, SYLLABLES_B


def random_stream(seed: int, stream: int) -> np.random.Generator:
    """One independent generator per component, so components do not shift each other."""
    return np.random.default_rng([seed, stream])


def apportion_counts(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each >= minimum."""
    n = len(weights)
    spare = total - minimum * n
    if spare < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} out of {total}")
    quota = spare * weights / weights.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: spare - int(base.sum())]] += 1
    return np.asarray(base + minimum, dtype=np.int64)


def split_rows(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each row total of a dense matrix exactly over its columns by largest remainder."""
    quota = totals[:, None] * weights / weights.sum(axis=1, keepdims=True)
    base = np.floor(quota).astype(np.int64)
    rem = totals - base.sum(axis=1)
    order = np.argsort(-(quota - base), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(weights.shape[1])[None, :].repeat(len(totals), 0), axis=1)
    return np.asarray(base + (ranks < rem[:, None]), dtype=np.int64)


def split_groups(totals: np.ndarray, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split ``totals[g]`` exactly over the rows of each group (rows sorted by group)."""
    wsum = np.bincount(group, weights=weights, minlength=len(totals))
    quota = totals[group] * weights / wsum[group]
    base = np.floor(quota).astype(np.int64)
    rem = totals - np.bincount(group, weights=base, minlength=len(totals)).astype(np.int64)
    order = np.lexsort((-(quota - base), group))
    starts = np.searchsorted(group[order], np.arange(len(totals)))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts[group[order]]
    return np.asarray(base + (rank < rem[group]), dtype=np.int64)


def place_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct made-up English place names (ASHFORD, WESTLEY, ...), upper case."""
    combos = [a + b for a in SYLLABLES_A for b in SYLLABLES_B]
    picks = rng.choice(len(combos), size=n, replace=n > len(combos))
    names = [combos[i] for i in picks]
    if n > len(combos):  # more names than combinations: number the repeats
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                names[i] = f"{name} {['NORTH', 'SOUTH', 'EAST', 'WEST', 'UPPER', 'LOWER'][seen[name] % 6]}"
    return names


def unique_codes(
    rng: np.random.Generator,
    n: int,
    alphabet_sizes: tuple[int, ...],
    render: Callable[[tuple[int, ...]], str],
) -> list[str]:
    """``n`` distinct codes drawn from a mixed-radix space, rendered by ``render(digits)``."""
    space = int(np.prod(alphabet_sizes))
    picks = np.sort(rng.choice(space, size=n, replace=False))
    codes = []
    for value in picks:
        digits = []
        for size in reversed(alphabet_sizes):
            digits.append(int(value % size))
            value //= size
        codes.append(render(tuple(reversed(digits))))
    return codes


def rank_desc(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score (most deprived); ties broken by LSOA order."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    return rank


def nearest(table: Mapping[int, float], year: int) -> float:
    return table[min(table, key=lambda y: (abs(y - year), -y))]
