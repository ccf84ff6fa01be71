"""Every aggregate of the ledger, computed once, here.

``aggregate`` sums the ledger (money by variant and line) and the additive per-practice facts
(practices, registered lists, QOF points, paid figures, weighted lists) for every grouping in
``GROUPINGS``: the hierarchy levels (practice, PCN, sub-ICB, ICB, region, England) and the cuts the
workbooks show (PCNs, contract types and deprivation quintiles within a sub-ICB location or England).
Besides the ledger's own lines it adds two derived lines per organisation and variant:
``capitation_payable`` (the capitation lines) and ``total`` (every line). Workbooks, the manifest,
the marts and the checks read ``Totals``; nothing else sums money.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ENGLAND_CODE = "E92000001"
PAYABLE = "capitation_payable"
TOTAL = "total"
NO_QUINTILE = "unknown"


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
    "qof_points",
    "paid_registered_patients",
    "paid_weighted_patients",
    "paid_global_sum_pence",
    "paid_mpig_pence",
    "paid_qof_pence",
    "_imd_patients",
    "_imd_scored_patients",
    "_practices_paid",
)
KEYS = ["grouping", "within", "code"]


@dataclass
class Totals:
    """Aggregates of every grouping, long: ``money`` (variant, line, pence), ``facts`` (name, parents,
    practices and the additive facts) and ``weights`` (variant, weighted_list), keyed by
    grouping, within ('' at the top) and code."""

    money: pd.DataFrame
    facts: pd.DataFrame
    weights: pd.DataFrame

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("money", "facts", "weights"):
            getattr(self, name).to_parquet(folder / f"{name}.parquet", index=False)

    @classmethod
    def load(cls, folder: Path) -> Totals:
        return cls(*(pd.read_parquet(folder / f"{n}.parquet") for n in ("money", "facts", "weights")))

    def of(self, grouping: str, within: str | None = None) -> Totals:
        """The rows of one grouping (inside one organisation when ``within`` is given)."""

        def pick(frame: pd.DataFrame) -> pd.DataFrame:
            mask = frame["grouping"] == grouping
            if within is not None:
                mask &= frame["within"] == within
            return frame[mask]

        return Totals(pick(self.money), pick(self.facts), pick(self.weights))

    def amount(self, grouping: str, code: str, variant: str, line: str, within: str = "") -> int:
        m = self.money
        hit = m[
            (m["grouping"] == grouping)
            & (m["within"] == within)
            & (m["code"] == code)
            & (m["variant"] == variant)
            & (m["line"] == line)
        ]
        return int(hit["pence"].sum()) if len(hit) else 0


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
    return facts


def _group_keys(facts: pd.DataFrame, g: Grouping) -> pd.DataFrame:
    within = facts[g.within].astype(str) if g.within else pd.Series("", index=facts.index)
    return pd.DataFrame({"within": within, "code": facts[g.code].astype(str)}, index=facts.index)


def _money(ledger: pd.DataFrame, keys: pd.DataFrame, lines_capitation: set[str]) -> pd.DataFrame:
    k = keys.reindex(ledger["practice_code"].to_numpy())
    frame = pd.DataFrame(
        {
            "within": k["within"].to_numpy(),
            "code": k["code"].to_numpy(),
            "variant": ledger["variant"].to_numpy(),
            "line": ledger["line"].to_numpy(),
            "pence": ledger["pence"].to_numpy(dtype="int64"),
        }
    )
    by_line = frame.groupby(["within", "code", "variant", "line"], sort=True)["pence"].sum().reset_index()
    # the derived lines add up the organisation's own lines (by_line), each penny once
    cap = by_line[by_line["line"].isin(lines_capitation)]
    payable = cap.groupby(["within", "code", "variant"], sort=True)["pence"].sum().reset_index()
    total = by_line.groupby(["within", "code", "variant"], sort=True)["pence"].sum().reset_index()
    return pd.concat(
        [by_line, payable.assign(line=PAYABLE), total.assign(line=TOTAL)], ignore_index=True
    ).astype({"pence": "int64"})


def _facts(facts: pd.DataFrame, keys: pd.DataFrame, g: Grouping) -> pd.DataFrame:
    additive = [c for c in ADDITIVE if c in facts.columns]
    named = [c for c in (g.label, *g.parents) if c]
    frame = pd.concat([keys, facts[[*additive, *named]]], axis=1)
    grouped = frame.groupby(["within", "code"], sort=True)
    out = grouped[additive].sum()
    out.insert(0, "practices", grouped.size().astype("int64"))
    if named:
        first = grouped[named].first()
        out = first.join(out)
        if g.label:
            out = out.rename(columns={g.label: "name"})
    else:
        out.insert(0, "name", "")
    out = out.reset_index()
    for c in ("registered_patients", "paid_global_sum_pence", "paid_mpig_pence", "paid_qof_pence"):
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
    practices: pd.DataFrame, ledger: pd.DataFrame, weights: pd.DataFrame, capitation_lines: set[str]
) -> Totals:
    """Every grouping's money, facts and weighted lists from the ledger and the per-practice facts."""
    facts = _keyed_facts(practices)
    money, fact_rows, weight_rows = [], [], []
    for g in GROUPINGS.values():
        keys = _group_keys(facts, g)
        money.append(_money(ledger, keys, capitation_lines).assign(grouping=g.name))
        fact_rows.append(_facts(facts, keys, g).assign(grouping=g.name))
        weight_rows.append(_weights(weights, keys).assign(grouping=g.name))

    def ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        return frame[[*KEYS, *(c for c in frame.columns if c not in KEYS)]]

    return Totals(ordered(money), ordered(fact_rows), ordered(weight_rows))
