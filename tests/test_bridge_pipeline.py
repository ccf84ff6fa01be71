"""What changed and why, through the pipeline: 2025/26 Q2 published, then Q3 with ten patients of each sex
aged 30-34 moved between two practices of one sub-ICB location and a run price of GBP 125.00. The Q3
books and manifest carry the bridge; the first publication says there is nothing to compare with."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from gp_allocations import pipeline
from gp_allocations.bridge import FACTS_FILE, STEPS
from gp_allocations.config import RunContext
from gp_allocations.periods import Period
from gp_allocations.publish import statements_file_name, sub_icb_file_name
from gp_allocations_samples import generate_samples

STEP_NAMES = [s.name for s in STEPS]
MOVED = 10  # patients of each sex in the 30-34 band


def _move_patients(src: Path) -> tuple[str, str, str]:
    """Move MOVED patients of each sex aged 30-34 from one practice to another of the same sub-ICB
    location (every file total and every level's total stays as it was)."""
    mapping = pd.read_csv(src / "gp-reg-pat-prac-map.csv", dtype=str)
    sub_icb, members = next((k, g) for k, g in mapping.groupby("SUB_ICB_LOCATION_CODE") if len(g) >= 2)
    gainer, loser = sorted(members["PRACTICE_CODE"])[:2]
    path = src / "gp-reg-pat-prac-quin-age.csv"
    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = (d["ORG_TYPE"] == "GP") & d["AGE_GROUP_5"].isin(["30_34", "ALL"])
    per_sex = d["SEX"].map({"ALL": 2 * MOVED}).fillna(MOVED).astype(int)
    for code, sign in ((gainer, 1), (loser, -1)):
        m = rows & (d["ORG_CODE"] == code)
        d.loc[m, "NUMBER_OF_PATIENTS"] = (
            d.loc[m, "NUMBER_OF_PATIENTS"].astype(int) + sign * per_sex[m]
        ).astype(str)
    d.to_csv(path, index=False)
    return sub_icb, gainer, loser


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("bridge")
    out: dict = {}
    for period, run_id, price, variant in (
        ("2024-25-Q3", "run-y", None, "deprivation_weighted"),  # a year earlier, another headline variant
        ("2025-26-Q2", "run-q2", None, None),
        ("2025-26-Q3", "run-q3", Decimal("125.00"), None),
    ):
        src = root / f"src-{period}"
        generate_samples(src, period=Period.parse(period), practices=60, seed=11)
        if price is not None:
            out["moved"] = _move_patients(src)
        ctx = RunContext.prepare(
            run_id=run_id,
            period=period,
            source=str(src),
            data_dir=str(root / "var"),
            output_root=str(root / "out"),
            warehouse_url=f"sqlite:///{root / 'wh.sqlite'}",
            price_per_weighted_patient=price,
            variant=variant,
        )
        summary = pipeline.run_all(ctx)
        assert summary["status"] == "published", summary
        folder = Path(summary["directory"])
        out[period] = (folder, json.loads((folder / "manifest.json").read_text()))
    return out


def _table(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_the_first_publication_says_there_is_no_earlier_one(published):
    folder, manifest = published["2025-26-Q2"]
    assert manifest["bridge"]["previous_quarter"] == {
        "period": "2025-26-Q1",
        "run_id": None,
        "reason": "nothing has been published for 2025/26 Q1",
    }
    assert manifest["bridge"]["year_earlier"]["run_id"] is None
    assert (folder / FACTS_FILE).is_file()
    assert any(f["kind"] == "practice_facts" and f["rows"] == 60 for f in manifest["files"])
    sub_icb = published["moved"][0]
    wb = openpyxl.load_workbook(folder / sub_icb_file_name("2025-26-Q2", sub_icb))
    ws = wb["Change since last quarter"]
    assert "no earlier publication" in ws["A1"].value
    assert ws["A4"].value == "No earlier publication"
    assert ws["B4"].value == "Nothing has been published for 2025/26 Q1"


def test_the_next_quarter_bridges_every_penny_of_the_change(published):
    _, q2 = published["2025-26-Q2"]
    q3 = published["2025-26-Q3"][1]
    entry = q3["bridge"]["previous_quarter"]
    assert entry["period"] == "2025-26-Q2" and entry["run_id"] == "run-q2"
    england = entry["england_pence"]

    def payable(m):
        return m["totals"]["england"]["variants"]["global_sum"]["capitation_pence"]

    assert england["previous"] == payable(q2) and england["current"] == payable(q3)
    assert england["change"] == payable(q3) - payable(q2) == sum(england[n] for n in STEP_NAMES)
    # the price moved from GBP 123.34 to GBP 125.00: about 1.35% of the envelope; patients only moved
    assert england["price"] == pytest.approx(payable(q2) * (125.00 / 123.34 - 1), rel=2e-2)
    assert england["opened_closed"] == 0
    assert "variant_change" not in entry  # both quarters paid by the global sum


def test_the_same_quarter_a_year_earlier_is_bridged_and_its_change_of_variant_flagged(published):
    _, y = published["2024-25-Q3"]
    folder, q3 = published["2025-26-Q3"]
    assert y["selected_variant"] == "deprivation_weighted"
    entry = q3["bridge"]["year_earlier"]
    assert entry["period"] == "2024-25-Q3" and entry["run_id"] == "run-y"
    assert entry["variant_change"] == {"from": "deprivation_weighted", "to": "global_sum"}
    england = entry["england_pence"]
    before = y["totals"]["england"]["variants"]["deprivation_weighted"]["capitation_pence"]
    now = q3["totals"]["england"]["variants"]["global_sum"]["capitation_pence"]
    assert (england["previous"], england["current"]) == (before, now)
    assert england["change"] == now - before == sum(england[n] for n in STEP_NAMES)
    # the change of variant is said on the Cover and above every bridge of that comparison
    sub_icb = published["moved"][0]
    wb = openpyxl.load_workbook(folder / sub_icb_file_name("2025-26-Q3", sub_icb))
    cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(min_row=4, values_only=True)}
    flag = "The headline formula variant changed: 2024/25 Q3 paid by the Deprivation weighted variant"
    assert str(cover["Change of formula variant"]).startswith(flag)
    assert "Variant changed: Deprivation weighted then" in wb["Change since a year ago"]["A2"].value
    assert "Variant changed" not in wb["Change since last quarter"]["A2"].value
    table = _table(wb["Change since a year ago"])
    rows = table[~table["Practice code"].astype(str).str.startswith("Total")]
    steps = [f"{s.label}, annual" for s in STEPS]
    pence = (rows[[*steps, "Change, annual"]].astype(float) * 100).round().astype(int)
    assert (pence[steps].sum(axis=1) == pence["Change, annual"]).all() and len(rows) > 0
    assert table.columns[2] == "Payable capitation 2024/25 Q3, annual"


def test_the_sub_icb_book_shows_its_icb_s_bridge_with_the_sister_sub_icbs(published):
    folder, q3 = published["2025-26-Q3"]
    national = openpyxl.load_workbook(folder / "gp-allocations_2025-26-Q3_england.xlsx")
    icbs = _table(national["ICBs since last quarter"]).set_index("ICB code")
    sub_icbs = _table(national["Sub-ICBs since last quarter"]).set_index("Sub-ICB code")
    seen = set()
    for sub_icb in q3["totals"]["sub_icb"]:
        wb = openpyxl.load_workbook(folder / sub_icb_file_name("2025-26-Q3", sub_icb))
        ws = wb["ICB since last quarter"]
        icb = openpyxl.load_workbook(folder / sub_icb_file_name("2025-26-Q3", sub_icb), data_only=True)
        table = _table(icb["ICB since last quarter"])
        (total,) = table.index[table["Sub-ICB code"].astype(str).str.startswith("Total: ")]
        icb_code = table.loc[total, "Sub-ICB code"].removeprefix("Total: ")
        rows = table.drop(index=total).set_index("Sub-ICB code")
        assert sub_icb in rows.index and ws["A1"].value.startswith(
            "ICB since last quarter: sub-ICB locations"
        )
        assert _table(wb["ICB"])["Sub-ICB code"].iloc[:-1].tolist() == rows.index.tolist()  # the sisters
        for line in ("Change, annual", *(f"{s.label}, annual" for s in STEPS)):
            # each sister sub-ICB as the national book has it, and they add up to the ICB's bridge
            assert rows[line].astype(float).tolist() == sub_icbs.loc[rows.index, line].astype(float).tolist()
            assert round(rows[line].astype(float).sum() * 100) == round(float(icbs.loc[icb_code, line]) * 100)
        seen.add(icb_code)
    assert seen == set(icbs.index) - {"Total: England"}


def test_the_largest_movers_are_the_practices_whose_payable_changed_most(published):
    folder, _ = published["2025-26-Q3"]
    before = pd.read_parquet(published["2025-26-Q2"][0] / FACTS_FILE).set_index("practice_code")
    now = pd.read_parquet(folder / FACTS_FILE).set_index("practice_code")
    change = (now["payable_pence"] - before["payable_pence"].reindex(now.index).fillna(0)).astype(int)
    ranked = sorted(change.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:20]
    wb = openpyxl.load_workbook(folder / "gp-allocations_2025-26-Q3_england.xlsx")
    movers = _table(wb["Largest movers"])
    got = [
        (c, round(float(x) * 100))
        for c, x in zip(movers["Practice code"], movers["Change, annual"], strict=True)
    ]
    assert got == ranked and len(got) == 20


def test_the_sub_icb_book_shows_each_practice_s_bridge_and_the_largest_movers(published):
    folder, q3 = published["2025-26-Q3"]
    sub_icb, gainer, loser = published["moved"]
    wb = openpyxl.load_workbook(folder / sub_icb_file_name("2025-26-Q3", sub_icb))
    assert {"Change since last quarter", "Change since a year ago", "Largest movers"} <= set(wb.sheetnames)
    ws = wb["Change since last quarter"]
    assert ws["A1"].value.startswith("Change since last quarter: practices, 2025/26 Q2 to 2025/26 Q3 [note ")
    table = _table(ws)
    total = table[table["Practice code"] == f"Total: {sub_icb}"]
    rows = table[table["Practice code"] != f"Total: {sub_icb}"].set_index("Practice code")
    steps = [f"{s.label}, annual" for s in STEPS]
    pence = (rows[[*steps, "Change, annual"]].astype(float) * 100).round().astype(int)
    assert (pence[steps].sum(axis=1) == pence["Change, annual"]).all()
    assert pence.loc[gainer, "Registered list, annual"] > 0 > pence.loc[loser, "Registered list, annual"]
    assert (pence["Price, annual"] > 0).all()
    assert total["Change, annual"].iloc[0].startswith("=SUM(")
    sub_icb_change = q3["totals"]["sub_icb"][sub_icb]["variants"]["global_sum"]["capitation_pence"]
    assert int(pence["Change, annual"].sum()) == sub_icb_change - int(
        (rows["Payable capitation 2025/26 Q2, annual"].astype(float) * 100).round().sum()
    )
    movers = _table(wb["Largest movers"])
    assert len(movers) == len(rows)  # fewer than 20 practices: all of them, largest change first
    sizes = movers["Change, annual"].astype(float).abs().tolist()
    assert sizes == sorted(sizes, reverse=True)
    notes = _table(wb["Notes"])
    (order,) = notes.loc[notes["Topic"].astype(str).str.contains("order of decomposition"), "Text"]
    assert "registered list, then age-sex mix, then needs and deprivation" in order


def test_the_national_book_bridges_sub_icbs_and_icbs_to_england(published):
    folder, q3 = published["2025-26-Q3"]
    wb = openpyxl.load_workbook(folder / "gp-allocations_2025-26-Q3_england.xlsx")
    england = q3["bridge"]["previous_quarter"]["england_pence"]
    for sheet, noun in (("Sub-ICBs since last quarter", "Sub-ICB"), ("ICBs since last quarter", "ICB")):
        table = _table(wb[sheet])
        rows = table[table[f"{noun} code"] != "Total: England"]
        assert round(rows["Change, annual"].astype(float).sum() * 100) == england["change"]
        assert round(rows["Price, annual"].astype(float).sum() * 100) == england["price"]
    assert set(q3["totals"]["sub_icb"]) == set(_table(wb["Sub-ICBs since last quarter"])["Sub-ICB code"]) - {
        "Total: England"
    }


def _cell_of(ws, header: str, first: str) -> str:
    """The coordinate of column ``header``'s cell in the row whose first cell starts with ``first``."""
    heads = [c.value for c in ws[3]]
    row = next(r for r in ws.iter_rows(min_row=4) if str(r[0].value).startswith(first))
    return row[heads.index(header)].coordinate


@pytest.mark.libreoffice
def test_libreoffice_recalculates_every_formula_of_the_bridges_and_statements_to_the_cached_pennies(
    published, tmp_path
):
    """The national book and three sub-ICB books of the second quarter (bridges against the previous
    quarter and a year earlier) and their practice statements, recalculated by LibreOffice: every formula
    gives the value written with it, and a wrong cached value planted in a bridge total and on a
    statement is caught."""
    from test_workbooks_libreoffice import formula_differences, plant_cached_value, recalculate

    folder, q3 = published["2025-26-Q3"]
    codes = sorted(q3["totals"]["sub_icb"])[:3]
    assert len(codes) == 3
    books = [folder / "gp-allocations_2025-26-Q3_england.xlsx"]
    books += [folder / sub_icb_file_name("2025-26-Q3", c) for c in codes]
    books += [folder / statements_file_name("2025-26-Q3", c) for c in codes]
    src = tmp_path / "src"
    src.mkdir()
    bridge_book = openpyxl.load_workbook(books[1])["Change since last quarter"]
    total_change = _cell_of(bridge_book, "Change, annual", "Total: ")
    plant_cached_value(
        books[1], src / "planted_bridge.xlsx", "Change since last quarter", total_change, "1.23"
    )
    statements = openpyxl.load_workbook(books[4])
    practice = statements.sheetnames[1]
    (payable,) = [
        r[2].coordinate
        for r in statements[practice].iter_rows(min_row=4)
        if r[1].value == "Capitation payable (£, annual)"
    ]
    plant_cached_value(books[4], src / "planted_statement.xlsx", practice, payable, "1.23")
    planted = [src / "planted_bridge.xlsx", src / "planted_statement.xlsx"]
    out = recalculate([*books, *planted], tmp_path / "out", tmp_path)
    compared = 0
    for book in books:
        n, wrong = formula_differences(book, out[book])
        assert wrong == [], wrong[:5]
        compared += n
        if "statements" not in book.name and "england" not in book.name:
            sheets = openpyxl.load_workbook(book).sheetnames
            assert {"Change since last quarter", "Change since a year ago", "ICB since last quarter"} <= set(
                sheets
            )
    assert compared > 2000
    _, wrong = formula_differences(planted[0], out[planted[0]])
    assert len(wrong) == 1 and f"Change since last quarter!{total_change} " in wrong[0], wrong
    assert "cached 1.23" in wrong[0]
    _, wrong = formula_differences(planted[1], out[planted[1]])
    assert len(wrong) == 1 and f" {practice}!{payable} " in wrong[0] and "cached 1.23" in wrong[0], wrong
