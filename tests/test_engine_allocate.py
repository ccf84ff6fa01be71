"""Allocation engine: hand-worked examples (arithmetic written out here) and properties on small
generated data: normalisation, envelope conservation, deprivation direction, row-order invariance,
neutral components, aggregation."""

from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import yaml

from gp_allocations.config import parameters_dir
from gp_allocations.engine import BAND_MAP, compute_allocations
from gp_allocations.errors import InputError
from gp_allocations.extracts import AGE_BANDS_5, EXTRACTS
from gp_allocations.ledger import LEVELS
from gp_allocations.periods import Period
from gp_allocations.views import paid_reconciliation, practice_table, quintile_table, summary_table

Q = Period.parse("2025-26-Q2")  # 2025/26: GBP 123.34 per weighted patient, OOH 4.75%, QOF 220.62 / 9,964


def pmap(codes: list[str], sub_icbs: list[str] | None = None) -> pd.DataFrame:
    n = len(codes)
    sub = sub_icbs or ["00L"] * n
    return pd.DataFrame(
        {
            "extract_date": pd.Timestamp("2025-07-01"),
            "practice_code": codes,
            "practice_name": [f"Practice {c}" for c in codes],
            "practice_postcode": "NE1 1AA",
            "pcn_code": [f"U{i // 2:05d}" for i in range(n)],
            "pcn_name": [f"PCN {i // 2}" for i in range(n)],
            "sub_icb_code": sub,
            "sub_icb_ons_code": "E38000130",
            "sub_icb_name": [f"Sub-ICB {s}" for s in sub],
            "icb_code": ["QHM" if s < "50" else "QE1" for s in sub],
            "icb_ons_code": "E54000050",
            "icb_name": ["ICB " + ("QHM" if s < "50" else "QE1") for s in sub],
            "region_code": "Y63",
            "region_ons_code": "E40000012",
            "region_name": "North East and Yorkshire",
        }
    )


def age_rows(spec: dict[str, list[tuple[str, str, int]]]) -> pd.DataFrame:
    rows = [
        {
            "extract_date": pd.Timestamp("2025-07-01"),
            "practice_code": p,
            "sex": s,
            "age_band": b,
            "patients": n,
        }
        for p, cells in spec.items()
        for s, b, n in cells
    ]
    return pd.DataFrame(rows)


def largest_remainder(total: int, weights: list[Fraction]) -> list[int]:
    """Independent largest-remainder split in exact fractions (ties to the earlier position)."""
    s = sum(weights)
    exact = [Fraction(total) * w / s for w in weights]
    floors = [int(x) for x in exact]  # all non-negative here
    short = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:short]:
        floors[i] += 1
    return floors


# ---------------------------------------------------------------------------------------------
# hand-worked example 1: age-sex only (every other component neutral), three practices
# A00001: 100 males 5_9           -> band 5-14, weight 1.00 -> 100.00 weighted
# A00002: 50 females 85_89 + 50 females 95+ -> band 85+, weight 6.72 -> 672.00 weighted
# A00003: 200 males 0_4           -> band 0-4,  weight 3.97 -> 794.00 weighted
# registered 400, raw weighted 1566; normalised weighted list = raw x 400 / 1566
# envelope: 400 x 12334p = 4,933,600p; OOH 4.75% = 234,346.0p; net 4,699,254p
# ---------------------------------------------------------------------------------------------
def example_one() -> dict[str, pd.DataFrame]:
    return {
        "capitation_age_sex": age_rows(
            {
                "A00001": [("MALE", "5_9", 100)],
                "A00002": [("FEMALE", "85_89", 50), ("FEMALE", "95+", 50)],
                "A00003": [("MALE", "0_4", 200)],
            }
        ),
        "practice_map": pmap(["A00001", "A00002", "A00003"]),
    }


def test_hand_worked_age_sex_example():
    r = compute_allocations(example_one(), period=Q)
    p = practice_table(r).set_index("practice_code")
    assert p["registered_patients"].tolist() == [100, 100, 200]  # 85_89 and 95+ both counted
    raw = [Fraction(100), Fraction(672), Fraction(794)]
    expected_wl = [float(w * 400 / 1566) for w in raw]
    assert p["weighted_list__global_sum"].tolist() == pytest.approx(expected_wl, rel=1e-12)
    # age-sex index: practice mean weight / national mean weight (1566 / 400 = 3.915)
    assert p["index_age_sex"].tolist() == pytest.approx([1.00 / 3.915, 6.72 / 3.915, 3.97 / 3.915], rel=1e-12)
    gross = 400 * 12334
    ooh = int((Decimal(gross) * Decimal("0.0475")).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert (gross, ooh) == (4_933_600, 234_346)
    net = gross - ooh
    assert r.envelopes_pence["global_sum"] == net == 4_699_254
    expected = largest_remainder(net, raw)
    assert p["capitation_pence__global_sum"].tolist() == expected
    assert sum(expected) == net
    # exact shares 4,699,254 x (100, 672, 794) / 1566 = 300,080.08 / 2,016,538.11 / 2,382,635.81 pennies:
    # floors add to 4,699,253, the 1 leftover penny goes to the largest remainder (0.81, A00003)
    assert expected == [300_080, 2_016_538, 2_382_636]
    for comp in (
        "additional_needs",
        "list_turnover",
        "care_homes",
        "market_forces",
        "rurality",
        "deprivation",
    ):
        assert (p[f"index_{comp}"] == 1.0).all()
        row = r.components.set_index("component").loc[comp]
        assert row["status"] == "neutral" and row["reason"]
    assert r.variants == ["global_sum", "deprivation_weighted", "over_75s_funding"]  # 75+: age-sex only
    assert r.checks["passed"].all()
    assert p["qof_path"].eq("none").all() and p["qof_pence"].eq(0).all()


def test_price_override_changes_envelope_exactly():
    r = compute_allocations(example_one(), period=Q, price_per_weighted_patient=Decimal("100.005"))
    gross = Decimal(400) * Decimal("100.005") * 100  # 4,000,200.0p
    ooh = (gross * Decimal("0.0475")).quantize(Decimal(1), rounding=ROUND_HALF_UP)  # 190,009.5 -> 190,010
    assert r.envelopes_pence["global_sum"] == int(gross) - int(ooh) == 4_000_200 - 190_010
    row = r.parameters.set_index("parameter").loc["price_per_weighted_patient"]
    assert row["value"] == "100.005" and "run parameter" in row["source"]


def test_band_mapping_covers_every_published_band():
    assert set(BAND_MAP) == set(AGE_BANDS_5)
    assert BAND_MAP["85_89"] == BAND_MAP["90_94"] == BAND_MAP["95+"] == "85+"
    assert BAND_MAP["80_84"] == "75-84" and BAND_MAP["15_19"] == "15-44" and BAND_MAP["40_44"] == "15-44"
    assert BAND_MAP["45_49"] == "45-64" and BAND_MAP["60_64"] == "45-64" and BAND_MAP["10_14"] == "5-14"


def test_total_rows_ignored_and_unknown_band_rejected():
    ex = example_one()
    extra = age_rows({"A00001": [("ALL", "ALL", 100), ("MALE", "ALL", 100)]})
    ex["capitation_age_sex"] = pd.concat([ex["capitation_age_sex"], extra], ignore_index=True)
    r = compute_allocations(ex, period=Q)
    assert r.practices["registered_patients"].tolist() == [100, 100, 200]
    bad = age_rows({"A00001": [("MALE", "85-89", 5)]}).assign(_file="quin.csv", _row=7)
    ex["capitation_age_sex"] = pd.concat([ex["capitation_age_sex"], bad], ignore_index=True)
    with pytest.raises(InputError) as err:
        compute_allocations(ex, period=Q)
    assert err.value.file == "quin.csv" and err.value.row == 7 and err.value.column == "age_band"


def test_practice_missing_from_map_is_an_error():
    ex = example_one()
    ex["practice_map"] = ex["practice_map"].iloc[:2]
    with pytest.raises(InputError, match="A00003"):
        compute_allocations(ex, period=Q)


def test_unknown_variant_rejected():
    with pytest.raises(InputError, match="mpig_recycled"):
        compute_allocations(example_one(), period=Q, selected_variant="mpig_recycled")


# ---------------------------------------------------------------------------------------------
# hand-worked example 2: deprivation, two practices with identical age-sex (100 males 5_9 each)
# A00001 LSOAs: E01000001 (health 1.0, IMD 40) 60 pts, E01000002 (health 2.0, IMD 30) 40 pts,
#               W01000001 (Welsh) 10 pts, NO2011 (unknown) 5 pts, E01999999 (not in file) 3 pts
#   health = (60 x 1 + 40 x 2) / 100 = 1.4 ; IMD = (60 x 40 + 40 x 30) / 100 = 36
# A00002 LSOA: E01000003 (health -1.0, IMD 10) 100 pts -> health -1.0 ; IMD 10
# deprivation index: 1.054^h / national patient-weighted mean (100 and 100 registered)
# ---------------------------------------------------------------------------------------------
def example_two() -> dict[str, pd.DataFrame]:
    lsoa = pd.DataFrame(
        {
            "extract_date": pd.Timestamp("2025-07-01"),
            "practice_code": ["A00001"] * 5 + ["A00002"],
            "lsoa_code": ["E01000001", "E01000002", "W01000001", "NO2011", "E01999999", "E01000003"],
            "patients": [60, 40, 10, 5, 3, 100],
        }
    )
    dep = pd.DataFrame(
        {
            "lsoa_code": ["E01000001", "E01000002", "E01000003"],
            "lsoa_name": ["a", "b", "c"],
            "lad_code": "E06000001",
            "lad_name": "x",
            "imd_score": [40.0, 30.0, 10.0],
            "imd_rank": [1, 2, 3],
            "imd_decile": [1, 1, 9],
            "health_deprivation_score": [1.0, 2.0, -1.0],
            "population": 1500,
        }
    )
    return {
        "capitation_age_sex": age_rows(
            {"A00001": [("MALE", "5_9", 100)], "A00002": [("MALE", "10_14", 100)]}
        ),
        "practice_map": pmap(["A00001", "A00002"]),
        "capitation_lsoa": lsoa,
        "deprivation_lsoa": dep,
    }


def test_hand_worked_deprivation_example():
    r = compute_allocations(example_two(), period=Q)
    p = practice_table(r).set_index("practice_code")
    assert p.loc["A00001", "health_deprivation_score"] == pytest.approx(1.4)
    assert p.loc["A00001", "imd_score"] == pytest.approx(36.0)
    assert p.loc["A00002", "health_deprivation_score"] == pytest.approx(-1.0)
    # the Health Foundation method: the patient-weighted mean over scored LSOAs of 1.054 ^ health score
    # A00001: (60 x 1.054^1 + 40 x 1.054^2) / 100 = (63.24 + 44.43664) / 100 = 1.0767664
    #         (not 1.054 ^ 1.4 = 1.07641: the elasticity raised to the mean score, the old method)
    # A00002: 1.054 ^ -1 = 0.948767
    a, b = (60 * 1.054 + 40 * 1.054**2) / 100, 1.054**-1.0
    assert a == pytest.approx(1.0767664, abs=1e-12) and abs(a - 1.054**1.4) > 3e-4
    assert p["health_multiplier"].tolist() == pytest.approx([a, b], rel=1e-12)
    national = (100 * a + 100 * b) / 200
    assert p["index_deprivation"].tolist() == pytest.approx([a / national, b / national], rel=1e-12)
    # global_sum: no additional-needs data, identical age-sex -> equal weighted lists
    assert p["weighted_list__global_sum"].tolist() == pytest.approx([100.0, 100.0])
    wl_dep = [200 * a / (a + b), 200 * b / (a + b)]
    assert p["weighted_list__deprivation_weighted"].tolist() == pytest.approx(wl_dep, rel=1e-12)
    net = 200 * 12334 - 117_173  # OOH: 2,466,800 x 0.0475 = 117,173.0
    assert r.envelopes_pence["deprivation_weighted"] == net
    shares = largest_remainder(net, [Fraction(a), Fraction(b)])
    assert p["capitation_pence__deprivation_weighted"].tolist() == shares
    assert p.loc["A00001", "difference_pence__deprivation_weighted"] > 0  # money moves to the deprived
    assert p["difference_pence__deprivation_weighted"].sum() == 0
    # quintiles on cumulative registered population, most deprived first: 100/200 -> 3, 200/200 -> 5
    assert p["deprivation_quintile"].tolist() == [3, 5]
    cov = r.lsoa_coverage.set_index("lsoa_class")
    assert cov.loc["welsh", "patients"] == 10 and cov.loc["welsh", "rows"] == 1
    assert cov.loc["unknown_code", "patients"] == 5
    assert cov.loc["english_not_in_deprivation_file", "patients"] == 3
    assert cov.loc["scored", "patients"] == 200
    notes = " ".join(r.notes)
    assert "Welsh" in notes and "10 patients" in notes and "not in the deprivation file" in notes
    assert p.loc["A00001", "registered_patients"] == 100  # unscored LSOAs never drop patients
    assert quintile_table(r)["practices"].sum() == 2


def test_health_foundation_set_uses_deprivation_in_global_sum():
    r = compute_allocations(example_two(), period=Q, parameter_set="health_foundation_lsoa")
    p = practice_table(r).set_index("practice_code")
    # HF weights: males 5-14 = 1.000 for both, so the weighted list is the deprivation split
    a, b = (60 * 1.054 + 40 * 1.054**2) / 100, 1.054**-1.0
    assert p["weighted_list__global_sum"].tolist() == pytest.approx([200 * a / (a + b), 200 * b / (a + b)])
    assert (p["index_additional_needs"] == 1.0).all()
    comps = r.components.set_index("component")
    assert "not part of" in comps.loc["additional_needs", "reason"]


# ---------------------------------------------------------------------------------------------
# QOF hand-worked examples (2025/26: GBP 220.62 per point = 22,062p, national average list 9,964)
# ---------------------------------------------------------------------------------------------
def test_qof_practice_points_rounds_half_up():
    ex = {
        "capitation_age_sex": age_rows(
            {"A00001": [("MALE", "20_24", 2491)], "A00002": [("MALE", "20_24", 1000)]}
        ),
        "practice_map": pmap(["A00001", "A00002"]),
        "qof_practice_summary": pd.DataFrame(
            {
                "practice_code": ["A00001", "A00002"],
                "sub_icb_code": "00L",
                "pcn_code": "U00000",
                "list_size": [2491, 1000],
                "achievement_points": [3.0, 500.0],
                "max_points": 635.0,
            }
        ),
    }
    p = practice_table(compute_allocations(ex, period=Q)).set_index("practice_code")
    # A00001: 3 x 22,062 x 2,491 / 9,964 = 3 x 22,062 / 4 = 16,546.5 -> 16,547 (half up, not to even)
    # A00002: 500 x 22,062 x 1,000 / 9,964 = 11,031,000,000 / 9,964 = 1,107,085.50... -> rounded half up
    a2 = Fraction(500 * 22062 * 1000, 9964)
    assert p.loc["A00001", "qof_pence"] == 16_547
    assert p.loc["A00002", "qof_pence"] == int(a2 + Fraction(1, 2)) == 1_107_086
    assert (p["qof_path"] == "practice_points").all()
    assert p.loc["A00002", "total_pence__global_sum"] == p.loc[
        "A00002", "capitation_pence__global_sum"
    ] + int(a2 + Fraction(1, 2))


def test_qof_prevalence_adjusted():
    ex = {
        "capitation_age_sex": age_rows(
            {"A00001": [("MALE", "20_24", 1000)], "A00002": [("MALE", "20_24", 1000)]}
        ),
        "practice_map": pmap(["A00001", "A00002"]),
        "qof_achievement": pd.DataFrame(
            {
                "practice_code": ["A00001", "A00001", "A00002", "A00001", "A00002"],
                "indicator_code": ["AF001", "PH001", "AF001", "AF001", "AF001"],
                "measure": ["ACHIEVED_POINTS", "ACHIEVED_POINTS", "ACHIEVED_POINTS", "REGISTER", "NUMERATOR"],
                "value": [10.0, 5.0, 10.0, 20.0, 55.0],
            }
        ),
        "qof_prevalence": pd.DataFrame(
            {
                "practice_code": ["A00001", "A00002"],
                "group_code": "AF",
                "register": [20, 60],
                "patient_list_type": "TOTAL",
                "practice_list_size": [1000, 1000],
            }
        ),
        "qof_indicators": pd.DataFrame(
            {
                "indicator_code": ["AF001", "PH001"],
                "indicator_point_value": [12.0, 5.0],
                "group_code": ["AF", "PH"],
                "group_description": ["Atrial fibrillation", "Public health"],
                "domain_code": ["CL", "PH"],
                "domain_description": ["Clinical", "Public health"],
                "patient_list_type": "TOTAL",
            }
        ),
    }
    p = practice_table(compute_allocations(ex, period=Q)).set_index("practice_code")
    # prevalence: A00001 2%, A00002 6%, national 80 / 2000 = 4% -> APDF 0.5 and 1.5
    cpi = Fraction(22062 * 1000, 9964)  # pence per point at list 1,000
    a1 = 10 * cpi * Fraction(1, 2) + 5 * cpi * 1  # PH001 is not prevalence-weighted
    a2 = 10 * cpi * Fraction(3, 2)
    assert p.loc["A00001", "qof_pence"] == int(a1 + Fraction(1, 2)) == 22_142
    assert p.loc["A00002", "qof_pence"] == int(a2 + Fraction(1, 2)) == 33_213
    assert p["qof_points"].tolist() == [15.0, 10.0]
    assert (p["qof_path"] == "prevalence_adjusted").all()


# ---------------------------------------------------------------------------------------------
# generated data for properties
# ---------------------------------------------------------------------------------------------
def generated(n: int = 40, seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    codes = [f"B{81000 + i:05d}" for i in range(n)]
    age = pd.DataFrame(
        [
            {
                "extract_date": pd.Timestamp("2025-07-01"),
                "practice_code": c,
                "sex": s,
                "age_band": b,
                "patients": int(rng.integers(0, 300)),
            }
            for c in codes
            for s in ("MALE", "FEMALE")
            for b in AGE_BANDS_5
        ]
    )
    reg = age.groupby("practice_code")["patients"].sum()
    n_lsoa = 300
    lsoas = [f"E01{i:06d}" for i in range(n_lsoa)]
    lrows = []
    for c in codes:
        for code in rng.choice(lsoas, size=12, replace=False):
            lrows.append({"practice_code": c, "lsoa_code": code, "patients": int(rng.integers(1, 200))})
    lrows.append({"practice_code": codes[0], "lsoa_code": "W01000009", "patients": 7})
    lsoa = pd.DataFrame(lrows).assign(extract_date=pd.Timestamp("2025-07-01"))
    dep = pd.DataFrame(
        {
            "lsoa_code": lsoas,
            "lsoa_name": "x",
            "lad_code": "E06000001",
            "lad_name": "x",
            "imd_score": rng.uniform(2, 70, n_lsoa),
            "imd_rank": 1,
            "imd_decile": 1,
            "health_deprivation_score": rng.uniform(-3, 3, n_lsoa),
            "population": 1500,
        }
    )
    needs = pd.DataFrame(
        {
            "lsoa_code": lsoas,
            "slli": rng.uniform(60, 140, n_lsoa),
            "smr_under_65": rng.uniform(50, 160, n_lsoa),
        }
    )
    chars = pd.DataFrame(
        {
            "practice_code": codes,
            "new_registrations": (reg.to_numpy() * rng.uniform(0.02, 0.2, n)).astype(int),
            "care_home_patients": (reg.to_numpy() * rng.uniform(0, 0.03, n)).astype(int),
        }
    )
    contracts = pd.DataFrame({c.name: None for c in EXTRACTS["contracts"].columns}, index=range(n)).assign(
        practice_code=codes,
        contract_type=rng.choice(["GMS", "PMS", "APMS"], n),
        registered_patients=reg.to_numpy().astype(float),
        weighted_patients=reg.to_numpy() * 1.01,
        global_sum_pence=(reg.to_numpy() * 11_500).astype("int64"),
        mpig_pence=rng.integers(0, 3_000_000, n),
        qof_pence=rng.integers(0, 9_000_000, n),
    )
    subs = [["00L", "01K", "16C", "99C"][i % 4] for i in range(n)]
    return {
        "capitation_age_sex": age,
        "practice_map": pmap(codes, subs),
        "capitation_lsoa": lsoa,
        "deprivation_lsoa": dep,
        "additional_needs": needs,
        "practice_characteristics": chars,
        "contracts": contracts,
    }


@pytest.fixture(scope="module")
def full_result():
    return compute_allocations(generated(), period=Q)


def test_variants_and_normalisation(full_result):
    r = full_result
    assert r.variants == [
        "global_sum",
        "deprivation_weighted",
        "imd_quintile_uplift",
        "mpig_recycled",
        "over_75s_funding",
    ]
    reg = r.practices["registered_patients"].sum()
    wide = practice_table(r)
    for v in r.variants:
        assert wide[f"weighted_list__{v}"].sum() == pytest.approx(reg, rel=1e-9)


def test_envelope_conserved_in_every_variant(full_result):
    r = full_result
    reg = int(r.practices["registered_patients"].sum())
    gross = reg * 12334
    net = gross - int((Decimal(gross) * Decimal("0.0475")).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    mpig = int(generated()["contracts"]["mpig_pence"].sum())
    expected = {
        "global_sum": net,
        "deprivation_weighted": net,
        "imd_quintile_uplift": net,
        "mpig_recycled": net + mpig,
        "over_75s_funding": net + 500 * int(r.practices["patients_75_and_over"].sum()),  # GBP 5 a head
    }
    assert r.envelopes_pence == expected
    for v, env in expected.items():
        col = practice_table(r)[f"capitation_pence__{v}"]
        assert col.dtype == np.int64 and int(col.sum()) == env
        assert int(summary_table(r, "england")[f"capitation_pence__{v}"].iloc[0]) == env
        lines = r.ledger[(r.ledger["variant"] == v) & (r.ledger["line"] != "qof")]
        assert lines["pence"].dtype == np.int64 and int(lines["pence"].sum()) == env
    # mpig_recycled's envelope is net + the MPIG paid, each line apportioned exactly
    env_lines = r.envelopes[r.envelopes["variant"] == "mpig_recycled"].set_index("line")["pence"]
    assert int(env_lines["mpig_recycled"]) == mpig
    for line, amount in env_lines.items():
        got = r.ledger[(r.ledger["variant"] == "mpig_recycled") & (r.ledger["line"] == line)]["pence"].sum()
        assert int(got) == int(amount), line
    assert r.checks["passed"].all(), r.checks


def test_all_components_applied_with_full_inputs(full_result):
    comps = full_result.components.set_index("component")["status"]
    for c in ("age_sex", "additional_needs", "list_turnover", "care_homes", "deprivation"):
        assert comps[c] == "applied"
    assert comps["market_forces"] == "neutral" and comps["rurality"] == "neutral"
    p = practice_table(full_result)
    w = p["registered_patients"]
    for c in ("age_sex", "additional_needs", "deprivation"):
        # each index is relative to the national patient-weighted average
        assert (p[f"index_{c}"] * w).sum() / w.sum() == pytest.approx(1.0, rel=1e-9)


def test_deprivation_variant_moves_money_towards_deprived(full_result):
    p = practice_table(full_result)
    # per global_sum weighted patient, the deprivation variant pays more where the practice's health
    # multiplier (mean of 1.054 ^ LSOA health score) is higher; with the mean of powers two practices with
    # the same mean score can differ, so the order is by the multiplier, not by the mean score
    ratio = p["weighted_list__deprivation_weighted"] / p["weighted_list__global_sum"]
    adj = ratio * p["index_additional_needs"]  # remove the additional-needs index the variant replaces
    order = p["health_multiplier"].argsort().to_numpy()
    assert np.all(np.diff(adj.to_numpy()[order]) > 0)
    q = p.groupby("deprivation_quintile")["difference_pence__imd_quintile_uplift"].sum()
    assert q.loc[1] > 0 and q.loc[5] < 0


def test_quintiles_cut_on_population(full_result):
    p = full_result.practices.sort_values(["imd_score", "practice_code"], ascending=[False, True])
    cum = p["registered_patients"].cumsum()
    total = p["registered_patients"].sum()
    expected = [max(1, -(-5 * int(c) // int(total))) for c in cum]
    assert p["deprivation_quintile"].astype(int).tolist() == expected
    by_q = p.groupby("deprivation_quintile")["registered_patients"].sum()
    assert by_q.max() < 0.2 * total + p["registered_patients"].max()


def test_row_order_does_not_change_results(full_result):
    ex = generated()
    shuffled = {k: v.sample(frac=1.0, random_state=3).reset_index(drop=True) for k, v in ex.items()}
    r2 = compute_allocations(shuffled, period=Q)
    pd.testing.assert_frame_equal(full_result.practices, r2.practices)
    pd.testing.assert_frame_equal(full_result.ledger, r2.ledger)
    for level in LEVELS:
        pd.testing.assert_frame_equal(summary_table(full_result, level), summary_table(r2, level))


def test_missing_components_are_neutral_and_reported():
    ex = generated()
    for name in (
        "capitation_lsoa",
        "deprivation_lsoa",
        "additional_needs",
        "practice_characteristics",
        "contracts",
    ):
        ex.pop(name)
    r = compute_allocations(ex, period=Q)
    comps = r.components.set_index("component")
    for c in ("additional_needs", "list_turnover", "care_homes", "deprivation"):
        assert comps.loc[c, "status"] == "neutral"
        assert "no " in comps.loc[c, "reason"] and "neutral" in comps.loc[c, "reason"]
        assert (r.practices[f"index_{c}"] == 1.0).all()
    assert any("additional_needs is neutral" in n for n in r.notes)
    assert r.variants == ["global_sum", "deprivation_weighted", "over_75s_funding"]  # no quintiles, contracts
    assert r.practices["deprivation_quintile"].isna().all()
    assert quintile_table(r)["practices"].tolist() == [0, 0, 0, 0, 0, len(r.practices)]  # all 'unknown'
    # with every optional component neutral the weighted list is the age-sex list
    p = practice_table(r)
    assert p["weighted_list__global_sum"].tolist() == pytest.approx(
        (p["registered_patients"] * p["index_age_sex"]).tolist(), rel=1e-9
    )


def test_aggregates_sum_and_count(full_result):
    p = practice_table(full_result)
    sub = summary_table(full_result, "sub_icb").set_index("code")
    assert sub["practices"].sum() == len(p)
    for code, grp in p.groupby("sub_icb_code"):
        assert sub.loc[code, "registered_patients"] == grp["registered_patients"].sum()
        assert (
            sub.loc[code, "capitation_pence__deprivation_weighted"]
            == grp["capitation_pence__deprivation_weighted"].sum()
        )
        assert sub.loc[code, "weighted_list__global_sum"] == pytest.approx(
            grp["weighted_list__global_sum"].sum()
        )
    icb = summary_table(full_result, "icb").set_index("code")
    assert icb.loc["QHM", "practices"] == (p["icb_code"] == "QHM").sum()
    eng = summary_table(full_result, "england").iloc[0]
    assert eng["code"] == "E92000001" and eng["practices"] == len(p)
    assert eng["qof_pence"] == p["qof_pence"].sum()
    # within a sub-ICB location: one row per PCN, adding up to the location
    pcns = summary_table(full_result, "sub_icb_pcn", "00L")
    assert pcns["total_pence__global_sum"].sum() == sub.loc["00L", "total_pence__global_sum"]


def test_contracts_columns_and_equity(full_result):
    p = practice_table(full_result)
    ex = generated()["contracts"].set_index("practice_code")
    assert (p.set_index("practice_code")["paid_global_sum_pence"] == ex["global_sum_pence"]).all()
    assert (
        p["difference_from_paid_pence"] == p["capitation_pence__global_sum"] - p["paid_global_sum_pence"]
    ).all()
    eq = quintile_table(full_result)
    assert (
        eq["practices"].sum() == len(p) and eq["registered_patients"].sum() == p["registered_patients"].sum()
    )
    q1 = eq.set_index("deprivation_quintile").loc["1"]
    assert q1["gbp_per_registered__global_sum"] == pytest.approx(
        q1["capitation_pence__global_sum"] / q1["registered_patients"] / 100
    )
    assert "paid_gbp_per_weighted" in eq.columns


def test_market_forces_table_from_new_parameter_file(tmp_path):
    ex = example_one()
    dst = tmp_path / "carr_hill_2004"
    dst.mkdir()
    shutil.copy(parameters_dir() / "carr_hill_2004" / "2025-26.yaml", dst / "2025-26.yaml")
    doc = yaml.safe_load((dst / "2025-26.yaml").read_text())
    doc["parameters"]["market_forces"]["values"]["table"] = {"A00001": 1.2}
    (dst / "2025-26.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    r = compute_allocations(ex, period=Q, parameters_directory=tmp_path)
    p = practice_table(r).set_index("practice_code")
    # raw MFF index: (1 - 0.5) + 0.5 x 1.2 = 1.1 for A00001, 1.0 others; national = (100 x 1.1 + 300) / 400
    national = (100 * 1.1 + 300 * 1.0) / 400
    assert p["index_market_forces"].tolist() == pytest.approx([1.1 / national, 1 / national, 1 / national])
    raw = [100 * 1.1, 672.0, 794.0]
    assert p["weighted_list__global_sum"].tolist() == pytest.approx([w * 400 / sum(raw) for w in raw])


def test_england_wide_tables_are_worked_out_once_and_handed_out_as_copies():
    """Each of ~106 workbooks asks for the England-wide tables: they are cached per publication, yet
    a caller changing its copy, or a table of the allocation being replaced, never gives a stale view."""
    r = compute_allocations(generated(), period=Q)
    first = summary_table(r, "sub_icb")
    first.loc[:, f"capitation_pence__{r.variants[0]}"] = -1
    again = summary_table(r, "sub_icb")
    assert (again[f"capitation_pence__{r.variants[0]}"] > 0).all()
    assert summary_table(r, "sub_icb", facts=("icb_code",))["icb_code"].notna().all()  # own cache entry
    assert "icb_code" not in summary_table(r, "sub_icb").columns

    whole = paid_reconciliation(r)
    assert whole is not None
    for code in r.sub_icb_codes:
        one = paid_reconciliation(r, code)
        assert one is not None and one["code"].tolist() == [code]
        expected = whole[(whole["level"] == "sub_icb") & (whole["code"] == code)].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, expected)
    extra = r.tables["paid_not_in_run"].copy()
    extra["paid_global_sum_pence"] = int(extra["paid_global_sum_pence"].iloc[0]) + 12_345
    r.tables["paid_not_in_run"] = extra
    row = paid_reconciliation(r).set_index("level").loc["not_in_run"]
    assert (
        int(row["paid_global_sum_pence"])
        == int(whole.set_index("level").loc["not_in_run", "paid_global_sum_pence"]) + 12_345
    )


def test_a_saved_result_loads_as_it_was_each_column_in_one_block(full_result, tmp_path):
    """Totals.of picks rows by position once per workbook sheet: on a column left in many chunks pyarrow
    joins them on every pick, so a loaded result keeps each column in one block, values unchanged."""
    from gp_allocations.aggregates import Totals, read_frame
    from gp_allocations.ledger import load_allocation, save_allocation

    folder = tmp_path / "result"
    save_allocation(full_result, folder)
    money = full_result.totals.money
    money.to_parquet(folder / "totals" / "money.parquet", index=False, row_group_size=50)  # many chunks
    assert pd.read_parquet(folder / "totals" / "money.parquet")["code"].array._pa_array.num_chunks > 1
    loaded = Totals.load(folder / "totals")
    pd.testing.assert_frame_equal(loaded.money, money, check_exact=True)
    for column in loaded.money.columns:
        arrow = getattr(loaded.money[column].array, "_pa_array", None)
        assert arrow is None or arrow.num_chunks == 1, column
    again = load_allocation(folder)
    pd.testing.assert_frame_equal(again.practices, full_result.practices, check_exact=True)
    assert read_frame(folder / "totals" / "facts.parquet").shape == full_result.totals.facts.shape
