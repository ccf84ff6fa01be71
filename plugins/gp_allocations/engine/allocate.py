"""The allocation engine: canonical extracts + a parameter set -> AllocationResult.

Formula (per practice): each Carr-Hill component is an index against the national patient-weighted
average; the indices multiply; weighted list = registered x product, normalised so the national weighted
list equals the national registered list. Variants (all computed in one run, ``global_sum`` first):

- ``global_sum``: the parameter set's components;
- ``deprivation_weighted``: additional needs replaced by elasticity ^ IoD health deprivation score;
- ``imd_quintile_uplift``: global_sum weighted list x per-quintile multiplier, renormalised (only when the
  parameter set has uplifts and practice IMD quintiles exist);
- ``mpig_recycled``: the national MPIG paid (contracts extract) added to the envelope and shared by the
  global_sum weighted list (only when contracts are given).

Money and rounding: the envelope is national registered list x price per weighted patient, in exact
Decimal pennies, rounded to a whole penny halves up; the out-of-hours deduction (share x envelope) is
rounded the same way and subtracted. Each variant's envelope is split across practices, sorted by practice
code, with ``money.apportion`` (largest remainder; ties to the earlier code), so practices add up to the
envelope exactly. Amounts are annual values at the quarter's registered list (a quarter's payment is a
quarter of them). QOF is rounded half up once per practice (see ``qof``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.errors import InputError
from gp_allocations.money import apportion, round_pence
from gp_allocations.periods import Period
from gp_allocations.practice_changes import detect_practice_changes
from gp_allocations.practice_changes import summarise as summarise_changes
from gp_allocations.results import LEVELS, AllocationResult

from . import qof as qof_mod
from . import weighted_list as wl
from .deprivation import deprivation_index, practice_scores, quintiles
from .parameters import COMPONENTS, ParameterSet, load_parameter_set
from .reconcile import implied_price_report, latest_practice_imd, paid_reconciliation, payments_equity

GLOBAL_SUM = "global_sum"
DEPRIVATION_WEIGHTED = "deprivation_weighted"
IMD_QUINTILE_UPLIFT = "imd_quintile_uplift"
MPIG_RECYCLED = "mpig_recycled"

#: level -> (code column, name column, parent code/name columns carried along)
LEVEL_COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pcn": (
        "pcn_code",
        "pcn_name",
        ("sub_icb_code", "sub_icb_name", "icb_code", "icb_name", "region_code", "region_name"),
    ),
    "sub_icb": ("sub_icb_code", "sub_icb_name", ("icb_code", "icb_name", "region_code", "region_name")),
    "icb": ("icb_code", "icb_name", ("region_code", "region_name")),
    "region": ("region_code", "region_name", ()),
    "england": ("", "", ()),
}
ENGLAND_CODE = "E92000001"
_IDENTITY = (
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


def _given(extracts: dict[str, pd.DataFrame], name: str) -> pd.DataFrame | None:
    df = extracts.get(name)
    return df if df is not None and len(df) else None


def _sum_columns(df: pd.DataFrame) -> list[str]:
    """Columns that add up across practices: lists, weighted lists, points and every money column."""
    cols = [c for c in df.columns if c.startswith("weighted_list__") or "_pence" in c]
    cols += [
        c
        for c in ("registered_patients", "qof_points", "paid_registered_patients", "paid_weighted_patients")
        if c in df.columns
    ]
    return [c for c in df.columns if c in set(cols)]


def aggregate(practices: pd.DataFrame, level: str) -> pd.DataFrame:
    """One row per organisation at ``level`` (results.LEVELS): exact integer sums of the practices under it.

    Columns: level, code, name, the level's own code/name columns and its parents', practices (count),
    then the sums of registered_patients, weighted_list__*, every *_pence* column and QOF points.
    """
    if level not in LEVEL_COLUMNS:
        raise ValueError(f"level {level!r} is not one of {LEVELS}")
    sums = _sum_columns(practices)
    if level == "england":
        row = {"level": "england", "code": ENGLAND_CODE, "name": "England", "practices": len(practices)}
        for c in sums:
            total = practices[c].sum()
            row[c] = int(total) if pd.api.types.is_integer_dtype(practices[c]) else float(total)
        return pd.DataFrame([row])
    code, name, parents = LEVEL_COLUMNS[level]
    g = practices.groupby(code, sort=True, dropna=False)
    out = g[sums].sum()
    firsts = g[[name, *parents]].first()
    out.insert(0, "practices", g.size().astype("int64"))
    out = firsts.join(out).reset_index()
    out.insert(0, "name", out[name])
    out.insert(0, "code", out[code])
    out.insert(0, "level", level)
    return out


def _identity(practice_map: pd.DataFrame, practices: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    pm = practice_map.drop_duplicates("practice_code").set_index("practice_code")
    missing = practices.difference(pm.index)
    if len(missing):
        raise InputError(
            f"{len(missing)} practices with registered patients are not in the practice map, e.g. "
            f"{', '.join(missing[:5])}",
            file="practice_map",
            column="practice_code",
            rule="practice-in-map",
        )
    ident = pm.reindex(practices)[list(_IDENTITY)].copy()
    notes = []
    no_pcn = ident["pcn_code"].isna() | (ident["pcn_code"].astype(str).str.strip() == "")
    if no_pcn.any():
        notes.append(f"{int(no_pcn.sum())} practices have no PCN: grouped as UNALLOCATED")
        ident.loc[no_pcn, "pcn_code"] = "UNALLOCATED"
        ident.loc[no_pcn, "pcn_name"] = "Not in a PCN"
    ident["pcn_name"] = ident["pcn_name"].fillna("")
    for child, parent in (
        ("pcn_code", "sub_icb_code"),
        ("sub_icb_code", "icb_code"),
        ("icb_code", "region_code"),
    ):
        spans = ident.groupby(child)[parent].nunique()
        spans = spans[spans > 1]
        if len(spans):
            notes.append(
                f"hierarchy: {len(spans)} {child} values map to more than one {parent} "
                f"(e.g. {', '.join(map(str, spans.index[:3]))}); aggregates use the first, so the "
                f"{parent.removesuffix('_code')} reconciliation check will fail"
            )
    not_listed = pm.index.difference(practices)
    if len(not_listed):
        notes.append(
            f"{len(not_listed)} practices in the practice map have no registered patients in the age-sex "
            "extract and get no allocation"
        )
    return ident, notes


def _envelope(registered_total: int, price: Decimal, ooh: Decimal) -> tuple[int, int, int]:
    """(gross, out-of-hours deduction, net) national envelope in pennies."""
    gross = round_pence(Decimal(registered_total) * price * 100)
    deduction = round_pence(Decimal(gross) * ooh)
    return gross, deduction, gross - deduction


def _contracts(contracts: pd.DataFrame, practices: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    c = contracts.drop_duplicates("practice_code").set_index("practice_code")
    out = pd.DataFrame(index=practices)
    out["contract_type"] = c["contract_type"].reindex(practices).fillna("Unknown").astype(str)
    for src, dst in (
        ("global_sum_pence", "paid_global_sum_pence"),
        ("mpig_pence", "paid_mpig_pence"),
        ("qof_pence", "paid_qof_pence"),
    ):
        out[dst] = pd.to_numeric(c[src], errors="coerce").reindex(practices).fillna(0).round().astype("int64")
    for src, dst in (
        ("registered_patients", "paid_registered_patients"),
        ("weighted_patients", "paid_weighted_patients"),
    ):
        out[dst] = pd.to_numeric(c[src], errors="coerce").reindex(practices).fillna(0.0).astype(float)
    notes = []
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
            "(their MPIG is not recycled)"
        )
    return out, notes


def _equity(df: pd.DataFrame, variants: list[str], with_contracts: bool) -> pd.DataFrame:
    q = df["deprivation_quintile"].astype("string").fillna("unknown")
    frame = df.assign(
        _q=q,
        _imd_n=df["imd_score"].fillna(0.0) * df["registered_patients"],
        _n_scored=df["registered_patients"].where(df["imd_score"].notna(), 0),
    )
    cols = ["registered_patients", "weighted_list__global_sum", "_imd_n", "_n_scored"]
    cols += [f"capitation_pence__{v}" for v in variants]
    if with_contracts:
        cols += ["paid_global_sum_pence", "paid_registered_patients", "paid_weighted_patients"]
    g = frame.groupby("_q", sort=True)
    out = g[cols].sum()
    out.insert(0, "practices", g.size().astype("int64"))
    out["imd_score"] = out["_imd_n"] / out["_n_scored"].where(out["_n_scored"] > 0)
    reg = out["registered_patients"].astype(float).where(out["registered_patients"] > 0)
    wgt = out["weighted_list__global_sum"].where(out["weighted_list__global_sum"] > 0)
    for v in variants:
        pence = out[f"capitation_pence__{v}"].astype(float)
        out[f"gbp_per_registered__{v}"] = pence / reg / 100
        out[f"gbp_per_weighted__{v}"] = pence / wgt / 100
    if with_contracts:
        paid = out["paid_global_sum_pence"].astype(float)
        out["paid_gbp_per_registered"] = (
            paid / out["paid_registered_patients"].where(out["paid_registered_patients"] > 0) / 100
        )
        out["paid_gbp_per_weighted"] = (
            paid / out["paid_weighted_patients"].where(out["paid_weighted_patients"] > 0) / 100
        )
    out = out.drop(columns=["_imd_n", "_n_scored"]).rename_axis("deprivation_quintile").reset_index()
    return out


def _reconciliation(
    df: pd.DataFrame, levels: dict[str, pd.DataFrame], variants: list[str], envelopes: dict[str, int]
) -> pd.DataFrame:
    rows: list[dict] = []

    def add(check: str, expected, actual, passed: bool) -> None:
        rows.append({"check": check, "expected": expected, "actual": actual, "passed": bool(passed)})

    registered = int(df["registered_patients"].sum())
    for v in variants:
        total = int(df[f"capitation_pence__{v}"].sum())
        add(f"{v}: practices sum to the envelope (pence)", envelopes[v], total, total == envelopes[v])
        wsum = float(df[f"weighted_list__{v}"].sum())
        add(
            f"{v}: national weighted list equals national registered list",
            registered,
            wsum,
            abs(wsum - registered) <= 1e-6 * max(registered, 1),
        )
    england = levels["england"].iloc[0]
    money = [c for c in _sum_columns(df) if "_pence" in c] + ["registered_patients"]
    for level in LEVELS:
        lv = levels[level]
        bad = [c for c in money if int(lv[c].sum()) != int(england[c])]
        add(f"{level}: every money column and the registered list sum to England", 0, len(bad), not bad)
    for child, parent in (("pcn", "sub_icb"), ("sub_icb", "icb"), ("icb", "region"), ("region", "england")):
        code = LEVEL_COLUMNS[parent][0]
        cl, pl = levels[child], levels[parent]
        if parent == "england":
            sums = cl[money].sum().to_frame().T
            sums.index = [ENGLAND_CODE]
            target = pl.set_index("code")[money]
        else:
            if child == "pcn":
                # a PCN (e.g. UNALLOCATED) may span sub-ICBs: recompute PCN-by-sub-ICB from practices
                sums = df.groupby(["sub_icb_code", "pcn_code"])[money].sum().groupby(level=0).sum()
            else:
                sums = cl.groupby(code)[money].sum()
            target = pl.set_index("code")[money]
        diff = (sums.reindex(target.index).fillna(0).astype("int64") != target.astype("int64")).any(axis=1)
        add(f"{parent}: each equals the sum of its {child} rows", 0, int(diff.sum()), not diff.any())
    # object columns keep pennies as exact Python ints next to float list totals
    return pd.DataFrame(rows, columns=["check", "expected", "actual", "passed"]).astype(
        {"expected": object, "actual": object}
    )


def compute_allocations(
    extracts: dict[str, pd.DataFrame],
    *,
    period: Period,
    parameter_set: str = "carr_hill_2004",
    selected_variant: str = GLOBAL_SUM,
    price_per_weighted_patient: Decimal | None = None,
    parameters_directory: Path | None = None,
) -> AllocationResult:
    """Weighted lists, capitation per variant, QOF and aggregates for one period (pure: no I/O but the
    parameter file). Requires capitation_age_sex and practice_map; every other extract is optional and
    its component is neutral (and reported) when absent.
    """
    for name in ("capitation_age_sex", "practice_map"):
        if _given(extracts, name) is None:
            raise InputError(
                f"the {name} extract is required to compute allocations and is missing or empty",
                file=name,
                rule="required-extract",
            )
    params: ParameterSet = load_parameter_set(
        parameter_set, period.financial_year, directory=parameters_directory
    )
    notes: list[str] = []
    param_frame = params.to_frame()
    price = params.price_per_weighted_patient
    if price_per_weighted_patient is not None:
        price = Decimal(str(price_per_weighted_patient))
        if not price > 0:
            raise InputError(
                "price per weighted patient must be positive",
                column="price_per_weighted_patient",
                rule="run-parameter",
            )
        param_frame.loc[
            param_frame["parameter"] == "price_per_weighted_patient", ["value", "source", "status"]
        ] = [str(price), "run parameter (overrides the parameter file)", "SCENARIO"]
        notes.append(
            f"price per weighted patient set by the run: GBP {price} (parameter file: "
            f"GBP {params.price_per_weighted_patient})"
        )
    for status in ("ASSUMED", "SCENARIO", "REPUBLISHED-NOT-CHECKED"):
        keys = sorted(set(param_frame.loc[param_frame["status"] == status, "parameter"]))
        if keys:
            notes.append(f"parameters with status {status}: {', '.join(keys)}")

    base, age_comp = wl.age_sex(extracts["capitation_age_sex"], params)
    practices = base.index
    registered = base["registered_patients"]
    ident, id_notes = _identity(extracts["practice_map"], practices)
    notes += id_notes

    cap_lsoa = _given(extracts, "capitation_lsoa")
    dep_lsoa = _given(extracts, "deprivation_lsoa")
    chars = _given(extracts, "practice_characteristics")
    dep_practice = _given(extracts, "deprivation_practice")

    comps: dict[str, wl.Component] = {"age_sex": age_comp}
    in_formula = set(params.components)
    if "additional_needs" in in_formula:
        comps["additional_needs"], n = wl.additional_needs(
            cap_lsoa, _given(extracts, "additional_needs"), registered, params
        )
        notes += n
    if "list_turnover" in in_formula:
        comps["list_turnover"], n = wl.list_turnover(chars, registered, params)
        notes += n
    if "care_homes" in in_formula:
        comps["care_homes"], n = wl.care_homes(chars, registered, params)
        notes += n
    if "market_forces" in in_formula:
        comps["market_forces"] = wl.market_forces(registered, params)
    if "rurality" in in_formula:
        comps["rurality"] = wl.rurality(registered, params)

    scores = pd.DataFrame({"imd_score": np.nan, "health_deprivation_score": np.nan}, index=practices)
    coverage = None
    if cap_lsoa is not None and dep_lsoa is not None:
        scores, coverage, n = practice_scores(cap_lsoa, dep_lsoa, practices)
        notes += n
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
    comps["deprivation"] = deprivation_index(
        scores["health_deprivation_score"], registered, params.deprivation_elasticity, absent
    )
    quint = quintiles(scores["imd_score"], registered)

    # component table: in the formula, used only by the deprivation variant, or not part of the formula
    comp_rows = []
    index_cols: dict[str, pd.Series] = {}
    for name in COMPONENTS:
        comp = comps.get(name)
        if comp is None:
            index_cols[name] = pd.Series(1.0, index=practices)
            comp_rows.append(
                {
                    "component": name,
                    "status": "neutral",
                    "reason": f"not part of the {params.name} formula",
                    "variants": "",
                }
            )
            continue
        index_cols[name] = comp.index.astype(float)
        if name == "deprivation" and name not in in_formula:
            used = DEPRIVATION_WEIGHTED
        elif name == "additional_needs":
            used = GLOBAL_SUM
        else:
            used = "all"
        comp_rows.append({"component": name, "status": comp.status, "reason": comp.reason, "variants": used})
        if comp.status == "neutral":
            notes.append(f"component {name} is neutral: {comp.reason}")
    components = pd.DataFrame(comp_rows, columns=["component", "status", "reason", "variants"])

    gs_components = [c for c in COMPONENTS if c in in_formula]
    dep_components = [c for c in gs_components if c != "additional_needs"]
    if "deprivation" not in dep_components:
        dep_components.append("deprivation")
    weighted: dict[str, pd.Series] = {
        GLOBAL_SUM: wl.normalised(registered, [index_cols[c] for c in gs_components]),
        DEPRIVATION_WEIGHTED: wl.normalised(registered, [index_cols[c] for c in dep_components]),
    }
    if params.imd_quintile_uplifts:
        if quint.notna().any():
            uplift = quint.map(lambda q: params.imd_quintile_uplifts.get(int(q), 1.0) if pd.notna(q) else 1.0)
            weighted[IMD_QUINTILE_UPLIFT] = wl.normalised(weighted[GLOBAL_SUM], [uplift.astype(float)]) * (
                float(registered.sum()) / float(weighted[GLOBAL_SUM].sum())
            )
            if quint.isna().any():
                notes.append(
                    f"imd_quintile_uplift: {int(quint.isna().sum())} practices without a quintile: uplift 1.0"
                )
        else:
            notes.append("imd_quintile_uplift not computed: no practice has an IMD quintile")

    gross, ooh_pence, net = _envelope(int(registered.sum()), price, params.out_of_hours_deduction)
    envelopes: dict[str, int] = {v: net for v in weighted}
    contracts = _given(extracts, "contracts")
    paid = None
    if contracts is not None:
        paid, n = _contracts(contracts, practices)
        notes += n
        mpig_total = int(paid["paid_mpig_pence"].sum())
        weighted[MPIG_RECYCLED] = weighted[GLOBAL_SUM]
        envelopes[MPIG_RECYCLED] = net + mpig_total
    variants = list(weighted)
    if selected_variant not in variants:
        raise InputError(
            f"variant {selected_variant!r} is not available in this run; available: {variants}",
            column="selected_variant",
            rule="run-parameter",
        )

    # QOF
    ach, prev, ind = (_given(extracts, n) for n in ("qof_achievement", "qof_prevalence", "qof_indicators"))
    summary = _given(extracts, "qof_practice_summary")
    if ach is not None and prev is not None and ind is not None:
        qof, n = qof_mod.prevalence_adjusted(
            ach, prev, ind, registered, params.qof_pounds_per_point, params.qof_national_average_list_size
        )
    elif summary is not None:
        qof, n = qof_mod.practice_points(
            summary, registered, params.qof_pounds_per_point, params.qof_national_average_list_size
        )
        if ach is not None or prev is not None or ind is not None:
            n = [
                *n,
                "QOF: achievement, prevalence and indicator mapping are not all given: practice-points path",
            ]
    else:
        qof, n = qof_mod.no_qof(registered), ["QOF: no QOF extract given: QOF 0 for every practice"]
    notes += n

    df = ident.copy()
    df["contract_type"] = paid["contract_type"] if paid is not None else "Unknown"
    df["registered_patients"] = registered.astype("int64")
    for name in COMPONENTS:
        df[f"index_{name}"] = index_cols[name]
    df["imd_score"] = scores["imd_score"]
    df["health_deprivation_score"] = scores["health_deprivation_score"]
    df["deprivation_quintile"] = quint
    for v in variants:
        df[f"weighted_list__{v}"] = weighted[v].astype(float)
        df[f"capitation_pence__{v}"] = apportion(envelopes[v], weighted[v].to_numpy())
    for v in variants:
        df[f"difference_pence__{v}"] = (
            df[f"capitation_pence__{v}"] - df[f"capitation_pence__{GLOBAL_SUM}"]
        ).astype("int64")
    df["qof_points"] = qof["qof_points"]
    df["qof_pence"] = qof["qof_pence"].astype("int64")
    df["qof_path"] = qof["qof_path"]
    for v in variants:
        df[f"total_pence__{v}"] = (df[f"capitation_pence__{v}"] + df["qof_pence"]).astype("int64")
    if paid is not None:
        for c in (
            "paid_global_sum_pence",
            "paid_mpig_pence",
            "paid_qof_pence",
            "paid_registered_patients",
            "paid_weighted_patients",
        ):
            df[c] = paid[c]
        df["difference_from_paid_pence"] = (
            df[f"capitation_pence__{GLOBAL_SUM}"] - df["paid_global_sum_pence"]
        ).astype("int64")
    df = df.rename_axis("practice_code").reset_index()

    levels = {level: aggregate(df, level) for level in LEVELS}
    reconciliation = _reconciliation(df, levels, variants, envelopes)
    env_rows = pd.DataFrame(
        [
            {
                "parameter": "envelope",
                "key": "registered_patients",
                "value": str(int(registered.sum())),
                "unit": "patients",
                "source": "capitation_age_sex extract",
                "status": "COMPUTED",
            },
            {
                "parameter": "envelope",
                "key": "gross_pence",
                "value": str(gross),
                "unit": "pence per year",
                "source": "registered x price per weighted patient",
                "status": "COMPUTED",
            },
            {
                "parameter": "envelope",
                "key": "out_of_hours_deduction_pence",
                "value": str(ooh_pence),
                "unit": "pence per year",
                "source": "gross x out-of-hours deduction, rounded half up",
                "status": "COMPUTED",
            },
            *(
                {
                    "parameter": "envelope",
                    "key": v,
                    "value": str(e),
                    "unit": "pence per year",
                    "source": "net envelope of the variant",
                    "status": "COMPUTED",
                }
                for v, e in envelopes.items()
            ),
        ]
    )
    notes.append(
        "amounts are annual values at the quarter's registered list; a quarter's payment is one quarter"
    )
    equity = _equity(df, variants, paid is not None) if quint.notna().any() else None
    tables: dict[str, pd.DataFrame] = {}
    if paid is not None:
        tables["paid_reconciliation"] = paid_reconciliation(df, contracts)
        implied = implied_price_report(
            contracts, price_per_weighted_patient=price, out_of_hours_deduction=params.out_of_hours_deduction
        )
        tables["implied_price"] = implied.summary_frame()
        tables["implied_price_outliers"] = implied.outliers.reset_index(drop=True)
        if dep_practice is not None:
            tables["payments_equity"] = payments_equity(contracts, dep_practice)
    changes = detect_practice_changes(extracts)
    tables["practice_changes"] = changes
    notes += summarise_changes(changes)
    result = AllocationResult(
        period=period.slug,
        parameter_set=params.name,
        parameter_set_title=params.title,
        variants=variants,
        selected_variant=selected_variant,
        practices=df,
        levels=levels,
        parameters=pd.concat([param_frame, env_rows], ignore_index=True),
        components=components,
        envelopes_pence=envelopes,
        reconciliation=reconciliation,
        notes=notes,
        equity=equity,
        lsoa_coverage=coverage,
        tables=tables,
    )
    return result
