"""Wide views of the ledger's aggregates, for the workbooks and the manifest.

Views pick rows of ``Totals`` (computed once, in ``aggregates``) and lay them out: one column per
variant, changes against the global sum, rates per patient. They reshape and divide; they never add
money up (every sum they show was made by ``aggregates.aggregate``). Column names are stable:
``weighted_list__<v>``, ``capitation_pence__<v>`` (payable), ``difference_pence__<v>``,
``change__<v>`` (a ratio), ``qof_pence``, ``total_pence__<v>``, and the quarter's payment schedule
``quarter_pence__<v>``, ``month_<n>_pence__<v>`` (n = 1, 2, 3: the quarter's months).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .aggregates import MONTHS, NO_QUINTILE, PAYABLE, QUARANTINE_KEPT, QUARTER, TOTAL, Totals
from .ledger import Allocation
from .periods import Period
from .variants import CAPITATION, DEFAULT_VARIANT, LINES, OUT_OF_HOURS, QOF, label

QUINTILES = ("1", "2", "3", "4", "5")


def _pivot(frame: pd.DataFrame, values: str, prefix: str, variants: list[str]) -> pd.DataFrame:
    """One column per variant (rows are unique per code and variant: no aggregation happens here)."""
    wide = frame.set_index(["code", "variant"])[values].unstack("variant").reindex(columns=variants)
    wide.columns = [f"{prefix}__{v}" for v in variants]
    return wide


def money_table(totals: Totals, variants: list[str]) -> pd.DataFrame:
    """Per organisation (index: code): weighted lists, payable capitation, changes, QOF and totals."""
    m = totals.money
    out = _pivot(totals.weights, "weighted_list", "weighted_list", variants)
    cap = _pivot(m[m["line"] == PAYABLE], "pence", "capitation_pence", variants).astype("int64")
    out = out.join(cap, how="outer")
    base = out[f"capitation_pence__{DEFAULT_VARIANT}"]
    for v in variants:
        if v != DEFAULT_VARIANT:
            out[f"difference_pence__{v}"] = (out[f"capitation_pence__{v}"] - base).astype("int64")
            out[f"change__{v}"] = (out[f"difference_pence__{v}"].astype(float) / base.astype(float)).where(
                base != 0
            )
    qof = m[(m["line"] == QOF) & (m["variant"] == DEFAULT_VARIANT)].set_index("code")["pence"]
    out["qof_pence"] = qof.reindex(out.index).fillna(0).astype("int64")
    out = out.join(_pivot(m[m["line"] == TOTAL], "pence", "total_pence", variants).astype("int64"))
    for line, prefix in (
        (QUARTER, "quarter_pence"),
        *((ml, f"month_{i}_pence") for i, ml in enumerate(MONTHS, 1)),
    ):
        if (m["line"] == line).any():
            out = out.join(_pivot(m[m["line"] == line], "pence", prefix, variants).astype("int64"))
    return out


def summary_table(
    allocation: Allocation, grouping: str, within: str | None = None, facts: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per organisation of ``grouping`` (inside ``within``): code, name, the ``facts`` columns
    asked for, practices, registered_patients, then ``money_table``'s columns; sorted by code."""
    if within is None:  # every workbook asks for the England-wide tables: work them out once, hand out copies
        name = f"summary_table:{grouping}:{','.join(facts)}"
        return allocation.derived(name, lambda: _summary_table(allocation, grouping, None, facts)).copy()
    return _summary_table(allocation, grouping, within, facts)


def _summary_table(
    allocation: Allocation, grouping: str, within: str | None, facts: tuple[str, ...]
) -> pd.DataFrame:
    t = allocation.totals.of(grouping, within)
    keep = ["code", "name", *(f for f in facts if f in t.facts.columns), "practices", "registered_patients"]
    head = t.facts.set_index("code", drop=False)[keep]
    return head.join(money_table(t, allocation.variants)).sort_index(kind="stable").reset_index(drop=True)


def practice_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame:
    """One row per practice (of one sub-ICB location, or all): the facts, then ``money_table``'s columns
    and, with a contracts extract, the global sum capitation minus the Global Sum paid."""
    p = allocation.practices
    if sub_icb_code is not None:
        p = p[p["sub_icb_code"] == sub_icb_code]
        if p.empty:
            raise ValueError(f"sub-ICB {sub_icb_code!r} has no practices in this result")
    t = allocation.totals.of("practice", sub_icb_code)
    out = p.set_index("practice_code", drop=False).join(money_table(t, allocation.variants))
    if "paid_global_sum_pence" in out.columns:
        out["difference_from_paid_pence"] = (
            out[f"capitation_pence__{DEFAULT_VARIANT}"] - out["paid_global_sum_pence"]
        ).astype("int64")
    return out.sort_index(kind="stable").reset_index(drop=True)


def quintile_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame:
    """Money per patient by deprivation quintile (1 = most deprived fifth of registered patients), all five
    quintiles even when empty, plus 'unknown' for practices without a score. Rates are in pounds; per
    weighted patient means per global sum weighted patient (the common measure of need)."""
    grouping = "quintile" if sub_icb_code is None else "sub_icb_quintile"
    t = allocation.totals.of(grouping, sub_icb_code)
    facts = t.facts.set_index("code")
    codes = [*QUINTILES, *([NO_QUINTILE] if NO_QUINTILE in facts.index else [])]
    money = money_table(t, allocation.variants)
    out = pd.DataFrame(index=pd.Index(codes, name="code"))
    out["practices"] = facts["practices"].reindex(codes).fillna(0).astype("int64")
    out["registered_patients"] = facts["registered_patients"].reindex(codes).fillna(0).astype("int64")
    scored = facts["_imd_scored_patients"].reindex(codes)
    out["imd_score"] = facts["_imd_patients"].reindex(codes) / scored.where(scored > 0)
    base_wl = money[f"weighted_list__{DEFAULT_VARIANT}"].reindex(codes)
    out[f"weighted_list__{DEFAULT_VARIANT}"] = base_wl
    reg = out["registered_patients"].astype(float).where(out["registered_patients"] > 0)
    wgt = base_wl.where(base_wl > 0)
    for v in allocation.variants:
        pence = money[f"capitation_pence__{v}"].reindex(codes)
        out[f"capitation_pence__{v}"] = pence
        out[f"gbp_per_registered__{v}"] = pence.astype(float) / reg / 100
        out[f"gbp_per_weighted__{v}"] = pence.astype(float) / wgt / 100
    if "paid_global_sum_pence" in facts.columns:
        paid = facts["paid_global_sum_pence"].reindex(codes)
        out["paid_global_sum_pence"] = paid
        preg, pwgt = (
            facts["paid_registered_patients"].reindex(codes),
            facts["paid_weighted_patients"].reindex(codes),
        )
        out["paid_gbp_per_registered"] = paid.astype(float) / preg.where(preg > 0) / 100
        out["paid_gbp_per_weighted"] = paid.astype(float) / pwgt.where(pwgt > 0) / 100
    return out.rename_axis("deprivation_quintile").reset_index()


_PAID = (
    "paid_registered_patients",
    "paid_weighted_patients",
    "paid_global_sum_pence",
    "paid_mpig_pence",
    "paid_qof_pence",
)


def paid_reconciliation(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame | None:
    """What was paid (contracts extract) beside the run's recomputation: one row per sub-ICB location
    (or the one asked for), then England and the paid practices the run has no list for. Differences are
    recomputed minus paid. None without a contracts extract."""
    if "paid_not_in_run" not in allocation.tables:
        return None
    # Every sub-ICB workbook asks for its row: the table is worked out once per publication.
    out = allocation.derived("paid_reconciliation", lambda: _paid_reconciliation(allocation))
    if sub_icb_code is not None:
        out = out[(out["level"] == "sub_icb") & (out["code"] == sub_icb_code)]
    return out.reset_index(drop=True)


def _paid_reconciliation(allocation: Allocation) -> pd.DataFrame:
    parts = []
    for level, grouping in (("sub_icb", "sub_icb"), ("england", "england")):
        t = allocation.totals.of(grouping)
        money = money_table(t, allocation.variants)
        f = t.facts.set_index("code")
        frame = pd.DataFrame(
            {
                "level": level,
                "code": f.index,
                "name": f["name"],
                "practices": f["practices"],
                "practices_paid": f["_practices_paid"],
                **{c: f[c] for c in _PAID},
                "run_registered_patients": f["registered_patients"],
                "run_weighted_patients": money[f"weighted_list__{DEFAULT_VARIANT}"].reindex(f.index),
                "recomputed_capitation_pence": money[f"capitation_pence__{DEFAULT_VARIANT}"].reindex(f.index),
                "recomputed_qof_pence": money["qof_pence"].reindex(f.index),
            }
        )
        parts.append(frame.reset_index(drop=True))
    extra = allocation.tables["paid_not_in_run"].iloc[0]
    not_in_run = {
        "level": "not_in_run",
        "code": "",
        "name": "Paid practices without a registered list in this run",
        **{k: extra[k] for k in ("practices", "practices_paid", *_PAID)},
        "run_registered_patients": 0,
        "run_weighted_patients": 0.0,
        "recomputed_capitation_pence": 0,
        "recomputed_qof_pence": 0,
    }
    out = pd.concat([*parts, pd.DataFrame([not_in_run])], ignore_index=True)
    for c in (
        "practices",
        "practices_paid",
        "paid_global_sum_pence",
        "paid_mpig_pence",
        "paid_qof_pence",
        "run_registered_patients",
        "recomputed_capitation_pence",
        "recomputed_qof_pence",
    ):
        out[c] = out[c].astype("int64")
    out["difference_capitation_vs_global_sum_pence"] = (
        out["recomputed_capitation_pence"] - out["paid_global_sum_pence"]
    )
    out["difference_capitation_vs_global_sum_and_mpig_pence"] = (
        out["recomputed_capitation_pence"] - out["paid_global_sum_pence"] - out["paid_mpig_pence"]
    )
    out["difference_qof_pence"] = out["recomputed_qof_pence"] - out["paid_qof_pence"]
    return out


@dataclass(frozen=True)
class Quarantine:
    """Input rows flagged by warning rules, for one book's scope (a sub-ICB location, or England). Every
    flagged row is kept in the calculation as read: a warning never removes or corrects a row."""

    scope: str  # "this sub-ICB location" or "England"
    rows: int  # flagged rows of the scope's practices
    practices: int  # the scope's practices with a flagged row
    registered_patients: int  # their registered patients
    total_pence: int  # their total allocation, selected variant
    variant: str
    run_rows: int  # flagged rows in the whole run
    untied_rows: int  # flagged rows not tied to a practice of the run (LSOA or indicator tables ...)


def quarantine(allocation: Allocation, run_rows: int, sub_icb_code: str | None = None) -> Quarantine:
    """The quarantine of one book from the aggregates (facts ``quarantined_rows``, groupings
    ``quarantine`` / ``sub_icb_quarantine``): a sub-ICB workbook reports its own practices' rows."""
    # asked for by the cover, the notes and the data-quality sheet of each book
    name = f"quarantine:{sub_icb_code}:{run_rows}"
    return allocation.derived(name, lambda: _quarantine(allocation, run_rows, sub_icb_code))


def _quarantine(allocation: Allocation, run_rows: int, sub_icb_code: str | None) -> Quarantine:
    grouping = "quarantine" if sub_icb_code is None else "sub_icb_quarantine"
    t = allocation.totals.of(grouping, sub_icb_code)
    kept = t.facts[t.facts["code"] == QUARANTINE_KEPT]
    v = allocation.selected_variant
    england = allocation.totals.of("england").facts
    tied = int(england["quarantined_rows"].sum()) if "quarantined_rows" in england.columns else 0
    money = t.money
    total = money[(money["code"] == QUARANTINE_KEPT) & (money["variant"] == v) & (money["line"] == TOTAL)]
    return Quarantine(
        scope="England" if sub_icb_code is None else "this sub-ICB location",
        rows=int(kept["quarantined_rows"].iloc[0]) if len(kept) else 0,
        practices=int(kept["practices"].iloc[0]) if len(kept) else 0,
        registered_patients=int(kept["registered_patients"].iloc[0]) if len(kept) else 0,
        total_pence=int(total["pence"].iloc[0]) if len(total) else 0,
        variant=v,
        run_rows=int(run_rows),
        untied_rows=max(int(run_rows) - tied, 0),
    )


def sub_icb_totals(allocation: Allocation) -> dict[str, dict[str, Any]]:
    """Per sub-ICB location: name, practices, registered list, QOF and per variant the payable capitation
    and total, in pennies (the manifest's ``totals``)."""
    table = summary_table(allocation, "sub_icb")
    out: dict[str, dict[str, Any]] = {}
    for row in table.to_dict(orient="records"):
        out[str(row["code"])] = {
            "name": str(row["name"]),
            "practices": int(row["practices"]),
            "registered_patients": int(row["registered_patients"]),
            "qof_pence": int(row["qof_pence"]),
            "variants": {
                v: {
                    "capitation_pence": int(row[f"capitation_pence__{v}"]),
                    "total_pence": int(row[f"total_pence__{v}"]),
                }
                for v in allocation.variants
            },
        }
    return out


# ---------------------------------------------------------------------------------------------------
# Traceable pounds: what the workbook's formulas need so that each practice's row recalculates to the
# ledger's pennies.

#: XlsxWriter stores a number with 16 significant digits; the formulas are mirrored on the stored values
SHEET_DIGITS = 16
PRICE = "price_per_weighted_patient"
OUT_OF_HOURS_RATE = "out_of_hours_deduction"
#: the workbook's defined names of the values the practice formulas use (cells of the Parameters sheet)
PRICE_NAME = "Price_per_weighted_patient"
OUT_OF_HOURS_NAME = "Out_of_hours_deduction"


def factor_name(v: str) -> str:
    return f"Normalisation_factor_{v}"


def rate_name(line: str, v: str) -> str:
    per = "head" if line in LINES and LINES[line].per else "weighted_patient"
    return f"{line.capitalize()}_per_{per}_{v}"


def as_stored(values: Any) -> np.ndarray:
    """Numbers as a workbook holds them (16 significant digits), so mirrored formulas match exactly."""
    return np.array([float(f"{float(v):.{SHEET_DIGITS}G}") for v in np.ravel(values)], dtype=float)


def round_like_a_spreadsheet(pence: np.ndarray) -> np.ndarray:
    """ROUND(x, 0) as Excel and LibreOffice do it: on the value shown to 15 significant digits, halves
    away from zero."""
    shown = np.array([float(f"{float(v):.15g}") for v in pence], dtype=float)
    out: np.ndarray = (np.sign(shown) * np.floor(np.abs(shown) + 0.5)).astype(np.int64)
    return out


@dataclass(frozen=True)
class Trace:
    """How a variant's payable capitation is written as a formula in a practice row.

    ``components``: the indices whose product times ``factor`` is the weighted list (empty when the
    variant shares its envelope another way: the weighted list is then a value); ``extra``: envelope
    lines other than capitation and the out-of-hours deduction, as pounds per weighted patient."""

    variant: str
    components: tuple[str, ...]
    factor: float | None
    extra: tuple[tuple[str, float], ...]
    #: lines paid per head of a practice fact (``Line.per``): (line, pounds per head, fact column)
    per_head: tuple[tuple[str, float, str], ...] = ()


def _rate(allocation: Allocation, parameter: str) -> float:
    p = allocation.parameters
    hit = p[
        (p["parameter"] == parameter)
        & (p["key"].fillna("").astype(str).isin(["", allocation_year(allocation)]))
    ]
    if hit.empty:
        hit = p[p["parameter"] == parameter]
    if hit.empty:
        raise ValueError(f"the parameters have no {parameter!r}")
    return float(Decimal(str(hit["value"].iloc[0])))


def allocation_year(allocation: Allocation) -> str:
    return Period.parse(allocation.period).financial_year


def prices(allocation: Allocation) -> tuple[float, float]:
    """The price per weighted patient (pounds, annual) and the out-of-hours deduction (a share)."""
    return _rate(allocation, PRICE), _rate(allocation, OUT_OF_HOURS_RATE)


def traces(allocation: Allocation) -> dict[str, Trace]:
    """Each variant's formula: components and normalisation factor when its weighted list is their
    product scaled (checked against the engine's weighted lists), and its extra envelope lines."""
    return allocation.derived("traces", lambda: _traces(allocation))


def _traces(allocation: Allocation) -> dict[str, Trace]:
    vt = allocation.variant_table.set_index("variant")
    p = allocation.practices.set_index("practice_code")
    out: dict[str, Trace] = {}
    for v in allocation.variants:
        w = allocation.weights[allocation.weights["variant"] == v].set_index("practice_code")["weighted_list"]
        comps: tuple[str, ...] = ()
        factor: float | None = None
        if "components" in vt.columns and v in vt.index and str(vt.loc[v, "components"] or ""):
            names = tuple(str(vt.loc[v, "components"]).split(","))
            f = float(str(vt.loc[v, "normalisation_factor"]))
            raw = p["registered_patients"].astype(float)
            for c in names:
                raw = raw * p[f"index_{c}"].astype(float)
            candidate = (raw * f).reindex(w.index)
            if np.allclose(candidate.to_numpy(), w.to_numpy(), rtol=1e-9, atol=1e-9):
                comps, factor = names, f
        env = allocation.envelopes[allocation.envelopes["variant"] == v]
        national = float(w.sum())
        lines = [
            (str(line), int(pence), LINES[line].per if line in LINES else None)
            for line, pence in zip(env["line"], env["pence"], strict=True)
            if line not in (CAPITATION, OUT_OF_HOURS)
        ]
        extra = tuple(
            (line, pence / 100 / national) for line, pence, per in lines if not per and national > 0
        )
        per_head = tuple(
            (line, pence / 100 / float(p[per].sum()), per)
            for line, pence, per in lines
            if per and p[per].sum()
        )
        out[v] = Trace(v, comps, factor, extra, per_head)
    return out


def traced_practice_table(allocation: Allocation, sub_icb_code: str | None = None) -> pd.DataFrame:
    """``practice_table`` with, per variant, the weighted list as the workbook's formula computes it
    (``weighted_list__<v>``) and the penny adjustment (``penny_adjustment__<v>``, whole pennies): the
    payable capitation minus ROUND(weighted list x price x (1 - out-of-hours) [+ extra lines] x 100, 0).
    The adjustment is the largest-remainder split's correction, so each row recalculates to its pennies."""
    # a location's workbook and its statements both ask: worked out once, copies handed out
    name = f"traced_practice_table:{sub_icb_code}"
    return allocation.derived(name, lambda: _traced_practice_table(allocation, sub_icb_code)).copy()


def _traced_practice_table(allocation: Allocation, sub_icb_code: str | None) -> pd.DataFrame:
    out = practice_table(allocation, sub_icb_code)
    price, ooh = (float(x) for x in as_stored(prices(allocation)))
    for v, t in traces(allocation).items():
        if t.components and t.factor is not None:
            wl = as_stored(out["registered_patients"])
            for c in t.components:
                wl = wl * as_stored(out[f"index_{c}"])
            wl = wl * as_stored([t.factor])[0]
        else:
            wl = as_stored(out[f"weighted_list__{v}"])
        amount = wl * price * (1 - ooh)
        for _line, rate in t.extra:
            amount = amount + wl * as_stored([rate])[0]
        for _line, rate, per in t.per_head:
            amount = amount + as_stored(out[per]) * as_stored([rate])[0]
        formula_pence = round_like_a_spreadsheet(amount * 100)
        out[f"weighted_list__{v}"] = wl
        out[f"penny_adjustment__{v}"] = out[f"capitation_pence__{v}"].to_numpy(dtype=np.int64) - formula_pence
    return out


def month_names(period: str) -> list[str]:
    """The calendar months of the period's quarter, e.g. ['July 2025', 'August 2025', 'September 2025']."""
    start = Period.parse(period).start_date
    names = []
    for i in range(3):
        month = (start.month - 1 + i) % 12 + 1
        year = start.year + (start.month - 1 + i) // 12
        names.append(f"{_MONTH_NAMES[month - 1]} {year}")
    return names


def months_of_year(period: str) -> list[int]:
    """The quarter's months as months of the financial year (1 = April)."""
    q = Period.parse(period).quarter
    return [3 * (q - 1) + i for i in (1, 2, 3)]


_MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


PARAMETER_LABELS = {
    "age_sex_weights": "Age-sex workload weight",
    "additional_needs": "Additional needs index coefficient",
    "list_turnover_weight": "List turnover weight",
    "care_home_weight": "Care home weight",
    "market_forces": "Market forces factor",
    "market_forces_staff_cost_share": "Market forces: staff cost share",
    "rurality": "Rurality index",
    PRICE: "Price per weighted patient",
    OUT_OF_HOURS_RATE: "Out-of-hours deduction",
    "qof_pounds_per_point": "QOF: pounds per point",
    "qof_national_average_list_size": "QOF: national average list size",
    "deprivation_elasticity": "Deprivation elasticity",
    "imd_quintile_uplifts": "IMD quintile uplift",
    "envelope": "National envelope",
    "normalisation_factor": "Normalisation factor",
}
_KEY_WORDS = {"slli": "SLLI", "smr": "SMR", "imd": "IMD", "qof": "QOF", "mpig": "MPIG", "gbp": "GBP"}


def words(name: object) -> str:
    """A machine name in words: ``smr_under_65`` -> 'SMR under 65', ``MALE.0-4`` -> 'Male 0-4'."""
    text = str(name).replace("_", " ").replace(".", " ").strip()
    parts = [_KEY_WORDS.get(w.lower(), w.lower()) for w in text.split()]
    out = " ".join(parts)
    return out[:1].upper() + out[1:] if out else out


def _unit_kind(unit: str, parameter: str) -> str:
    u = unit.lower()
    if parameter == "envelope" or u.startswith("gbp") or u.startswith("£"):
        return "gbp"
    if u.startswith("share"):
        return "pct"
    return "decimal"


def _rate_row(allocation: Allocation, parameter: str) -> int | None:
    p = allocation.parameters
    keys = p["key"].fillna("").astype(str)
    for want in ("", allocation_year(allocation)):
        hit = p.index[(p["parameter"] == parameter) & (keys == want)]
        if len(hit):
            return int(hit[0])
    hit = p.index[p["parameter"] == parameter]
    return int(hit[0]) if len(hit) else None


def parameter_table(allocation: Allocation) -> pd.DataFrame:
    """Every value the formula used, in words and as a number (``value``; ``kind`` its format): the
    parameter file's values, the envelope in pounds, and per variant the normalisation factor and the
    rate of any recycled line. ``name`` is the workbook's defined name for the values formulas use."""
    p = allocation.parameters
    named = {
        _rate_row(allocation, PRICE): PRICE_NAME,
        _rate_row(allocation, OUT_OF_HOURS_RATE): OUT_OF_HOURS_NAME,
    }
    rows = []
    for i, r in p.iterrows():
        parameter, unit = str(r["parameter"]), str(r["unit"] or "")
        value: float | str | None
        try:
            value = float(Decimal(str(r["value"])))
        except ArithmeticError:  # a scenario's text setting (a label, a variant): shown in words
            value = None if r["value"] is None or pd.isna(r["value"]) else str(r["value"])
        key = "" if r["key"] is None or pd.isna(r["key"]) else str(r["key"])
        if parameter == "envelope":
            value = value / 100 if isinstance(value, float) else value
            unit = "£ per year" if "pence" in unit else unit
            key = "Registered patients" if key == "registered_patients" else key
        kind = (
            "text"
            if isinstance(value, str)
            else "int"
            if parameter == "envelope" and key == "Registered patients"
            else _unit_kind(unit, parameter)
        )
        rows.append(
            {
                "parameter": PARAMETER_LABELS.get(parameter, words(parameter)),
                "key": _envelope_key(key) if parameter == "envelope" else (words(key) if key else ""),
                "value": value,
                "kind": kind,
                "unit": unit,
                "source": str(r["source"] or ""),
                "status": str(r["status"] or ""),
                "name": named.get(int(str(i))),
            }
        )
    rows.extend(_computed_rows(allocation))
    return pd.DataFrame(rows)


def _computed_rows(allocation: Allocation) -> list[dict[str, Any]]:
    """The Parameters rows this run computed: per variant the normalisation factor and the rate of each
    recycled line (per weighted patient or per head)."""

    def computed(parameter: str, v: str, value: float, kind: str, unit: str, name: str) -> dict[str, Any]:
        return {
            "parameter": parameter,
            "key": label(v),
            "value": value,
            "kind": kind,
            "unit": unit,
            "source": "computed by this run",
            "status": "COMPUTED",
            "name": name,
        }

    rows = []
    for v, t in traces(allocation).items():
        if t.factor is not None:
            unit = "national registered list / national unnormalised weighted list"
            rows.append(computed("Normalisation factor", v, t.factor, "factor", unit, factor_name(v)))
        for line, rate in t.extra:
            unit = "£ per weighted patient per year (national total / national weighted list)"
            rows.append(
                computed(f"{words(line)} per weighted patient", v, rate, "rate", unit, rate_name(line, v))
            )
        for line, rate, _fact in t.per_head:
            unit = (
                f"£ per head per year (national total / national number of {LINES[line].per_label.lower()})"
            )
            rows.append(computed(f"{words(line)} per head", v, rate, "rate", unit, rate_name(line, v)))
    return rows


def _envelope_key(key: str) -> str:
    from .variants import LINES, REGISTRY

    if key in REGISTRY:
        return f"Net: {REGISTRY.get(key).label}"
    names = {
        "gross_pence": "Gross (registered patients x price)",
        "out_of_hours_deduction_pence": "Out-of-hours deduction",
    }
    return names.get(key, LINES[key].label if key in LINES else words(key))
