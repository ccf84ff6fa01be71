"""Workbook writer: contents, totals that plain readers see, formula-injection safety, layout, bytes."""

from __future__ import annotations

import re
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from _workbook_fixtures import HOSTILE_NAMES, make_result, make_run
from gp_allocations.views import practice_table
from gp_allocations.workbooks import HEADER_ROW, RunInfo, write_national_workbook, write_sub_icb_workbook

SUB = "15N"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wb")
    result = make_result(hostile_names=True)
    run = make_run()
    paths = {"sub": folder / "sub.xlsx", "nat": folder / "nat.xlsx"}
    write_sub_icb_workbook(result, SUB, paths["sub"], run=run)
    write_national_workbook(result, paths["nat"], run=run)
    return paths


def _envelope_from_first_principles() -> int:
    # 8 practices, 70,225 registered patients x £123.34 x (1 - 4.75% out-of-hours) in pennies, half up
    registered = 9120 + 12480 + 15010 + 4305 + 2990 + 11020 + 8760 + 6540
    assert registered == 70225
    return int((Decimal(registered) * 12334 * Decimal("0.9525")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_practices_sheet_money_and_totals_seen_by_pandas(written):
    result = make_result()
    sheet = pd.read_excel(written["sub"], sheet_name="Practices", header=HEADER_ROW)
    body, total = sheet.iloc[:-1], sheet.iloc[-1]
    assert total["Practice code"] == "Total"
    assert list(body["Practice code"]) == ["L83001", "L83002", "L83003", "L83004", "L83005"]
    expected = practice_table(result).set_index("practice_code")
    for _, row in body.iterrows():
        want = expected.loc[row["Practice code"]]
        # pounds in the cell, pennies in the pipeline: exact to the penny
        assert round(row["Capitation: Global sum (£)"] * 100) == want["capitation_pence__global_sum"]
        assert round(row["QOF (£)"] * 100) == want["qof_pence"]
        assert (
            round(row["Total: Deprivation weighted (£)"] * 100) == want["total_pence__deprivation_weighted"]
        )
    # the total row is a formula; pandas sees its cached value, equal to the integer sum of the rows
    sub_pence = expected[expected["sub_icb_code"] == SUB]["capitation_pence__global_sum"]
    assert round(total["Capitation: Global sum (£)"] * 100) == int(sub_pence.sum())
    assert total["Registered patients"] == 9120 + 12480 + 15010 + 4305 + 2990


def test_national_totals_equal_envelope_from_first_principles(written):
    envelope = _envelope_from_first_principles()
    assert envelope == 825_012_780  # 866,155,150 x 0.9525 = 825,012,780.375 -> 825,012,780
    for sheet in ["Practices", "Summary", "Sub-ICBs", "Contract types"]:
        frame = pd.read_excel(written["nat"], sheet_name=sheet, header=HEADER_ROW)
        total = frame.iloc[-1]
        gs = next(c for c in frame.columns if c.startswith("Capitation") and "Global sum" in c)
        dw = next(c for c in frame.columns if c.startswith("Capitation") and "Deprivation weighted" in c)
        assert round(total[gs] * 100) == envelope, sheet
        assert round(total[dw] * 100) == envelope, sheet  # envelope-neutral variant


def test_totals_are_live_sum_formulas(written):
    ws = openpyxl.load_workbook(written["sub"])["Practices"]
    headers = [c.value for c in ws[HEADER_ROW + 1]]
    col = headers.index("Capitation: Global sum (£)") + 1
    letter = openpyxl.utils.get_column_letter(col)
    first, last = HEADER_ROW + 2, HEADER_ROW + 1 + 5
    assert ws.cell(last + 1, 1).value == "Total"
    assert ws.cell(last + 1, col).value == f"=SUM({letter}{first}:{letter}{last})"
    assert "£#,##0.00" in ws.cell(first, col).number_format


def test_formula_like_names_stay_text(written):
    wb = openpyxl.load_workbook(written["sub"])
    ws = wb["Practices"]
    names = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(HEADER_ROW + 2, HEADER_ROW + 7)}
    for code, hostile in HOSTILE_NAMES.items():
        cell = names[code]
        assert cell.data_type == "s", code
        assert cell.value == hostile
    # the only formulas anywhere are our own totals and ratios
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    assert re.fullmatch(
                        r"=(SUM\([A-Z]+\d+:[A-Z]+\d+\)|IF\([A-Z]+\d+=0,0,[A-Z]+\d+/[A-Z]+\d+\))", cell.value
                    ), (sheet.title, cell.coordinate, cell.value)
    # and no hyperlink was created from a data value (only the Cover contents links are internal)
    with zipfile.ZipFile(written["sub"]) as z:
        assert not [n for n in z.namelist() if n.startswith("xl/worksheets/_rels/") and "sheet5" in n]


def test_layout_follows_analysis_function_guidance(written):
    wb = openpyxl.load_workbook(written["sub"])
    assert wb.sheetnames == [
        "Cover",
        "Summary",
        "Contract types",
        "By deprivation",
        "Practices",
        "Parameters",
        "Components",
        "Data quality",
        "Reconciliation",
        "Notes",
    ]
    for ws in wb.worksheets:
        assert ws["A1"].value and ws["A1"].font.b, ws.title
        assert not ws.merged_cells.ranges, ws.title
        assert ws.page_setup.orientation == "landscape"
        # fit to one page wide (1 is the OOXML default, so it may be omitted), any number of pages tall
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth in (None, 1)
        assert ws.page_setup.fitToHeight == 0
        if ws.title == "Cover":
            continue
        assert ws.freeze_panes.endswith(str(HEADER_ROW + 2)), ws.title  # frozen under the header in row 3
        assert ws.auto_filter.ref.split(":")[0].endswith(str(HEADER_ROW + 1)), ws.title
        assert ws.print_title_rows == f"${HEADER_ROW + 1}:${HEADER_ROW + 1}", ws.title
    assert wb["Practices"].protection.sheet and wb["Summary"].protection.sheet
    assert not wb["Notes"].protection.sheet and not wb["Practices"].protection.password
    # 6 identity/list + 7 indices + 3 deprivation + 2 weighted + 2 capitation + 1 change + 3 QOF + 2 totals
    # = 26 columns (A:Z); header in row 3, the 5 practices in rows 4-8 (total row outside the name)
    assert wb.defined_names["Practices_table"].attr_text == "'Practices'!$A$3:$Z$8"
    assert wb["Practices"].column_dimensions["B"].width > 20  # names readable


def test_missing_values_shown_as_x_and_explained(written):
    wb = openpyxl.load_workbook(written["sub"])
    ws = wb["Practices"]
    headers = [c.value for c in ws[HEADER_ROW + 1]]
    row = next(r for r in range(HEADER_ROW + 2, 20) if ws.cell(r, 1).value == "L83005")  # no scored LSOA
    for header in ["IMD score", "Health deprivation score", "Deprivation quintile (1 = most deprived)"]:
        assert ws.cell(row, headers.index(header) + 1).value == "[x]"
    notes = [ws_row[1].value for ws_row in wb["Notes"].iter_rows(min_row=HEADER_ROW + 2)]
    assert any(n and n.startswith("[x] marks a value that is not available") for n in notes)
    assert any(n and "Review > Unprotect Sheet" in n for n in notes)
    assert any(n and "ab" * 32 in n for n in notes)  # input files with SHA-256


def test_summary_by_pcn_and_change_percentages(written):
    result = make_result()
    p = practice_table(result)[practice_table(result)["sub_icb_code"] == SUB]
    frame = pd.read_excel(written["sub"], sheet_name="Summary", header=HEADER_ROW)
    assert list(frame["PCN code"]) == ["U11111", "U22222", "Total"]
    moor = p[p["pcn_code"] == "U22222"]
    row = frame.iloc[1]
    gs = int(moor["capitation_pence__global_sum"].sum())
    dw = int(moor["capitation_pence__deprivation_weighted"].sum())
    assert row["Practices"] == 2
    assert round(row["Change, Deprivation weighted minus global sum (£)"] * 100) == dw - gs
    assert row["Change, Deprivation weighted (%)"] == pytest.approx((dw - gs) / gs)
    ws = openpyxl.load_workbook(written["sub"])["Summary"]
    pct_col = [c.value for c in ws[HEADER_ROW + 1]].index("Change, Deprivation weighted (%)") + 1
    assert ws.cell(HEADER_ROW + 2, pct_col).number_format == "0.00%"


def test_deprivation_sheet_and_charts(written):
    result = make_result()
    frame = pd.read_excel(written["sub"], sheet_name="By deprivation", header=HEADER_ROW, dtype={0: str})
    p = practice_table(result)[practice_table(result)["sub_icb_code"] == SUB]
    q1 = p[p["deprivation_quintile"] == 1]
    row = frame.iloc[0]
    per_reg = int(q1["capitation_pence__deprivation_weighted"].sum()) / int(q1["registered_patients"].sum())
    assert row["Capitation per registered patient: Deprivation weighted (£)"] == pytest.approx(per_reg / 100)
    assert frame.iloc[3]["Practices"] == 0  # no practice of this sub-ICB in quintile 4
    assert frame.iloc[3]["Capitation per registered patient: Global sum (£)"] == "[x]"
    with zipfile.ZipFile(written["sub"]) as z:
        charts = sorted(n for n in z.namelist() if n.startswith("xl/charts/chart"))
        assert len(charts) == 2  # change by practice (Summary) and per patient by quintile
        text = " ".join(z.read(n).decode() for n in charts)
    assert "<c:f>Practices!$A$4:$A$8</c:f>" in text and "quintile" in text


def test_national_workbook_levels_and_equity(written):
    result = make_result()
    wb = openpyxl.load_workbook(written["nat"])
    for sheet in ["Sub-ICBs", "ICBs", "Regions", "Equity", "Practices"]:
        assert sheet in wb.sheetnames
    subs = pd.read_excel(written["nat"], sheet_name="Sub-ICBs", header=HEADER_ROW)
    assert list(subs["Sub-ICB code"]) == ["15C", "15N", "Total"]
    bristol = practice_table(result)[practice_table(result)["sub_icb_code"] == "15C"]
    assert round(subs.iloc[0]["Total: Deprivation weighted (£)"] * 100) == int(
        bristol["capitation_pence__deprivation_weighted"].sum() + bristol["qof_pence"].sum()
    )
    equity = pd.read_excel(written["nat"], sheet_name="Equity", header=HEADER_ROW)
    assert list(equity.iloc[:5, 0]) == [1, 2, 3, 4, 5]
    practices = pd.read_excel(written["nat"], sheet_name="Practices", header=HEADER_ROW)
    assert len(practices) == 8 + 1
    assert "Equity_table" in wb.defined_names and "Sub_ICBs_table" in wb.defined_names


def test_same_inputs_give_byte_identical_files(tmp_path):
    result, run = make_result(), make_run()
    write_sub_icb_workbook(result, SUB, tmp_path / "a.xlsx", run=run)
    write_sub_icb_workbook(make_result(), SUB, tmp_path / "b.xlsx", run=make_run())
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        core = z.read("docProps/core.xml").decode()
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert "2025-07-01T00:00:00Z" in core  # start of 2025/26 Q2, not the clock
    # a different run id changes the contents, so the check above can fail
    other = make_run()
    other.run_id = "scheduled__2025-10-02T02:00:00"
    write_sub_icb_workbook(result, SUB, tmp_path / "c.xlsx", run=other)
    assert (tmp_path / "c.xlsx").read_bytes() != (tmp_path / "a.xlsx").read_bytes()


def test_data_quality_and_parameters_sheets(written):
    dq = pd.read_excel(written["sub"], sheet_name="Data quality", header=HEADER_ROW)
    assert dq.iloc[0]["Rule"] == "expect_column_values_to_not_be_null" and dq.iloc[0]["Failing rows"] == 3
    ws = openpyxl.load_workbook(written["sub"])["Data quality"]
    assert "Quarantined input rows (kept out of the calculation): 2" in ws["A2"].value
    params = pd.read_excel(written["sub"], sheet_name="Parameters", header=HEADER_ROW, dtype=str)
    assert len(params) == 4 and params["Source"].notna().all() and params["Status"].notna().all()
    assert params.set_index("Parameter").loc["price_per_weighted_patient", "Value"] == "123.34"


def test_bad_inputs_rejected(tmp_path):
    with pytest.raises(ValueError, match="no practices"):
        write_sub_icb_workbook(make_result(), "99X", tmp_path / "x.xlsx", run=make_run())
    assert not list(tmp_path.iterdir())  # no half-written file left behind
    with pytest.raises(ValueError, match="validation_status"):
        RunInfo(run_id="r", period_label="2025/26 Q2", validation_status="failed")


def test_rates_in_pounds_are_declared_money_columns(written):
    """Per-patient rates arrive in pounds (gbp_per_registered__<variant>): the declared column formats them
    as money without dividing again."""
    result = make_result()
    ws = openpyxl.load_workbook(written["nat"])["Equity"]
    headers = [c.value for c in ws[HEADER_ROW + 1]]
    col = headers.index("Capitation per registered patient: Global sum (£)") + 1
    cell = ws.cell(HEADER_ROW + 2, col)
    p = practice_table(result)
    q1 = p[p["deprivation_quintile"] == 1]  # L83001 + L81001
    expected = int(q1["capitation_pence__global_sum"].sum()) / (9120 + 11020) / 100
    assert cell.value == pytest.approx(expected)
    assert cell.number_format.startswith("£#,##0.00")
