"""Reconciliation gates: every check of the ledger, and the rule that one failure stops the run.

``engine_checks`` recomputes, from an allocation's ledger, envelopes, weights and totals: each
envelope line equals the sum of the practices' lines; each variant's payable capitation equals its net
envelope; weighted lists are normalised; envelope-neutral variants have the global sum's envelope;
QOF is the same in every variant; every level's organisations add up to their parent (PCN within
sub-ICB -> sub-ICB -> ICB -> region -> England, every variant and line, lists and practice counts);
every other cut (practices, PCNs, contract types, quintiles, practices with quarantined rows) adds up
to England; and each organisation has one name and one of each parent over its practices (the
hierarchy is a function). ``marts_check``
compares what the warehouse stored with the engine. ``enforce`` raises ``ReconciliationFailed`` naming
the first failed check and its two figures, before anything is staged for publishing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .aggregates import GROUPINGS, HIERARCHY, KEYS, PAYABLE, Totals
from .errors import ReconciliationFailed
from .variants import DEFAULT_VARIANT, QOF, REGISTRY

if TYPE_CHECKING:
    from .ledger import Allocation

COLUMNS = ["check", "expected", "actual", "passed", "detail"]
_TOLERANCE = 1e-6
_COUNTS = ("practices", "registered_patients")


def _row(check: str, expected: Any, actual: Any, passed: bool, detail: str = "") -> dict[str, Any]:
    return {"check": check, "expected": expected, "actual": actual, "passed": bool(passed), "detail": detail}


def _england(totals: Totals, variant: str, line: str) -> int:
    return totals.amount("england", "E92000001", variant, line)


def _envelope_rows(a: Allocation) -> list[dict[str, Any]]:
    rows = []
    for variant in a.variants:
        env = a.envelopes[a.envelopes["variant"] == variant]
        for line, pence in zip(env["line"], env["pence"], strict=True):
            got = _england(a.totals, variant, str(line))
            rows.append(
                _row(
                    f"{variant}: practices' {line} lines sum to the envelope line (pence)",
                    int(pence),
                    got,
                    got == int(pence),
                )
            )
        net, payable = a.envelope_pence(variant), _england(a.totals, variant, PAYABLE)
        rows.append(_row(f"{variant}: practices sum to the envelope (pence)", net, payable, net == payable))
        ledger_sum = int(a.ledger.loc[a.ledger["variant"] == variant, "pence"].sum())
        total = _england(a.totals, variant, "total")
        rows.append(
            _row(
                f"{variant}: ledger lines sum to the England total (pence)",
                ledger_sum,
                total,
                ledger_sum == total,
            )
        )
    return rows


def _weight_rows(a: Allocation) -> list[dict[str, Any]]:
    registered = int(a.practices["registered_patients"].sum())
    rows = []
    for variant in a.variants:
        wsum = float(a.weights.loc[a.weights["variant"] == variant, "weighted_list"].sum())
        ok = abs(wsum - registered) <= _TOLERANCE * max(registered, 1)
        rows.append(
            _row(f"{variant}: national weighted list equals national registered list", registered, wsum, ok)
        )
    return rows


def _neutral_rows(a: Allocation) -> list[dict[str, Any]]:
    rows = []
    base = a.envelope_pence(DEFAULT_VARIANT)
    for variant in a.variants:
        if variant != DEFAULT_VARIANT and variant in REGISTRY and REGISTRY.get(variant).envelope_neutral:
            net = a.envelope_pence(variant)
            rows.append(
                _row(
                    f"{variant}: envelope-neutral, so its envelope equals the global sum's (pence)",
                    base,
                    net,
                    net == base,
                )
            )
    qof = a.ledger[a.ledger["line"] == QOF].pivot_table(
        index="practice_code", columns="variant", values="pence", aggfunc="sum"
    )
    spread = int((qof.max(axis=1) - qof.min(axis=1)).abs().max()) if len(qof) else 0
    rows.append(
        _row(
            "QOF: every practice's QOF is the same in every variant (largest spread, pence)",
            0,
            spread,
            spread == 0,
        )
    )
    return rows


def _first_difference(
    merged: pd.DataFrame, keys: list[str], want: str, got: str
) -> tuple[int, str, Any, Any]:
    bad = merged[merged[want] != merged[got]]
    if bad.empty:
        return 0, "", 0, 0
    first = bad.iloc[0]
    where = ", ".join(f"{k} {first[k]}" for k in keys)
    return len(bad), where, first[want], first[got]


def _one_parent_rows(a: Allocation) -> list[dict[str, Any]]:
    """Each organisation has one name and one of each parent over its practices: the aggregates take
    that one value, so a second one (a split hierarchy) must stop the run here, not be picked from."""
    rows = []
    for g in GROUPINGS.values():
        named = [c for c in (g.label, *g.parents) if c and c in a.practices.columns]
        if not named or g.code not in a.practices.columns:
            continue
        keys = [c for c in (g.within, g.code) if c]
        counts = a.practices.groupby(keys, sort=True)[named].nunique(dropna=False)
        split = counts[(counts > 1).any(axis=1)]
        detail = ""
        if len(split):
            org = split.index[0]
            code = org[-1] if isinstance(org, tuple) else org
            col = next(c for c in named if split.iloc[0][c] > 1)
            mask = a.practices[g.code] == code
            if g.within:
                mask &= a.practices[g.within] == org[0]
            by_value = a.practices[mask].groupby(col, sort=True)["practice_code"].apply(list)
            detail = f"{len(split)} with more than one; first {g.name} {code}: {col} " + " and ".join(
                f"{v} (practice{'s' if len(p) > 1 else ''} {', '.join(p[:3])}{' ...' if len(p) > 3 else ''})"
                for v, p in by_value.items()
            )
        rows.append(
            _row(
                f"{g.name}: each has one {', '.join(named)} over its practices (organisations with more)",
                0,
                len(split),
                split.empty,
                detail,
            )
        )
    return rows


def _children_rows(totals: Totals) -> list[dict[str, Any]]:
    rows = []
    for child, parent, link in HIERARCHY:
        c, p = totals.of(child), totals.of(parent)
        if link == "within":
            up = c.facts[["within", "code"]].assign(parent=c.facts["within"])
        else:
            up = c.facts[["within", "code"]].assign(
                parent=c.facts[link].astype(str) if link in c.facts else "E92000001"
            )
        money = c.money.merge(up, on=["within", "code"], how="left")
        sums = money.groupby(["parent", "variant", "line"], sort=True)["pence"].sum().rename("children")
        target = p.money.set_index(["code", "variant", "line"])["pence"].rename("parent_total")
        target.index = target.index.set_names(["parent", "variant", "line"])
        merged = pd.concat([sums, target], axis=1).fillna(0).astype("int64").reset_index()
        n, where, want, got = _first_difference(
            merged, ["parent", "variant", "line"], "parent_total", "children"
        )
        facts = c.facts.merge(up, on=["within", "code"], how="left").groupby("parent")[list(_COUNTS)].sum()
        ptarget = p.facts.set_index("code")[list(_COUNTS)]
        count_bad = int(
            (facts.reindex(ptarget.index).fillna(0).astype("int64") != ptarget.astype("int64"))
            .any(axis=1)
            .sum()
        )
        detail = f"{n} differ, first {where}" if n else ""
        if count_bad:
            detail += (
                f"{'; ' if detail else ''}{count_bad} {parent} rows differ in practices or registered list"
            )
        rows.append(
            _row(
                f"{parent}: each equals the sum of its {child} rows (every variant and line)",
                want,
                got,
                n == 0 and count_bad == 0,
                detail,
            )
        )
    return rows


def _cut_rows(totals: Totals) -> list[dict[str, Any]]:
    rows = []
    england = totals.of("england").money.set_index(["variant", "line"])["pence"]
    for grouping in (
        "practice",
        "pcn",
        "contract_type",
        "quintile",
        "sub_icb_contract_type",
        "sub_icb_quintile",
        "quarantine",
        "sub_icb_quarantine",
    ):
        sums = totals.of(grouping).money.groupby(["variant", "line"])["pence"].sum()
        merged = (
            pd.concat([sums.rename("rows"), england.rename("england")], axis=1)
            .fillna(0)
            .astype("int64")
            .reset_index()
        )
        n, where, want, got = _first_difference(merged, ["variant", "line"], "england", "rows")
        rows.append(
            _row(
                f"{grouping}: rows sum to England (every variant and line)",
                want,
                got,
                n == 0,
                f"{n} differ, first {where}" if n else "",
            )
        )
    return rows


def engine_checks(a: Allocation) -> pd.DataFrame:
    """Every check of one allocation (see the module docstring); ``passed`` says which hold."""
    rows = [
        *_one_parent_rows(a),
        *_envelope_rows(a),
        *_weight_rows(a),
        *_neutral_rows(a),
        *_children_rows(a.totals),
        *_cut_rows(a.totals),
    ]
    return pd.DataFrame(rows, columns=COLUMNS).astype({"expected": object, "actual": object})


def _figure(value: Any) -> Any:
    """A check's figure as a user reads it: whole numbers without a trailing ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def enforce(checks: pd.DataFrame) -> None:
    """Raise ReconciliationFailed naming the first failed check and its two figures."""
    failed = checks[~checks["passed"].astype(bool)]
    if failed.empty:
        return
    first = failed.iloc[0]
    more = f" ({len(failed) - 1} more checks failed)" if len(failed) > 1 else ""
    detail = f" [{first['detail']}]" if first.get("detail") else ""
    raise ReconciliationFailed(
        f"reconciliation check failed: {first['check']}: expected {_figure(first['expected'])}, got "
        f"{_figure(first['actual'])}{detail}{more}; nothing was published",
        check=str(first["check"]),
        expected=first["expected"],
        actual=first["actual"],
    )


def marts_check(a: Allocation, stored_levels: pd.DataFrame, stored_practices: pd.DataFrame) -> pd.DataFrame:
    """What the warehouse stored equals the engine: each level row (capitation payable, QOF, total per
    variant) and each practice row, to the penny."""
    rows = []
    level_map = {"pcn": "pcn", "sub_icb": "sub_icb", "icb": "icb", "region": "region", "england": "england"}
    for level, grouping in level_map.items():
        money = a.totals.of(grouping).money
        wide = money[money["line"].isin([PAYABLE, QOF, "total"])].pivot_table(
            index=["code", "variant"], columns="line", values="pence", aggfunc="sum"
        )
        engine = wide.rename(columns={PAYABLE: "capitation_pence", QOF: "qof_pence", "total": "total_pence"})
        stored = stored_levels[stored_levels["level"] == level].set_index(["org_code", "variant"])
        stored.index = stored.index.set_names(["code", "variant"])
        cols = ["capitation_pence", "qof_pence", "total_pence"]
        merged = (
            engine[cols].join(stored[cols], how="outer", lsuffix="_engine", rsuffix="_warehouse").fillna(-1)
        )
        bad = merged[
            (
                merged[[f"{c}_engine" for c in cols]].to_numpy()
                != merged[[f"{c}_warehouse" for c in cols]].to_numpy()
            ).any(axis=1)
        ]
        detail, want, got = "", 0, 0
        if len(bad):
            (code, variant), first = bad.index[0], bad.iloc[0]
            want, got = int(first["total_pence_engine"]), int(first["total_pence_warehouse"])
            detail = f"{len(bad)} rows differ, first {level} {code} {variant}"
        rows.append(
            _row(
                f"warehouse: mart_level_allocation {level} rows equal the engine (pence)",
                want,
                got,
                bad.empty,
                detail,
            )
        )
    ledger_total = int(a.ledger["pence"].sum())
    stored_total = int(stored_practices["total_pence"].sum()) if len(stored_practices) else 0
    rows.append(
        _row(
            "warehouse: mart_practice_allocation totals equal the ledger (pence)",
            ledger_total,
            stored_total,
            ledger_total == stored_total,
        )
    )
    return pd.DataFrame(rows, columns=COLUMNS).astype({"expected": object, "actual": object})


__all__ = ["COLUMNS", "KEYS", "enforce", "engine_checks", "marts_check"]
