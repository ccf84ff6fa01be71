"""Workbook writer: contents, totals that plain readers see, formula-injection safety, layout, bytes."""

from __future__ import annotations

import dataclasses
import re
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from _workbook_fixtures import HOSTILE_NAMES, make_result, make_run
from gp_allocations.bridge import Comparison
from gp_allocations.views import practice_table
from gp_allocations.workbooks import HEADER_ROW, RunInfo, write_national_workbook, write_sub_icb_workbook
from gp_allocations.workbooks.statements import write_statements_workbook
from test_statements import _last_quarter

SUB = "15N"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wb")
    result = make_result(hostile_names=True)
    # with the bridges (the tests' previous quarter; nothing a year earlier), so their sheets are checked too
    none = Comparison("year_earlier", "2024-25-Q2", reason="nothing has been published for 2024/25 Q2")
    run = dataclasses.replace(make_run(), comparisons=(_last_quarter(result), none))
    paths = {"sub": folder / "sub.xlsx", "nat": folder / "nat.xlsx", "statements": folder / "st.xlsx"}
    write_sub_icb_workbook(result, SUB, paths["sub"], run=run)
    write_national_workbook(result, paths["nat"], run=run)
    write_statements_workbook(result, SUB, paths["statements"], run=run)
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
        assert round(row["Capitation: Global sum (£, annual)"] * 100) == want["capitation_pence__global_sum"]
        assert round(row["QOF (£, annual)"] * 100) == want["qof_pence"]
        assert (
            round(row["Total: Deprivation weighted (£, annual)"] * 100)
            == want["total_pence__deprivation_weighted"]
        )
    # the total row is a formula; pandas sees its cached value, equal to the integer sum of the rows
    sub_pence = expected[expected["sub_icb_code"] == SUB]["capitation_pence__global_sum"]
    assert round(total["Capitation: Global sum (£, annual)"] * 100) == int(sub_pence.sum())
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
    col = headers.index("Capitation: Global sum (£, annual)") + 1
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
    # the only formulas anywhere are our own: cell references, our defined names, arithmetic and a few
    # functions; no text (a data value) ever reaches a formula
    functions = {"SUM", "IF", "ROUND", "INT", "ABS", "MOD", "SIGN"}
    names = set(wb.defined_names)
    formulas = 0
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas += 1
                    text = cell.value.replace("'Practices'!", "")
                    assert re.fullmatch(r"=[A-Za-z0-9_+\-*/().,:<=]+", text), (sheet.title, cell.coordinate)
                    for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
                        assert word in functions or word in names or re.fullmatch(r"[A-Z]{1,3}\d+", word), (
                            sheet.title,
                            cell.coordinate,
                            word,
                        )
    assert formulas > 50
    # and no hyperlink was created from a data value (only the Contents sheet's links are internal)
    practices = wb.sheetnames.index("Practices") + 1
    with zipfile.ZipFile(written["sub"]) as z:
        rels = z.read(f"xl/worksheets/_rels/sheet{practices}.xml.rels").decode()
    assert "relationships/table" in rels and "hyperlink" not in rels  # its Excel Table, no link


def test_layout_follows_analysis_function_guidance(written):
    wb = openpyxl.load_workbook(written["sub"])
    assert wb.sheetnames == [
        "Cover",
        "Contents",
        "Summary",
        "Payments",
        "ICB",
        "Contract types",
        "By deprivation",
        "Practices",
        "Parameters",
        "Components",
        "Data quality",
        "Reconciliation",
        "Change since last quarter",
        "Change since a year ago",
        "ICB since last quarter",
        "ICB since a year ago",
        "Largest movers",
        "Fair shares",  # issue 17: "not supplied" without NHS England's weighted populations
        "Need missing",
        "Places",
        "Notes",
    ]
    for ws in wb.worksheets:
        assert ws["A1"].value and ws["A1"].font.b, ws.title
        assert not ws.merged_cells.ranges, ws.title
        assert ws.page_setup.orientation == "landscape"
        # printed at full size: never fitted (shrunk) to a page (test_columns_fit... checks the rest)
        assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.freeze_panes.endswith(str(HEADER_ROW + 2)), ws.title  # frozen under the header in row 3
        (table,) = ws.tables.values()  # one Excel Table per sheet; its autofilter on the header row
        assert table.autoFilter.ref.split(":")[0].endswith(str(HEADER_ROW + 1)), ws.title
        assert ws.print_title_rows == f"${HEADER_ROW + 1}:${HEADER_ROW + 1}", ws.title
    assert wb["Practices"].protection.sheet and wb["Summary"].protection.sheet
    assert not wb["Notes"].protection.sheet and not wb["Practices"].protection.password
    # 6 identity/list + 7 indices + 3 deprivation + 2 weighted + 2 capitation + 1 change + 3 QOF + 2 totals
    # = 28 columns (A:AB); header in row 3, the 5 practices in rows 4-8, the Table's totals row in row 9
    table = wb["Practices"].tables["Practices_table"]
    assert table.ref == "A3:AB9" and table.totalsRowCount == 1
    assert wb["Practices"].column_dimensions["B"].width > 20  # names readable


def test_missing_values_shown_as_x_and_explained(written):
    wb = openpyxl.load_workbook(written["sub"])
    ws = wb["Practices"]
    headers = [c.value for c in ws[HEADER_ROW + 1]]
    row = next(r for r in range(HEADER_ROW + 2, 20) if ws.cell(r, 1).value == "L83005")  # no scored LSOA
    for header in ["IMD score", "Health deprivation score", "Deprivation quintile (1 = most deprived)"]:
        assert ws.cell(row, headers.index(header) + 1).value == "[x]"
    notes = [ws_row[2].value for ws_row in wb["Notes"].iter_rows(min_row=HEADER_ROW + 2)]
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
    assert round(row["Change, Deprivation weighted minus global sum (£, annual)"] * 100) == dw - gs
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
    assert row["Capitation per registered patient: Deprivation weighted (£, annual)"] == pytest.approx(
        per_reg / 100
    )
    assert frame.iloc[3]["Practices"] == 0  # no practice of this sub-ICB in quintile 4
    assert frame.iloc[3]["Capitation per registered patient: Global sum (£, annual)"] == "[x]"
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
    assert round(subs.iloc[0]["Total: Deprivation weighted (£, annual)"] * 100) == int(
        bristol["capitation_pence__deprivation_weighted"].sum() + bristol["qof_pence"].sum()
    )
    equity = pd.read_excel(written["nat"], sheet_name="Equity", header=HEADER_ROW)
    assert list(equity.iloc[:5, 0]) == [1, 2, 3, 4, 5]
    practices = pd.read_excel(written["nat"], sheet_name="Practices", header=HEADER_ROW)
    assert len(practices) == 8 + 1
    assert "Equity_table" in wb["Equity"].tables and "Sub_ICBs_table" in wb["Sub-ICBs"].tables


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
    assert dq.iloc[0]["Rule"] == "Expect column values to not be null" and dq.iloc[0]["Failing rows"] == 3
    ws = openpyxl.load_workbook(written["sub"])["Data quality"]
    # the fixture's run has two flagged rows: one at a practice of this sub-ICB location, one untied
    assert "1 flagged input row(s) at 1 practice(s) of this sub-ICB location (" in ws["A2"].value
    assert "Rows flagged by warning rules are kept" in ws["A2"].value
    assert "Whole run: 2 flagged row(s), 1 of them not tied to a practice" in ws["A2"].value
    assert "kept out of the calculation" not in ws["A2"].value
    params = pd.read_excel(written["sub"], sheet_name="Parameters", header=HEADER_ROW)
    assert len(params) == 4 + 2 and params["Source"].notna().all() and params["Status"].notna().all()
    by_name = params.set_index("Parameter")
    # numbers stored as numbers, with formats (not text), named for the practice formulas
    assert by_name.loc["Price per weighted patient", "Value"] == 123.34
    assert by_name.loc["Out-of-hours deduction", "Value"] == 0.0475
    factors = params[params["Parameter"] == "Normalisation factor"].set_index("Key")["Value"]
    assert set(factors.index) == {"Global sum", "Deprivation weighted"}
    wb = openpyxl.load_workbook(written["sub"])
    ws = wb["Parameters"]
    price_cell = ws[wb.defined_names["Price_per_weighted_patient"].attr_text.split("!")[1].replace("$", "")]
    assert price_cell.value == 123.34 and price_cell.number_format.startswith("£#,##0.00")
    ooh = ws[wb.defined_names["Out_of_hours_deduction"].attr_text.split("!")[1].replace("$", "")]
    assert ooh.value == 0.0475 and ooh.number_format == "0.00%"


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
    col = headers.index("Capitation per registered patient: Global sum (£, annual)") + 1
    cell = ws.cell(HEADER_ROW + 2, col)
    p = practice_table(result)
    q1 = p[p["deprivation_quintile"] == 1]  # L83001 + L81001
    expected = int(q1["capitation_pence__global_sum"].sum()) / (9120 + 11020) / 100
    assert cell.value == pytest.approx(expected)
    assert cell.number_format.startswith("£#,##0.00")


def test_practice_pounds_are_live_formulas_of_list_indices_factor_price_and_adjustment(written):
    """Each practice's capitation is ROUND(weighted list x price x (1 - out-of-hours) in pennies) plus
    the shown penny adjustment; the weighted list is registered x the indices x the normalisation factor.
    Evaluated here from the cells' stored numbers, the row gives the ledger's pennies exactly."""
    result = make_result()
    wb = openpyxl.load_workbook(written["sub"])
    ws = wb["Practices"]
    headers = [c.value for c in ws[HEADER_ROW + 1]]
    col = {h: i + 1 for i, h in enumerate(headers)}

    def named(name: str) -> float:
        sheet, ref = wb.defined_names[name].attr_text.split("!")
        return wb[sheet.strip("'=")][ref.replace("$", "")].value

    price, ooh = named("Price_per_weighted_patient"), named("Out_of_hours_deduction")
    factor = named("Normalisation_factor_global_sum")
    assert factor == pytest.approx(
        70225
        / sum(
            r * a * n
            for r, a, n in zip(
                *(
                    result.practices[c]
                    for c in ("registered_patients", "index_age_sex", "index_additional_needs")
                ),
                strict=True,
            )
        )
    )
    pence = practice_table(result, SUB).set_index("practice_code")["capitation_pence__global_sum"]
    adjustments = []
    for r in range(HEADER_ROW + 2, HEADER_ROW + 2 + len(pence)):
        code = ws.cell(r, 1).value
        wl_cell = ws.cell(r, col["Weighted list: Global sum"])
        assert wl_cell.value == f"=F{r}*G{r}*H{r}*Normalisation_factor_global_sum"
        wl = ws.cell(r, col["Registered patients"]).value * ws.cell(r, col["Age-sex index"]).value
        wl = wl * ws.cell(r, col["Additional needs index"]).value * factor
        adj = ws.cell(r, col["Penny adjustment: Global sum (pence, annual)"]).value
        assert isinstance(adj, int) and abs(adj) <= 2
        adjustments.append(adj)
        amount = ws.cell(r, col["Capitation: Global sum (£, annual)"]).value
        assert (
            amount.startswith("=(ROUND((")
            and "*Price_per_weighted_patient*(1-Out_of_hours_deduction)" in amount
        )
        x = wl * price * (1 - ooh) * 100
        assert int(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP)) + adj == pence[code]
    # the money columns say their period basis
    money = [h for h in headers if "£" in h]
    assert money and all("annual" in h for h in money)


def test_payment_schedule_months_add_to_the_quarter_and_follow_the_stated_rule(written):
    result = make_result()
    frame = pd.read_excel(written["sub"], sheet_name="Payments", header=HEADER_ROW)
    assert list(frame.columns[3:]) == [
        "Capitation payable: Global sum (£, annual)",
        "July 2025 (£, monthly)",
        "August 2025 (£, monthly)",
        "September 2025 (£, monthly)",
        "2025/26 Q2 payable (£, quarterly)",
    ]
    p = practice_table(result, SUB)
    body, total = frame.iloc[:-1], frame.iloc[-1]
    for (_, row), annual in zip(body.iterrows(), p["capitation_pence__global_sum"], strict=True):
        months = [round(row[c] * 100) for c in frame.columns[4:7]]
        # months 4-6 of the financial year: a twelfth each, the remainder's pennies to months 1, 2, ...
        assert months == [annual // 12 + (annual % 12 >= m) for m in (4, 5, 6)]
        assert round(row[frame.columns[7]] * 100) == sum(months)
    quarter = int(p["quarter_pence__global_sum"].sum())
    assert round(total[frame.columns[7]] * 100) == quarter
    nat = pd.read_excel(written["nat"], sheet_name="Payments", header=HEADER_ROW)
    assert round(nat.iloc[-1][nat.columns[-1]] * 100) == int(
        practice_table(result)["quarter_pence__global_sum"].sum()
    )
    ws = openpyxl.load_workbook(written["sub"])["Payments"]
    assert ws.cell(HEADER_ROW + 2, 4).value == "='Practices'!T4"


SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ARTEFACT = re.compile(r"\d\.\d*(?:0{6,}|9{6,})\d")
SERVER_PATH = re.compile(r"(?:^|[\s(:])/(?:srv|var|tmp|home|opt|usr|etc|mnt|data)\b|[A-Za-z]:\\\\")
DOCUMENTS = re.compile(r"\b[\w-]+\.md\b|Engine note", re.IGNORECASE)


@pytest.mark.parametrize("book", ["sub", "nat"])
def test_no_machine_keys_float_artefacts_server_paths_or_unknown_documents(written, book):
    """What a reader sees is in words: no snake_case key, no binary float artefact in text, no path on
    the server, no reference to a document the reader does not have (hostile practice names aside)."""
    wb = openpyxl.load_workbook(written[book])
    hostile = set(HOSTILE_NAMES.values())
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type != "s" or not cell.value or cell.value in hostile:
                    continue
                seen += 1
                text = str(cell.value)
                where = (ws.title, cell.coordinate, text[:120])
                assert not SNAKE.search(text), where
                assert not ARTEFACT.search(text), where
                assert not SERVER_PATH.search(text), where
                assert not DOCUMENTS.search(text), where
    assert seen > 100


def test_the_hygiene_checks_catch_planted_defects():
    assert SNAKE.search("implied_price_median_gbp") and not SNAKE.search("Implied price (median)")
    assert ARTEFACT.search("63774784.00000001") and ARTEFACT.search("0.30000000000000004")
    assert not ARTEFACT.search("825,012,780") and not ARTEFACT.search("1.054")
    assert SERVER_PATH.search("Report: /var/lib/run/index.html") and not SERVER_PATH.search("GMS/PMS")
    assert DOCUMENTS.search("see domain.md A2b") and DOCUMENTS.search("Engine note 9")


def _cover(path: Path) -> dict[str, str]:
    ws = openpyxl.load_workbook(path)["Cover"]
    return {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(HEADER_ROW + 2, ws.max_row + 1)}


def test_every_cover_gives_status_version_date_publisher_contact_and_its_own_quarantine(written):
    for book in ("sub", "nat"):
        cover = _cover(written[book])
        assert cover["Status"] == "Final"
        assert cover["Version"] == "Publication 3 for 2025/26 Q2"
        assert cover["Publication date"] == "1 October 2025"
        assert cover["Published by"] == "NHS Devon ICB primary care finance"
        assert cover["Contact"] == "Primary care finance, england.gp-allocations@nhs.net"
        assert "Payments sheet" in cover["Payable this quarter"]
    sub, nat = (_cover(written[b])["Quarantined input rows"] for b in ("sub", "nat"))
    assert sub.startswith("1 flagged input row(s) at 1 practice(s) of this sub-ICB location (")
    assert nat.startswith("1 flagged input row(s) at 1 practice(s) of England (")
    for text in (sub, nat):
        assert "Whole run: 2 flagged row(s), 1 of them not tied to a practice paid in this run" in text


def test_a_draft_says_so_and_a_missing_contact_is_shown_missing(tmp_path):
    run = make_run()
    run.status, run.contact, run.version = "draft", None, None
    write_sub_icb_workbook(make_result(), SUB, tmp_path / "d.xlsx", run=run)
    cover = _cover(tmp_path / "d.xlsx")
    assert cover["Status"].startswith("DRAFT") and cover["Contact"].startswith("[x]")
    assert cover["Version"].startswith("[x]")
    with pytest.raises(ValueError, match="draft"):
        RunInfo(run_id="r", period_label="2025/26 Q2", status="provisional")


def test_icb_sheet_shows_the_sister_sub_icbs_and_the_icb_total(written):
    result = make_result()
    frame = pd.read_excel(written["sub"], sheet_name="ICB", header=HEADER_ROW)
    icb = result.practices.loc[result.practices["sub_icb_code"] == SUB, "icb_code"].iloc[0]
    sisters = sorted(result.practices.loc[result.practices["icb_code"] == icb, "sub_icb_code"].unique())
    assert list(frame["Sub-ICB code"][:-1]) == sisters and frame["Sub-ICB code"].iloc[-1] == f"Total: {icb}"
    total = frame.iloc[-1]
    wide = practice_table(result)
    icb_pence = int(wide.loc[wide["icb_code"] == icb, "capitation_pence__global_sum"].sum())
    assert round(total["Capitation: Global sum (£, annual)"] * 100) == icb_pence


_SHOWN = {
    "£#,##0.00;-£#,##0.00": lambda x: f"-£{-x:,.2f}" if x < 0 else f"£{x:,.2f}",
    "£#,##0.0000": lambda x: f"£{x:,.4f}",
    "#,##0": lambda x: f"{round(x):,}",
    "#,##0.00": lambda x: f"{x:,.2f}",
    "0.0000": lambda x: f"{x:.4f}",
    "0.00%": lambda x: f"{x:.2%}",
    "0.000000000": lambda x: f"{x:.9f}",
    "#,##0.0#####": lambda x: f"{x:,.6f}",
}


def _width(ws, column: int) -> float:
    """The width of a column (openpyxl keeps adjacent equal widths as one range)."""
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= column <= dim.max:
            return dim.width
    return 8.43  # the default


@pytest.mark.parametrize("book", ["sub", "nat", "statements"])
def test_columns_fit_their_longest_shown_number_and_pages_print_a4_at_full_size(written, book):
    """No '###': every number (totals included) fits its column as its format shows it; A4 landscape
    at 100% (wide tables split over pages, never shrunk), header row and key columns repeated, fonts of
    at least 8 pt, a footer with the publisher, the period and 'page x of y'. A practice statement is one
    A4 portrait page."""
    formulas = openpyxl.load_workbook(written[book])
    values = openpyxl.load_workbook(written[book], data_only=True)
    checked = 0
    names = set(formulas.sheetnames)
    bridges = {
        "sub": {"Change since last quarter", "Change since a year ago", "ICB since last quarter"},
        "nat": {"Sub-ICBs since last quarter", "ICBs since last quarter", "ICBs since a year ago"},
        "statements": set(),
    }
    assert bridges[book] | ({"Largest movers"} if book != "statements" else set()) <= names
    for ws in formulas.worksheets:
        shown = values[ws.title]
        statement = book == "statements" and ws.title not in ("Contents", "Notes")
        orientation = "portrait" if statement else "landscape"
        assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == orientation, ws.title
        if statement:  # one page per practice
            assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight in (None, 1)
            assert ws.oddFooter.right.text == f"{ws.title}: page &P of &N"
        else:
            assert not ws.sheet_properties.pageSetUpPr or not ws.sheet_properties.pageSetUpPr.fitToPage
            assert ws.page_setup.scale in (None, 100)
            assert "Page &P of &N" in ws.oddFooter.right.text
        assert ws.oddHeader.left.text == "&A" or statement, ws.title  # the sheet's name on every page
        left = ws.oddFooter.left.text
        assert left.startswith("NHS Devon ICB primary care finance: ") and "2025/26 Q2" in left, ws.title
        if ws.title != "Cover":
            assert ws.print_title_rows == "$3:$3", ws.title
        for row in ws.iter_rows():
            for cell in row:
                assert cell.font.sz is None or cell.font.sz >= 8
                value = shown[cell.coordinate].value
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                fmt = cell.number_format
                if fmt == "General":
                    continue
                text = _SHOWN[fmt](value)
                width = _width(ws, cell.column)
                assert len(text) * (1.15 if cell.font.b else 1.0) + 1 <= width, (
                    ws.title,
                    cell.coordinate,
                    text,
                    width,
                )
                checked += 1
    assert checked > 100
