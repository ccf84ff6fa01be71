"""Plausibility gates: figures the engine can compute but nobody should pay from (issue 14.5).

Checked in the compute stage, after the reconciliation gates and before anything is written for
publishing. Thresholds are versioned data (``include/plausibility.yaml``, each with unit, reason and
source). Each gate compares:

- ``age_sex_band_bound``: every practice's sex and age band against a sane bound;
- ``practice_list_vs_contracts``: each practice's registered list against the payments (contracts)
  extract's registered patients, when that extract is for the run's financial year;
- ``practice_list_vs_previous_period``: each practice's list against the previous period's loaded core
  tables, when that load was published;
- ``national_list_vs_previous_publication`` and ``england_envelope_vs_previous_publication``: England's
  registered total and each variant's envelope against the latest publication of this period and of the
  previous period.

A gate with nothing to compare with is "not checked" and says why (never a pass). A breach stops the run
with ``PlausibilityFailed`` naming gate, practice (or England), both figures and the threshold, unless
the run carries an override (``RunContext.override_reason``): then the breaches become the manifest's
``overrides`` (gate, message, reason, by, at), every Cover says the run was published over them, and
sign-off is required. An override when nothing was breached records nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from . import config
from .errors import PlausibilityFailed
from .periods import Period

if TYPE_CHECKING:
    from .config import RunContext
    from .ledger import Allocation

log = logging.getLogger(__name__)

PASSED, BREACHED, NOT_CHECKED = "passed", "breached", "not checked"
#: How many breaches the error message lists (the count is always given).
SHOWN = 5
REPORT_FILE = "plausibility.json"


@dataclass(frozen=True)
class Breach:
    """One figure beyond its threshold, as one sentence (``rule``: the gate's name)."""

    message: str
    rule: str


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: str  # PASSED | BREACHED | NOT_CHECKED
    detail: str  # what was compared, or why nothing was
    breaches: tuple[Breach, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """An earlier figure to compare with: where it comes from and its values (None: nothing to compare)."""

    label: str  # e.g. "the latest publication of 2025-26-Q1 (run r1)"
    manifest: Mapping[str, Any] | None = None
    why_not: str = ""


@dataclass
class PlausibilityReport:
    results: list[GateResult] = field(default_factory=list)

    @property
    def breaches(self) -> list[Breach]:
        return [b for r in self.results for b in r.breaches]

    def to_dict(self) -> dict[str, Any]:
        return {"gates": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlausibilityReport:
        return cls(
            [
                GateResult(
                    g["gate"], g["status"], g["detail"], tuple(Breach(**b) for b in g.get("breaches") or [])
                )
                for g in data.get("gates") or []
            ]
        )


@lru_cache(maxsize=4)
def _thresholds(path: str) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["gates"]
    return {
        gate: {k: v["value"] for k, v in entry.items() if isinstance(v, dict) and "value" in v}
        for gate, entry in doc.items()
    }


def thresholds() -> dict[str, dict[str, Any]]:
    """Gate -> threshold name -> value, from ``include/plausibility.yaml``."""
    return _thresholds(str(config.include_dir() / "plausibility.yaml"))


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _gbp(pence: int) -> str:
    return f"£{pence / 100:,.2f}"


def _result(gate: str, breaches: list[Breach], compared: str) -> GateResult:
    return GateResult(gate, BREACHED if breaches else PASSED, compared, tuple(breaches))


# ------------------------------------------------------------------------------------------ the gates


def band_bound(age_sex: pd.DataFrame, limit: Mapping[str, Any]) -> GateResult:
    top = int(limit["max_patients"])
    over = age_sex[age_sex["patients"] > top].sort_values(
        ["patients", "practice_code"], ascending=[False, True]
    )
    breaches = [
        Breach(
            f"practice {code} has {_n(float(n))} patients ({sex} {band}), above the bound of {_n(top)} in "
            "one age-sex band",
            rule="age_sex_band_bound",
        )
        for code, sex, band, n in zip(
            over["practice_code"], over["sex"], over["age_band"], over["patients"].tolist(), strict=True
        )
    ]
    return _result("age_sex_band_bound", breaches, f"{len(age_sex):,} age-sex bands against {_n(top)}")


def _far_apart(now: pd.Series, before: pd.Series, ratio: float, difference: float) -> pd.DataFrame:
    both = pd.concat([now.rename("now"), before.rename("before")], axis=1, join="inner").astype(float)
    hi, lo = both.max(axis=1), both.min(axis=1)
    far = (hi > ratio * lo) & ((hi - lo) > difference)
    return both[far].assign(times=(hi / lo.where(lo > 0))[far]).sort_index()


def _times(value: float) -> str:
    return "no patients" if pd.isna(value) else f"{value:.2f} times"


def _financial_year(hint: str | None) -> int | None:
    """The start year of the financial year an extract's period hint names (2025/26, 2025-26, a quarter
    or an as-at date), or None."""
    text = (hint or "").strip()
    match = re.match(r"^(\d{4})\s*[-/]\s*(\d{2})\b", text)
    if match and (int(match[1]) + 1) % 100 == int(match[2]):
        return int(match[1])
    date = re.match(r"^(\d{4})-(\d{2})-\d{2}", text)
    if date:
        return Period.containing(pd.Timestamp(text[:10]).date()).start_year
    return None


def list_vs_contracts(
    lists: pd.Series,
    contracts: pd.DataFrame | None,
    contracts_period: str | None,
    period: Period,
    limit: Mapping[str, Any],
) -> GateResult:
    gate = "practice_list_vs_contracts"
    if contracts is None or contracts.empty:
        return GateResult(gate, NOT_CHECKED, "no payments (contracts) extract in this run")
    year = _financial_year(contracts_period)
    if year != period.start_year:
        return GateResult(
            gate,
            NOT_CHECKED,
            f"the payments extract is for {contracts_period or 'an unknown year'}, the run for "
            f"{period.financial_year}: the year's average list is not comparable",
        )
    paid = contracts.groupby("practice_code")["registered_patients"].sum()
    small = paid[paid < float(limit["min_contracts_patients"])]
    ratio, difference = float(limit["max_ratio"]), float(limit["min_difference"])
    far = _far_apart(lists, paid.drop(small.index), ratio, difference)
    breaches = [
        Breach(
            f"practice {code} has a registered list of {_n(r.now)}, {_times(r.now / r.before)} the payments "
            f"extract's {_n(r.before)} registered patients (threshold: at most {ratio:g} times either way, "
            f"or within {_n(difference)} patients)",
            rule="practice_list_vs_contracts",
        )
        for code, r in far.iterrows()
    ]
    compared = (
        f"{len(lists.index.intersection(paid.index)) - len(small):,} practices against the payments extract "
        f"({contracts_period}); {len(small):,} with under {_n(limit['min_contracts_patients'])} in it not "
        "compared"
    )
    return _result(gate, breaches, compared)


def list_vs_previous_period(
    lists: pd.Series,
    previous: pd.Series | None,
    why_not: str,
    previous_period: Period,
    limit: Mapping[str, Any],
) -> GateResult:
    gate = "practice_list_vs_previous_period"
    if previous is None:
        return GateResult(gate, NOT_CHECKED, why_not)
    ratio, difference = float(limit["max_ratio"]), float(limit["min_difference"])
    far = _far_apart(lists, previous, ratio, difference)
    breaches = [
        Breach(
            f"practice {code} has a registered list of {_n(r.now)}, {_times(r.now / r.before)} its "
            f"{_n(r.before)} in {previous_period.slug} (threshold: at most {ratio:g} times either way, or "
            f"within {_n(difference)} patients)",
            rule="practice_list_vs_previous_period",
        )
        for code, r in far.iterrows()
    ]
    new = len(lists.index.difference(previous.index))
    gone = len(previous.index.difference(lists.index))
    compared = (
        f"{len(lists.index.intersection(previous.index)):,} practices against {previous_period.slug}'s "
        f"published load; {new:,} new, {gone:,} no longer listed"
    )
    return _result(gate, breaches, compared)


def _registered(manifest: Mapping[str, Any]) -> int:
    subs = (manifest.get("totals") or {}).get("sub_icb") or {}
    return sum(int(s.get("registered_patients") or 0) for s in subs.values())


def _change(now: int, before: int) -> float:
    return (now - before) / before if before else float("inf")


def national_list(registered: int, earlier: list[Comparison], limit: Mapping[str, Any]) -> GateResult:
    gate = "national_list_vs_previous_publication"
    top = float(limit["max_change"])
    found = [c for c in earlier if c.manifest is not None]
    if not found:
        return GateResult(gate, NOT_CHECKED, "; ".join(c.why_not for c in earlier))
    breaches = []
    for c in found:
        assert c.manifest is not None
        before = _registered(c.manifest)
        change = _change(registered, before)
        if abs(change) > top:
            breaches.append(
                Breach(
                    f"England's registered list is {_n(registered)}, {change:+.1%} on {_n(before)} in "
                    f"{c.label} (threshold: at most {top:.0%} either way)",
                    rule="national_list_vs_previous_publication",
                )
            )
    return _result(gate, breaches, _compared(earlier))


def _compared(earlier: list[Comparison]) -> str:
    """What a gate was checked against: each earlier publication found, or why it was not."""
    return "; ".join(f"against {c.label}" if c.manifest is not None else c.why_not for c in earlier)


def england_envelope(
    envelopes: Mapping[str, int], earlier: list[Comparison], limit: Mapping[str, Any], scenario: bool
) -> GateResult:
    gate = "england_envelope_vs_previous_publication"
    if scenario:
        return GateResult(gate, NOT_CHECKED, "a scenario price was given: the envelope changes on purpose")
    top = float(limit["max_change"])
    found = [c for c in earlier if c.manifest is not None]
    if not found:
        return GateResult(gate, NOT_CHECKED, "; ".join(c.why_not for c in earlier))
    breaches = []
    for c in found:
        assert c.manifest is not None
        before_all = c.manifest.get("envelopes_pence") or {}
        for variant in sorted(set(envelopes) & set(before_all)):
            now, before = int(envelopes[variant]), int(before_all[variant])
            change = _change(now, before)
            if abs(change) > top:
                breaches.append(
                    Breach(
                        f"England's {variant} envelope is {_gbp(now)}, {change:+.1%} on {_gbp(before)} in "
                        f"{c.label} (threshold: at most {top:.0%} either way)",
                        rule="england_envelope_vs_previous_publication",
                    )
                )
    return _result(gate, breaches, _compared(earlier))


# ------------------------------------------------------------------------------- the run's figures


def previous_period(period: Period) -> Period:
    return Period(period.start_year - (period.quarter == 1), (period.quarter - 2) % 4 + 1)


def _publication(output_root: Path, slug: str, what: str) -> Comparison:
    from .manifest import read_manifest
    from .publish import latest_run

    latest = latest_run(output_root, slug)
    if latest is None:
        return Comparison(what, why_not=f"{what}: nothing published yet (not checked)")
    manifest = read_manifest(latest)
    if manifest is None:
        return Comparison(what, why_not=f"{what}: its manifest cannot be read (not checked)")
    return Comparison(f"{what} (run {latest.name})", manifest)


def _previous_lists(ctx: RunContext, before: Period) -> tuple[pd.Series | None, str]:
    from .warehouse import core_load, core_practice_lists, make_engine

    engine = make_engine(ctx.warehouse_url)
    load = core_load(engine, before.slug)
    if load is None:
        return None, f"{before.slug} was never loaded into this warehouse"
    if load["status"] not in ("published", "unchanged"):
        return None, (
            f"{before.slug}'s core tables hold run {load['run_id']}'s load, which was not published "
            f"(status {load['status']})"
        )
    lists = core_practice_lists(engine, before.slug)
    return lists.set_index("practice_code")["registered_patients"].astype("int64"), ""


def evaluate(
    ctx: RunContext,
    inputs: Mapping[str, pd.DataFrame],
    allocation: Allocation,
    extract_periods: Mapping[str, str | None],
) -> PlausibilityReport:
    """Every gate for one run: the engine's figures against the thresholds and the earlier figures."""
    limits = thresholds()
    before = previous_period(ctx.period)
    lists = allocation.practices.set_index("practice_code")["registered_patients"].astype("int64")
    earlier = [
        _publication(Path(ctx.output_root), ctx.period.slug, f"the latest publication of {ctx.period.slug}"),
        _publication(Path(ctx.output_root), before.slug, f"the latest publication of {before.slug}"),
    ]
    previous, why_not = _previous_lists(ctx, before)
    age_sex = inputs.get("capitation_age_sex")
    return PlausibilityReport(
        [
            band_bound(
                age_sex if age_sex is not None else pd.DataFrame(columns=["patients"]),
                limits["age_sex_band_bound"],
            ),
            list_vs_contracts(
                lists,
                inputs.get("contracts"),
                extract_periods.get("contracts"),
                ctx.period,
                limits["practice_list_vs_contracts"],
            ),
            list_vs_previous_period(
                lists, previous, why_not, before, limits["practice_list_vs_previous_period"]
            ),
            national_list(int(lists.sum()), earlier, limits["national_list_vs_previous_publication"]),
            england_envelope(
                allocation.envelopes_pence,
                earlier,
                limits["england_envelope_vs_previous_publication"],
                scenario=ctx.price_per_weighted_patient is not None,
            ),
        ]
    )


def _listing(breaches: list[Breach]) -> str:
    shown = "; ".join(f"rule {b.rule}: {b.message}" for b in breaches[1:SHOWN])
    more = f"; and {len(breaches) - SHOWN} more" if len(breaches) > SHOWN else ""
    return f" [{len(breaches)} breaches in all: {shown}{more}]" if len(breaches) > 1 else ""


def enforce(report: PlausibilityReport, ctx: RunContext) -> list[dict[str, str]]:
    """Stop the run on a breach, unless it carries an override; return the overrides to record."""
    for r in report.results:
        (log.warning if r.status == BREACHED else log.info)(
            "plausibility %s: %s (%s)", r.gate, r.status, r.detail
        )
    breaches = report.breaches
    if not breaches:
        if ctx.override_reason:
            log.info(
                "override reason given (%s) but no plausibility gate was breached: nothing recorded",
                ctx.override_reason,
            )
        return []
    if not ctx.override_reason:
        first = breaches[0]
        raise PlausibilityFailed(
            f"plausibility gate breached: {first.message}{_listing(breaches)}; nothing was published. To "
            "publish anyway, run again with an override reason (Param override_reason, command line "
            "--override-reason); the run then needs sign-off",
            rule=first.rule,
            breaches=breaches,
        )
    overrides = [
        {
            "gate": b.rule,
            "message": b.message,
            "reason": ctx.override_reason,
            "by": str(ctx.override_by),
            "at": str(ctx.override_at),
        }
        for b in breaches
    ]
    for o in overrides:
        log.warning(
            "PUBLISHING OVER plausibility gate %s: %s (override by %s at %s: %s)",
            o["gate"],
            o["message"],
            o["by"],
            o["at"],
            o["reason"],
        )
    return overrides


def check_run(
    ctx: RunContext,
    inputs: Mapping[str, pd.DataFrame],
    allocation: Allocation,
    extract_periods: Mapping[str, str | None],
) -> list[dict[str, str]]:
    """Evaluate, keep the report (and the overrides) in the run's compute folder, then enforce."""
    from .files import atomic_write

    report = evaluate(ctx, inputs, allocation, extract_periods)
    path = ctx.compute_dir / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({**report.to_dict(), "overrides": []}, indent=2).encode("utf-8"))
    overrides = enforce(report, ctx)
    atomic_write(path, json.dumps({**report.to_dict(), "overrides": overrides}, indent=2).encode("utf-8"))
    return overrides


def read_overrides(compute_dir: Path) -> list[dict[str, str]]:
    """The overrides ``check_run`` recorded for the run (none: no file, e.g. a run of older code)."""
    path = compute_dir / REPORT_FILE
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("overrides") or [])


def read_gates(compute_dir: Path) -> list[dict[str, str]]:
    """Each gate's outcome for the manifest: gate, status (passed, breached, not checked) and detail."""
    path = compute_dir / REPORT_FILE
    if not path.is_file():
        return []
    gates = json.loads(path.read_text(encoding="utf-8")).get("gates") or []
    return [{"gate": g["gate"], "status": g["status"], "detail": g["detail"]} for g in gates]


def cover_text(overrides: list[dict[str, str]]) -> str | None:
    """The Cover's line for a run published over breached gates (None when there were none)."""
    if not overrides:
        return None
    first = overrides[0]
    listed = "; ".join(f"{o['gate']}: {o['message']}" for o in overrides[:SHOWN])
    more = f"; and {len(overrides) - SHOWN} more (see the manifest)" if len(overrides) > SHOWN else ""
    return (
        f"PUBLISHED OVER {len(overrides)} BREACHED PLAUSIBILITY GATE{'S' if len(overrides) > 1 else ''}: "
        f"{listed}{more}. Override by {first['by']} at {first['at']}, reason: {first['reason']}"
    )
