"""Practice statements (issue 16.3): one statements workbook per sub-ICB location, a sheet and one A4
portrait page per practice, amounts as live formulas cached with the engine's pennies; a PDF through
LibreOffice headless with one practice per page, checked by counting its pages and reading their text
(LibreOffice recalculates with a private always-recalculate profile, so a planted wrong cached value
must not reach the PDF)."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import openpyxl
import pytest

from _workbook_fixtures import make_result, make_run
from gp_allocations import office, publish
from gp_allocations.bridge import STEPS, Comparison, bridge, level_totals, practice_facts
from gp_allocations.errors import PublishError
from gp_allocations.views import practice_table
from gp_allocations.workbooks.columns import COMPONENT_LABELS
from gp_allocations.workbooks.statements import NO_PREVIOUS, write_statements_workbook
from test_workbook_accessibility import accessibility_problems

PERIOD = "2025-26-Q2"


def _last_quarter(result) -> Comparison:
    """A previous quarter with L83001 on 100 fewer patients and 1,000 pennies less, L83002 absent."""
    now = practice_facts(result)
    before = now[now["practice_code"] != "L83002"].copy()
    first = before["practice_code"] == "L83001"
    before.loc[first, "registered_patients"] -= 100
    before.loc[first, "payable_pence"] -= 1_000_00
    per_practice = bridge(before, now)
    return Comparison("previous_quarter", "2025-26-Q1", "run-q1", None, level_totals(per_practice))


def _items(ws) -> dict[str, object]:
    """Item -> Value cell (its formula, or its value) of one statement sheet."""
    return {r[1].value: r[2].value for r in ws.iter_rows(min_row=4) if r[1].value}


def _values(path: Path) -> dict[str, dict[str, object]]:
    wb = openpyxl.load_workbook(path, data_only=True)
    return {ws.title: _items(ws) for ws in wb.worksheets if ws.title not in ("Contents", "Notes")}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[Path, object]:
    result = make_result(hostile_names=True)
    path = tmp_path_factory.mktemp("st") / "statements.xlsx"
    run = dataclasses.replace(make_run(), comparisons=(_last_quarter(result),))
    n = write_statements_workbook(result, "15N", path, run=run)
    assert n == 5
    return path, result


def test_one_sheet_per_practice_with_the_engine_pennies(book):
    path, result = book
    table = practice_table(result, "15N")
    v = result.selected_variant
    values = _values(path)
    assert list(values) == list(table["practice_code"])
    for row in table.to_dict("records"):
        got = values[row["practice_code"]]
        assert got["Practice code"] == row["practice_code"]
        assert round(got["Capitation payable (£, annual)"] * 100) == row[f"capitation_pence__{v}"]
        assert round(got["2025/26 Q2 payable (£, quarterly)"] * 100) == row[f"quarter_pence__{v}"]
        months = [k for k in got if str(k).endswith("(£, monthly)")]
        assert [round(got[m] * 100) for m in months] == [row[f"month_{i}_pence__{v}"] for i in (1, 2, 3)]
        assert round(got["QOF (£, annual)"] * 100) == row["qof_pence"]
        assert got["Registered patients"] == row["registered_patients"]
        for item in ("Normalisation factor", "Weighted list", "Price per weighted patient (£, annual)"):
            assert isinstance(got[item], float), item
        # the lines add up to the payable amount, to the penny
        parts = ["Capitation before deductions (£, annual)", "Out-of-hours deduction (£, annual)"]
        pence = sum(round(got[p] * 100) for p in parts) + got["Penny adjustment (pence)"]
        assert pence == row[f"capitation_pence__{v}"]
        assert got["Version"] == "Publication 3" and got["Contact for questions"]


def test_amounts_are_live_formulas_and_extract_text_stays_text(book):
    path, _ = book
    wb = openpyxl.load_workbook(path)
    ws = wb["L83001"]
    items = _items(ws)
    assert items["Weighted list"].startswith("=$C$") and "*" in items["Weighted list"]
    assert items["Capitation payable (£, annual)"].startswith("=(ROUND(")
    assert items["2025/26 Q2 payable (£, quarterly)"].count("+") == 2
    assert items["Change (£, annual)"].startswith("=$C$")
    names = [wb[s]["C5"] for s in wb.sheetnames if s not in ("Contents", "Notes")]
    hostile = [c for c in names if str(c.value).startswith(("=", "+", "-", "@"))]
    assert hostile and all(c.data_type == "s" for c in hostile)  # written as text, never a formula


def test_change_since_last_quarter_with_its_bridge_to_the_penny(book):
    path, _ = book
    values = _values(path)
    got = values["L83001"]
    assert got["Previous publication"] == "2025/26 Q1 (run run-q1)"
    assert round(got["Change (£, annual)"] * 100) == 1_000_00
    steps = [round(got[f"Bridge: {s.label} (£, annual)"] * 100) for s in STEPS]
    assert sum(steps) == 1_000_00 and steps[0] > 0  # the list grew: the registered-list step is positive
    opened = values["L83002"]  # not in the previous publication: all of it is "opened or closed"
    assert opened["Capitation payable then (£, annual)"] == 0
    assert round(opened["Bridge: Practices opened or closed (£, annual)"] * 100) == round(
        opened["Capitation payable (£, annual)"] * 100
    )


def test_a_change_of_formula_variant_since_last_quarter_is_on_the_statement(tmp_path):
    result = make_result()
    switched = dataclasses.replace(
        _last_quarter(result), variant_change=("deprivation_weighted", "global_sum")
    )
    path = tmp_path / "s.xlsx"
    write_statements_workbook(
        result, "15N", path, run=dataclasses.replace(make_run(), comparisons=(switched,))
    )
    assert _values(path)["L83001"]["Formula variant then"] == "Deprivation weighted"
    write_statements_workbook(
        result, "15N", path, run=dataclasses.replace(make_run(), comparisons=(_last_quarter(result),))
    )
    assert "Formula variant then" not in _values(path)["L83001"]


def test_no_previous_publication_says_why(tmp_path):
    result = make_result()
    path = tmp_path / "s.xlsx"
    write_statements_workbook(result, "15C", path, run=make_run())
    ws = openpyxl.load_workbook(path)[openpyxl.load_workbook(path).sheetnames[1]]
    assert any(c.value == NO_PREVIOUS for row in ws.iter_rows() for c in row)
    none = Comparison("previous_quarter", "2025-26-Q1", reason="nothing has been published for 2025/26 Q1")
    write_statements_workbook(result, "15C", path, run=dataclasses.replace(make_run(), comparisons=(none,)))
    ws = openpyxl.load_workbook(path)[openpyxl.load_workbook(path).sheetnames[1]]
    assert any(c.value == none.reason for row in ws.iter_rows() for c in row)


#: what issue 16.3 asks of every statement, as the items that carry it (a value, never blank)
REQUIRED_ITEMS = (
    "Registered patients",
    *COMPONENT_LABELS.values(),
    "Normalisation factor",
    "Weighted list",
    "Price per weighted patient (£, annual)",
    "Out-of-hours deduction (£, annual)",
    "Penny adjustment (pence)",
    "Capitation payable (£, annual)",
    "2025/26 Q2 payable (£, quarterly)",
    "QOF points",
    "QOF (£, annual)",
    "Previous publication",
    "Change (£, annual)",
    *(f"Bridge: {s.label} (£, annual)" for s in STEPS),
    "Version",
    "Status",
    "Publication date",
    "Contact for questions",
)


def missing_items(items: dict[str, object]) -> list[str]:
    """The issue's items a statement lacks or leaves blank, and whether it has its three months."""
    out = [k for k in REQUIRED_ITEMS if items.get(k) in (None, "")]
    months = [k for k in items if str(k).endswith("(£, monthly)")]
    return out + ([] if len(months) == 3 else [f"three monthly amounts (found {len(months)})"])


def test_every_statement_carries_every_item_the_issue_lists_and_its_sign_off(tmp_path):
    result = make_result()
    signed = "Approved by Jane Smith on 2025-10-02 09:15 UTC: QOF corrected"
    run = dataclasses.replace(make_run(), comparisons=(_last_quarter(result),), sign_off=signed)
    path = tmp_path / "s.xlsx"
    write_statements_workbook(result, "15N", path, run=run)
    values = _values(path)
    assert len(values) == 5
    for code, items in values.items():
        assert missing_items(items) == [], code
        assert items["Sign-off"] == signed
    # the check is not vacuous: a statement without its normalisation factor or a month is caught
    planted = {k: v for k, v in values["L83001"].items() if k != "Normalisation factor" and "July" not in k}
    assert missing_items(planted) == ["Normalisation factor", "three monthly amounts (found 2)"]
    # a run that needed no sign-off has no sign-off line
    write_statements_workbook(result, "15N", path, run=make_run())
    assert not any("Sign-off" in items for items in _values(path).values())


def test_statements_workbook_is_accessible_and_printable(book):
    path, _ = book
    assert accessibility_problems(path) == []
    wb = openpyxl.load_workbook(path)
    ws = wb["L83001"]
    assert ws.page_setup.orientation == "portrait" and int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight in (None, 1)


def test_file_names_come_through_the_safe_name_check():
    assert (
        publish.statements_file_name(PERIOD, "15N", ".pdf") == f"gp-allocations_{PERIOD}_15N_statements.pdf"
    )
    with pytest.raises(PublishError):
        publish.statements_file_name(PERIOD, "../15N")


# --- LibreOffice ------------------------------------------------------------------------------------


def _pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def _pdf_page_text(path: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _gbp(pence: int) -> str:
    return f"-£{-pence / 100:,.2f}" if pence < 0 else f"£{pence / 100:,.2f}"


@pytest.mark.libreoffice
def test_pdf_has_one_practice_per_page_and_is_in_the_manifest(tmp_path):
    if not shutil.which("pdfinfo"):
        pytest.fail("poppler-utils (pdfinfo, pdftotext) is missing")
    result, run = make_result(), make_run()
    entries = publish.stage_sub_icb_statements(result, run, tmp_path, "15N", period_slug=PERIOD, pdf=True)
    assert [e["kind"] for e in entries] == ["statements", "statements_pdf"]
    pdf = tmp_path / entries[1]["name"]
    assert entries[1]["sha256"] == publish.sha256_of(pdf) and entries[1]["rows"] == 5
    table = practice_table(result, "15N")
    assert _pdf_pages(pdf) == len(table) == 5
    v = result.selected_variant
    for page, row in enumerate(table.to_dict("records"), start=1):
        text = _pdf_page_text(pdf, page)
        assert row["practice_code"] in text and row["practice_name"] in text
        assert _gbp(row[f"capitation_pence__{v}"]) in text and _gbp(row[f"quarter_pence__{v}"]) in text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(e["name"] for e in entries)  # no leftovers


def _plant_wrong_annual(source: Path, target: Path) -> None:
    """Copy the workbook with every cached annual payable amount set to 1.00 (formulas kept)."""
    out = io.BytesIO()
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(out, "w") as w:
        for info in z.infolist():
            body = z.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                body = re.sub(rb"(<f>\(ROUND\([^<]*</f><v>)[^<]*(</v>)", rb"\g<1>1\g<2>", body)
            w.writestr(info, body)
    target.write_bytes(out.getvalue())


@pytest.mark.libreoffice
def test_pdf_shows_what_libreoffice_recalculates_not_the_cached_values(tmp_path):
    result = make_result()
    source, planted = tmp_path / "good.xlsx", tmp_path / "planted.xlsx"
    write_statements_workbook(result, "15C", source, run=make_run(), for_print=True)
    _plant_wrong_annual(source, planted)
    assert b"<v>1</v>" in zipfile.ZipFile(planted).read("xl/worksheets/sheet1.xml")
    office.convert_to_pdf(planted, tmp_path / "planted.pdf")
    row = practice_table(result, "15C").iloc[0]
    text = _pdf_page_text(tmp_path / "planted.pdf", 1)
    assert _gbp(int(row[f"capitation_pence__{result.selected_variant}"])) in text
    assert not re.search(r"Capitation payable \(£, annual\)\s+£1\.00\b", text)


@pytest.mark.libreoffice
def test_conversions_run_in_parallel_each_with_its_own_profile(tmp_path):
    result, run = make_result(), make_run()
    errors: list[BaseException] = []

    def convert(code: str) -> None:
        try:
            folder = tmp_path / code
            folder.mkdir()
            publish.stage_sub_icb_statements(result, run, folder, code, period_slug=PERIOD, pdf=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=convert, args=(c,)) for c in ("15N", "15C")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _pdf_pages(next((tmp_path / "15N").glob("*.pdf"))) == 5
    assert _pdf_pages(next((tmp_path / "15C").glob("*.pdf"))) == 3


def test_a_conversion_that_outlives_its_timeout_is_stopped_with_a_clear_error(tmp_path):
    source = tmp_path / "s.xlsx"
    write_statements_workbook(make_result(), "15C", source, run=make_run())
    with pytest.raises(PublishError, match=r"longer than 0 s .*nothing was published"):
        office.convert_to_pdf(source, tmp_path / "s.pdf", timeout=0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.xlsx"]


def test_missing_libreoffice_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(office.shutil, "which", lambda _name: None)
    with pytest.raises(PublishError, match=r"LibreOffice is not installed.*GP_ALLOC_STATEMENT_PDFS"):
        office.convert_to_pdf(tmp_path / "s.xlsx", tmp_path / "s.pdf")


def test_a_failed_conversion_names_the_file(tmp_path):
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"not a workbook")
    with pytest.raises(PublishError, match=r"could not make broken\.pdf"):
        office.convert_to_pdf(bad, tmp_path / "broken.pdf")
