"""The organisation hierarchy is a function, checked on every row before anything collapses it.

For the run's period each practice has one PCN, one sub-ICB location, one ICB and one region; each sub-ICB
location one ICB, each ICB one region; and each code one ONS code and one name. ``one_parent`` checks that
inside each extract that carries the hierarchy (every row, before any filter or de-duplication);
``agree_across`` checks that the other extracts of the same period place each practice where the practice
map does. Both name the organisation, both values and the file and row of each.

What is checked is declared in ``expectations/cross_extract.json`` (rules ``hierarchy_one_parent`` and
``hierarchy_agrees_across_extracts``); the validation stage runs them, and the load stage runs
``one_parent`` again over the hand-off, so the warehouse's organisation tables (``include/sql/core``)
select the one value there is instead of picking one of several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .errors import InputError

ROW_COLUMNS = ("_file", "_row")
#: how many disagreements a message spells out before "and N more"
SHOWN = 5
#: how many rows of one value a message lists before "and N more"
ROWS_SHOWN = 3


@dataclass(frozen=True)
class Function:
    """In ``extract``, every ``key`` has one value of each of ``values`` (over the rows ``where`` keeps)."""

    extract: str
    key: str
    values: tuple[str, ...]
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Function:
        where = {str(k): tuple(str(v) for v in vs) for k, vs in (spec.get("where") or {}).items()}
        return cls(str(spec["extract"]), str(spec["key"]), tuple(str(v) for v in spec["values"]), where)


@dataclass(frozen=True)
class Finding:
    """The outcome of one hierarchy rule: what to say, and the rows to quarantine (extract, rows of the
    canonical frame, the column, the value and the reason for each)."""

    items: list[str]
    rows: list[tuple[str, pd.DataFrame, str, pd.Series, pd.Series]]

    @property
    def failing(self) -> int:
        """Rows involved, each once (one row can split several organisations)."""
        seen = set()
        for extract, frame, _, _, _ in self.rows:
            where = frame[list(ROW_COLUMNS)] if all(c in frame.columns for c in ROW_COLUMNS) else None
            labels = zip(where["_file"], where["_row"], strict=True) if where is not None else frame.index
            seen |= {(extract, label) for label in labels}
        return len(seen)

    @property
    def first_column(self) -> str:
        return self.rows[0][2] if self.rows else ""


def published(frame: pd.DataFrame, column: str) -> str:
    """The column's name as the file spells it (recorded by the reader), else the canonical name."""
    mapping = frame.attrs.get("source_columns")
    if isinstance(mapping, Mapping):
        return str(mapping.get(column) or column)
    return column


def _text(values: pd.Series) -> pd.Series:
    return (
        values.astype("object")
        .where(values.notna(), None)
        .map(lambda v: None if v is None else str(v).strip() or None)
    )


def _place(frame: pd.DataFrame, labels: Sequence[Any], extract: str, *, practices: bool = False) -> str:
    """``gp-reg-pat-prac-map.csv rows 2, 3 and 4 more``: the files and rows of some labels of a frame
    (with each row's practice code when ``practices``)."""
    if not all(c in frame.columns for c in ROW_COLUMNS):
        return f"{extract}, {len(labels)} row(s)"
    sub = frame.loc[list(labels)]
    with_code = practices and "practice_code" in sub.columns
    parts = []
    for file, rows in sub.groupby("_file", sort=False):
        numbers = [
            f"{int(r)}" + (f" (practice {c})" if with_code else "")
            for r, c in zip(rows["_row"], rows["practice_code"] if with_code else rows["_row"], strict=True)
            if pd.notna(r)
        ]
        shown = ", ".join(numbers[:ROWS_SHOWN])
        more = f" and {len(numbers) - ROWS_SHOWN} more" if len(numbers) > ROWS_SHOWN else ""
        parts.append(f"{file} row{'s' if len(numbers) > 1 else ''} {shown}{more}")
    return "; ".join(parts)


def _value_at(frame: pd.DataFrame, vals: pd.Series, value: str, extract: str, *, practices: bool) -> str:
    return f"{value} ({_place(frame, list(vals.index[vals == value]), extract, practices=practices)})"


def _kept(frame: pd.DataFrame, where: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, allowed in where.items():
        if column in frame.columns:
            mask &= _text(frame[column]).isin(allowed)
    return frame[mask]


def _splits(frame: pd.DataFrame, fn: Function, column: str) -> tuple[list[str], pd.Index, pd.Series]:
    """Keys of ``fn`` with more than one ``column`` value: message items, the odd rows and their reasons.

    The odd rows are those whose value is not the key's most common one (on a tie, not the one seen
    first): the likely mistake, so the run's first error points at it; the message names every value.
    """
    rows = _kept(frame, fn.where)
    keys, values = _text(rows[fn.key]), _text(rows[column])
    known = keys.notna() & values.notna()  # a missing value is the not_null rule's business
    keys, values = keys[known], values[known]
    distinct = values.groupby(keys).transform("nunique")
    split = distinct > 1
    if not split.any():
        return [], pd.Index([]), pd.Series(dtype=object)
    items: list[str] = []
    odd: list[Any] = []
    reasons: dict[Any, str] = {}
    key_name, col_name = published(frame, fn.key), published(frame, column)
    for key, labels in keys[split].groupby(keys[split], sort=False).groups.items():
        vals = values.loc[labels]
        order = list(dict.fromkeys(vals))  # values in file order
        counts = vals.value_counts()
        main = max(order, key=lambda v: (counts[v], -order.index(v)))
        by_practice = fn.key != "practice_code"
        spelled = " and ".join(
            _value_at(frame, vals, v, fn.extract, practices=by_practice and v != main)
            for v in [main, *(v for v in order if v != main)]
        )
        text = f"{key_name} {key} has {len(order)} {col_name} values in the {fn.extract} extract: {spelled}"
        items.append(text)
        for label in vals.index[vals != main]:
            odd.append(label)
            reasons[label] = text
    index = pd.Index(odd)
    return items, index, pd.Series([reasons[label] for label in odd], index=index, dtype=object)


def one_parent(frames: Mapping[str, pd.DataFrame], functions: Iterable[Function]) -> Finding:
    """Every declared function checked on every row of its extract (absent extracts are skipped)."""
    items: list[str] = []
    rows: list[tuple[str, pd.DataFrame, str, pd.Series, pd.Series]] = []
    for fn in functions:
        frame = frames.get(fn.extract)
        if frame is None or fn.key not in frame.columns:
            continue
        if not frame.index.is_unique:  # rows are picked by label
            attrs = dict(frame.attrs)
            frame = frame.reset_index(drop=True)
            frame.attrs.update(attrs)
        for column in fn.values:
            if column not in frame.columns:
                continue
            found, odd, reasons = _splits(frame, fn, column)
            if found:
                items += found
                sub = frame.loc[odd]
                rows.append((fn.extract, sub, published(frame, column), _text(sub[column]), reasons))
    return Finding(items, rows)


def agree_across(
    frames: Mapping[str, pd.DataFrame],
    *,
    reference: str,
    key: str,
    compare: Mapping[str, Sequence[str]],
) -> Finding:
    """Each extract in ``compare`` places every ``key`` where ``reference`` does, column by column (rows
    where either side has no value are not compared: that is the not_null rules' business)."""
    items: list[str] = []
    rows: list[tuple[str, pd.DataFrame, str, pd.Series, pd.Series]] = []
    ref = frames.get(reference)
    if ref is None or key not in ref.columns:
        return Finding(items, rows)
    for other_name, columns in compare.items():
        other = frames.get(other_name)
        if other is None or key not in other.columns:
            continue
        for column in columns:
            if column not in ref.columns or column not in other.columns:
                continue
            left = pd.DataFrame({"k": _text(ref[key]), "v": _text(ref[column]), "ref_label": ref.index})
            right = pd.DataFrame({"k": _text(other[key]), "v": _text(other[column]), "label": other.index})
            both = right.dropna().merge(left.dropna(), on="k", suffixes=("", "_ref"))
            bad = both[both["v"] != both["v_ref"]]
            if bad.empty:
                continue
            reasons: dict[Any, str] = {}
            who = "practice" if key == "practice_code" else published(ref, key)
            for k, group in bad.groupby("k", sort=False):
                text = (
                    f"{who} {k}: {published(ref, column)} "
                    f"{group['v_ref'].iloc[0]} in {_place(ref, list(group['ref_label'].unique()), reference)}"
                    f" but {published(other, column)} {group['v'].iloc[0]} in "
                    f"{_place(other, list(group['label'].unique()), other_name)}"
                )
                items.append(text)
                for label in group["label"].unique():
                    reasons[label] = text
            labels = list(reasons)
            sub = other.loc[labels]
            rows.append(
                (
                    other_name,
                    sub,
                    published(other, column),
                    _text(sub[column]),
                    pd.Series([reasons[label] for label in labels], index=sub.index, dtype=object),
                )
            )
    return Finding(items, rows)


def listing(items: Sequence[str], limit: int = SHOWN) -> str:
    text = "; ".join(items[:limit])
    return text + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def require_one_parent(frames: Mapping[str, pd.DataFrame], functions: Iterable[Function]) -> None:
    """Raise InputError (rule hierarchy_one_parent) naming the first split: the load stage's own check
    over the hand-off, so a split hierarchy never reaches the warehouse's organisation tables."""
    found = one_parent(frames, functions)
    if found.items:
        extract, sub, column, _, _ = found.rows[0]
        file = str(sub["_file"].iloc[0]) if "_file" in sub.columns else extract
        row = int(sub["_row"].iloc[0]) if "_row" in sub.columns else None
        raise InputError(
            f"the organisation hierarchy is not a function: {listing(found.items)}",
            file=file,
            row=row,
            column=column,
            rule="hierarchy_one_parent",
        )


def declared_functions(rules: Iterable[Mapping[str, Any]]) -> list[Function]:
    """The functions of the ``hierarchy_one_parent`` check in the cross-extract rules."""
    out: list[Function] = []
    for rule in rules:
        if rule.get("check") == "hierarchy_one_parent":
            out += [Function.of(spec) for spec in rule["params"]["functions"]]
    return out


def one_row_per(frame: pd.DataFrame, key: str, extract: str) -> pd.DataFrame:
    """``frame`` indexed by ``key``, refusing a key that appears twice (validation's ``unique_key`` rule
    makes that an error; the engine never keeps the first of two rows and drops the other)."""
    twice = frame[key].duplicated(keep=False)
    if twice.any():
        codes = list(dict.fromkeys(frame.loc[twice, key].astype(str)))
        raise InputError(
            f"{len(codes)} {key} value(s) on more than one row, e.g. {', '.join(codes[:5])}: one row each",
            file=extract,
            column=key,
            rule="unique_key",
        )
    return frame.set_index(key)
