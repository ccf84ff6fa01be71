"""The engine's named steps, each a function of typed inputs to a typed output.

inputs -> parameters -> practice list -> identity -> deprivation -> components -> variants (weighted
lists, envelopes) -> pennies -> QOF -> paid. ``allocate.compute_allocations`` runs them in order and
assembles the ledger; ``gp_allocations.checks`` then checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError
from gp_allocations.fair_shares import NeedWeights, need_weights
from gp_allocations.hierarchy import one_row_per
from gp_allocations.money import apportion
from gp_allocations.variants import (
    OUT_OF_HOURS,
    QOF,
    REGISTRY,
    Envelope,
    Unavailable,
    VariantInputs,
    base_envelope,
)

from . import qof as qof_mod
from . import weighted_list as wl
from .deprivation import deprivation_index, practice_scores, quintiles
from .parameters import COMPONENTS, ParameterSet, load_parameter_set
from .reconcile import latest_practice_imd

REQUIRED = ("capitation_age_sex", "practice_map")
NO_PCN_CODE = "UNALLOCATED"
NO_PCN_NAME = "Not in a PCN"
IDENTITY = (
    "practice_name",
    "pcn_code",
    "pcn_name",
    "sub_icb_code",
    "sub_icb_name",
    "icb_code",
    "icb_name",
    "region_code",
    "region_name",
)


@dataclass(frozen=True)
class EngineInputs:
    """The canonical extracts of one period (``frames``: every non-empty one, by extract name)."""

    frames: dict[str, pd.DataFrame]

    @classmethod
    def of(cls, extracts: dict[str, pd.DataFrame]) -> EngineInputs:
        frames = {k: v for k, v in extracts.items() if v is not None and len(v)}
        for name in REQUIRED:
            if name not in frames:
                raise InputError(
                    f"the {name} extract is required to compute allocations and is missing or empty",
                    file=name,
                    rule="required-extract",
                )
        return cls(frames)

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)


@dataclass(frozen=True)
class Parameters:
    """The parameter set, the price in force and every value used (with sources) for the workbook."""

    params: ParameterSet
    price: Decimal
    frame: pd.DataFrame
    notes: list[str]


def parameters(
    period_financial_year: str, name: str, price: Decimal | None, directory: object = None
) -> Parameters:
    """Load the year's parameter file; a run price replaces the file's (recorded as SCENARIO)."""
    from pathlib import Path

    params = load_parameter_set(
        name, period_financial_year, directory=Path(str(directory)) if directory is not None else None
    )
    frame = params.to_frame()
    notes: list[str] = []
    effective = params.price_per_weighted_patient
    if price is not None:
        if not price > 0:
            raise InputError(
                "price per weighted patient must be positive",
                column="price_per_weighted_patient",
                rule="run-parameter",
            )
        effective = price
        frame.loc[frame["parameter"] == "price_per_weighted_patient", ["value", "source", "status"]] = [
            str(price),
            "run parameter (overrides the parameter file)",
            "SCENARIO",
        ]
        notes.append(
            f"price per weighted patient set by the run: GBP {price} (parameter file: "
            f"GBP {params.price_per_weighted_patient})"
        )
    for status in ("ASSUMED", "SCENARIO", "REPUBLISHED-NOT-CHECKED"):
        keys = sorted(set(frame.loc[frame["status"] == status, "parameter"]))
        if keys:
            notes.append(f"parameters with status {status}: {', '.join(keys)}")
    return Parameters(params, effective, frame, notes)


@dataclass(frozen=True)
class PracticeList:
    """Registered patients per practice (sorted by code), by published 5-year band, and the age-sex
    component."""

    registered: pd.Series
    age_sex: wl.Component
    by_age_band: pd.DataFrame  # one column per published band (both sexes), integer patients

    @property
    def practices(self) -> pd.Index:
        return self.registered.index


def practice_list(inputs: EngineInputs, params: ParameterSet) -> PracticeList:
    base, age_comp = wl.age_sex(inputs.frames["capitation_age_sex"], params)
    bands = base[[c for c in base.columns if c.startswith(wl.BAND_PREFIX)]]
    bands.columns = [c.removeprefix(wl.BAND_PREFIX) for c in bands.columns]
    return PracticeList(base["registered_patients"].astype("int64"), age_comp, bands)


@dataclass(frozen=True)
class Identity:
    """Name and hierarchy per practice (one label for a practice without a PCN), and notes."""

    frame: pd.DataFrame
    notes: list[str]


def identity(practice_map: pd.DataFrame, practices: pd.Index) -> Identity:
    pm = one_row_per(practice_map, "practice_code", "practice_map")
    missing = practices.difference(pm.index)
    if len(missing):
        raise InputError(
            f"{len(missing)} practices with registered patients are not in the practice map, e.g. "
            f"{', '.join(missing[:5])}",
            file="practice_map",
            column="practice_code",
            rule="practice-in-map",
        )
    ident = pm.reindex(practices)[list(IDENTITY)].copy()
    notes = []
    no_pcn = ident["pcn_code"].isna() | (ident["pcn_code"].astype(str).str.strip() == "")
    if no_pcn.any():
        notes.append(f"{int(no_pcn.sum())} practices have no PCN: grouped as {NO_PCN_CODE}")
        ident.loc[no_pcn, "pcn_code"] = NO_PCN_CODE
        ident.loc[no_pcn, "pcn_name"] = NO_PCN_NAME
    ident["pcn_name"] = ident["pcn_name"].fillna("")
    not_listed = pm.index.difference(practices)
    if len(not_listed):
        notes.append(
            f"{len(not_listed)} practices in the practice map have no registered patients in the age-sex "
            "extract and get no allocation"
        )
    return Identity(ident, notes)


@dataclass(frozen=True)
class Deprivation:
    """Practice scores, quintiles, LSOA coverage and why the deprivation index may be neutral."""

    scores: pd.DataFrame  # imd_score, health_deprivation_score, health_multiplier
    quintiles: pd.Series
    coverage: pd.DataFrame | None
    absent_reason: str
    notes: list[str]


def deprivation(inputs: EngineInputs, plist: PracticeList, params: ParameterSet) -> Deprivation:
    practices = plist.practices
    cap_lsoa, dep_lsoa = inputs.get("capitation_lsoa"), inputs.get("deprivation_lsoa")
    dep_practice = inputs.get("deprivation_practice")
    scores = pd.DataFrame(
        {"imd_score": np.nan, "health_deprivation_score": np.nan, "health_multiplier": np.nan},
        index=practices,
    )
    coverage = None
    notes: list[str] = []
    if cap_lsoa is not None and dep_lsoa is not None:
        scores, coverage, notes = practice_scores(
            cap_lsoa, dep_lsoa, practices, elasticity=params.deprivation_elasticity
        )
        absent = "no practice LSOA has a deprivation score: neutral 1.0"
    elif dep_practice is not None:
        # Fingertips practice scores: IMD only (no health deprivation score), so quintiles and the equity
        # view work but the deprivation_weighted variant has nothing to weight by and stays neutral
        latest = latest_practice_imd(dep_practice).set_index("practice_code")
        scores["imd_score"] = latest["imd_score"].reindex(practices).astype(float)
        years = latest["imd_year"].reindex(practices).dropna().astype(int).value_counts().sort_index()
        absent = (
            "practice deprivation scores (deprivation_practice) have no health deprivation score and no "
            "LSOA extracts were given: neutral 1.0"
        )
        notes.append(
            "deprivation: practice IMD scores from the deprivation_practice extract, latest edition per "
            f"practice ({', '.join(f'IMD {y}: {n} practices' for y, n in years.items()) or 'none'}); "
            f"{int(scores['imd_score'].isna().sum())} practices without a score; {absent}"
        )
    else:
        absent = (
            f"no {'capitation_lsoa' if cap_lsoa is None else 'deprivation_lsoa'} extract given: neutral 1.0"
        )
        notes.append(f"deprivation: {absent}; no scores or quintiles")
    return Deprivation(scores, quintiles(scores["imd_score"], plist.registered), coverage, absent, notes)


@dataclass(frozen=True)
class Components:
    """Every component's practice index (1.0 exactly when neutral) and the component table."""

    indices: dict[str, pd.Series]
    table: pd.DataFrame
    formula: tuple[str, ...]
    notes: list[str]


def _formula_components(
    inputs: EngineInputs, plist: PracticeList, params: ParameterSet
) -> tuple[dict[str, wl.Component], list[str]]:
    registered = plist.registered
    chars = inputs.get("practice_characteristics")
    comps: dict[str, wl.Component] = {"age_sex": plist.age_sex}
    notes: list[str] = []
    formula = set(params.components)
    if "additional_needs" in formula:
        comps["additional_needs"], n = wl.additional_needs(
            inputs.get("capitation_lsoa"), inputs.get("additional_needs"), registered, params
        )
        notes += n
    if "list_turnover" in formula:
        comps["list_turnover"], n = wl.list_turnover(chars, registered, params)
        notes += n
    if "care_homes" in formula:
        comps["care_homes"], n = wl.care_homes(chars, registered, params)
        notes += n
    if "market_forces" in formula:
        comps["market_forces"] = wl.market_forces(registered, params)
    if "rurality" in formula:
        comps["rurality"] = wl.rurality(registered, params)
    return comps, notes


def components(
    inputs: EngineInputs, plist: PracticeList, dep: Deprivation, params: ParameterSet
) -> Components:
    """Indices of the formula's components plus the deprivation index (used by variants)."""
    comps, notes = _formula_components(inputs, plist, params)
    comps["deprivation"] = deprivation_index(
        dep.scores["health_multiplier"], plist.registered, params.deprivation_elasticity, dep.absent_reason
    )
    formula = tuple(c for c in COMPONENTS if c in params.components)
    rows, indices = [], {}
    for name in COMPONENTS:
        comp = comps.get(name)
        if comp is None:
            indices[name] = pd.Series(1.0, index=plist.practices)
            reason = f"not part of the {params.name} formula"
            rows.append({"component": name, "status": "neutral", "reason": reason, "variants": ""})
            continue
        indices[name] = comp.index.astype(float)
        users = [v.name for v in REGISTRY if name in v.components(formula)]
        used = "all" if len(users) == len(REGISTRY.names()) else ", ".join(users)
        rows.append({"component": name, "status": comp.status, "reason": comp.reason, "variants": used})
        if comp.status == "neutral":
            notes.append(f"component {name} is neutral: {comp.reason}")
    table = pd.DataFrame(rows, columns=["component", "status", "reason", "variants"])
    return Components(indices, table, formula, notes)


@dataclass(frozen=True)
class Paid:
    """What the contracts extract says was paid, per practice of the run (zeros when absent)."""

    frame: pd.DataFrame  # contract_type, paid_* columns, indexed by practice_code
    notes: list[str]


def paid(contracts: pd.DataFrame, practices: pd.Index) -> Paid:
    c = one_row_per(contracts, "practice_code", "contracts")
    out = pd.DataFrame(index=practices)
    out["contract_type"] = c["contract_type"].reindex(practices).fillna("Unknown").astype(str)
    for src, dst in (
        ("global_sum_pence", "paid_global_sum_pence"),
        ("mpig_pence", "paid_mpig_pence"),
        ("qof_pence", "paid_qof_pence"),
    ):
        out[dst] = pd.to_numeric(c[src], errors="coerce").reindex(practices).fillna(0).round().astype("int64")
    notes = []
    # Seniority is published by every era; a file without the column cannot support its recycling
    seniority = c["seniority_pence"] if "seniority_pence" in c.columns else None
    if seniority is not None and seniority.notna().any():
        out["paid_seniority_pence"] = seniority.reindex(practices).fillna(0).astype("int64")
        blank = int(seniority.isna().sum())
        if blank:
            notes.append(f"contracts: {blank} practices have a blank Seniority payment, read as none paid")
    else:
        notes.append("contracts: the extract has no Seniority column: seniority cannot be recycled")
    for src, dst in (
        ("registered_patients", "paid_registered_patients"),
        ("weighted_patients", "paid_weighted_patients"),
    ):
        out[dst] = pd.to_numeric(c[src], errors="coerce").reindex(practices).fillna(0.0).astype(float)
    missing = practices.difference(c.index)
    if len(missing):
        notes.append(
            f"contracts: {len(missing)} practices are not in the contracts extract: paid columns 0, "
            "contract type Unknown"
        )
    extra = c.index.difference(practices)
    if len(extra):
        notes.append(
            f"contracts: {len(extra)} practices in the contracts extract are not in the age-sex list "
            "(their MPIG and seniority are not recycled)"
        )
    return Paid(out, notes)


def need(inputs: EngineInputs, ident: Identity, plist: PracticeList) -> NeedWeights | None:
    """NHS England's weighted populations on the run's practices, when the extract was supplied."""
    nhse = inputs.get("nhse_weighted_populations")
    if nhse is None:
        return None
    run = ident.frame.assign(registered_patients=plist.registered).rename_axis("practice_code").reset_index()
    return need_weights(nhse, run)


@dataclass(frozen=True)
class VariantResult:
    """One computed variant: normalised weighted list per practice, its envelope and factor, and the
    components its formula multiplies (the factor scales their product to the registered list)."""

    name: str
    weighted: pd.Series
    envelope: Envelope
    normalisation_factor: float
    components: tuple[str, ...] = ()
    #: lines paid per practice as declared (e.g. an amount per head), not shared by the weighted list
    fixed: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Variants:
    computed: dict[str, VariantResult]
    notes: list[str] = field(default_factory=list)


def variants(vi: VariantInputs) -> Variants:
    """Every registered variant this run can support, in registry order; the others say why not."""
    computed: dict[str, VariantResult] = {}
    notes: list[str] = []
    weighted: dict[str, pd.Series] = {}
    for variant in REGISTRY:
        inputs = VariantInputs(**{**vi.__dict__, "weighted": dict(weighted)})
        reason = variant.unavailable(inputs)
        try:
            if reason is not None:
                raise Unavailable(reason)
            w = variant.weighted_list(inputs).astype(float)
            envelope = variant.envelope(inputs)
            fixed = _fixed_lines(variant.fixed(inputs) if variant.fixed else {}, vi.registered.index)
            envelope = Envelope((*envelope.lines, *((k, int(v.sum())) for k, v in fixed.items())))
        except Unavailable as exc:
            notes.append(f"{variant.name} not computed: {exc}")
            continue
        formula = variant.components(vi.formula)
        raw = vi.registered.astype(float)
        for c in formula:
            raw = raw * vi.indices[c]
        factor = float(vi.registered.sum()) / float(raw.sum())
        weighted[variant.name] = w
        computed[variant.name] = VariantResult(variant.name, w, envelope, factor, tuple(formula), fixed)
    return Variants(computed, notes)


def _fixed_lines(lines: dict[str, pd.Series], practices: pd.Index) -> dict[str, np.ndarray]:
    """A declaration's per-practice lines as whole pennies on the practice index (0 where absent)."""
    out = {}
    for line, pence in lines.items():
        values = pence.reindex(practices).fillna(0)
        if not (values == values.round()).all():
            raise ValueError(f"fixed line {line!r} is not whole pennies")
        out[line] = values.astype("int64").to_numpy()
    return out


def variant_inputs(
    plist: PracticeList,
    comps: Components,
    dep: Deprivation,
    parms: Parameters,
    paid_: Paid | None,
    need: NeedWeights | None = None,
) -> VariantInputs:
    return VariantInputs(
        need=need,
        registered=plist.registered,
        by_age_band=plist.by_age_band,
        indices=comps.indices,
        formula=comps.formula,
        params=parms.params,
        quintiles=dep.quintiles,
        base_envelope=base_envelope(int(plist.registered.sum()), parms.params, parms.price),
        paid=paid_.frame if paid_ is not None else None,
    )


def _apportion_signed(amount: int, weights: np.ndarray) -> np.ndarray:
    if amount >= 0:
        return apportion(amount, weights)
    return -apportion(-amount, weights)


def pennies(result: VariantResult, practices: pd.Index) -> pd.DataFrame:
    """The variant's capitation ledger lines per practice.

    The payable capitation is the net envelope split by the largest-remainder method (so practices add
    up to it exactly); each envelope line but the out-of-hours deduction is split the same way, and the
    deduction line is the difference, so every line adds up to its national amount and a practice's
    lines add up to its payable capitation, both to the penny. A fixed line (``Variant.fixed``: an
    amount per practice, e.g. per head of an age group) is paid as declared and is not shared.
    """
    w = result.weighted.to_numpy()
    fixed = result.fixed
    shared_net = result.envelope.net - sum(int(v.sum()) for v in fixed.values())
    payable = apportion(shared_net, w)
    lines: dict[str, np.ndarray] = {}
    for line, amount in result.envelope.lines:
        if line != OUT_OF_HOURS and line not in fixed:
            lines[line] = _apportion_signed(amount, w)
    lines[OUT_OF_HOURS] = payable - sum(lines.values(), np.zeros(len(w), dtype=np.int64))
    lines.update(fixed)  # paid as declared, practice by practice
    frames = [
        pd.DataFrame({"practice_code": practices, "variant": result.name, "line": line, "pence": values})
        for line, values in lines.items()
    ]
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Qof:
    frame: pd.DataFrame  # qof_points, qof_pence, qof_path by practice
    notes: list[str]


def qof(inputs: EngineInputs, registered: pd.Series, params: ParameterSet) -> Qof:
    """Prevalence-adjusted QOF when achievement, prevalence and indicators are all given, else the
    practice-points path from the practice summary, else none."""
    ach, prev, ind = (inputs.get(n) for n in ("qof_achievement", "qof_prevalence", "qof_indicators"))
    summary = inputs.get("qof_practice_summary")
    ppp, avg = params.qof_pounds_per_point, params.qof_national_average_list_size
    if ach is not None and prev is not None and ind is not None:
        frame, notes = qof_mod.prevalence_adjusted(ach, prev, ind, registered, ppp, avg)
    elif summary is not None:
        frame, notes = qof_mod.practice_points(summary, registered, ppp, avg)
        if ach is not None or prev is not None or ind is not None:
            notes = [
                *notes,
                "QOF: achievement, prevalence and indicator mapping are not all given: practice-points path",
            ]
    else:
        frame, notes = qof_mod.no_qof(registered), ["QOF: no QOF extract given: QOF 0 for every practice"]
    return Qof(frame, notes)


def qof_lines(q: Qof, variant_names: list[str]) -> pd.DataFrame:
    """The QOF line of every practice under every variant (the same payment in each)."""
    base = q.frame["qof_pence"].astype("int64")
    return pd.concat(
        [
            pd.DataFrame({"practice_code": base.index, "variant": v, "line": QOF, "pence": base.to_numpy()})
            for v in variant_names
        ],
        ignore_index=True,
    )
