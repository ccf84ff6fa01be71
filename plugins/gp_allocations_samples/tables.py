"""Reference numbers the sample draws from: England's shape, prices, QOF indicators, name parts."""

from __future__ import annotations

import numpy as np

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
REGION_LETTERS = {
    "Y56": "EFH",
    "Y58": "JKL",
    "Y59": "GHJK",
    "Y60": "CDM",
    "Y61": "DFG",
    "Y62": "NP",
    "Y63": "ABC",
}
REGION_POSTCODES = {
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
BAND_SHARE = np.array(
    [5.3, 5.9, 6.1, 5.8, 6.2, 7.0, 7.3, 7.0, 6.6, 6.3, 6.8, 6.7, 5.9, 5.0, 4.8, 3.8, 2.4, 1.4, 0.6, 0.2]
)
FEMALE_SHARE = np.array(
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
BAND_MID_AGE = np.array([a + 2.5 for a in range(0, 95, 5)] + [97.0])
# Relative workload by band (older and the very young consult more): shapes the weighted list.
BAND_WORKLOAD = np.array(
    [1.4, 0.8, 0.7, 0.8, 0.8, 0.85, 0.9, 0.9, 0.95, 1.0, 1.05, 1.15, 1.3, 1.5, 1.75, 2.1, 2.5, 2.8, 3.0, 3.0]
)

# QOF indicator set: (code, points, group, domain, list type, kind, lower %, upper %).
# kind R = register indicator (REGISTER + ACHIEVED_POINTS), O = outcome indicator.
DOMAINS = {"CL": "Clinical", "PH": "Public Health", "QI": "Quality improvement"}
GROUPS: dict[str, tuple[str, str, float]] = {
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
INDICATORS: tuple[tuple[str, int, str, str, str, float, float], ...] = (
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

# Minor payment lines: (name of the payments header cell, median £ per registered patient, share of
# practices paid), in the header's order (the draws follow it).
MINOR_PAYMENTS: tuple[tuple[str, float, float], ...] = (
    ("childhood_immunisation", 0.09, 0.9),
    ("gp_extended_hours_access", 0.0, 0.0),
    ("flu_pneumococcal", 1.85, 0.98),
    ("learning_disabilities", 0.48, 0.85),
    ("meningitis", 0.27, 0.9),
    ("minor_surgery", 0.33, 0.7),
    ("out_of_area_urgent_care", 0.02, 0.05),
    ("pertussis", 0.03, 0.9),
    ("rotavirus_shingles", 0.25, 0.95),
    ("services_for_violent_patients", 0.5, 0.02),
    ("medical_assessment_reviews", 0.1, 0.05),
    ("weight_management_service", 0.07, 0.6),
    ("local_incentive_schemes", 6.7, 0.8),
    ("premises_payments", 10.7, 0.97),
    ("seniority_pence", 0.5, 0.1),
    ("doctors_retainer_scheme_payments", 0.3, 0.05),
    ("total_locum_allowances", 0.4, 0.1),
    ("locum_appraisal", 0.05, 0.05),
    ("prolonged_study_leave", 0.1, 0.01),
    ("pco_admin_other", 0.65, 0.9),
    ("im_and_t", 0.2, 0.1),
    ("non_des_pneumococcal", 0.27, 0.95),
    ("general_practice_transformation", 0.8, 0.3),
    ("pcn_participation", 1.74, 0.99),
    ("prescribing_fee_payments", 0.55, 0.9),
    ("winter_access_fund", 0.3, 0.4),
    ("other_payments", 2.64, 0.95),
    ("long_covid", 0.1, 0.6),
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SYLLABLES_A = (
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
SYLLABLES_B = (
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
PRACTICE_SUFFIXES = (
    "MEDICAL CENTRE",
    "SURGERY",
    "HEALTH CENTRE",
    "MEDICAL PRACTICE",
    "FAMILY PRACTICE",
    "GROUP PRACTICE",
    "PRIMARY CARE CENTRE",
    "HEALTH PARTNERSHIP",
)
STREETS = (
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


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
POSTCODE_UNIT = "ABDEFGHJLNPQRSTUWXYZ"

#: The 16 IoD2019 domains and sub-domains File 7 gives a score, rank and decile for, in its order
#: (each ``<domain>_score``, ``_rank`` and ``_decile`` is a cell of the iod2019_file7 published header).
IOD_DOMAINS = (
    "imd", "income", "employment", "education", "health_deprivation", "crime", "barriers",
    "living_environment", "idaci", "idaopi", "children_young_people", "adult_skills",
    "geographical_barriers", "wider_barriers", "indoors", "outdoors",
)  # fmt: skip
IOD_FILE_NAME = "File_7_-_All_IoD2019_Scores__Ranks__Deciles_and_Population_Denominators_3.csv"

MEASURE_ORDER = {"ACHIEVED_POINTS": 0, "DENOMINATOR": 1, "NUMERATOR": 2, "PCAS": 3, "REGISTER": 4}
