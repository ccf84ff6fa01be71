"""Open the workbooks in LibreOffice (headless), let it recalculate every formula, and compare its totals
with the pipeline's own integer pence. Needs `soffice` (Debian package libreoffice-calc); CI installs it."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from _printed import first_pages, words_off_page
from _workbook_fixtures import make_result, make_run
from gp_allocations.office import ALWAYS_RECALC
from gp_allocations.views import practice_table
from gp_allocations.workbooks import HEADER_ROW, write_national_workbook, write_sub_icb_workbook
from gp_allocations.workbooks.statements import write_statements_workbook

pytestmark = pytest.mark.libreoffice


def _soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        pytest.fail("LibreOffice is missing: install it with `apt-get install libreoffice-calc` (CI does)")
    return exe


def _control_workbook(path: Path) -> None:
    """A formula whose cached value is deliberately wrong: proves LibreOffice really recalculates."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Control")
    ws.write_number(0, 0, 2)
    ws.write_number(1, 0, 3)
    ws.write_formula(2, 0, "=SUM(A1:A2)", None, 999)
    wb.close()


# XlsxWriter files say they were written by "Microsoft Excel", and LibreOffice then trusts the cached
# values instead of recalculating (measured: a control formula kept its wrong cached value). A private
# profile with "always recalculate on load" for OOXML makes the comparison real.


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    exe = _soffice()
    folder = tmp_path_factory.mktemp("lo")
    src, out = folder / "src", folder / "out"
    src.mkdir()
    profile = folder / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(ALWAYS_RECALC, encoding="utf-8")
    result, run = make_result(), make_run()
    write_sub_icb_workbook(result, "15N", src / "sub.xlsx", run=run)
    write_sub_icb_workbook(result, "15C", src / "sub2.xlsx", run=run)
    write_national_workbook(result, src / "nat.xlsx", run=run)
    _control_workbook(src / "control.xlsx")
    _plant_wrong_cached_value(src / "sub.xlsx", src / "planted.xlsx")
    names = ["sub", "sub2", "nat", "control", "planted"]
    files = [str(src / f"{n}.xlsx") for n in names]
    proc = subprocess.run(
        [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            *files,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {n: (src / f"{n}.xlsx", out / f"{n}.xlsx") for n in names}


PLANTED_CELL = "T4"  # the first practice's global sum capitation (a formula) on the Practices sheet


def _plant_wrong_cached_value(source: Path, target: Path) -> None:
    """A copy of a real workbook whose first practice's capitation formula caches a wrong amount."""
    plant_cached_value(source, target, "Practices", PLANTED_CELL, "1.23")


def plant_cached_value(source: Path, target: Path, sheet: str, cell: str, value: str) -> None:
    """A copy of an XlsxWriter workbook whose formula in ``sheet``!``cell`` caches ``value`` instead."""
    index = openpyxl.load_workbook(source, read_only=True).sheetnames.index(sheet) + 1
    member = f"xl/worksheets/sheet{index}.xml"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == member:
                text, n = re.subn(
                    rf'(<c r="{cell}"[^>]*><f>[^<]*</f><v>)[^<]*(</v>)', rf"\g<1>{value}\g<2>", data.decode()
                )
                assert n == 1, f"{sheet}!{cell} is not a formula with a cached value"
                data = text.encode()
            zout.writestr(item, data)


def recalculate(paths: list[Path], out: Path, work: Path) -> dict[Path, Path]:
    """Each workbook opened and saved by LibreOffice headless with a profile set to always recalculate:
    source -> LibreOffice's copy (every formula's value is then LibreOffice's own)."""
    profile = work / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(ALWAYS_RECALC, encoding="utf-8")
    cmd = [_soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", "xlsx"]
    proc = subprocess.run(
        [*cmd, "--outdir", str(out), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {p: out / p.name for p in paths}


def formula_differences(original: Path, recalculated: Path) -> tuple[int, list[str]]:
    """(formula cells compared, those whose LibreOffice value is not the value the writer cached: the
    engine's pennies). A number must agree to one part in 10^9 (pennies exactly), text exactly."""
    formulas = openpyxl.load_workbook(original)
    cached = openpyxl.load_workbook(original, data_only=True)
    lo = openpyxl.load_workbook(recalculated, data_only=True)
    n, wrong = 0, []
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type != "f":
                    continue
                n += 1
                want, got = cached[ws.title][c.coordinate].value, lo[ws.title][c.coordinate].value
                numbers = isinstance(want, int | float) and isinstance(got, int | float)
                if not (math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9) if numbers else got == want):
                    wrong.append(
                        f"{original.name} {ws.title}!{c.coordinate} {c.value}: cached {want!r}, got {got!r}"
                    )
    return n, wrong


def _practice_money_differences(path: Path, result) -> list[str]:
    """Every practice row's capitation and total against the ledger's pennies, as read from ``path``
    (values as stored: after LibreOffice's recalculation, its own results)."""
    sheet = openpyxl.load_workbook(path, data_only=True)["Practices"]
    headers = [c.value for c in sheet[HEADER_ROW + 1]]
    wide = practice_table(result).set_index("practice_code")
    wrong = []
    for r in range(HEADER_ROW + 2, sheet.max_row + 1):
        code = sheet.cell(r, 1).value
        if code not in wide.index:
            continue
        for v, label in [("global_sum", "Global sum"), ("deprivation_weighted", "Deprivation weighted")]:
            for header, key in [
                (f"Capitation: {label} (£, annual)", f"capitation_pence__{v}"),
                (f"Total: {label} (£, annual)", f"total_pence__{v}"),
            ]:
                got = sheet.cell(r, headers.index(header) + 1).value
                if not isinstance(got, float | int) or round(got * 100) != int(wide.loc[code, key]):
                    wrong.append(f"{code} {header}: {got!r}")
    return wrong


def test_every_practice_row_recalculates_to_its_pennies(converted):
    result = make_result()
    for name in ["sub", "sub2", "nat"]:
        _, recalculated = converted[name]
        assert _practice_money_differences(recalculated, result) == [], name


def test_a_planted_wrong_cached_value_is_caught_and_recalculated_away(converted):
    result = make_result()
    planted, recalculated = converted["planted"]
    # read without recalculating, the planted value is caught...
    assert _practice_money_differences(planted, result) == ["L83001 Capitation: Global sum (£, annual): 1.23"]
    # ...and LibreOffice's recalculation replaces it with the formula's pennies
    assert _practice_money_differences(recalculated, result) == []


def test_payment_schedule_recalculates_to_the_aggregates(converted):
    result = make_result()
    for name, scope in [("sub", "15N"), ("sub2", "15C"), ("nat", None)]:
        _, recalculated = converted[name]
        sheet = openpyxl.load_workbook(recalculated, data_only=True)["Payments"]
        headers = [c.value for c in sheet[HEADER_ROW + 1]]
        wide = practice_table(result, scope)
        total_row = next(
            r for r in range(HEADER_ROW + 2, sheet.max_row + 1) if sheet.cell(r, 1).value == "Total"
        )
        for i, key in enumerate(["month_1", "month_2", "month_3", "quarter"]):
            column = headers.index(headers[4 + i]) + 1
            assert round(sheet.cell(total_row, column).value * 100) == int(
                wide[f"{key}_pence__global_sum"].sum()
            ), (name, key)
        if scope:
            for r, row in enumerate(wide.itertuples(), start=HEADER_ROW + 2):
                got = [round(sheet.cell(r, c).value * 100) for c in range(5, 9)]
                assert got == [
                    getattr(row, f"{k}_pence__global_sum")
                    for k in ("month_1", "month_2", "month_3", "quarter")
                ]


def test_libreoffice_really_recalculates(converted):
    _, out = converted["control"]
    assert openpyxl.load_workbook(out, data_only=True)["Control"]["A3"].value == 5


def _totals(original: Path, recalculated: Path, sheet: str) -> dict[str, float]:
    """Header -> LibreOffice's value of every formula cell in the sheet's total row."""
    formulas = openpyxl.load_workbook(original)[sheet]
    values = openpyxl.load_workbook(recalculated, data_only=True)[sheet]
    headers = [c.value for c in formulas[HEADER_ROW + 1]]
    row = next(r for r in range(HEADER_ROW + 2, formulas.max_row + 1) if formulas.cell(r, 1).value == "Total")
    out = {}
    for j, header in enumerate(headers, start=1):
        if formulas.cell(row, j).data_type == "f":
            out[header] = values.cell(row, j).value
    assert out, sheet
    return out


def test_sub_icb_totals_match_pipeline_pence(converted):
    result = make_result()
    wide = practice_table(result)
    p = wide[wide["sub_icb_code"] == "15N"]
    original, recalculated = converted["sub"]
    for sheet in ["Practices", "Summary", "Contract types", "By deprivation"]:
        totals = _totals(original, recalculated, sheet)
        for v, label in [("global_sum", "Global sum"), ("deprivation_weighted", "Deprivation weighted")]:
            assert round(totals[f"Capitation: {label} (£, annual)"] * 100) == int(
                p[f"capitation_pence__{v}"].sum()
            )
            if sheet != "By deprivation":
                assert round(totals[f"Total: {label} (£, annual)"] * 100) == int(p[f"total_pence__{v}"].sum())
        assert totals["Registered patients"] == int(p["registered_patients"].sum())
    practices = _totals(original, recalculated, "Practices")
    assert round(practices["QOF (£, annual)"] * 100) == int(p["qof_pence"].sum())
    change = practices["Change, Deprivation weighted minus global sum (£, annual)"]
    assert round(change * 100) == int(p["capitation_pence__deprivation_weighted"].sum()) - int(
        p["capitation_pence__global_sum"].sum()
    )


def test_national_totals_match_envelope(converted):
    result = make_result()
    original, recalculated = converted["nat"]
    for sheet in ["Practices", "Summary", "Contract types"]:
        totals = _totals(original, recalculated, sheet)
        for v, label in [("global_sum", "Global sum"), ("deprivation_weighted", "Deprivation weighted")]:
            assert (
                round(totals[f"Capitation: {label} (£, annual)"] * 100)
                == result.envelopes_pence[v]
                == 825_012_780
            )
    for sheet in ["Sub-ICBs", "ICBs", "Regions"]:
        totals = _totals(original, recalculated, sheet)
        assert round(totals["Capitation: Global sum (£, annual)"] * 100) == 825_012_780
        assert round(totals["QOF (£, annual)"] * 100) == int(practice_table(result)["qof_pence"].sum())


def _pdf_text(exe: str, workbook: Path, folder: Path) -> str:
    """The workbook printed by LibreOffice (every sheet, its own print set-up), as text."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [exe, "--headless", "--convert-to", "pdf", "--outdir", str(folder), str(workbook)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pdf = folder / f"{workbook.stem}.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    return text.stdout


def _narrow_column_workbook(path: Path) -> None:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Narrow")
    ws.set_column(0, 0, 4)
    ws.write_number(0, 0, 63774784.25, wb.add_format({"num_format": "£#,##0.00"}))
    wb.close()


def test_no_hashes_when_libreoffice_prints_the_workbooks(converted, tmp_path):
    """LibreOffice shows '###' for a number its column cannot hold; printed at 100% (the workbooks are
    never shrunk), the PDF text of every sheet has none. A planted narrow column shows the check works."""
    exe = _soffice()
    _narrow_column_workbook(tmp_path / "narrow.xlsx")
    assert "###" in _pdf_text(exe, tmp_path / "narrow.xlsx", tmp_path / "pdf")
    for name in ["sub", "nat"]:
        source, _ = converted[name]
        text = _pdf_text(exe, source, tmp_path / "pdf")
        assert "Page 1 of" in text and "###" not in text, name


def printed_in_part(pdf: Path, workbook: Path) -> set[tuple[str, str]]:
    """(sheet, cell) of every title (A1) and note (A2) not printed in full on its sheet's first page (the
    page whose header names the sheet), spaces ignored."""
    wb = openpyxl.load_workbook(workbook, read_only=True)
    pages = first_pages(pdf, wb.sheetnames)
    cut = set()
    for ws in wb.worksheets:
        page = str(pages[ws.title])
        text = subprocess.run(
            ["pdftotext", "-f", page, "-l", page, str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        for cell in ("A1", "A2"):
            if re.sub(r"\s+", "", str(ws[cell].value)) not in re.sub(r"\s+", "", text):
                cut.add((ws.title, cell))
    return cut


def test_every_title_and_note_prints_in_full_on_its_sheet_s_first_page(tmp_path):
    """Printed as a finance analyst would print them (LibreOffice, each sheet's own set-up), with the
    bridges: no title or note is cut at the page's edge; a planted long title is caught."""
    import dataclasses

    from gp_allocations.bridge import Comparison
    from gp_allocations.office import convert_to_pdf
    from test_statements import _last_quarter

    result = make_result()
    none = Comparison("year_earlier", "2024-25-Q2", reason="nothing has been published for 2024/25 Q2")
    run = dataclasses.replace(make_run(), comparisons=(_last_quarter(result), none))
    write_sub_icb_workbook(result, "15N", tmp_path / "sub.xlsx", run=run)
    write_national_workbook(result, tmp_path / "nat.xlsx", run=run)
    write_statements_workbook(result, "15N", tmp_path / "statements.xlsx", run=run)
    found, across = set(), []
    for book in ("sub", "nat", "statements"):
        convert_to_pdf(tmp_path / f"{book}.xlsx", tmp_path / f"{book}.pdf")
        found |= {(book, *c) for c in printed_in_part(tmp_path / f"{book}.pdf", tmp_path / f"{book}.xlsx")}
        across += [(book, *w) for w in words_off_page(tmp_path / f"{book}.pdf")]
    assert not found, found
    assert not across, across  # no text runs over a page's edge (cut mid-word onto the next page)
    planted = tmp_path / "planted.xlsx"
    longer = "Totals by contract type, " + "much longer than any page is wide " * 5 + "[note"
    plant_shared_string(tmp_path / "sub.xlsx", planted, "Totals by contract type [note", longer)
    convert_to_pdf(planted, tmp_path / "planted.pdf")
    assert ("Contract types", "A1") in printed_in_part(tmp_path / "planted.pdf", planted)
    # a title a little wider than the page: its text may all be in the PDF, but it runs over the edge
    wider = "Totals by contract type, " + "a little wider than the page " * 4 + "[note"
    plant_shared_string(tmp_path / "sub.xlsx", planted, "Totals by contract type [note", wider)
    convert_to_pdf(planted, tmp_path / "planted.pdf")
    assert [w for w in words_off_page(tmp_path / "planted.pdf") if w[1] == "Contract"]


def plant_shared_string(source: Path, target: Path, old: str, new: str) -> None:
    """A copy of a workbook with one shared string replaced (its cells show ``new``)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                text = data.decode()
                assert f">{old}" in text
                data = text.replace(f">{old}", f">{new}", 1).encode()
            zout.writestr(item, data)


def test_no_published_text_runs_over_a_page_s_edge(tmp_path):
    """A run's own books (the real parameter set's titles, every note marker), printed by LibreOffice:
    no word is drawn across a page's edge. Titles and notes wider than a sheet's first page (whose
    width is that of the columns printed on it) wrap in column A; they used to be cut mid-word."""
    from _support import sample_run
    from gp_allocations import pipeline
    from gp_allocations.office import convert_to_pdf

    ctx = sample_run(tmp_path, practices=40, seed=5, run_id="printed")
    summary = pipeline.run_all(ctx)
    folder = Path(summary["directory"])
    books = sorted(folder.glob("*.xlsx"))
    national = [b for b in books if b.name.endswith("_england.xlsx")]
    sub_icb = [b for b in books if not b.name.endswith(("_england.xlsx", "_statements.xlsx"))][:1]
    statements = [b for b in books if b.name.endswith("_statements.xlsx")][:1]
    across = []
    for book in [*national, *sub_icb, *statements]:
        convert_to_pdf(book, tmp_path / f"{book.stem}.pdf")
        across += [(book.name, *w) for w in words_off_page(tmp_path / f"{book.stem}.pdf")]
    assert len(across) == 0, across
