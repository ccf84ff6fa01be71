"""The formula variants: each one declaration, in one place.

A variant says how a practice's share of an envelope is worked out (``weigh``: a normalised weighted
list per practice), how big its envelope is (``envelope``: national money lines in pennies), whether it
is envelope-neutral (same money as the global sum, only moved between practices), which components and
parameters it uses, and when it is available (``unavailable``: a reason, or None). Everything else -
the DAG's Params enum, workbook labels and Notes, the ledger, the manifest, the CLI choices - is derived
from ``REGISTRY``. Adding a variant is one ``register(Variant(...))`` call (plus, at most, a weighting
or envelope function written with the helpers below).

Declarations see only ``VariantInputs``: registered lists, component indices, quintiles, the parameter
set, the base envelope and what was paid (contracts extract), plus the weighted lists of the variants
declared before them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # types only: the DAG file reads the registry at parse time, so no pandas import here
    import pandas as pd

    from .engine.parameters import ParameterSet
    from .fair_shares import NeedWeights

#: Ledger lines of capitation (a variant's envelope lines) and QOF. ``out_of_hours_deduction`` is the
#: balancing line: each practice's lines add up to its payable capitation exactly (see engine.pennies).
CAPITATION = "capitation"
OUT_OF_HOURS = "out_of_hours_deduction"
MPIG_RECYCLED_LINE = "mpig_recycled"
SENIORITY_RECYCLED_LINE = "seniority_recycled"
OVER_75S_LINE = "over_75s"
QOF = "qof"


@dataclass(frozen=True)
class Line:
    """One kind of money in the ledger: its name, label and whether it is part of capitation."""

    name: str
    label: str
    capitation: bool
    description: str
    #: the practice fact the line is paid per head of, and its label (None: shared by the weighted list)
    per: str | None = None
    per_label: str = ""


LINES: dict[str, Line] = {
    line.name: line
    for line in (
        Line(
            CAPITATION,
            "Capitation before deductions",
            True,
            "the practice's share of the variant's gross envelope (registered list x price)",
        ),
        Line(
            OUT_OF_HOURS,
            "Out-of-hours deduction",
            True,
            "the practice's share of the out-of-hours opt-out deduction; takes the penny rounding so "
            "that the lines add up to the payable capitation",
        ),
        Line(
            MPIG_RECYCLED_LINE,
            "MPIG recycled",
            True,
            "the practice's share of the national MPIG correction total recycled into capitation",
        ),
        Line(
            SENIORITY_RECYCLED_LINE,
            "Seniority recycled",
            True,
            "the practice's share of the national seniority payments total recycled into capitation",
        ),
        Line(
            OVER_75S_LINE,
            "Patients 75+ funding",
            True,
            "the scenario amount per head (Scenario over 75s in Parameters) x the practice's registered "
            "patients aged 75 and over; paid as declared, not shared by the weighted list",
            per="patients_75_and_over",
            per_label="Patients aged 75+",
        ),
        Line(QOF, "QOF", False, "QOF achievement payment (the same in every variant)"),
    )
}


@dataclass(frozen=True)
class Envelope:
    """A national envelope as money lines (pennies, deductions negative); ``net`` is their sum."""

    lines: tuple[tuple[str, int], ...]

    @property
    def net(self) -> int:
        return sum(p for _, p in self.lines)

    def as_dict(self) -> dict[str, int]:
        return dict(self.lines)


@dataclass(frozen=True)
class VariantInputs:
    """What a variant declaration may use (all aligned on the practice index, sorted by code)."""

    registered: pd.Series
    indices: Mapping[str, pd.Series]
    formula: tuple[str, ...]
    params: ParameterSet
    quintiles: pd.Series
    base_envelope: Envelope
    paid: pd.DataFrame | None
    weighted: Mapping[str, pd.Series] = field(default_factory=dict)
    #: registered patients per published 5-year age band (both sexes), one column per band
    by_age_band: pd.DataFrame | None = None
    #: NHS England's weighted populations on the run's practices (None: extract not supplied)
    need: NeedWeights | None = None


class Unavailable(Exception):
    """Raised by a declaration when this run's inputs or parameters cannot support the variant."""


Weigh = Callable[[VariantInputs], "pd.Series"]
#: per-practice pennies of lines paid as declared (not shared by the weighted list), by line
FixedLines = Callable[[VariantInputs], "dict[str, pd.Series]"]
EnvelopeRule = Callable[[VariantInputs], Envelope]
Availability = Callable[[VariantInputs], str | None]


@dataclass(frozen=True)
class Formula:
    """Which components a variant multiplies: the parameter set's formula, less ``drop``, plus ``add``."""

    drop: tuple[str, ...] = ()
    add: tuple[str, ...] = ()

    def __call__(self, formula: tuple[str, ...]) -> tuple[str, ...]:
        names = [c for c in formula if c not in self.drop]
        return (*names, *(c for c in self.add if c not in names))


def _always(_inputs: VariantInputs) -> str | None:
    return None


@dataclass(frozen=True)
class Variant:
    """One formula variant (see the module docstring).

    ``weigh`` defaults to the components' product normalised to the registered list; give it to share
    an envelope another way (e.g. ``same_as("global_sum")``).
    """

    name: str
    label: str
    description: str
    parameters: tuple[str, ...]
    envelope: EnvelopeRule
    envelope_neutral: bool
    components: Formula = Formula()
    weigh: Weigh | None = None
    unavailable: Availability = _always
    #: lines paid practice by practice as declared, added to the envelope (e.g. GBP 5 per head 75+)
    fixed: FixedLines | None = None
    #: the scenario file (include/scenarios/<name>.yaml) whose values the declaration uses
    scenario: str | None = None

    def weighted_list(self, vi: VariantInputs) -> pd.Series:
        if self.weigh is not None:
            return self.weigh(vi)
        return normalised(vi.registered, [vi.indices[c] for c in self.components(vi.formula)])


class Registry:
    """Variants in declaration order (``global_sum`` first: the others are compared with it)."""

    def __init__(self) -> None:
        self._variants: dict[str, Variant] = {}

    def register(self, variant: Variant) -> Variant:
        if variant.name in self._variants:
            raise ValueError(f"variant {variant.name!r} is already registered")
        if not variant.name.isidentifier() or variant.name != variant.name.lower():
            raise ValueError(f"variant name {variant.name!r} must be a lower-case identifier")
        self._variants[variant.name] = variant
        return variant

    def unregister(self, name: str) -> None:
        self._variants.pop(name)

    def get(self, name: str) -> Variant:
        try:
            return self._variants[name]
        except KeyError:
            raise InputError(
                f"variant {name!r} is not one of {', '.join(self._variants)}",
                column="variant",
                rule="run-parameter",
            ) from None

    def names(self) -> list[str]:
        return list(self._variants)

    def __iter__(self) -> Iterator[Variant]:
        return iter(list(self._variants.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._variants


REGISTRY = Registry()
register = REGISTRY.register
DEFAULT_VARIANT = "global_sum"
#: What a paid column of the contracts extract is, in words (no reader sees a machine name).
PAID_WORDS = {"paid_mpig_pence": "MPIG paid", "paid_seniority_pence": "seniority paid"}


def variant_names() -> list[str]:
    """Every registered variant (the DAG's Params enum and the CLI's choices)."""
    return REGISTRY.names()


def label(name: str) -> str:
    """The variant's label (a name no longer registered reads as its words)."""
    return REGISTRY.get(name).label if name in REGISTRY else name.replace("_", " ").capitalize()


# ------------------------------------------------------------------------------------------------
# Helpers a declaration is written with


def normalised(registered: pd.Series, indices: list[pd.Series]) -> pd.Series:
    """registered x product of indices, scaled so the national total equals the national registered list."""
    raw = registered.astype(float)
    for idx in indices:
        raw = raw * idx
    total = raw.sum()
    if not total > 0:
        raise InputError("the weighted list adds up to zero: no registered patients", rule="weighted-list")
    return raw * (float(registered.sum()) / total)


def same_as(base: str) -> Weigh:
    """The weighted list of an earlier variant (e.g. recycled money shared like the global sum)."""
    return lambda vi: vi.weighted[base]


def net_envelope(vi: VariantInputs) -> Envelope:
    """The base envelope: registered list x price, less the out-of-hours deduction."""
    return vi.base_envelope


def plus_paid(*recycled: tuple[str, str]) -> EnvelopeRule:
    """The base envelope plus, for each (paid column, line), the national total of that column of the
    contracts extract as the line (money phased out of one payment and recycled into capitation)."""

    def envelope(vi: VariantInputs) -> Envelope:
        if vi.paid is None:
            raise Unavailable("no contracts extract given")
        missing = [column for column, _ in recycled if column not in vi.paid.columns]
        if missing:
            raise Unavailable(f"the contracts extract has no {', '.join(missing)}")
        totals = tuple((line, int(vi.paid[column].sum())) for column, line in recycled)
        return Envelope((*vi.base_envelope.lines, *totals))

    return envelope


def base_envelope(registered_total: int, params: ParameterSet, price: Decimal) -> Envelope:
    """Gross = registered x price (pennies, half up); out-of-hours deduction = gross x share (half up)."""
    from .money import round_pence

    gross = round_pence(Decimal(registered_total) * price * 100)
    deduction = round_pence(Decimal(gross) * params.out_of_hours_deduction)
    return Envelope(((CAPITATION, gross), (OUT_OF_HOURS, -deduction)))


def _quintile_uplift(vi: VariantInputs) -> pd.Series:
    import pandas as pd

    uplifts = vi.params.imd_quintile_uplifts or {}
    uplift = vi.quintiles.map(lambda q: uplifts.get(int(q), 1.0) if pd.notna(q) else 1.0).astype(float)
    base = vi.weighted[DEFAULT_VARIANT]
    return normalised(base, [uplift]) * (float(vi.registered.sum()) / float(base.sum()))


def _quintile_uplift_unavailable(vi: VariantInputs) -> str | None:
    if not vi.params.imd_quintile_uplifts:
        return f"the parameter set {vi.params.name} has no IMD quintile uplifts"
    if not vi.quintiles.notna().any():
        return "no practice has an IMD quintile"
    return None


def _needs_contracts(vi: VariantInputs) -> str | None:
    return None if vi.paid is not None else "no contracts extract given"


#: Published 5-year bands of patients aged 75 and over (gp-reg-pat-prac-quin-age, top-coded at 95+).
BANDS_75_AND_OVER: tuple[str, ...] = ("75_79", "80_84", "85_89", "90_94", "95+")


def aged_75_and_over(by_age_band: pd.DataFrame) -> pd.Series:
    """Registered patients aged 75 and over per practice (both sexes, bands 75-79 and above)."""
    return by_age_band.reindex(columns=list(BANDS_75_AND_OVER), fill_value=0).sum(axis=1).astype("int64")


def per_head_75_and_over(scenario: str, line: str) -> FixedLines:
    """A fixed line: the scenario's ``amount_per_head_gbp`` x registered patients aged 75 and over, per
    practice, in pennies rounded half up (nothing is rounded for a whole-penny amount such as GBP 5)."""

    def lines(vi: VariantInputs) -> dict[str, pd.Series]:
        from .money import round_pence
        from .scenarios import load_scenario

        if vi.by_age_band is None:
            raise Unavailable("no registered patients by age band")
        amount = load_scenario(scenario).decimal("amount_per_head_gbp") * 100
        heads = aged_75_and_over(vi.by_age_band)
        return {line: heads.map(lambda n: round_pence(Decimal(int(n)) * amount)).astype("int64")}

    return lines


def _need_weighted(vi: VariantInputs) -> pd.Series:
    from .fair_shares import PRIMARY, shares_weights

    if vi.need is None:
        raise Unavailable("NHS England weighted populations not supplied")
    raw = shares_weights(vi.need, vi.registered, PRIMARY)
    total = float(raw.sum())
    if not total > 0:
        raise Unavailable("NHS England's Final PMC weighted populations add up to zero")
    return raw * (float(vi.registered.sum()) / total)


def _needs_nhse(vi: VariantInputs) -> str | None:
    return None if vi.need is not None else "NHS England weighted populations not supplied"


def _needs_seniority(vi: VariantInputs) -> str | None:
    if vi.paid is None:
        return "no contracts extract given"
    if "paid_seniority_pence" not in vi.paid.columns:
        return "the contracts extract has no Seniority column"
    return None


# ------------------------------------------------------------------------------------------------
# The variants

register(
    Variant(
        name="global_sum",
        label="Global sum",
        description="Capitation by the Carr-Hill weighted list: national envelope = registered patients x "
        "price per weighted patient, less the out-of-hours deduction.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction"),
        envelope=net_envelope,
        envelope_neutral=True,
    )
)
register(
    Variant(
        name="deprivation_weighted",
        label="Deprivation weighted",
        description="The additional-needs index is replaced by a deprivation index: the patient-weighted "
        "mean over the practice's LSOAs of elasticity ^ IoD health deprivation score, relative to the "
        "national mean (Health Foundation method). The national envelope is the same as the global sum's, "
        "so money moves between practices, not in or out.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction", "deprivation_elasticity"),
        components=Formula(drop=("additional_needs",), add=("deprivation",)),
        envelope=net_envelope,
        envelope_neutral=True,
    )
)
register(
    Variant(
        name="imd_quintile_uplift",
        label="IMD quintile uplift",
        description="The global sum weighted list multiplied by a per-quintile uplift from the parameter "
        "file (quintiles of registered population by practice IMD score), renormalised; same envelope.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction", "imd_quintile_uplifts"),
        weigh=_quintile_uplift,
        envelope=net_envelope,
        envelope_neutral=True,
        unavailable=_quintile_uplift_unavailable,
    )
)
register(
    Variant(
        name="mpig_recycled",
        label="MPIG recycled",
        description="The national MPIG correction total paid (contracts extract) added to the envelope and "
        "shared by the global sum weighted list.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction", "contracts: MPIG paid"),
        weigh=same_as("global_sum"),
        envelope=plus_paid(("paid_mpig_pence", MPIG_RECYCLED_LINE)),
        envelope_neutral=False,
        unavailable=_needs_contracts,
    )
)
register(
    Variant(
        name="seniority_recycled",
        label="Seniority recycled",
        description="Seniority payments phased out and recycled into capitation (NHS England, Improving "
        "general practice - a call to action, 2014, par. 48): the national total of the Seniority column "
        "paid (contracts extract) added to the envelope and shared by the global sum weighted list. A "
        "practice gains its share of the total and no longer receives its own seniority payment.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction", "contracts: Seniority paid"),
        weigh=same_as("global_sum"),
        envelope=plus_paid(("paid_seniority_pence", SENIORITY_RECYCLED_LINE)),
        envelope_neutral=False,
        unavailable=_needs_seniority,
    )
)
register(
    Variant(
        name="mpig_and_seniority_recycled",
        label="MPIG and seniority recycled",
        description="Both MPIG and seniority payments phased out and recycled into capitation, as par. 48 "
        "of NHS England's 2014 call to action describes: the national MPIG correction and Seniority totals "
        "paid (contracts extract) added to the envelope and shared by the global sum weighted list.",
        parameters=(
            "price_per_weighted_patient",
            "out_of_hours_deduction",
            "contracts: MPIG paid",
            "contracts: Seniority paid",
        ),
        weigh=same_as("global_sum"),
        envelope=plus_paid(
            ("paid_mpig_pence", MPIG_RECYCLED_LINE), ("paid_seniority_pence", SENIORITY_RECYCLED_LINE)
        ),
        envelope_neutral=False,
        unavailable=_needs_seniority,
    )
)

register(
    Variant(
        name="over_75s_funding",
        label="Global sum + 75+ funding",
        description="The global sum plus additional funding per registered patient aged 75 and over (NHS "
        "England planning guidance 2014/15, as cited in par. 74 of the 2014 call to action: 'around £5 "
        "per head to support practices in transforming the care of patients aged 75 or over'). The "
        "amount per head is scenario data (Scenario over 75s in Parameters, with its source); each "
        "practice gets exactly amount x its patients aged 75+, and a sub-ICB location's total is the "
        "CCG's funding to find.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction", "scenario over_75s"),
        weigh=same_as("global_sum"),
        envelope=net_envelope,
        envelope_neutral=False,
        fixed=per_head_75_and_over("over_75s", OVER_75S_LINE),
        scenario="over_75s",
    )
)
register(
    Variant(
        name="need_based_fair_shares",
        label="NHS England need (Final PMC WP)",
        description="The global sum's envelope shared by NHS England's primary medical care need: each "
        "practice's Final PMC weighted population (0.85 x primary medical care + 0.15 x health "
        "inequalities) from the data of NHS England's ICB Place Based Allocation Tool (OGL v3), so a "
        "practice's capitation is its need-based fair share. A practice the file lacks is weighted at "
        "the national average need and listed. Envelope-neutral. The Fair shares sheets set each "
        "sub-ICB location's and ICB's capitation beside its fair share by every NHS England component, "
        "hospital and community need included: primary care allocations at a CCG population level, "
        "alongside those for hospital and community services (par. 69 of the 2014 call to action).",
        parameters=(
            "price_per_weighted_patient",
            "out_of_hours_deduction",
            "nhse_weighted_populations: Final PMC WP",
        ),
        weigh=_need_weighted,
        envelope=net_envelope,
        envelope_neutral=True,
        unavailable=_needs_nhse,
    )
)

#: Deployments may declare further variants (scenarios) in their own modules without editing this one:
#: a comma-separated list of importable modules, each calling ``register``.
EXTRA_MODULES_ENV = "GP_ALLOC_VARIANT_MODULES"


def load_extra_modules() -> list[str]:
    """Import every module named in GP_ALLOC_VARIANT_MODULES (once); return their names."""
    names = [m.strip() for m in os.environ.get(EXTRA_MODULES_ENV, "").split(",") if m.strip()]
    for name in names:
        importlib.import_module(name)
    return names


load_extra_modules()
