"""Open the workbooks in LibreOffice (headless), let it recalculate every formula, and compare its totals
with the pipeline's own integer pence. Needs `soffice` (Debian package libreoffice-calc); CI installs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter

from _workbook_fixtures import make_result, make_run
from gp_allocations.views import practice_table
from gp_allocations.workbooks import HEADER_ROW, write_national_workbook, write_sub_icb_workbook

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
_ALWAYS_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    exe = _soffice()
    folder = tmp_path_factory.mktemp("lo")
    src, out = folder / "src", folder / "out"
    src.mkdir()
    profile = folder / "lo-profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_ALWAYS_RECALC, encoding="utf-8")
    result, run = make_result(), make_run()
    write_sub_icb_workbook(result, "15N", src / "sub.xlsx", run=run)
    write_national_workbook(result, src / "nat.xlsx", run=run)
    _control_workbook(src / "control.xlsx")
    files = [str(src / n) for n in ["sub.xlsx", "nat.xlsx", "control.xlsx"]]
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
    return {n: (src / f"{n}.xlsx", out / f"{n}.xlsx") for n in ["sub", "nat", "control"]}


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
            assert round(totals[f"Capitation: {label} (£)"] * 100) == int(p[f"capitation_pence__{v}"].sum())
            if sheet != "By deprivation":
                assert round(totals[f"Total: {label} (£)"] * 100) == int(p[f"total_pence__{v}"].sum())
        assert totals["Registered patients"] == int(p["registered_patients"].sum())
    practices = _totals(original, recalculated, "Practices")
    assert round(practices["QOF (£)"] * 100) == int(p["qof_pence"].sum())
    change = practices["Change, Deprivation weighted minus global sum (£)"]
    assert round(change * 100) == int(p["capitation_pence__deprivation_weighted"].sum()) - int(
        p["capitation_pence__global_sum"].sum()
    )


def test_national_totals_match_envelope(converted):
    result = make_result()
    original, recalculated = converted["nat"]
    for sheet in ["Practices", "Summary", "Contract types"]:
        totals = _totals(original, recalculated, sheet)
        for v, label in [("global_sum", "Global sum"), ("deprivation_weighted", "Deprivation weighted")]:
            assert round(totals[f"Capitation: {label} (£)"] * 100) == result.envelopes_pence[v] == 825_012_780
    for sheet in ["Sub-ICBs", "ICBs", "Regions"]:
        totals = _totals(original, recalculated, sheet)
        assert round(totals["Capitation: Global sum (£)"] * 100) == 825_012_780
        assert round(totals["QOF (£)"] * 100) == int(practice_table(result)["qof_pence"].sum())
