"""Refresh the page images in docs/img: the first printed page of every sheet type of the allocation
workbooks (docs/img/sheets/, the sub-ICB book's sheets, then the national book's own) and the first page
of a sub-ICB's practice statements PDF (docs/img/practice-statement.png).

The books are the test fixture's (``_workbook_fixtures``) with the tests' illustrative previous quarter
(``test_statements._last_quarter``) and no publication a year earlier, written by the production code,
printed by LibreOffice with forced recalculation (``office.convert_to_pdf``: the pages show LibreOffice's
figures) and rendered with ``pdftoppm -png``. Each page is found by its header, which names its sheet.

    make images     (PYTHONPATH=plugins:tests .venv/bin/python scripts/page_images.py)
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from pathlib import Path

import openpyxl

from _printed import first_pages
from _workbook_fixtures import make_result, make_run
from gp_allocations.bridge import Comparison
from gp_allocations.office import convert_to_pdf
from gp_allocations.publish import stage_sub_icb_statements
from gp_allocations.workbooks import write_national_workbook, write_sub_icb_workbook
from test_statements import _last_quarter

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
SHEETS = IMG / "sheets"
DPI = "70"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _png(pdf: Path, page: int, target: Path) -> None:
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            DPI,
            "-png",
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            pdf,
            target.with_suffix(""),
        ],
        check=True,
    )


def main() -> None:
    result = make_result()
    none = Comparison("year_earlier", "2024-25-Q2", reason="nothing has been published for 2024/25 Q2")
    run = dataclasses.replace(make_run(), comparisons=(_last_quarter(result), none))
    SHEETS.mkdir(parents=True, exist_ok=True)
    for old in SHEETS.glob("*.png"):
        old.unlink()
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        books = {"sub-icb": folder / "sub-icb.xlsx", "national": folder / "national.xlsx"}
        write_sub_icb_workbook(result, "15N", books["sub-icb"], run=run)
        write_national_workbook(result, books["national"], run=run)
        done: set[str] = set()
        for book, source in books.items():
            pdf = source.with_suffix(".pdf")
            convert_to_pdf(source, pdf)
            names = openpyxl.load_workbook(source, read_only=True).sheetnames
            pages = first_pages(pdf, names)
            missing = [n for n in names if n not in pages]
            if missing:
                raise SystemExit(f"{source.name}: no printed page found for {missing}")
            for sheet, page in pages.items():
                if sheet in done:
                    continue  # a sheet type both books have: the sub-ICB book's page
                done.add(sheet)
                target = SHEETS / f"{book}-{_slug(sheet)}.png"
                _png(pdf, page, target)
                written.append(target)
        entries = stage_sub_icb_statements(result, run, folder, "15N", period_slug="2025-26-Q2")
        target = IMG / "practice-statement.png"
        _png(folder / entries[1]["name"], 1, target)
        written.append(target)
    for path in written:
        print(path.relative_to(IMG.parents[1]))


if __name__ == "__main__":
    main()
