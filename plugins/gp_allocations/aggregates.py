"""Every aggregate of the ledger, computed once, here.

``aggregate`` sums the ledger (money by variant and line) and the additive per-practice facts
(practices, registered lists, QOF points, paid figures, weighted lists) for every grouping in
``GROUPINGS``: the hierarchy levels (practice, PCN, sub-ICB, ICB, region, England) and the cuts the
workbooks show (PCNs, contract types, deprivation quintiles and practices with quarantined rows, within
a sub-ICB location or England).
Besides the ledger's own lines it adds two derived lines per organisation and variant:
``capitation_payable`` (the capitation lines) and ``total`` (every line). Given the period's quarter it
also adds the payment schedule: each practice's payable capitation split into months
(``money.monthly_split``), summed into ``capitation_payable_month_1..3`` (the quarter's months) and
``capitation_payable_quarter`` for every organisation. Workbooks, the manifest, the marts and the checks
read ``Totals``; nothing else sums money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .money import monthly_split

ENGLAND_CODE = "E92000001"
PAYABLE = "capitation_payable"
TOTAL = "total"
NO_QUINTILE = "unknown"
#: the payment schedule of the period's quarter (payable capitation; not ledger lines, not in ``total``)
QUARTER = "capitation_payable_quarter"
MONTHS = ("capitation_payable_month_1", "capitation_payable_month_2", "capitation_payable_month_3")
SCHEDULE = (QUARTER, *MONTHS)


def read_frame(path: Path) -> pd.DataFrame:
    """A saved result frame, each column one contiguous block: the same frame as ``pd.read_parquet``,
    but picking rows by position (``Totals.of``) no longer makes pyarrow join a column's chunks
    each time (9 ms a pick on England's 689,000 money rows, 0.5 ms in one chunk)."""
    import pyarrow.parquet as pq  # here, not at import: the DAG files import this module

    frame: pd.DataFrame = pq.read_table(path).combine_chunks().to_pandas()
    return frame


@dataclass(frozen=True)
class Grouping:
    """Organisations keyed by ``code`` (a facts column), inside ``within`` (a facts column) or not."""

    name: str
    code: str
    within: str | None = None
    label: str | None = None  # the facts column holding the organisation's name
    parents: tuple[str, ...] = ()


GROUPINGS: dict[str, Grouping] = {
    g.name: g
    for g in (
        Grouping("practice", "practice_code", "sub_icb_code", "practice_name", ("pcn_code", "pcn_name")),
        Grouping("pcn", "pcn_code", None, "pcn_name"),
        Grouping("sub_icb_pcn", "pcn_code", "sub_icb_code", "pcn_name"),
        Grouping(
            "sub_icb",
            "sub_icb_code",
            None,
            "sub_icb_name",
            ("icb_code", "icb_name", "region_code", "region_name"),
        ),
        Grouping("icb", "icb_code", None, "icb_name", ("region_code", "region_name")),
        Grouping("region", "region_code", None, "region_name"),
        Grouping("england", "_england", None, "_england_name"),
        Grouping("contract_type", "contract_type"),
        Grouping("sub_icb_contract_type", "contract_type", "sub_icb_code"),
        Grouping("quintile", "_quintile"),
        Grouping("sub_icb_quintile", "_quintile", "sub_icb_code"),
        # practices with input rows flagged by warning rules ("kept": in the calculation) or not ("none")
        Grouping("quarantine", "_quarantine"),
        Grouping("sub_icb_quarantine", "_quarantine", "sub_icb_code"),
    )
}
#: hierarchy levels, child first: each level's rows add up to its parent's (the checks insist)
HIERARCHY: tuple[tuple[str, str, str], ...] = (
    ("sub_icb_pcn", "sub_icb", "within"),
    ("sub_icb", "icb", "icb_code"),
    ("icb", "region", "region_code"),
    ("region", "england", "_england"),
)
ADDITIVE = (
    "registered_patients",
    "patients_75_and_over",
    "qof_points",
    "paid_registered_patients",
    "paid_weighted_patients",
    "paid_global_sum_pence",
    "paid_mpig_pence",
    "paid_seniority_pence",
    "paid_qof_pence",
    "_imd_patients",
    "_imd_scored_patients",
    "_practices_paid",
    "quarantined_rows",
)
#: fact columns summed by prefix: NHS England's (weighted) populations and fair shares (fair_shares)
ADDITIVE_PREFIXES = ("nhse_", "fair_share_pence__", "transition_pence__")
#: codes of the quarantine groupings
QUARANTINE_KEPT, QUARANTINE_NONE = "kept", "none"
KEYS = ["grouping", "within", "code"]


@dataclass
class Totals:
    """Aggregates of every grouping, long: ``money`` (variant, line, pence), ``facts`` (name, parents,
    practices and the additive facts) and ``weights`` (variant, weighted_list), keyed by
    grouping, within ('' at the top) and code."""

    money: pd.DataFrame
    facts: pd.DataFrame
    weights: pd.DataFrame
    _amounts: dict[str, dict[Any, int]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _positions: dict[tuple[str, tuple[str, ...]], dict[Any, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("money", "facts", "weights"):
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)

    @classmethod
    def load(cls, folder: Path) -> Totals:
        return cls(*(read_frame(folder / f"{n}.parquet") for n in ("money", "facts", "weights")))

    def of(self, grouping: str, within: str | None = None) -> Totals:
        """The rows of one grouping (inside one organisation when ``within`` is given)."""
        return Totals(*(self._pick(name, grouping, within) for name in ("money", "facts", "weights")))

    def _pick(self, name: str, grouping: str, within: str | None) -> pd.DataFrame:
        # Each frame is split by grouping (and by within) once: a publication asks for the rows of
        # one sub-ICB location thousands of times, and a mask over every row each time was most of it.
        keys = ("grouping",) if within is None else ("grouping", "within")
        frame: pd.DataFrame = getattr(self, name)
        if (name, keys) not in self._positions:
            self._positions[(name, keys)] = frame.groupby(list(keys), sort=False, dropna=False).indices
        found = self._positions[(name, keys)].get(grouping if within is None else (grouping, within))
        return frame.iloc[found if found is not None else []]

    def amount(self, grouping: str, code: str, variant: str, line: str, within: str = "") -> int:
        if grouping not in self._amounts:  # one pass over the money per grouping, not one per amount
            m = self.money[self.money["grouping"] == grouping]
            summed = m.groupby(["within", "code", "variant", "line"])["pence"].sum()
            self._amounts[grouping] = {key: int(v) for key, v in summed.items()}
        return self._amounts[grouping].get((within, code, variant, line), 0)


def _keyed_facts(practices: pd.DataFrame) -> pd.DataFrame:
    facts = practices.set_index("practice_code", drop=False)
    q = facts["deprivation_quintile"]
    facts = facts.assign(
        _england=ENGLAND_CODE,
        _england_name="England",
        _quintile=q.astype("string").fillna(NO_QUINTILE).astype(str),
        _imd_patients=facts["imd_score"].fillna(0.0) * facts["registered_patients"],
        _imd_scored_patients=facts["registered_patients"].where(facts["imd_score"].notna(), 0),
    )
    if "paid_registered_patients" in facts.columns:
        facts["_practices_paid"] = (facts["paid_registered_patients"] > 0).astype("int64")
    flagged = facts["quarantined_rows"] > 0 if "quarantined_rows" in facts.columns else False
    facts["_quarantine"] = np.where(flagged, QUARANTINE_KEPT, QUARANTINE_NONE)
    return facts


def _group_keys(facts: pd.DataFrame, g: Grouping) -> pd.DataFrame:
    within = facts[g.within].astype(str) if g.within else pd.Series("", index=facts.index)
    return pd.DataFrame({"within": within, "code": facts[g.code].astype(str)}, index=facts.index)


@dataclass(frozen=True)
class _CodedLines:
    """Practice-level lines (practice_code, variant, line, pence) coded once for every grouping: each
    row's practice position in the facts, and its variant and line as codes in sorted order of the text
    (so ordering by the codes orders by the text)."""

    at: np.ndarray
    variant: np.ndarray
    variants: pd.Index
    line: np.ndarray
    lines: pd.Index
    pence: np.ndarray


def _coded(lines: pd.DataFrame, practices: pd.Index) -> _CodedLines:
    variant, variants = pd.factorize(lines["variant"], sort=True)
    line, names = pd.factorize(lines["line"], sort=True)
    at = practices.get_indexer(pd.Index(lines["practice_code"]))
    return _CodedLines(at, variant, variants, line, names, lines["pence"].to_numpy(dtype="int64"))


def _keyed_lines(lines: _CodedLines, keys: pd.DataFrame) -> pd.DataFrame:
    """Practice-level lines summed per organisation and line, sorted by within, code, variant, line.

    Grouped on integer codes (exact int64 sums); a row whose practice or key is missing is left out,
    as grouping by the text would drop it."""
    within, withins = pd.factorize(keys["within"], sort=True)
    code, codes = pd.factorize(keys["code"], sort=True)
    found = lines.at >= 0
    at = np.where(found, lines.at, 0)
    frame = pd.DataFrame(
        {
            "w": np.where(found, within[at], -1),
            "c": np.where(found, code[at], -1),
            "v": lines.variant,
            "l": lines.line,
            "pence": lines.pence,
        }
    )
    frame = frame[(frame[["w", "c", "v", "l"]] >= 0).all(axis=1)]
    summed = frame.groupby(["w", "c", "v", "l"], sort=True)["pence"].sum()
    index = summed.index
    return pd.DataFrame(
        {
            "within": withins.take(index.get_level_values("w").to_numpy()),
            "code": codes.take(index.get_level_values("c").to_numpy()),
            "variant": lines.variants.take(index.get_level_values("v").to_numpy()),
            "line": lines.lines.take(index.get_level_values("l").to_numpy()),
            "pence": summed.to_numpy(dtype="int64"),
        }
    )


def _money(
    ledger: _CodedLines, keys: pd.DataFrame, lines_capitation: set[str], schedule: _CodedLines | None
) -> pd.DataFrame:
    by_line = _keyed_lines(ledger, keys)
    # the derived lines add up the organisation's own lines (by_line), each penny once
    cap = by_line[by_line["line"].isin(lines_capitation)]
    payable = cap.groupby(["within", "code", "variant"], sort=True)["pence"].sum().reset_index()
    total = by_line.groupby(["within", "code", "variant"], sort=True)["pence"].sum().reset_index()
    parts = [by_line, payable.assign(line=PAYABLE), total.assign(line=TOTAL)]
    if schedule is not None:
        parts.append(_keyed_lines(schedule, keys))
    return pd.concat(parts, ignore_index=True).astype({"pence": "int64"})


def payment_schedule(ledger: pd.DataFrame, capitation_lines: set[str], quarter: int) -> pd.DataFrame:
    """Each practice's payable capitation (per variant) as the quarter's three months and their sum,
    long like the ledger (practice_code, variant, line, pence)."""
    cap = ledger[ledger["line"].isin(capitation_lines)]
    payable = cap.groupby(["practice_code", "variant"], sort=True)["pence"].sum()
    first = 3 * (quarter - 1) + 1
    months = monthly_split(payable.to_numpy(), range(first, first + 3))
    index = payable.index.to_frame(index=False)
    frames = [index.assign(line=line, pence=months[:, i]) for i, line in enumerate(MONTHS)]
    frames.append(index.assign(line=QUARTER, pence=months.sum(axis=1)))
    return pd.concat(frames, ignore_index=True).astype({"pence": np.int64})


def _facts(facts: pd.DataFrame, keys: pd.DataFrame, g: Grouping) -> pd.DataFrame:
    additive = [c for c in ADDITIVE if c in facts.columns]
    additive += [c for c in facts.columns if c.startswith(ADDITIVE_PREFIXES)]
    named = [c for c in (g.label, *g.parents) if c]
    frame = pd.concat([keys, facts[[*additive, *named]]], axis=1)
    grouped = frame.groupby(["within", "code"], sort=True)
    out = grouped[additive].sum()
    out.insert(0, "practices", grouped.size().astype("int64"))
    if named:
        # each organisation's one value; where it has two (a split hierarchy) none is picked: it is left
        # empty and checks.engine_checks stops the run
        first = grouped[named].first().mask(grouped[named].nunique(dropna=False) > 1)
        out = first.join(out)
        if g.label:
            out = out.rename(columns={g.label: "name"})
    else:
        out.insert(0, "name", "")
    out = out.reset_index()
    for c in (
        "registered_patients",
        "patients_75_and_over",
        "paid_global_sum_pence",
        "paid_mpig_pence",
        "paid_seniority_pence",
        "paid_qof_pence",
        "quarantined_rows",
    ):
        if c in out.columns:
            out[c] = out[c].astype("int64")
    return out


def _weights(weights: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    k = keys.reindex(weights["practice_code"].to_numpy())
    frame = pd.DataFrame(
        {
            "within": k["within"].to_numpy(),
            "code": k["code"].to_numpy(),
            "variant": weights["variant"].to_numpy(),
            "weighted_list": weights["weighted_list"].to_numpy(dtype=float),
        }
    )
    return frame.groupby(["within", "code", "variant"], sort=True)["weighted_list"].sum().reset_index()


def aggregate(
    practices: pd.DataFrame,
    ledger: pd.DataFrame,
    weights: pd.DataFrame,
    capitation_lines: set[str],
    *,
    quarter: int | None = None,
) -> Totals:
    """Every grouping's money, facts and weighted lists from the ledger and the per-practice facts; with
    ``quarter`` (1-4), the quarter's payment schedule lines too."""
    facts = _keyed_facts(practices)
    schedule = payment_schedule(ledger, capitation_lines, quarter) if quarter is not None else None
    coded = _coded(ledger, facts.index)
    coded_schedule = _coded(schedule, facts.index) if schedule is not None else None
    money, fact_rows, weight_rows = [], [], []
    for g in GROUPINGS.values():
        keys = _group_keys(facts, g)
        money.append(_money(coded, keys, capitation_lines, coded_schedule).assign(grouping=g.name))
        fact_rows.append(_facts(facts, keys, g).assign(grouping=g.name))
        weight_rows.append(_weights(weights, keys).assign(grouping=g.name))

    def ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        return frame[[*KEYS, *(c for c in frame.columns if c not in KEYS)]]

    return Totals(ordered(money), ordered(fact_rows), ordered(weight_rows))


def sum_lines(facts: pd.DataFrame, lines: pd.DataFrame, groupings: Sequence[str]) -> pd.DataFrame:
    """Ledger-like lines (practice_code, variant, line, pence) summed once per organisation of each named
    grouping, long: grouping, within, code, name, variant, line, pence.

    For lines that are not the run's ledger, e.g. the bridge against an earlier publication, whose
    practices include some no longer in the run: ``facts`` gives each practice's place (practice_code and
    the groupings' code and name columns) and must hold every practice of ``lines``."""
    f = facts.set_index("practice_code", drop=False).assign(_england=ENGLAND_CODE, _england_name="England")
    missing = set(lines["practice_code"]) - set(f.index)
    if missing:
        raise ValueError(f"lines of practices without facts: {', '.join(sorted(missing)[:5])}")
    out = []
    coded = _coded(lines, f.index)
    for name in groupings:
        g = GROUPINGS[name]
        keys = _group_keys(f, g)
        names = keys.assign(name=f[g.label].astype(str) if g.label else "").drop_duplicates(
            ["within", "code"]
        )
        summed = _keyed_lines(coded, keys).merge(names, on=["within", "code"], how="left")
        out.append(summed.assign(grouping=name))
    frame = pd.concat(out, ignore_index=True).astype({"pence": "int64"})
    return frame[[*KEYS, "name", "variant", "line", "pence"]]
