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

#: Ledger lines of capitation (a variant's envelope lines) and QOF. ``out_of_hours_deduction`` is the
#: balancing line: each practice's lines add up to its payable capitation exactly (see engine.pennies).
CAPITATION = "capitation"
OUT_OF_HOURS = "out_of_hours_deduction"
MPIG_RECYCLED_LINE = "mpig_recycled"
QOF = "qof"


@dataclass(frozen=True)
class Line:
    """One kind of money in the ledger: its name, label and whether it is part of capitation."""

    name: str
    label: str
    capitation: bool
    description: str


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


class Unavailable(Exception):
    """Raised by a declaration when this run's inputs or parameters cannot support the variant."""


Weigh = Callable[[VariantInputs], "pd.Series"]
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


def plus_paid(column: str, line: str) -> EnvelopeRule:
    """The base envelope plus the national total of a paid column (contracts extract) as ``line``."""

    def envelope(vi: VariantInputs) -> Envelope:
        if vi.paid is None:
            raise Unavailable("no contracts extract given")
        return Envelope((*vi.base_envelope.lines, (line, int(vi.paid[column].sum()))))

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
        envelope=plus_paid("paid_mpig_pence", MPIG_RECYCLED_LINE),
        envelope_neutral=False,
        unavailable=_needs_contracts,
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
