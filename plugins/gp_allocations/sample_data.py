"""Deterministic, England-shaped sample extracts in the published NHS file layouts.

Nothing here is real data: codes, names and numbers are drawn from seeded random generators so that
the same seed, size and period always give byte-identical files. Only the *layouts* (file names,
column headers, code formats, value conventions) copy the published files, so that the readers, the
validation suites and the engine can be exercised end to end without downloading anything.

Each component draws from its own random stream (``_rng(seed, stream)``) so that, for example, the
organisation hierarchy does not change when the QOF generator draws one more number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gp_allocations.extracts import AGE_BANDS_5
from gp_allocations.periods import Period

# England at full size (the default): ~6,500 practices, ~1,250 PCNs, 106 sub-ICBs, 42 ICBs, 7 regions.
ENGLAND_PRACTICES = 6500
ENGLAND_LSOAS = 33755
PRACTICES_PER_PCN = 5.2

# (ODS code, ONS code, name, ICBs, sub-ICB locations, share of practices) per commissioning region.
# ICB and sub-ICB counts add up to England's 42 and 106; shares are approximate.
REGIONS: tuple[tuple[str, str, str, int, int, float], ...] = (
    ("Y56", "E40000003", "London", 5, 5, 0.17),
    ("Y58", "E40000006", "South West", 7, 9, 0.09),
    ("Y59", "E40000005", "South East", 6, 13, 0.14),
    ("Y60", "E40000011", "Midlands", 11, 22, 0.17),
    ("Y61", "E40000007", "East of England", 6, 9, 0.10),
    ("Y62", "E40000010", "North West", 3, 23, 0.15),
    ("Y63", "E40000012", "North East and Yorkshire", 4, 25, 0.18),
)
# Practice code initial letters and postcode areas per region, so codes look like the real ones.
_REGION_LETTERS = {
    "Y56": "EFH",
    "Y58": "JKL",
    "Y59": "GHJK",
    "Y60": "CDM",
    "Y61": "DFG",
    "Y62": "NP",
    "Y63": "ABC",
}
_REGION_POSTCODES = {
    "Y56": ("E", "N", "SE", "SW", "W", "NW", "EC"),
    "Y58": ("BS", "EX", "PL", "TR", "BA", "GL", "TA"),
    "Y59": ("BN", "GU", "RG", "OX", "SO", "PO", "ME", "CT"),
    "Y60": ("B", "CV", "DE", "NG", "LE", "WS", "ST", "WV"),
    "Y61": ("CB", "NR", "IP", "CM", "LU", "MK", "PE"),
    "Y62": ("M", "L", "BL", "WN", "PR", "CH", "OL", "BB"),
    "Y63": ("TS", "NE", "LS", "S", "HU", "YO", "DL", "BD"),
}

# Published prices used to make payments plausible (the prices in include/parameters). Years not listed
# use the nearest listed year.
GLOBAL_SUM_PRICE = {2015: 76.14, 2016: 80.59, 2023: 104.73, 2024: 112.50, 2025: 123.34, 2026: 130.07}
OOH_DEDUCTION = 0.0475
QOF_POINT_VALUE = {2021: 201.16, 2022: 207.56, 2023: 213.43, 2024: 220.62, 2025: 220.62, 2026: 227.95}
QOF_NATIONAL_AVERAGE_LIST = {2021: 9103, 2022: 9374, 2024: 9964, 2025: 9964, 2026: 10349}

# National shape of the registered list by 5-year band (percent) and the female share of each band.
_BAND_SHARE = np.array(
    [5.3, 5.9, 6.1, 5.8, 6.2, 7.0, 7.3, 7.0, 6.6, 6.3, 6.8, 6.7, 5.9, 5.0, 4.8, 3.8, 2.4, 1.4, 0.6, 0.2]
)
_FEMALE_SHARE = np.array(
    [
        0.488,
        0.488,
        0.488,
        0.49,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.5,
        0.51,
        0.52,
        0.53,
        0.55,
        0.58,
        0.62,
        0.68,
        0.76,
    ]
)
_BAND_MID_AGE = np.array([a + 2.5 for a in range(0, 95, 5)] + [97.0])
# Relative workload by band (older and the very young consult more): shapes the weighted list.
_BAND_WORKLOAD = np.array(
    [1.4, 0.8, 0.7, 0.8, 0.8, 0.85, 0.9, 0.9, 0.95, 1.0, 1.05, 1.15, 1.3, 1.5, 1.75, 2.1, 2.5, 2.8, 3.0, 3.0]
)

# QOF indicator set: (code, points, group, domain, list type, kind, lower %, upper %).
# kind R = register indicator (REGISTER + ACHIEVED_POINTS), O = outcome indicator.
_DOMAINS = {"CL": "Clinical", "PH": "Public Health", "QI": "Quality improvement"}
_GROUPS: dict[str, tuple[str, str, float]] = {
    # group: (description, patient list type, base prevalence in that list)
    "AF": ("Atrial fibrillation", "TOTAL", 0.021),
    "AST": ("Asthma", "06OV", 0.065),
    "BP": ("Blood pressure", "45OV", 0.0),
    "CAN": ("Cancer", "TOTAL", 0.034),
    "CHD": ("Secondary prevention of coronary heart disease", "TOTAL", 0.030),
    "CHOL": ("Cholesterol control and lipid management", "TOTAL", 0.0),
    "CKD": ("Chronic kidney disease", "18OV", 0.040),
    "COPD": ("Chronic obstructive pulmonary disease", "TOTAL", 0.019),
    "CS": ("Cervical screening", "TOTAL", 0.0),
    "DEM": ("Dementia", "TOTAL", 0.008),
    "DEP": ("Depression", "18OV", 0.13),
    "DM": ("Diabetes mellitus", "17OV", 0.075),
    "EP": ("Epilepsy", "18OV", 0.008),
    "HF": ("Heart failure", "TOTAL", 0.010),
    "HYP": ("Hypertension", "TOTAL", 0.14),
    "LD": ("Learning disability", "TOTAL", 0.006),
    "MH": ("Mental health", "TOTAL", 0.009),
    "NDH": ("Non-diabetic hyperglycaemia", "18OV", 0.07),
    "OB": ("Obesity", "18OV", 0.09),
    "OST": ("Osteoporosis: secondary prevention of fragility fractures", "50OV", 0.009),
    "PAD": ("Peripheral arterial disease", "TOTAL", 0.006),
    "PC": ("Palliative care", "TOTAL", 0.005),
    "QIECD": ("Early cancer diagnosis", "TOTAL", 0.0),
    "QILD": ("Care of people with learning disabilities", "TOTAL", 0.0),
    "RA": ("Rheumatoid arthritis", "16OV", 0.008),
    "SMOK": ("Smoking", "15OV", 0.0),
    "STIA": ("Stroke and transient ischaemic attack", "TOTAL", 0.019),
    "VI": ("Vaccination and immunisations", "TOTAL", 0.0),
}
_INDICATORS: tuple[tuple[str, int, str, str, str, float, float], ...] = (
    # (code, points, group, domain, kind, lower threshold %, upper threshold %)
    ("AF001", 5, "AF", "CL", "R", 0, 0),
    ("AF006", 12, "AF", "CL", "O", 40, 70),
    ("AF008", 12, "AF", "CL", "O", 70, 95),
    ("AST005", 4, "AST", "CL", "R", 0, 0),
    ("AST007", 20, "AST", "CL", "O", 45, 70),
    ("AST008", 15, "AST", "CL", "O", 45, 80),
    ("AST011", 6, "AST", "CL", "O", 45, 80),
    ("BP002", 15, "BP", "PH", "O", 50, 90),
    ("CAN001", 5, "CAN", "CL", "R", 0, 0),
    ("CAN004", 2, "CAN", "CL", "O", 40, 90),
    ("CAN005", 11, "CAN", "CL", "O", 40, 90),
    ("CHD001", 4, "CHD", "CL", "R", 0, 0),
    ("CHD005", 7, "CHD", "CL", "O", 56, 96),
    ("CHD015", 25, "CHD", "CL", "O", 40, 75),
    ("CHOL003", 12, "CHOL", "CL", "O", 35, 75),
    ("CHOL004", 12, "CHOL", "CL", "O", 35, 75),
    ("CKD005", 6, "CKD", "CL", "R", 0, 0),
    ("COPD015", 5, "COPD", "CL", "R", 0, 0),
    ("COPD010", 9, "COPD", "CL", "O", 50, 90),
    ("COPD014", 2, "COPD", "CL", "O", 50, 90),
    ("COPD016", 10, "COPD", "CL", "O", 57, 97),
    ("CS005", 7, "CS", "PH", "O", 45, 80),
    ("CS006", 11, "CS", "PH", "O", 45, 80),
    ("DEM001", 5, "DEM", "CL", "R", 0, 0),
    ("DEM004", 39, "DEM", "CL", "O", 35, 70),
    ("DEP003", 10, "DEP", "CL", "O", 45, 90),
    ("DM006", 3, "DM", "CL", "O", 57, 97),
    ("DM012", 4, "DM", "CL", "O", 50, 90),
    ("DM014", 11, "DM", "CL", "O", 40, 90),
    ("DM017", 6, "DM", "CL", "R", 0, 0),
    ("DM020", 17, "DM", "CL", "O", 35, 75),
    ("DM021", 10, "DM", "CL", "O", 52, 92),
    ("DM022", 4, "DM", "CL", "O", 50, 90),
    ("DM023", 2, "DM", "CL", "O", 45, 85),
    ("DM034", 4, "DM", "CL", "O", 50, 90),
    ("DM035", 10, "DM", "CL", "O", 38, 90),
    ("EP001", 1, "EP", "CL", "R", 0, 0),
    ("HF001", 4, "HF", "CL", "R", 0, 0),
    ("HF003", 6, "HF", "CL", "O", 60, 92),
    ("HF006", 6, "HF", "CL", "O", 60, 92),
    ("HF007", 7, "HF", "CL", "O", 60, 92),
    ("HYP001", 6, "HYP", "CL", "R", 0, 0),
    ("HYP008", 14, "HYP", "CL", "O", 40, 77),
    ("HYP009", 20, "HYP", "CL", "O", 35, 72),
    ("LD004", 4, "LD", "CL", "R", 0, 0),
    ("MH001", 4, "MH", "CL", "R", 0, 0),
    ("MH002", 6, "MH", "CL", "O", 40, 90),
    ("MH003", 4, "MH", "CL", "O", 50, 90),
    ("MH006", 4, "MH", "CL", "O", 50, 90),
    ("MH021", 6, "MH", "CL", "O", 50, 90),
    ("MH022", 10, "MH", "CL", "O", 50, 90),
    ("NDH002", 8, "NDH", "CL", "O", 50, 80),
    ("OB002", 8, "OB", "PH", "R", 0, 0),
    ("OST004", 3, "OST", "CL", "R", 0, 0),
    ("PAD001", 2, "PAD", "CL", "R", 0, 0),
    ("PC001", 3, "PC", "CL", "R", 0, 0),
    ("QIECD007", 27, "QIECD", "QI", "O", 0, 100),
    ("QIECD008", 10, "QIECD", "QI", "O", 0, 100),
    ("RA001", 1, "RA", "CL", "R", 0, 0),
    ("RA002", 5, "RA", "CL", "O", 40, 90),
    ("SMOK002", 25, "SMOK", "PH", "O", 50, 90),
    ("SMOK004", 12, "SMOK", "PH", "O", 40, 90),
    ("SMOK005", 25, "SMOK", "PH", "O", 56, 96),
    ("STIA001", 2, "STIA", "CL", "R", 0, 0),
    ("STIA007", 4, "STIA", "CL", "O", 57, 97),
    ("STIA010", 3, "STIA", "CL", "O", 40, 77),
    ("STIA014", 10, "STIA", "CL", "O", 40, 77),
    ("VI001", 18, "VI", "PH", "O", 89, 96),
    ("VI002", 18, "VI", "PH", "O", 85, 90),
)

# Exact header of NHS Payments to General Practice 2022/23 onwards (practice level).
PAYMENTS_HEADER: tuple[str, ...] = (
    "NHS England (Region) code",
    "NHS England (Region) Name",
    "Sub ICB Code",
    "Sub ICB NAME",
    "PCN Code",
    "PCN Name",
    "Practice Code",
    "Practice Name",
    "Practice Address",
    "Practice Postcode",
    "Practice Open Date",
    "Practice Close Date",
    "Contract Type",
    "Dispensing Practice",
    "Practice type",
    "Practice Rurality",
    "Atypical characteristics",
    "Average Number of Registered Patients",
    "Average Number of Weighted Patients",
    "Average payments per registered patient",
    "Average payments per weighted patient",
    "Global Sum",
    "MPIG Correction factor",
    "Balance of PMS Expenditure",
    "Total QOF Payments",
    "Childhood Vaccination and Immunisation Scheme",
    "GP Extended Hours Access",
    "Influenza and Pneumococcal Immunisations",
    "Learning Disabilities",
    "Meningitis",
    "Minor Surgery",
    "Out Of Area in Hours Urgent Care",
    "Pertussis",
    "Rotavirus and Shingles Immunisation",
    "Services for Violent Patients",
    "Medical Assessment Reviews",
    "Weight Management Service",
    "Local Incentive Schemes",
    "Premises Payments",
    "Seniority",
    "Doctors Retainer Scheme Payments",
    "Total Locum Allowances",
    "Appraisal - Appraiser Costs in Respect of Locums",
    "Prolonged Study Leave",
    "PCO Admin Other",
    "Information Management and Technology",
    "Non DES Item Pneumococcal Vaccine, Childhood Immunisation Main Programme",
    "General Practice Transformation",
    "PCN Participation",
    "Prescribing Fee Payments",
    "Dispensing Fee Payments",
    "Reimbursement of Drugs",
    "winter Access Fund",
    "Other Payments",
    "Total NHS Payments to General Practice",
    "Deductions for Pensions, Levies and Prescription Charge Income",
    "Total NHS Payments to General Practice Minus Deductions",
    "Total NHS Payments to General Practice including covid vaccination, covid support and long covid "
    "payments",
    "Total NHS Payments including PCN Workforce, Leadership and Support",
    "Total NHS Payments to General Practice including Covid and PCN payments",
    "Total NHS Payments to General Practice including Covid and PCN payments minus deductions",
    "PCN Leadership",
    "PCN Support",
    "PCN Extended Hours Access",
    "PCN Workforce",
    "PCN Investment and impact Fund",
    "PCN Care Home Premium",
    "PCN Enhanced Access",
    "Covid Immunisation",
    "Covid Support and Expansion",
    "Long Covid",
    "Average payments per registered patient including PCN Workforce, Leadership and Support",
    "Average payments per weighted patient including PCN Workforce, Leadership and Support",
    "Average payments per registered patient including covid vaccination, covid support and long covid "
    "payments",
    "Average payments per weighted patient including covid vaccination, covid support and long covid "
    "payments",
)
# Minor payment lines: (column, median £ per registered patient, share of practices paid).
_MINOR_PAYMENTS: tuple[tuple[str, float, float], ...] = (
    ("Childhood Vaccination and Immunisation Scheme", 0.09, 0.9),
    ("GP Extended Hours Access", 0.0, 0.0),
    ("Influenza and Pneumococcal Immunisations", 1.85, 0.98),
    ("Learning Disabilities", 0.48, 0.85),
    ("Meningitis", 0.27, 0.9),
    ("Minor Surgery", 0.33, 0.7),
    ("Out Of Area in Hours Urgent Care", 0.02, 0.05),
    ("Pertussis", 0.03, 0.9),
    ("Rotavirus and Shingles Immunisation", 0.25, 0.95),
    ("Services for Violent Patients", 0.5, 0.02),
    ("Medical Assessment Reviews", 0.1, 0.05),
    ("Weight Management Service", 0.07, 0.6),
    ("Local Incentive Schemes", 6.70, 0.8),
    ("Premises Payments", 10.70, 0.97),
    ("Seniority", 0.5, 0.1),
    ("Doctors Retainer Scheme Payments", 0.3, 0.05),
    ("Total Locum Allowances", 0.4, 0.1),
    ("Appraisal - Appraiser Costs in Respect of Locums", 0.05, 0.05),
    ("Prolonged Study Leave", 0.1, 0.01),
    ("PCO Admin Other", 0.65, 0.9),
    ("Information Management and Technology", 0.2, 0.1),
    ("Non DES Item Pneumococcal Vaccine, Childhood Immunisation Main Programme", 0.27, 0.95),
    ("General Practice Transformation", 0.8, 0.3),
    ("PCN Participation", 1.74, 0.99),
    ("Prescribing Fee Payments", 0.55, 0.9),
    ("winter Access Fund", 0.3, 0.4),
    ("Other Payments", 2.64, 0.95),
    ("Long Covid", 0.1, 0.6),
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYLLABLES_A = (
    "ASH",
    "BRAM",
    "CARL",
    "DEN",
    "EL",
    "FAIR",
    "GRAN",
    "HAR",
    "KING",
    "LAN",
    "MAR",
    "NOR",
    "OAK",
    "PEN",
    "RAV",
    "SAL",
    "THORN",
    "WEST",
    "WIN",
    "BROOK",
    "HOLM",
    "STAN",
    "MID",
    "CRAN",
    "ROTH",
    "BLACK",
    "WHIT",
    "AL",
    "BARN",
    "CHEL",
    "DUN",
    "EAST",
    "HAL",
    "LEA",
    "MOR",
    "RED",
    "SOUTH",
    "TEW",
    "WOOD",
)
_SYLLABLES_B = (
    "FORD",
    "LEY",
    "TON",
    "HAM",
    "BY",
    "FIELD",
    "WELL",
    "BURY",
    "WORTH",
    "MOOR",
    "DALE",
    "STEAD",
    "BRIDGE",
    "HURST",
    "COMBE",
    "WICK",
    "THORPE",
    "MERE",
    "CASTER",
    "HOLME",
    "GATE",
    "MOUTH",
    "SIDE",
)
_PRACTICE_SUFFIXES = (
    "MEDICAL CENTRE",
    "SURGERY",
    "HEALTH CENTRE",
    "MEDICAL PRACTICE",
    "FAMILY PRACTICE",
    "GROUP PRACTICE",
    "PRIMARY CARE CENTRE",
    "HEALTH PARTNERSHIP",
)
_STREETS = (
    "HIGH STREET",
    "STATION ROAD",
    "CHURCH LANE",
    "MILL ROAD",
    "PARK AVENUE",
    "LONDON ROAD",
    "QUEEN STREET",
    "VICTORIA ROAD",
    "GREEN LANE",
    "MARKET PLACE",
)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """One independent generator per component, so components do not shift each other."""
    return np.random.default_rng([seed, stream])


def _apportion_counts(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each >= minimum."""
    n = len(weights)
    spare = total - minimum * n
    if spare < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} out of {total}")
    quota = spare * weights / weights.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: spare - int(base.sum())]] += 1
    return base + minimum


def _split_rows(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each row total of a dense matrix exactly over its columns by largest remainder."""
    quota = totals[:, None] * weights / weights.sum(axis=1, keepdims=True)
    base = np.floor(quota).astype(np.int64)
    rem = totals - base.sum(axis=1)
    order = np.argsort(-(quota - base), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(weights.shape[1])[None, :].repeat(len(totals), 0), axis=1)
    return base + (ranks < rem[:, None])


def _split_groups(totals: np.ndarray, group: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split ``totals[g]`` exactly over the rows of each group (rows sorted by group)."""
    wsum = np.bincount(group, weights=weights, minlength=len(totals))
    quota = totals[group] * weights / wsum[group]
    base = np.floor(quota).astype(np.int64)
    rem = totals - np.bincount(group, weights=base, minlength=len(totals)).astype(np.int64)
    order = np.lexsort((-(quota - base), group))
    starts = np.searchsorted(group[order], np.arange(len(totals)))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts[group[order]]
    return base + (rank < rem[group])


def _place_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct made-up English place names (ASHFORD, WESTLEY, ...), upper case."""
    combos = [a + b for a in _SYLLABLES_A for b in _SYLLABLES_B]
    picks = rng.choice(len(combos), size=n, replace=n > len(combos))
    names = [combos[i] for i in picks]
    if n > len(combos):  # more names than combinations: number the repeats
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                names[i] = f"{name} {['NORTH', 'SOUTH', 'EAST', 'WEST', 'UPPER', 'LOWER'][seen[name] % 6]}"
    return names


def _unique_codes(rng: np.random.Generator, n: int, alphabet_sizes: tuple[int, ...], render) -> list[str]:
    """``n`` distinct codes drawn from a mixed-radix space, rendered by ``render(digits)``."""
    space = int(np.prod(alphabet_sizes))
    picks = np.sort(rng.choice(space, size=n, replace=False))
    codes = []
    for value in picks:
        digits = []
        for size in reversed(alphabet_sizes):
            digits.append(int(value % size))
            value //= size
        codes.append(render(tuple(reversed(digits))))
    return codes


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_POSTCODE_UNIT = "ABDEFGHJLNPQRSTUWXYZ"


def scaled_counts(practices: int) -> dict[str, int]:
    """Numbers of regions, ICBs, sub-ICB locations and PCNs for a run of ``practices`` practices."""
    if practices < 10:
        raise ValueError("practices must be at least 10")
    share = practices / ENGLAND_PRACTICES
    regions = min(7, max(2, round(7 * share**0.5)))
    icbs = max(regions, 2, round(42 * share))
    sub_icbs = max(icbs, 3, round(106 * share))
    return {"regions": regions, "icbs": icbs, "sub_icbs": min(sub_icbs, practices)}


@dataclass(frozen=True)
class Hierarchy:
    """The organisation tree: one row per practice with every level's code, ONS code and name."""

    practices: pd.DataFrame

    @property
    def regions(self) -> list[str]:
        return sorted(self.practices["region_code"].unique())

    @property
    def icbs(self) -> list[str]:
        return sorted(self.practices["icb_code"].unique())

    @property
    def sub_icbs(self) -> list[str]:
        return sorted(self.practices["sub_icb_code"].unique())

    @property
    def pcns(self) -> list[str]:
        return sorted(self.practices["pcn_code"].unique())


def build_hierarchy(practices: int = ENGLAND_PRACTICES, seed: int = 20261122) -> Hierarchy:
    """Practices -> PCN -> sub-ICB location -> ICB -> region, England-shaped and scaled to ``practices``.

    Cheap (no extract is built), so tests can check the England-size organisation counts directly.
    """
    rng = _rng(seed, 1)
    counts = scaled_counts(practices)
    # Which regions, and how many ICBs and sub-ICBs each, following England's proportions.
    chosen = np.sort(rng.choice(len(REGIONS), size=counts["regions"], replace=False))
    regions = [REGIONS[i] for i in chosen]
    icbs_per_region = _apportion_counts(counts["icbs"], np.array([r[3] for r in regions], float), 1)
    sub_weights = np.array([r[4] / r[3] for r in regions], float)
    icb_region = np.repeat(np.arange(len(regions)), icbs_per_region)
    subs_per_icb = _apportion_counts(counts["sub_icbs"], sub_weights[icb_region], 1)
    sub_icb_icb = np.repeat(np.arange(len(icb_region)), subs_per_icb)
    n_icb, n_sub = len(icb_region), len(sub_icb_icb)

    # Practices per sub-ICB: region share spread over its sub-ICBs, with sub-ICB size variation.
    region_share = np.array([r[5] for r in regions])
    sub_region = icb_region[sub_icb_icb]
    sub_weight = (region_share / np.bincount(sub_region))[sub_region] * rng.lognormal(0, 0.45, n_sub)
    per_sub = _apportion_counts(practices, sub_weight, 1)
    practice_sub = np.repeat(np.arange(n_sub), per_sub)

    # PCNs nest inside sub-ICBs, about 5.2 practices each.
    pcns_per_sub = np.maximum(1, np.round(per_sub / PRACTICES_PER_PCN).astype(int))
    practice_pcn = np.empty(practices, dtype=np.int64)
    pcn_sub = np.repeat(np.arange(n_sub), pcns_per_sub)
    first_pcn = np.concatenate([[0], np.cumsum(pcns_per_sub)[:-1]])
    start = 0
    for s in range(n_sub):  # 106 sub-ICBs at most: a loop over organisations, not rows
        sizes = _apportion_counts(int(per_sub[s]), rng.lognormal(0, 0.35, pcns_per_sub[s]), 1)
        practice_pcn[start : start + per_sub[s]] = first_pcn[s] + np.repeat(np.arange(len(sizes)), sizes)
        start += per_sub[s]
    n_pcn = len(pcn_sub)

    # Codes in the published formats, drawn without replacement so they are unique.
    sub_codes = _unique_codes(rng, n_sub, (10, 10, 26), lambda d: f"{d[0]}{d[1]}{_LETTERS[d[2]]}")
    icb_codes = _unique_codes(rng, n_icb, (36, 36), lambda d: f"Q{_ALNUM[d[0]]}{_ALNUM[d[1]]}")
    sub_space = np.arange(1, max(400, 2 * n_sub))
    sub_ons = [f"E38{n:06d}" for n in np.sort(rng.choice(sub_space, n_sub, replace=False))]
    # the code space grows only past England size, so the default sample stays as it was
    icb_space = np.arange(1, max(80, 2 * n_icb))
    icb_ons = [f"E54{n:06d}" for n in np.sort(rng.choice(icb_space, n_icb, replace=False))]
    pcn_codes = [f"U{n:05d}" for n in rng.choice(np.arange(10000, 100000), n_pcn, replace=False)]
    icb_places = _place_names(rng, 2 * n_icb)
    icb_names = [f"{icb_places[2 * i].title()} and {icb_places[2 * i + 1].title()}" for i in range(n_icb)]
    pcn_names = [f"{name} PCN" for name in _place_names(rng, n_pcn)]

    # Practice codes: a region-typical letter (Y for ~2% special/APMS practices) and 5 unique digits.
    p_region = sub_region[practice_sub]
    letters = np.array([rng.choice(list(_REGION_LETTERS[regions[r][0]])) for r in p_region], dtype=object)
    letters[rng.random(practices) < 0.02] = "Y"
    practice_codes = np.empty(practices, dtype=object)
    for letter in sorted(set(letters)):
        idx = np.flatnonzero(letters == letter)
        numbers = rng.choice(np.arange(1000, 100000), size=len(idx), replace=False)
        practice_codes[idx] = [f"{letter}{n:05d}" for n in numbers]
    places = _place_names(rng, practices)
    suffix = rng.choice(len(_PRACTICE_SUFFIXES), practices)
    practice_names = [f"{p} {_PRACTICE_SUFFIXES[s]}" for p, s in zip(places, suffix, strict=True)]

    # Postcodes: each sub-ICB sits in one postcode area of its region.
    sub_area = [rng.choice(_REGION_POSTCODES[regions[r][0]]) for r in sub_region]
    district = rng.integers(1, 30, practices)
    sector = rng.integers(1, 10, practices)
    unit = rng.integers(0, len(_POSTCODE_UNIT), (practices, 2))
    postcodes = [
        f"{sub_area[s]}{d} {k}{_POSTCODE_UNIT[u[0]]}{_POSTCODE_UNIT[u[1]]}"
        for s, d, k, u in zip(practice_sub, district, sector, unit, strict=True)
    ]

    icb_of_practice = sub_icb_icb[practice_sub]
    frame = pd.DataFrame(
        {
            "practice_code": practice_codes.astype(str),
            "practice_name": practice_names,
            "practice_postcode": postcodes,
            "pcn_code": np.array(pcn_codes)[practice_pcn],
            "pcn_name": np.array(pcn_names)[practice_pcn],
            "sub_icb_code": np.array(sub_codes)[practice_sub],
            "sub_icb_ons_code": np.array(sub_ons)[practice_sub],
            "sub_icb_name": [
                f"NHS {icb_names[icb_of_practice[i]]} ICB - {sub_codes[practice_sub[i]]}"
                for i in range(practices)
            ],
            "icb_code": np.array(icb_codes)[icb_of_practice],
            "icb_ons_code": np.array(icb_ons)[icb_of_practice],
            "icb_name": [f"NHS {icb_names[i]} Integrated Care Board" for i in icb_of_practice],
            "region_code": [regions[r][0] for r in p_region],
            "region_ons_code": [regions[r][1] for r in p_region],
            "region_name": [regions[r][2] for r in p_region],
        }
    )
    # Order as published: by sub-ICB then practice code (position in the frame is the geography order).
    return Hierarchy(frame)


# --------------------------------------------------------------------------------------------- writers


def _money_text(values: np.ndarray) -> list[str]:
    """Pounds as the payments file prints them: at most 2 decimals, no trailing zeros (441.1, 0)."""
    out = []
    for v in np.round(values, 2):
        text = f"{v:.2f}".rstrip("0").rstrip(".")
        out.append("0" if text in ("-0", "") else text)
    return out


def _write_csv(path: Path, frame: pd.DataFrame, *, bom: bool = False, crlf: bool = False) -> Path:
    """Write ``frame`` as CSV with fixed formatting (the same frame always gives the same bytes)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    path.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))
    return path


def _extract_date_text(day: dt.date) -> str:
    return f"{day.day:02d}{_MONTHS[day.month - 1]}{day.year}"


def _nearest(table: dict[int, float], year: int) -> float:
    return table[min(table, key=lambda y: (abs(y - year), -y))]


# ------------------------------------------------------------------------------------------- generator


def generate_samples(
    out_dir: Path,
    *,
    period: Period,
    practices: int = ENGLAND_PRACTICES,
    seed: int = 20261122,
    lsoas: int | None = None,
    practice_map: pd.DataFrame | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, list[Path]]:
    """Write every nightly extract for ``period`` into ``out_dir``; return extract name -> files.

    Same seed, size and period give byte-identical files. ``lsoas`` defaults to England's ratio of
    LSOAs to practices (33,755 at full size), at least 300.

    ``practice_map`` (a canonical practice_map frame, e.g. a real published map) fixes the practices and
    their hierarchy instead of generating them; ``practices`` is then ignored and every other extract is
    generated for exactly those practice codes (PCN-less practices are written with an empty PCN).
    ``only`` limits the extracts written (e.g. ``("capitation_age_sex", "capitation_lsoa")`` next to real
    files); the numbers of the extracts written do not depend on it.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if practice_map is not None:
        prac = _given_hierarchy(practice_map)
        practices = len(prac)
    else:
        prac = build_hierarchy(practices, seed).practices
    n_lsoa = lsoas if lsoas is not None else max(300, round(practices * ENGLAND_LSOAS / ENGLAND_PRACTICES))
    n = len(prac)

    # List sizes: lognormal, median ~8.5k, up to 60k+; ~1% small practices of a few hundred.
    rng = _rng(seed, 2)
    list_size = np.clip(rng.lognormal(np.log(8500), 0.55, n), 800, 90000)
    small = rng.random(n) < 0.01
    list_size[small] = rng.uniform(250, 900, small.sum())
    list_size = np.round(list_size).astype(np.int64)

    lsoa = _lsoa_geography(n_lsoa, seed)
    rows = _practice_lsoa_rows(prac, list_size, n_lsoa, seed)
    # Practice deprivation = patient-weighted mean of its LSOAs' latent deprivation.
    p_dep = np.bincount(rows["p"], weights=rows["n"] * lsoa["z"][rows["l"]], minlength=n) / list_size
    p_dep = (p_dep - p_dep.mean()) / (p_dep.std() or 1.0)
    age_sex = _age_sex(list_size, p_dep, seed)  # (n, 2, 20) patients

    extract_date = _extract_date_text(period.start_date)
    fy = f"{period.start_year % 100:02d}{(period.start_year + 1) % 100:02d}"
    files: dict[str, list[Path]] = {}

    def wanted(*names: str) -> bool:
        return only is None or any(n in only for n in names)

    # each writer draws from its own random stream, so skipping one does not change the others' bytes
    if wanted("practice_map"):
        files["practice_map"] = [_write_map(out_dir, prac, extract_date)]
    if wanted("capitation_age_sex"):
        files["capitation_age_sex"] = [_write_age_sex(out_dir, prac, age_sex, extract_date)]
    if wanted("capitation_lsoa"):
        files["capitation_lsoa"] = [_write_lsoa_rows(out_dir, prac, rows, extract_date, seed)]
    if wanted("deprivation_lsoa"):
        files["deprivation_lsoa"] = [_write_iod(out_dir, lsoa, seed)]
    if wanted("additional_needs"):
        files["additional_needs"] = [_write_additional_needs(out_dir, lsoa, seed)]
    if wanted("practice_characteristics"):
        files["practice_characteristics"] = [_write_characteristics(out_dir, prac, age_sex, p_dep, seed)]
    if wanted("qof_achievement", "qof_prevalence", "qof_indicators", "contracts"):
        qof_points, qof_files = _write_qof(out_dir, prac, age_sex, p_dep, fy, seed)
        files.update({k: v for k, v in qof_files.items() if wanted(k)})
        if wanted("contracts"):
            files["contracts"] = [_write_payments(out_dir, prac, age_sex, p_dep, qof_points, period, seed)]
        for k, paths in qof_files.items():
            if not wanted(k):  # written only because contracts need the points: remove
                for path in paths:
                    path.unlink()
    return files


def _given_hierarchy(practice_map: pd.DataFrame) -> pd.DataFrame:
    """A canonical practice_map frame in the generator's hierarchy shape, ordered by sub-ICB then code."""
    cols = [
        "practice_code", "practice_name", "practice_postcode", "pcn_code", "pcn_name",
        "sub_icb_code", "sub_icb_ons_code", "sub_icb_name", "icb_code", "icb_ons_code", "icb_name",
        "region_code", "region_ons_code", "region_name",
    ]  # fmt: skip
    missing = [c for c in cols if c not in practice_map.columns]
    if missing:
        raise ValueError(f"practice_map lacks canonical columns {missing}")
    frame = practice_map.drop_duplicates("practice_code")[cols].copy()
    if len(frame) < 10:
        raise ValueError("practice_map must have at least 10 practices")
    for c in ("practice_postcode", "pcn_code", "pcn_name"):
        frame[c] = frame[c].fillna("").astype(str)
    # position in the frame is the geography order the LSOA placement relies on
    frame = frame.sort_values(["sub_icb_code", "practice_code"], kind="mergesort")
    return frame.reset_index(drop=True).astype({c: str for c in cols})


def _lsoa_geography(n_lsoa: int, seed: int) -> dict[str, np.ndarray]:
    """LSOAs on a line (neighbours are near each other) with a spatially smooth latent deprivation."""
    rng = _rng(seed, 3)
    noise = rng.normal(0, 1, n_lsoa + 200)
    kernel = np.ones(60) / 60
    smooth = np.convolve(noise, kernel, mode="same")[100 : 100 + n_lsoa]
    z = smooth / smooth.std() * 0.8 + rng.normal(0, 0.6, n_lsoa)
    z = (z - z.mean()) / z.std()
    return {"z": z, "code": np.array([f"E01{i:06d}" for i in range(1, n_lsoa + 1)])}


def _practice_lsoa_rows(prac: pd.DataFrame, list_size: np.ndarray, n_lsoa: int, seed: int) -> dict:
    """Each practice's patients spread over nearby LSOAs; practice totals exact (vectorised)."""
    rng = _rng(seed, 4)
    n = len(prac)
    # Practices sit in geography order (by sub-ICB), so a practice's centre follows its position.
    centre = np.floor((np.arange(n) + rng.uniform(0, 1, n)) / n * n_lsoa).astype(np.int64)
    k = np.clip(np.round(list_size / 40 * rng.lognormal(0, 0.25, n)), 24, min(800, n_lsoa // 2))
    k = k.astype(np.int64)
    p = np.repeat(np.arange(n), k)
    j = np.arange(len(p)) - np.repeat(np.cumsum(k) - k, k)
    offset = np.where(j % 2 == 0, j // 2, -(j // 2 + 1))  # 0, -1, 1, -2, 2 ... around the centre
    lsoa = (centre[p] + offset) % n_lsoa
    scale = np.maximum(k / 5, 3)[p]
    weight = np.exp(-np.abs(offset) / scale) * rng.lognormal(0, 0.6, len(p))
    count = _split_groups(list_size, p, weight)
    keep = count > 0
    return {"p": p[keep], "l": lsoa[keep], "n": count[keep]}


def _age_sex(list_size: np.ndarray, p_dep: np.ndarray, seed: int) -> np.ndarray:
    """Patients by practice x sex (MALE, FEMALE) x 5-year band; deprived lists are younger."""
    rng = _rng(seed, 5)
    n = len(list_size)
    tilt = -0.28 * p_dep + rng.normal(0, 0.25, n)  # positive tilt = older list
    age_effect = np.exp(tilt[:, None] * (_BAND_MID_AGE[None, :] - 42) / 40)
    band = _BAND_SHARE[None, :] * age_effect * rng.lognormal(0, 0.08, (n, 20))
    female = np.clip(_FEMALE_SHARE[None, :] + rng.normal(0, 0.01, (n, 1)), 0.3, 0.85)
    weights = np.concatenate([band * (1 - female), band * female], axis=1)
    return _split_rows(list_size, weights).reshape(n, 2, 20)


def _write_map(out_dir: Path, prac: pd.DataFrame, extract_date: str) -> Path:
    frame = pd.DataFrame(
        {
            "PUBLICATION": "GP_PRAC_PAT_LIST",
            "EXTRACT_DATE": extract_date,
            "PRACTICE_CODE": prac["practice_code"],
            "PRACTICE_NAME": prac["practice_name"],
            "PRACTICE_POSTCODE": prac["practice_postcode"],
            "PCN_CODE": prac["pcn_code"],
            "PCN_NAME": prac["pcn_name"],
            "ONS_SUB_ICB_LOCATION_CODE": prac["sub_icb_ons_code"],
            "SUB_ICB_LOCATION_CODE": prac["sub_icb_code"],
            "SUB_ICB_LOCATION_NAME": prac["sub_icb_name"],
            "ONS_ICB_CODE": prac["icb_ons_code"],
            "ICB_CODE": prac["icb_code"],
            "ICB_NAME": prac["icb_name"],
            "ONS_COMM_REGION_CODE": prac["region_ons_code"],
            "COMM_REGION_CODE": prac["region_code"],
            "COMM_REGION_NAME": prac["region_name"],
            "SUPPLIER_NAME": np.where(np.arange(len(prac)) % 3 == 0, "TPP", "EMIS"),
        }
    ).sort_values("PRACTICE_CODE", kind="stable")
    return _write_csv(out_dir / "gp-reg-pat-prac-map.csv", frame)


def _write_age_sex(out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, extract_date: str) -> Path:
    """Long file with COMM_REGION, ICB, SUB_ICB_LOCATION, PCN and GP rows; ALL rows are the sums."""
    full = np.zeros((len(prac), 3, 21), dtype=np.int64)  # sex: MALE, FEMALE, ALL; band 20 = ALL
    full[:, :2, :20] = age_sex
    full[:, 2, :] = full[:, 0, :] + full[:, 1, :]
    full[:, :, 20] = full[:, :, :20].sum(axis=2)
    sexes = np.array(["MALE", "FEMALE", "ALL"])
    bands = np.array([*AGE_BANDS_5, "ALL"])
    blocks = []
    levels = (
        ("COMM_REGION", "region_code", "region_ons_code"),
        ("ICB", "icb_code", "icb_ons_code"),
        ("SUB_ICB_LOCATION", "sub_icb_code", "sub_icb_ons_code"),
        ("PCN", "pcn_code", None),
        ("GP", "practice_code", None),
    )
    for org_type, code_col, ons_col in levels:
        codes, idx = np.unique(prac[code_col].to_numpy(str), return_inverse=True)
        sums = np.zeros((len(codes), 3, 21), dtype=np.int64)
        np.add.at(sums, idx, full)
        ons = (
            prac.groupby(code_col)[ons_col].first().reindex(codes).to_numpy(str)
            if ons_col
            else np.full(len(codes), "")
        )
        post = (
            prac.set_index("practice_code")["practice_postcode"].reindex(codes).to_numpy(str)
            if org_type == "GP"
            else np.full(len(codes), "")
        )
        m = len(codes)
        blocks.append(
            pd.DataFrame(
                {
                    "ORG_TYPE": org_type,
                    "ORG_CODE": np.repeat(codes, 63),
                    "ONS_CODE": np.repeat(ons, 63),
                    "POSTCODE": np.repeat(post, 63),
                    "SEX": np.tile(np.repeat(sexes, 21), m),
                    "AGE_GROUP_5": np.tile(bands, 3 * m),
                    "NUMBER_OF_PATIENTS": sums.reshape(-1),
                }
            )
        )
    frame = pd.concat(blocks, ignore_index=True)
    frame.insert(0, "EXTRACT_DATE", extract_date)
    frame.insert(0, "PUBLICATION", "GP_PRAC_PAT_LIST")
    return _write_csv(out_dir / "gp-reg-pat-prac-quin-age.csv", frame)


def _write_lsoa_rows(out_dir: Path, prac: pd.DataFrame, rows: dict, extract_date: str, seed: int) -> Path:
    """Practice x LSOA of residence; a few border practices have Welsh LSOAs, some an NO2011 row."""
    rng = _rng(seed, 6)
    n = len(prac)
    lsoa_code = np.array([f"E01{i:06d}" for i in range(1, rows["l"].max() + 2)])[rows["l"]].astype(object)
    p = rows["p"]
    # Border practices (~2%): their most distant LSOA rows become distinct Welsh LSOAs.
    border = rng.random(n) < 0.02
    starts = np.searchsorted(p, np.arange(n))
    sizes = np.bincount(p, minlength=n)
    welsh_next = 1
    for i in np.flatnonzero(border):
        m = max(1, sizes[i] // 8)
        sel = np.arange(starts[i] + sizes[i] - m, starts[i] + sizes[i])
        lsoa_code[sel] = [f"W01{welsh_next + t:06d}" for t in range(m)]
        welsh_next = (welsh_next + m) % 1900 + 1
    # ~15% of practices: their last row is patients whose postcode has no LSOA (NO2011).
    unknown = (rng.random(n) < 0.15) & (sizes > 1) & ~border
    lsoa_code[starts[unknown] + sizes[unknown] - 1] = "NO2011"
    frame = pd.DataFrame(
        {
            "PUBLICATION": "GP_PRAC_PAT_LIST",
            "EXTRACT_DATE": extract_date,
            "PRACTICE_CODE": prac["practice_code"].to_numpy(str)[p],
            "PRACTICE_NAME": prac["practice_name"].to_numpy(str)[p],
            "LSOA_CODE": lsoa_code.astype(str),
            "SEX": "ALL",
            "NUMBER_OF_PATIENTS": rows["n"],
        }
    ).sort_values(["PRACTICE_CODE", "LSOA_CODE"], kind="stable")
    return _write_csv(out_dir / "gp-reg-pat-prac-lsoa-all.csv", frame)


_IOD_DOMAINS = (
    # (score column, rank/decile stem, score kind)
    ("Index of Multiple Deprivation (IMD) Score", "Index of Multiple Deprivation (IMD)"),
    ("Income Score (rate)", "Income"),
    ("Employment Score (rate)", "Employment"),
    ("Education, Skills and Training Score", "Education, Skills and Training"),
    ("Health Deprivation and Disability Score", "Health Deprivation and Disability"),
    ("Crime Score", "Crime"),
    ("Barriers to Housing and Services Score", "Barriers to Housing and Services"),
    ("Living Environment Score", "Living Environment"),
    (
        "Income Deprivation Affecting Children Index (IDACI) Score (rate)",
        "Income Deprivation Affecting Children Index (IDACI)",
    ),
    (
        "Income Deprivation Affecting Older People (IDAOPI) Score (rate)",
        "Income Deprivation Affecting Older People (IDAOPI)",
    ),
    ("Children and Young People Sub-domain Score", "Children and Young People Sub-domain"),
    ("Adult Skills Sub-domain Score", "Adult Skills Sub-domain"),
    ("Geographical Barriers Sub-domain Score", "Geographical Barriers Sub-domain"),
    ("Wider Barriers Sub-domain Score", "Wider Barriers Sub-domain"),
    ("Indoors Sub-domain Score", "Indoors Sub-domain"),
    ("Outdoors Sub-domain Score", "Outdoors Sub-domain"),
)
IOD_FILE_NAME = "File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_Population_Denominators_3.csv"


def _rank_desc(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score (most deprived); ties broken by LSOA order."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    return rank


def _write_iod(out_dir: Path, lsoa: dict, seed: int) -> Path:
    """IoD2019 File 7 layout: 16 domain scores with ranks and deciles, then population denominators."""
    rng = _rng(seed, 7)
    z = lsoa["z"]
    n = len(z)

    def noise(sd: float) -> np.ndarray:
        return rng.normal(0, sd, n)

    imd = np.clip(np.exp(2.85 + 0.62 * z + noise(0.08)), 0.5, 92.7)
    income = np.clip(0.012 + 0.0045 * imd + noise(0.015), 0.003, 0.65)
    scores = [
        imd,
        income,
        np.clip(0.01 + 0.0035 * imd + noise(0.012), 0.002, 0.55),
        np.clip(imd * 0.95 + noise(7), 0.02, 99.0),
        np.clip(0.8 * z + noise(0.45), -3.2, 3.6),
        np.clip(0.6 * z + noise(0.55), -3.0, 3.3),
        np.clip(22 + 4 * z + noise(9), 0.5, 75),
        np.clip(20 + 8 * z + noise(10), 0.3, 90),
        np.clip(income * 1.3 + noise(0.03), 0.0, 0.9),
        np.clip(income * 1.2 + noise(0.03), 0.0, 0.9),
        np.clip(0.7 * z + noise(0.5), -3.0, 3.5),
        np.clip(0.15 + 0.06 * z + noise(0.04), 0.0, 0.7),
        noise(1.0),
        np.clip(0.4 * z + noise(0.8), -3.0, 3.5),
        np.clip(0.4 * z + noise(0.8), -3.0, 3.5),
        np.clip(0.3 * z + noise(0.9), -3.0, 3.5),
    ]
    lad_size = 106
    lad = np.arange(n) // lad_size
    n_lad = int(lad.max()) + 1
    lad_names = [name.title() for name in _place_names(rng, n_lad)]
    prefixes = rng.choice(["E06", "E07", "E08", "E09"], n_lad, p=[0.2, 0.55, 0.12, 0.13])
    lad_codes = [f"{pre}{i + 1:06d}" for i, pre in enumerate(prefixes)]
    within = np.arange(n) - lad * lad_size
    lsoa_names = [f"{lad_names[lad[i]]} {within[i] // 5 + 1:03d}{'ABCDE'[within[i] % 5]}" for i in range(n)]
    cols: dict[str, object] = {
        "LSOA code (2011)": lsoa["code"],
        "LSOA name (2011)": lsoa_names,
        "Local Authority District code (2019)": np.array(lad_codes)[lad],
        "Local Authority District name (2019)": np.array(lad_names)[lad],
    }
    for (score_col, stem), values in zip(_IOD_DOMAINS, scores, strict=True):
        values = np.round(values, 3)
        rank = _rank_desc(values)
        cols[score_col] = values
        cols[f"{stem} Rank (where 1 is most deprived)"] = rank
        cols[f"{stem} Decile (where 1 is most deprived 10% of LSOAs)"] = np.ceil(rank * 10 / n).astype(int)
    pop = np.clip(np.round(rng.normal(1650, 280, n)), 1000, 4000).astype(np.int64)
    children = np.round(pop * np.clip(0.19 + 0.03 * z + noise(0.02), 0.05, 0.35)).astype(np.int64)
    older = np.round(pop * np.clip(0.24 - 0.05 * z + noise(0.04), 0.04, 0.5)).astype(np.int64)
    cols["Total population: mid 2015 (excluding prisoners)"] = pop
    cols["Dependent Children aged 0-15: mid 2015 (excluding prisoners)"] = children
    cols["Population aged 16-59: mid 2015 (excluding prisoners)"] = pop - children - older
    cols["Older population aged 60 and over: mid 2015 (excluding prisoners)"] = older
    cols[
        "Working age population 18-59/64: for use with Employment Deprivation Domain (excluding prisoners)"
    ] = np.round((pop - children - older) * 0.97 + older * 0.08).astype(np.int64)
    return _write_csv(out_dir / IOD_FILE_NAME, pd.DataFrame(cols))


def _write_additional_needs(out_dir: Path, lsoa: dict, seed: int) -> Path:
    rng = _rng(seed, 8)
    z = lsoa["z"]
    frame = pd.DataFrame(
        {
            "LSOA_CODE": lsoa["code"],
            "SLLI": np.round(100 * np.exp(0.22 * z + rng.normal(0, 0.08, len(z))), 2),
            "SMR_UNDER_65": np.round(100 * np.exp(0.3 * z + rng.normal(0, 0.15, len(z))), 2),
        }
    )
    return _write_csv(out_dir / "carr-hill-additional-needs.csv", frame)


def _write_characteristics(
    out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, p_dep: np.ndarray, seed: int
) -> Path:
    rng = _rng(seed, 9)
    total = age_sex.sum(axis=(1, 2))
    old_share = age_sex[:, :, 15:].sum(axis=(1, 2)) / total
    new_rate = np.clip(0.08 + 0.01 * p_dep + rng.normal(0, 0.015, len(total)), 0.05, 0.12)
    care_rate = np.where(
        rng.random(len(total)) < 0.3,
        0.0,
        np.clip(old_share * 0.08 * rng.lognormal(0, 0.6, len(total)), 0, 0.03),
    )
    frame = pd.DataFrame(
        {
            "PRACTICE_CODE": prac["practice_code"],
            "NEW_REGISTRATIONS_12M": np.round(total * new_rate).astype(np.int64),
            "CARE_HOME_PATIENTS": np.round(total * care_rate).astype(np.int64),
        }
    ).sort_values("PRACTICE_CODE", kind="stable")
    return _write_csv(out_dir / "carr-hill-practice-inputs.csv", frame)


def _list_for_type(age_sex: np.ndarray, list_type: str) -> np.ndarray:
    """Patients in the age-restricted list (TOTAL, 06OV, 17OV ...), approximated from 5-year bands."""
    both = age_sex.sum(axis=1)  # (n, 20)
    if list_type == "TOTAL":
        return both.sum(axis=1)
    age = int(list_type[:2])
    band, part = divmod(age, 5)
    return both[:, band + 1 :].sum(axis=1) + np.round(both[:, band] * (5 - part) / 5).astype(np.int64)


def qof_indicators() -> pd.DataFrame:
    """The sample QOF indicator set in the 2020/21 MAPPING_INDICATORS column layout."""
    return pd.DataFrame(
        {
            "INDICATOR_CODE": [i[0] for i in _INDICATORS],
            "INDICATOR_POINT_VALUE": [i[1] for i in _INDICATORS],
            "GROUP_CODE": [i[2] for i in _INDICATORS],
            "GROUP_DESCRIPTION": [_GROUPS[i[2]][0] for i in _INDICATORS],
            "DOMAIN_CODE": [i[3] for i in _INDICATORS],
            "DOMAIN_DESCRIPTION": [_DOMAINS[i[3]] for i in _INDICATORS],
            "PATIENT_LIST_TYPE": [_GROUPS[i[2]][1] for i in _INDICATORS],
        }
    )


_MEASURE_ORDER = {"ACHIEVED_POINTS": 0, "DENOMINATOR": 1, "NUMERATOR": 2, "PCAS": 3, "REGISTER": 4}


def _write_qof(
    out_dir: Path, prac: pd.DataFrame, age_sex: np.ndarray, p_dep: np.ndarray, fy: str, seed: int
) -> tuple[np.ndarray, dict[str, list[Path]]]:
    """ACHIEVEMENT_<REGION>, PREVALENCE and MAPPING_INDICATORS files; returns points per practice."""
    rng = _rng(seed, 10)
    n = len(prac)
    old_share = age_sex[:, :, 13:].sum(axis=(1, 2)) / age_sex.sum(axis=(1, 2))
    old_rel = old_share / old_share.mean()

    # Registers per disease group: prevalence rises with age and deprivation.
    register: dict[str, np.ndarray] = {}
    prevalence_rows = []
    for group, (_desc, list_type, base) in _GROUPS.items():
        if base == 0:
            continue
        size = _list_for_type(age_sex, list_type)
        rate = base * old_rel**0.8 * np.exp(0.12 * p_dep) * rng.lognormal(0, 0.15, n)
        register[group] = rng.binomial(size, np.clip(rate, 0, 0.6))
        prevalence_rows.append(
            pd.DataFrame(
                {
                    "PRACTICE_CODE": prac["practice_code"],
                    "GROUP_CODE": group,
                    "REGISTER": register[group],
                    "PATIENT_LIST_TYPE": list_type,
                    "PRACTICE_LIST_SIZE": size,
                }
            )
        )

    codes, values, measures, practice_idx = [], [], [], []
    points_total = np.zeros(n)
    quality = rng.normal(0, 0.06, n) - 0.02 * p_dep  # practice-level achievement tendency
    for code, max_points, group, _domain, kind, lower, upper in _INDICATORS:
        idx = np.arange(n)
        if kind == "R":
            reg = register[group]
            points = np.where(reg > 0, float(max_points), 0.0)
            blocks = (("REGISTER", reg.astype(float)), ("ACHIEVED_POINTS", points))
        else:
            if group in register:
                base = register[group]
            else:  # public health / QI / vaccination: a slice of the relevant list
                share = rng.uniform(0.05, 0.5)
                base = np.round(_list_for_type(age_sex, _GROUPS[group][1]) * share).astype(np.int64)
            eligible = rng.binomial(base, rng.uniform(0.4, 1.0))
            pcas = rng.binomial(eligible, np.clip(rng.normal(0.08, 0.04, n), 0, 0.4))
            denominator = eligible - pcas
            mean_rate = (lower + upper) / 200 if upper > lower else 0.8
            rate = np.clip(mean_rate + 0.12 + quality + rng.normal(0, 0.08, n), 0, 1)
            numerator = rng.binomial(denominator, rate)
            achieved = np.divide(numerator * 100.0, denominator, out=np.zeros(n), where=denominator > 0)
            fraction = np.clip((achieved - lower) / max(upper - lower, 1e-9), 0, 1)
            # Floor at 2 decimals so rounding never lifts points above the indicator's maximum.
            points = np.floor(fraction * max_points * 100) / 100
            blocks = (
                ("NUMERATOR", numerator.astype(float)),
                ("DENOMINATOR", denominator.astype(float)),
                ("PCAS", pcas.astype(float)),
                ("ACHIEVED_POINTS", points),
            )
            if group in register:
                blocks = (("REGISTER", register[group].astype(float)), *blocks)
        points_total += points
        for measure, vals in blocks:
            codes.append(np.full(n, code))
            measures.append(np.full(n, measure))
            values.append(vals)
            practice_idx.append(idx)

    p_all = np.concatenate(practice_idx)
    measure_all = np.concatenate(measures)
    value_all = np.concatenate(values)
    value_text = np.where(
        measure_all == "ACHIEVED_POINTS",
        np.char.mod("%.2f", value_all),
        np.char.mod("%d", value_all.astype(np.int64)),
    )
    achievement = pd.DataFrame(
        {
            "REGION_ODS_CODE": prac["region_code"].to_numpy(str)[p_all],
            "REGION_ONS_CODE": prac["region_ons_code"].to_numpy(str)[p_all],
            "REGION_NAME": prac["region_name"].to_numpy(str)[p_all],
            "PRACTICE_CODE": prac["practice_code"].to_numpy(str)[p_all],
            "INDICATOR_CODE": np.concatenate(codes),
            "MEASURE": measure_all,
            "VALUE": value_text,
            "_order": np.vectorize(_MEASURE_ORDER.get)(measure_all),
        }
    ).sort_values(["REGION_ODS_CODE", "PRACTICE_CODE", "INDICATOR_CODE", "_order"], kind="stable")
    achievement = achievement.drop(columns="_order")
    files: dict[str, list[Path]] = {"qof_achievement": []}
    for region_name, part in achievement.groupby("REGION_NAME", sort=True):
        stem = str(region_name).upper().replace(" ", "_")
        files["qof_achievement"].append(_write_csv(out_dir / f"ACHIEVEMENT_{stem}_{fy}.csv", part))
    prevalence = pd.concat(prevalence_rows, ignore_index=True).sort_values(
        ["PRACTICE_CODE", "GROUP_CODE"], kind="stable"
    )
    files["qof_prevalence"] = [_write_csv(out_dir / f"PREVALENCE_{fy}.csv", prevalence)]
    files["qof_indicators"] = [_write_csv(out_dir / f"MAPPING_INDICATORS_{fy}.csv", qof_indicators())]
    return points_total, files


def _write_payments(
    out_dir: Path,
    prac: pd.DataFrame,
    age_sex: np.ndarray,
    p_dep: np.ndarray,
    qof_points: np.ndarray,
    period: Period,
    seed: int,
) -> Path:
    """NHS Payments to General Practice, practice level, in the published 2022/23+ layout."""
    rng = _rng(seed, 11)
    n = len(prac)
    year = period.start_year
    list_total = age_sex.sum(axis=(1, 2)).astype(float)
    # Quarterly average list: close to, not equal to, the age-sex total, in quarter-patient steps.
    registered = np.round(list_total * (1 + rng.normal(0, 0.008, n)) * 4) / 4
    registered = np.where(registered == list_total, registered + 0.25, registered)
    workload = (age_sex.sum(axis=1) * _BAND_WORKLOAD[None, :]).sum(axis=1) / list_total
    rural = rng.random(n) < 0.16
    need = workload / workload.mean() * np.exp(0.05 * p_dep) * np.where(rural, 1.04, 1.0)
    weighted = np.round(registered * need * rng.lognormal(0, 0.02, n), 2)

    y_code = prac["practice_code"].str.startswith("Y").to_numpy()
    draw = rng.random(n)
    contract = np.where(y_code | (draw < 0.05), "APMS", np.where(draw < 0.30, "PMS", "GMS"))
    dispensing = rng.random(n) < np.where(rural, 0.6, 0.05)
    price = _nearest(GLOBAL_SUM_PRICE, year) * (1 - OOH_DEDUCTION)
    formula = weighted * price * rng.normal(1, 0.005, n)
    global_sum = np.where(
        contract == "GMS",
        formula,
        np.where(contract == "PMS", formula * rng.uniform(0.8, 1.0, n), formula * rng.uniform(0.85, 1.2, n)),
    )
    pms_balance = np.where(contract == "PMS", formula * rng.uniform(0.05, 0.2, n), 0.0)
    mpig = np.where(rng.random(n) < 0.10, rng.uniform(500, 40000, n), 0.0)
    cpi = list_total / _nearest(QOF_NATIONAL_AVERAGE_LIST, year)
    qof = qof_points * _nearest(QOF_POINT_VALUE, year) * cpi * rng.normal(1, 0.03, n)

    money: dict[str, np.ndarray] = {
        "Global Sum": global_sum,
        "MPIG Correction factor": mpig,
        "Balance of PMS Expenditure": pms_balance,
        "Total QOF Payments": qof,
    }
    for column, per_patient, share in _MINOR_PAYMENTS:
        paid = rng.random(n) < share
        money[column] = np.where(paid, registered * per_patient * rng.lognormal(0, 0.5, n), 0.0)
    money["Dispensing Fee Payments"] = np.where(dispensing, registered * rng.uniform(15, 40, n), 0.0)
    money["Reimbursement of Drugs"] = np.where(
        dispensing, registered * rng.uniform(40, 110, n), registered * rng.lognormal(np.log(4), 0.6, n)
    )
    for column in money:
        money[column] = np.round(money[column], 2)
    parts = PAYMENTS_HEADER[PAYMENTS_HEADER.index("Global Sum") : PAYMENTS_HEADER.index("Other Payments") + 1]
    total = np.round(sum(money.get(c, np.zeros(n)) for c in parts if c != "Long Covid"), 2)
    deductions = -np.round(total * rng.uniform(0.04, 0.14, n), 2)
    pcn_cols = PAYMENTS_HEADER[
        PAYMENTS_HEADER.index("PCN Leadership") : PAYMENTS_HEADER.index("PCN Enhanced Access") + 1
    ]
    covid_cols = ("Covid Immunisation", "Covid Support and Expansion", "Long Covid")
    pcn = np.zeros(n)  # PCN payments go to the PCN's nominated practice; none in the sample
    covid = money["Long Covid"]
    frame: dict[str, object] = {
        "NHS England (Region) code": prac["region_code"],
        "NHS England (Region) Name": prac["region_name"].str.upper() + " COMM REGION",
        "Sub ICB Code": prac["sub_icb_code"],
        "Sub ICB NAME": prac["sub_icb_name"].str.upper(),
        "PCN Code": prac["pcn_code"],
        "PCN Name": prac["pcn_name"],
        "Practice Code": prac["practice_code"],
        "Practice Name": prac["practice_name"],
        "Practice Address": [
            f"{k} {_STREETS[s]}  {name.split(' ')[0]}"
            for k, s, name in zip(
                rng.integers(1, 200, n), rng.integers(0, len(_STREETS), n), prac["practice_name"], strict=True
            )
        ],
        "Practice Postcode": prac["practice_postcode"],
        "Practice Open Date": np.where(
            rng.random(n) < 0.7,
            "01/04/1974",
            [
                f"01/{m:02d}/{y}"
                for m, y in zip(rng.integers(1, 13, n), rng.integers(1975, 2020, n), strict=True)
            ],
        ),
        "Practice Close Date": "",
        "Contract Type": contract,
        "Dispensing Practice": np.where(dispensing, "Yes", "No"),
        "Practice type": "GP practice",
        "Practice Rurality": np.where(rural, "Rural", "Urban"),
        "Atypical characteristics": "",
        "Average Number of Registered Patients": _money_text(registered),
        "Average Number of Weighted Patients": _money_text(weighted),
        "Average payments per registered patient": _money_text(total / registered),
        "Average payments per weighted patient": _money_text(total / weighted),
    }
    for column in parts:
        frame[column] = _money_text(money.get(column, np.zeros(n)))
    with_covid = total + covid
    with_pcn = total + pcn
    frame.update(
        {
            "Total NHS Payments to General Practice": _money_text(total),
            "Deductions for Pensions, Levies and Prescription Charge Income": _money_text(deductions),
            "Total NHS Payments to General Practice Minus Deductions": _money_text(total + deductions),
            PAYMENTS_HEADER[57]: _money_text(with_covid),
            PAYMENTS_HEADER[58]: _money_text(with_pcn),
            PAYMENTS_HEADER[59]: _money_text(with_covid + pcn),
            PAYMENTS_HEADER[60]: _money_text(with_covid + pcn + deductions),
        }
    )
    for column in pcn_cols:
        frame[column] = "0"
    for column in covid_cols:
        frame[column] = _money_text(money.get(column, np.zeros(n)))
    frame[PAYMENTS_HEADER[71]] = _money_text(with_pcn / registered)
    frame[PAYMENTS_HEADER[72]] = _money_text(with_pcn / weighted)
    frame[PAYMENTS_HEADER[73]] = _money_text(with_covid / registered)
    frame[PAYMENTS_HEADER[74]] = _money_text(with_covid / weighted)
    table = pd.DataFrame(frame)[list(PAYMENTS_HEADER)]
    table = table.sort_values(["NHS England (Region) code", "Sub ICB Code", "Practice Code"], kind="stable")
    name = f"nhspaymentsgp-{year % 100:02d}-{(year + 1) % 100:02d}-prac-csv.csv"
    return _write_csv(out_dir / name, table, bom=True, crlf=True)
