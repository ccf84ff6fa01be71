"""NHS England's real 2025/26 weighted populations through the engine and the workbooks (17.3, 17.6):
the 2022/23 payments practices against the file's practices, who is on one side only, the fair shares
of the global sum envelope, and the sheets of a national and a sub-ICB book."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from _support import REAL, requires_real_data
from _workbook_fixtures import make_run
from gp_allocations.engine import compute_allocations
from gp_allocations.fair_shares import NEED_COMPONENTS
from gp_allocations.periods import Period
from gp_allocations.scenario_views import fair_share_table, missing_practices
from gp_allocations.standardise import standardise
from gp_allocations.workbooks import HEADER_ROW, write_national_workbook, write_sub_icb_workbook

pytestmark = requires_real_data

FILES = {
    "contracts": "payments/nhspaymentsgp-22-23-prac-csv.csv",
    "practice_map": "registrations/gp-reg-pat-prac-map.csv",
    "nhse_weighted_populations": "allocations/nhse-place-based-allocation-tool-2025-26.csv",
}


PERIOD = Period.parse("2021-22-Q4")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Real payments, map and NHS England file; age-sex lists generated for the practices in both the
    map and the payments file (no public age-sex file is kept here), as test_real_files_pipeline does."""
    from gp_allocations_samples import generate_samples

    frames = {k: standardise(k, [REAL / v]).frame.drop(columns=["_file", "_row"]) for k, v in FILES.items()}
    pm = frames["practice_map"]
    out = tmp_path_factory.mktemp("age_sex")
    both = pm[pm["practice_code"].isin(frames["contracts"]["practice_code"])]
    generate_samples(out, period=PERIOD, practice_map=both, seed=11, only=("capitation_age_sex",))
    frames["capitation_age_sex"] = standardise(
        "capitation_age_sex", sorted(out.glob("gp-reg-pat-prac-quin-age*.csv"))
    ).frame
    return frames, compute_allocations(frames, period=PERIOD)


def test_every_practice_on_one_side_only_is_listed_and_the_rest_are_shared_in(run) -> None:
    frames, a = run
    assert "need_based_fair_shares" in a.variants and a.checks["passed"].all()
    ours = set(a.practices["practice_code"])
    theirs = set(frames["nhse_weighted_populations"]["practice_code"])
    missing = missing_practices(a)
    sides = missing.groupby("side")["practice_code"].apply(set).to_dict()
    # computed here from the two sets: none dropped, none invented
    assert sides["in this run, not in NHS England's file"] == ours - theirs
    assert sides["in NHS England's file, not in this run"] == theirs - ours
    assert len(ours - theirs) == 179 and len(theirs - ours) == 38  # 2022 practices against 2025 ones
    payable = a.totals.of("practice").money
    pay = payable[
        (payable["line"] == "capitation_payable") & (payable["variant"] == "need_based_fair_shares")
    ]
    assert set(pay["code"]) == ours and int(pay["pence"].sum()) == a.envelope_pence("global_sum")
    assert (pay.set_index("code").loc[sorted(ours - theirs), "pence"] > 0).all()
    for grouping in ("sub_icb", "icb", "england"):
        table = fair_share_table(a, grouping)
        for c, _ in NEED_COMPONENTS:
            assert int(table[f"fair_share_pence__{c}"].sum()) == a.envelope_pence("global_sum")


def test_the_national_and_a_sub_icb_book_show_the_real_figures(run, tmp_path) -> None:
    _, a = run
    national = tmp_path / "england.xlsx"
    write_national_workbook(a, national, run=make_run())
    code = a.sub_icb_codes[0]
    sub = tmp_path / "sub.xlsx"
    write_sub_icb_workbook(a, code, sub, run=make_run())
    missing = pd.read_excel(national, sheet_name="Need missing", header=HEADER_ROW)
    assert set(missing_practices(a)["practice_code"]) <= set(missing["Practice code"])
    places = pd.read_excel(national, sheet_name="Places", header=HEADER_ROW).dropna(subset=["Place code"])
    assert set(a.sub_icb_codes) <= set(places["Place code"])
    fair = pd.read_excel(sub, sheet_name="Fair shares", header=HEADER_ROW)
    total = fair[fair["PCN code"] == "Total"].iloc[0]
    subs = fair_share_table(a, "sub_icb").set_index("code")
    header = "Fair share: Primary medical care with health inequalities (Final PMC WP) (£)"
    assert round(total[header] * 100) == subs.loc[code, "fair_share_pence__final_pmc_wp"]
    notes = " ".join(str(c.value) for row in openpyxl.load_workbook(sub)["Notes"].iter_rows() for c in row)
    assert "ICB Place Based Allocation Tool" in notes and "OGL v3" in notes
