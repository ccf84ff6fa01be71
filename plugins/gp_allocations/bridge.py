"""What changed and why: this publication against an earlier one, as a bridge of exact pennies.

A publication keeps its practices' facts (``practice_facts``: registered list, age-sex index, the other
component indices' product, normalisation factor, price, out-of-hours rate and payable capitation of the
selected variant) in its folder (``FACTS_FILE``). A later publication reads back those of the last
published version of the previous quarter, and of the same quarter a year earlier, and splits each
practice's change in annual payable capitation by sequential substitution in the order of ``STEPS``:
starting from the earlier facts, each fact in turn takes its current value, and a step is the change in
registered list x age-sex index x needs index x normalisation factor x price x (1 - out-of-hours rate)
that its substitution makes. What the product does not explain (recycled lines, amounts per head, a
variant weighted another way, the penny rounding of the envelope split) is "other"; a practice in one
publication only is all "opened or closed". Each practice's steps are rounded to whole pennies by the
largest-remainder method (``money.split_exactly``) so they add up to its change exactly; sub-ICB, ICB,
region and England bridges are those lines summed once (``aggregates.sum_lines``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import views
from .aggregates import ENGLAND_CODE, PAYABLE, sum_lines
from .engine.steps import IDENTITY
from .ledger import Allocation
from .money import split_exactly
from .periods import Period
from .variants import label

FACTS_FILE = "practice_facts.parquet"
#: where a practice sits (kept so a practice that has since closed is still placed): the engine's identity
PLACE = IDENTITY
FACT_COLUMNS = (
    "practice_code",
    *PLACE,
    "variant",
    "registered_patients",
    "index_age_sex",
    "index_needs",
    "normalisation_factor",
    "price_gbp",
    "out_of_hours_rate",
    "payable_pence",
)


@dataclass(frozen=True)
class Step:
    """One part of the bridge: the fact it substitutes (None: not a substitution) and what it means."""

    name: str
    label: str
    fact: str | None
    description: str


STEPS: tuple[Step, ...] = (
    Step("list_size", "Registered list", "registered_patients", "the change in registered patients"),
    Step("age_sex", "Age-sex mix", "index_age_sex", "the change in the age-sex index"),
    Step(
        "needs",
        "Needs and deprivation",
        "index_needs",
        "the change in the product of the variant's other component indices (additional needs or "
        "deprivation, list turnover, care homes, market forces, rurality)",
    ),
    Step("normalisation", "Normalisation", "normalisation_factor", "the change in the normalisation factor"),
    Step("price", "Price", "price_gbp", "the change in the price per weighted patient"),
    Step("out_of_hours", "Out-of-hours", "out_of_hours_rate", "the change in the out-of-hours deduction"),
    Step(
        "opened_closed",
        "Practices opened or closed",
        None,
        "the whole amount of a practice in one of the two publications only",
    ),
    Step(
        "other",
        "Other and rounding",
        None,
        "what the product does not explain: recycled lines, amounts per head, a variant weighted another "
        "way, and the penny rounding of the envelope split",
    ),
)
PREVIOUS, CURRENT, CHANGE = "previous", "current", "change"
LINES: tuple[str, ...] = (PREVIOUS, CURRENT, CHANGE, *(s.name for s in STEPS))
LEVELS: tuple[str, ...] = ("practice", "sub_icb", "icb", "region", "england")
LINE_VARIANT = "bridge"  # the lines' variant column (the bridge is of the selected variant)


def decomposition_order() -> str:
    """The order of decomposition, as the Notes state it."""
    subs = [s for s in STEPS if s.fact]
    return (
        "Sequential substitution: starting from the earlier publication's facts, "
        + ", then ".join(s.label.lower() for s in subs)
        + " take this publication's values in that order; each step is the change in registered list x "
        "age-sex index x needs index x normalisation factor x price x (1 - out-of-hours rate) its "
        "substitution makes. "
        + " ".join(f"{s.label}: {s.description}." for s in STEPS if not s.fact)
        + " Each practice's steps are rounded to whole pennies by the largest-remainder method, so they add "
        "up to its change exactly; organisations' bridges are sums of their practices'."
    )


@dataclass(frozen=True)
class Kind:
    name: str
    sheet: str
    words: str

    def period(self, current: Period) -> Period:
        if self.name == "previous_quarter":
            return Period(current.start_year - (current.quarter == 1), (current.quarter - 2) % 4 + 1)
        return Period(current.start_year - 1, current.quarter)


KINDS: tuple[Kind, ...] = (
    Kind("previous_quarter", "Change since last quarter", "the previous quarter"),
    Kind("year_earlier", "Change since a year ago", "the same quarter a year earlier"),
)


def practice_facts(allocation: Allocation) -> pd.DataFrame:
    """The facts the bridge needs, one row per practice, of the allocation's selected variant."""
    v = allocation.selected_variant
    p = allocation.practices.set_index("practice_code")
    vt = allocation.variant_table.set_index("variant")
    comps = [c for c in str(vt.loc[v, "components"] or "").split(",") if c] if "components" in vt else []
    needs = pd.Series(1.0, index=p.index)
    for c in comps:
        if c != "age_sex":
            needs = needs * p[f"index_{c}"].astype(float)
    age = p["index_age_sex"].astype(float) if "age_sex" in comps else pd.Series(1.0, index=p.index)
    price, ooh = views.prices(allocation)
    m = allocation.totals.of("practice").money
    payable = m[(m["variant"] == v) & (m["line"] == PAYABLE)].set_index("code")["pence"]
    out = pd.DataFrame(
        {
            **{c: p[c].fillna("").astype(str) if c in p else "" for c in PLACE},
            "variant": v,
            "registered_patients": p["registered_patients"].astype("int64"),
            "index_age_sex": age,
            "index_needs": needs,
            "normalisation_factor": float(str(vt.loc[v, "normalisation_factor"])),
            "price_gbp": price,
            "out_of_hours_rate": ooh,
            "payable_pence": payable.reindex(p.index).fillna(0).astype("int64"),
        },
        index=p.index,
    )
    return out.rename_axis("practice_code").reset_index()[list(FACT_COLUMNS)]


def _model(f: dict[str, np.ndarray]) -> np.ndarray:
    """Annual payable capitation in pennies (real) from the facts' product."""
    out: np.ndarray = (
        f["registered_patients"]
        * f["index_age_sex"]
        * f["index_needs"]
        * f["normalisation_factor"]
        * f["price_gbp"]
        * (1.0 - f["out_of_hours_rate"])
        * 100.0
    )
    return out


def bridge(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """Per practice (in either publication, sorted by code): its place, previous, current and change
    pennies and one column of pennies per step (``STEPS``), the steps adding up to the change exactly."""
    prev = previous.set_index("practice_code")
    cur = current.set_index("practice_code")
    codes = sorted(set(prev.index) | set(cur.index))
    place = cur[list(PLACE)].reindex(codes).combine_first(prev[list(PLACE)].reindex(codes))
    before = prev["payable_pence"].reindex(codes).fillna(0).astype("int64").to_numpy()
    after = cur["payable_pence"].reindex(codes).fillna(0).astype("int64").to_numpy()
    change = after - before
    both = np.isin(codes, prev.index) & np.isin(codes, cur.index)
    in_both = [c for c, b in zip(codes, both, strict=True) if b]
    parts = np.zeros((len(codes), len(STEPS)), dtype=np.float64)
    subs = [s for s in STEPS if s.fact]
    state = {s.fact: prev.loc[in_both, s.fact].to_numpy(dtype=float) for s in subs if s.fact}
    level = _model(state)
    for k, s in enumerate(subs):
        assert s.fact is not None
        state[s.fact] = cur.loc[in_both, s.fact].to_numpy(dtype=float)
        moved = _model(state)
        parts[both, k] = moved - level
        level = moved
    names = [s.name for s in STEPS]
    parts[~both, names.index("opened_closed")] = change[~both]
    other = names.index("other")
    parts[:, other] = change - np.delete(parts, other, axis=1).sum(axis=1)
    pennies = split_exactly(parts, change) if len(codes) else np.zeros((0, len(STEPS)), dtype=np.int64)
    out = place.rename_axis("practice_code").reset_index()
    out[PREVIOUS], out[CURRENT], out[CHANGE] = before, after, change
    for k, name in enumerate(names):
        out[name] = pennies[:, k]
    return out


def lines(per_practice: pd.DataFrame) -> pd.DataFrame:
    """The bridge as ledger-like rows (practice_code, variant, line, pence), for ``sum_lines``."""
    return per_practice.melt(
        id_vars=["practice_code"], value_vars=list(LINES), var_name="line", value_name="pence"
    ).assign(variant=LINE_VARIANT)[["practice_code", "variant", "line", "pence"]]


def level_totals(per_practice: pd.DataFrame) -> pd.DataFrame:
    """Every level's bridge (``Comparison.totals``): the practices' lines summed once, a sub-ICB
    location's rows within its ICB (so an ICB's bridge can be laid out with its sub-ICB locations')."""
    totals = sum_lines(per_practice, lines(per_practice), LEVELS)
    icb_of = per_practice.drop_duplicates("sub_icb_code").set_index("sub_icb_code")["icb_code"]
    sub_icbs = totals["grouping"] == "sub_icb"
    totals.loc[sub_icbs, "within"] = totals.loc[sub_icbs, "code"].map(icb_of).to_numpy()
    return totals


@dataclass(frozen=True)
class Comparison:
    """This publication against one earlier publication (``kind``), or why there is none."""

    kind: str
    period: str
    run_id: str | None = None
    #: why there is no bridge (no earlier publication, or one published without practice facts)
    reason: str | None = None
    #: every level's bridge, long: grouping, within, code, name, variant, line, pence (a sub-ICB
    #: location's rows are within its ICB, so an ICB's bridge can be shown with its sub-ICB locations')
    totals: pd.DataFrame | None = None
    #: (earlier, this) publication's formula variant when the headline variant changed between them
    variant_change: tuple[str, str] | None = None

    @property
    def available(self) -> bool:
        return self.totals is not None

    @property
    def words(self) -> str:
        return next(k.words for k in KINDS if k.name == self.kind)

    @property
    def period_label(self) -> str:
        return Period.parse(self.period).label

    @property
    def variant_text(self) -> str:
        """Why the bridge holds a change of formula variant ("" when both publications used one)."""
        if self.variant_change is None:
            return ""
        before, now = (label(v) for v in self.variant_change)
        return (
            f"The headline formula variant changed: {self.period_label} paid by the {before} variant, this "
            f"publication by the {now} variant; the steps include the switch (its indices in needs and "
            "deprivation and normalisation, anything else in other and rounding)."
        )

    def table(self, grouping: str, within: str | None = None) -> pd.DataFrame:
        """One level's bridge, wide: within, code, name, one pence column per line, change_pct."""
        if self.totals is None:
            raise ValueError(f"no bridge: {self.reason}")
        t = self.totals[self.totals["grouping"] == grouping]
        if within is not None:
            t = t[t["within"] == within]
        wide = t.pivot_table(
            index=["within", "code", "name"], columns="line", values="pence", aggfunc="sum", fill_value=0
        )
        wide = wide.reindex(columns=list(LINES), fill_value=0).astype("int64").reset_index()
        wide.columns.name = None
        previous = wide[PREVIOUS].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            wide["change_pct"] = np.where(previous != 0, wide[CHANGE] / previous, np.nan)
        return wide.sort_values(["within", "code"], kind="stable").reset_index(drop=True)

    def row(self, grouping: str, code: str) -> dict[str, Any]:
        """One organisation's bridge (a table's total row)."""
        t = self.table(grouping)
        hit = t[t["code"] == code]
        return {str(k): v for k, v in hit.iloc[0].to_dict().items()} if len(hit) else {}

    def largest_movers(self, within: str | None = None, count: int = 20) -> pd.DataFrame:
        """The ``count`` practices with the largest change in pounds either way (ties by code)."""
        t = self.table("practice", within)
        order = t.assign(_size=t[CHANGE].abs()).sort_values(["_size", "code"], ascending=[False, True])
        return order.head(count).drop(columns="_size").reset_index(drop=True)

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"period": self.period, "run_id": self.run_id}
        if self.variant_change is not None:
            entry["variant_change"] = {"from": self.variant_change[0], "to": self.variant_change[1]}
        if self.totals is None:
            entry["reason"] = self.reason
        else:
            entry["england_pence"] = {
                line: int(v) for line, v in self.row("england", ENGLAND_CODE).items() if line in LINES
            }
        return entry


def compare(allocation: Allocation, output_root: Path, kind: Kind) -> Comparison:
    """This allocation against the last published version of ``kind``'s period under ``output_root``."""
    from .publish import latest_run

    earlier = kind.period(Period.parse(allocation.period))
    folder = latest_run(output_root, earlier.slug)
    empty = Comparison(kind.name, earlier.slug)
    if folder is None or not folder.is_dir():
        return replace(empty, reason=f"nothing has been published for {earlier.label}")
    facts = folder / FACTS_FILE
    earlier_facts = _read_facts(facts) if facts.is_file() else None
    if earlier_facts is None:
        return replace(
            empty,
            run_id=folder.name,
            reason=f"{earlier.label} (run {folder.name}) was published without readable practice facts "
            f"({FACTS_FILE}), so its change cannot be split",
        )
    per_practice = bridge(earlier_facts, practice_facts(allocation))
    totals = level_totals(per_practice)
    before = sorted(set(earlier_facts["variant"].astype(str)))
    changed = before != [allocation.selected_variant]
    return Comparison(
        kind.name,
        earlier.slug,
        folder.name,
        None,
        totals,
        (", ".join(before), allocation.selected_variant) if changed else None,
    )


def _read_facts(path: Path) -> pd.DataFrame | None:
    """An earlier publication's practice facts, or None when the file is not what this module writes."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError):  # pyarrow's errors for a damaged file are ValueErrors
        return None
    if not set(FACT_COLUMNS) <= set(frame.columns) or frame["practice_code"].duplicated().any():
        return None
    return frame[list(FACT_COLUMNS)]


def comparisons(allocation: Allocation, output_root: Path) -> tuple[Comparison, ...]:
    return tuple(compare(allocation, output_root, k) for k in KINDS)


def save_comparisons(items: tuple[Comparison, ...], folder: Path) -> None:
    """Keep the comparisons in the run folder (the publish tasks each read them)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = []
    for c in items:
        meta.append(
            {
                "kind": c.kind,
                "period": c.period,
                "run_id": c.run_id,
                "reason": c.reason,
                "variant_change": c.variant_change,
            }
        )
        path = folder / f"{c.kind}.parquet"
        if c.totals is not None:
            c.totals.to_parquet(path, index=False)
        else:
            path.unlink(missing_ok=True)
    (folder / "comparisons.json").write_text(json.dumps(meta, indent=2, sort_keys=True))


def load_comparisons(folder: Path) -> tuple[Comparison, ...]:
    path = folder / "comparisons.json"
    if not path.is_file():
        return ()
    out = []
    for m in json.loads(path.read_text()):
        data = folder / f"{m['kind']}.parquet"
        change = m.pop("variant_change", None)
        out.append(
            Comparison(
                **m,
                totals=pd.read_parquet(data) if data.is_file() else None,
                variant_change=(str(change[0]), str(change[1])) if change else None,
            )
        )
    return tuple(out)
