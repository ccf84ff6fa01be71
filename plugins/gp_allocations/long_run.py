"""Several years of NHS Payments to General Practice: the implied price per weighted patient of each year
beside its parameter file's price, and payments per weighted patient by IMD quintile over the years.

How several years are loaded: the contracts source may be a folder holding one payments file per
financial year (the whole ``payments/`` folder of the publication). The newest year is the run's
contracts extract, judged, validated, loaded and reconciled as before; every older year is read,
standardised and validated with the same contracts suite (its era's own rules, era_rules.py) at the
standardise stage, and kept beside the run as Parquet (``standardised/payments_history``). A year that
fails validation stops the run like any other bad input. The compute stage adds the tables below to the
national workbook. No Airflow here: the CLI and tests call the same functions.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pandas as pd

from .engine import implied_price_report, load_parameter_set, payments_equity
from .engine.parameters import ParameterError
from .standardise import period_from_name

#: where the older payments years are kept beside the run's standardised extracts
HISTORY_DIR = "payments_history"
#: the implied price and the parameter file's price (less out-of-hours) disagree above this share
DISAGREE_ABOVE = 0.01


def split_payments_years(names: list[str]) -> tuple[list[int], dict[str, list[int]]]:
    """Indexes of the newest financial year's files (the run's contracts) and of each older year's.

    Every name must carry its financial year (``nhspaymentsgp-22-23``); when one does not, or there is
    only one year, every file is the run's contracts (as before: no history)."""
    years = [period_from_name(Path(n).name) for n in names]
    if len(names) < 2 or any(y is None for y in years) or len(set(years)) < 2:
        return list(range(len(names))), {}
    newest = max(y for y in years if y)
    older: dict[str, list[int]] = {}
    for i, y in enumerate(years):
        if y != newest and y is not None:
            older.setdefault(y, []).append(i)
    return [i for i, y in enumerate(years) if y == newest], dict(sorted(older.items()))


def _slug(year: str) -> str:
    return year.replace("/", "-")


def write_history(frames: Mapping[str, pd.DataFrame], folder: Path) -> None:
    """Keep each older year's canonical contracts frame as ``<folder>/<2014-15>.parquet``."""
    folder.mkdir(parents=True, exist_ok=True)
    for year, frame in frames.items():
        frame.to_parquet(folder / f"{_slug(year)}.parquet", index=False)


def keep_older_years(paths: list[Path], names: list[str], folder: Path) -> list[int]:
    """Standardise and validate each older payments year among ``paths`` (contracts suite, the year's
    era rules) and keep it in ``folder``; return the indexes of the run's own (newest) files.

    A year with an error-severity failure stops the run (ValidationFailed naming file, row, column and
    rule); its results and quarantine stay in ``folder/validation/<year>`` for the user."""
    from .standardise import standardise
    from .validation import validate

    run, older = split_payments_years(names)
    shutil.rmtree(folder, ignore_errors=True)
    frames: dict[str, pd.DataFrame] = {}
    for year, idx in older.items():
        std = standardise("contracts", [paths[i] for i in idx], display_names=[names[i] for i in idx])
        report = validate(
            {"contracts": std.frame}, out_dir=folder / "validation" / _slug(year), build_data_docs=False
        )
        report.raise_for_errors()
        frames[year] = std.frame
    write_history(frames, folder)
    return run


def read_history(folder: Path) -> dict[str, pd.DataFrame]:
    """Financial year -> contracts frame of every older year kept beside the run (none: {})."""
    if not folder.is_dir():
        return {}
    return {p.stem.replace("-", "/"): pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def _price(parameter_set: str, year: str) -> tuple[Decimal | None, Decimal | None, str]:
    try:
        p = load_parameter_set(parameter_set, year)
    except ParameterError as exc:
        return None, None, f"no parameter file: {exc}"
    rows = p.to_frame().set_index("parameter")
    keys = ("price_per_weighted_patient", "out_of_hours_deduction")
    status = ", ".join(dict.fromkeys(str(rows.loc[k, "status"]) for k in keys))
    return p.price_per_weighted_patient, p.out_of_hours_deduction, status


def implied_price_by_year(years: Mapping[str, pd.DataFrame], parameter_set: str) -> pd.DataFrame:
    """One row per loaded payments year: the GMS implied price (total Global Sum / total weighted patients
    of GMS practices with both positive, and its median) beside the year's parameter price less the
    out-of-hours deduction, their relative difference and whether it is above 1%."""
    rows = []
    for year in sorted(years):
        price, ooh, status = _price(parameter_set, year)
        s = implied_price_report(
            years[year], price_per_weighted_patient=price, out_of_hours_deduction=ooh
        ).summary
        national = s.get("implied_price_national_gbp")
        expected = s.get("expected_price_after_ooh_gbp")
        diff = float(national) / float(expected) - 1 if national is not None and expected else None
        rows.append(
            {
                "financial_year": year,
                "gms_practices": int(s["GMS_practices"]) - int(s["GMS_excluded_no_global_sum_or_weighted"]),
                "implied_price_national_gbp": national,
                "implied_price_median_gbp": s.get("implied_price_median_gbp"),
                "price_per_weighted_patient_gbp": float(price) if price is not None else None,
                "out_of_hours_deduction": float(ooh) if ooh is not None else None,
                "expected_price_after_ooh_gbp": expected,
                "implied_vs_expected_relative": round(diff, 6) if diff is not None else None,
                "disagrees_over_1pct": (
                    "no parameter price" if diff is None else ("yes" if abs(diff) > DISAGREE_ABOVE else "no")
                ),
                "parameter_status": status,
                "weighted_minus_registered_relative": s["weighted_minus_registered_relative"],
            }
        )
    return pd.DataFrame(rows)


def _fy_start(year: str) -> int:
    return int(year[:4])


def payments_equity_by_year(
    years: Mapping[str, pd.DataFrame], deprivation_practice: pd.DataFrame
) -> pd.DataFrame:
    """Payments and Global Sum per weighted patient by IMD quintile, one row per year and practice group
    (all practices; GMS practices alone), quintile 1 the most deprived fifth of registered patients.

    Each year takes, per practice, the latest IMD edition published by the year's end (edition year not
    after the year the financial year starts: IMD 2010 for 2014/15, IMD 2015 for 2015/16-2018/19, IMD
    2019 from 2019/20): a year is not ranked by an edition published after it."""
    rows = []
    for year in sorted(years):
        scores = deprivation_practice[pd.to_numeric(deprivation_practice["imd_year"]) <= _fy_start(year)]
        c = years[year]
        gms = c[c["contract_type"].astype(str).str.strip().str.upper() == "GMS"]
        for group, frame in (("all practices", c), ("GMS practices", gms)):
            eq = payments_equity(frame, scores).set_index("deprivation_quintile")
            quintiles = [q for q in eq.index if q != "gap_q1_minus_q5"]
            row: dict[str, object] = {
                "financial_year": year,
                "practices": group,
                "practices_ranked": int(eq.loc[quintiles, "practices"].sum()),
                "imd_edition": int(pd.to_numeric(scores["imd_year"]).max()),
            }
            for measure in ("payments_gbp_per_weighted", "global_sum_gbp_per_weighted"):
                values = eq[measure].astype(float).to_dict()
                for q in ("1", "2", "3", "4", "5", "gap_q1_minus_q5"):
                    key = "gap" if q.startswith("gap") else f"q{q}"
                    row[f"{measure}_{key}"] = values.get(q)
            rows.append(row)
    return pd.DataFrame(rows)


def long_run_tables(
    years: Mapping[str, pd.DataFrame],
    *,
    parameter_set: str,
    deprivation_practice: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables the national workbook shows: the implied price of every loaded year, and (with
    practice deprivation scores and at least two years) the long-run payments by IMD quintile."""
    tables = {"implied_price_by_year": implied_price_by_year(years, parameter_set)}
    if deprivation_practice is not None and len(years) > 1:
        tables["payments_equity_by_year"] = payments_equity_by_year(years, deprivation_practice)
    return tables
