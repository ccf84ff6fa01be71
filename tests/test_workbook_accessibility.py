"""Every workbook a run publishes (national, sub-ICB, practice statements) is accessible per the
Analysis Function's "Releasing statistics in spreadsheets" guidance (issue 16.7), checked rule by rule
on the files as written:

- title, subject and language (en-GB) in the document properties;
- every sheet holds exactly one table, an Excel Table with a meaningful name unique in the workbook, its
  header in row 3 (string cells equal to the Table's column names), no blank row or column inside it
  and no cell of the sheet below the title and note outside it;
- every chart has alt text;
- notes numbered ``note 1``, ``note 2``, ... on the Notes sheet; every note referenced (``[note n]``) from
  at least one table's title or header and every reference resolving to a note;
- a Contents sheet listing every other sheet.

The checker is shown to catch each planted defect (a missing Table, a default name, two tables on a
sheet, a chart without alt text, no language, a dangling or missing note reference).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.table import Table

from _publishing import publish_result
from _workbook_fixtures import make_result, make_run
from gp_allocations.engine import compute_allocations
from gp_allocations.periods import Period
from gp_allocations.workbooks import HEADER_ROW, write_sub_icb_workbook
from gp_allocations.workbooks.statements import write_statements_workbook
from test_engine_allocate import generated
from test_fair_shares import _nhse

MARKER = re.compile(r"\[note (\d+)\]")
TABLE_NAME = re.compile(r"[A-Z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_table")
DRAWING_ALT = re.compile(r"<xdr:cNvPr\b[^>]*>")


def _chart_alt_texts(path: Path) -> list[str | None]:
    """The alt text (cNvPr descr) of every chart frame in every drawing of the file."""
    texts: list[str | None] = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if re.fullmatch(r"xl/drawings/drawing\d+\.xml", name):
                xml = z.read(name).decode()
                for frame in re.findall(r"<xdr:graphicFrame\b.*?</xdr:graphicFrame>", xml, re.S):
                    tag = DRAWING_ALT.search(frame)
                    descr = re.search(r'\bdescr="([^"]*)"', tag.group(0)) if tag else None
                    texts.append(descr.group(1) if descr else None)
    return texts


def _table_problems(ws, table: Table) -> list[str]:
    out = []
    where = f"{ws.title}: table {table.displayName}"
    min_col, min_row, max_col, max_row = openpyxl.utils.cell.range_boundaries(table.ref)
    if (min_col, min_row) != (1, HEADER_ROW + 1):
        out.append(f"{where} does not start at A{HEADER_ROW + 1}")
    names = [c.name for c in table.tableColumns]
    headers = [ws.cell(min_row, col).value for col in range(min_col, max_col + 1)]
    if headers != names or not all(isinstance(h, str) and h.strip() for h in headers):
        out.append(f"{where}: header cells {headers} are not its column names {names}")
    body = [
        [ws.cell(row, col).value for col in range(min_col, max_col + 1)]
        for row in range(min_row + 1, max_row + 1)
    ]
    blank_rows = [i for i, r in enumerate(body) if all(v is None for v in r)]
    if blank_rows and len(body) > 1:  # one blank data row is Excel's minimum for an empty table
        out.append(f"{where}: blank rows inside it at {[min_row + 1 + i for i in blank_rows]}")
    if len(body) > 1:
        blank_cols = [names[j] for j in range(len(names)) if all(r[j] is None for r in body)]
        if blank_cols:
            out.append(f"{where}: blank columns {blank_cols}")
    outside = [
        cell.coordinate
        for row in ws.iter_rows(min_row=HEADER_ROW + 1)
        for cell in row
        if cell.value is not None
        and not (min_row <= cell.row <= max_row and min_col <= cell.column <= max_col)
    ]
    if outside:
        out.append(f"{ws.title}: cells outside its table: {outside[:5]}")
    return out


def _notes_problems(wb) -> list[str]:
    if "Notes" not in wb.sheetnames:
        return ["no Notes sheet"]
    ws = wb["Notes"]
    table = next(iter(ws.tables.values()), None)
    last = openpyxl.utils.cell.range_boundaries(table.ref)[3] if table else ws.max_row
    numbers = [str(ws.cell(r, 1).value) for r in range(HEADER_ROW + 2, last + 1)]
    out = []
    if numbers != [f"note {i}" for i in range(1, len(numbers) + 1)]:
        out.append(f"Notes are not numbered note 1, note 2, ...: {numbers[:5]}")
    referenced: set[int] = set()
    for sheet in wb.worksheets:
        if sheet.title == "Notes":
            continue
        texts = [sheet["A1"].value] + [t.name for table in sheet.tables.values() for t in table.tableColumns]
        for text in texts:
            for n in MARKER.findall(str(text or "")):
                referenced.add(int(n))
                if f"note {n}" not in numbers:
                    out.append(f"{sheet.title}: [note {n}] is not on the Notes sheet")
    unreferenced = [n for n in numbers if n.removeprefix("note ") not in {str(r) for r in referenced}]
    if unreferenced:
        out.append(f"notes referenced from no table: {unreferenced}")
    return out


def accessibility_problems(path: Path) -> list[str]:
    """Every breach of the rules above in one workbook (empty: accessible)."""
    wb = openpyxl.load_workbook(path)
    out = []
    props = wb.properties
    for field in ("title", "subject", "language"):
        if not (getattr(props, field) or "").strip():
            out.append(f"document property {field} not set")
    if props.language and props.language != "en-GB":
        out.append(f"document language {props.language!r}")
    seen: dict[str, str] = {}
    for ws in wb.worksheets:
        if re.fullmatch(r"Sheet\d*", ws.title):
            out.append(f"sheet name {ws.title!r} says nothing")
        tables = list(ws.tables.values())
        if len(tables) != 1:
            out.append(f"{ws.title}: {len(tables)} Excel Tables (one table per sheet, marked up as a Table)")
        for table in tables:
            if not TABLE_NAME.fullmatch(table.displayName) or re.fullmatch(r"Table\d*", table.displayName):
                out.append(f"{ws.title}: table name {table.displayName!r} is not meaningful")
            if table.displayName.lower() in seen:
                out.append(
                    f"{ws.title}: table name {table.displayName!r} also on {seen[table.displayName.lower()]}"
                )
            seen[table.displayName.lower()] = ws.title
            out += _table_problems(ws, table)
    alts = _chart_alt_texts(path)
    out += [f"chart {i + 1} has no alt text" for i, alt in enumerate(alts) if not (alt or "").strip()]
    out += _notes_problems(wb)
    if "Contents" in wb.sheetnames:
        listed = {c.value for c in wb["Contents"]["A"][HEADER_ROW + 1 :]}
        missing = [s for s in wb.sheetnames if s not in ("Cover", "Contents") and s not in listed]
        if missing:
            out.append(f"Contents does not list {missing}")
    else:
        out.append("no Contents sheet")
    return out


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> list[Path]:
    """Every workbook of two runs through the production publishing pieces: the small fixture (hostile
    names, warnings) and a generated England-shaped run with contracts, payments and NHS England's
    weighted populations (so every optional sheet and every chart is written); national, sub-ICB and
    practice statements books."""
    root = tmp_path_factory.mktemp("a11y")
    ex = generated()
    ex["nhse_weighted_populations"] = _nhse(sorted(ex["practice_map"]["practice_code"])[2:])
    full = compute_allocations(ex, period=Period.parse("2025-26-Q2"))
    books: list[Path] = []
    for name, result in (("fixture", make_result(hostile_names=True)), ("generated", full)):
        run = publish_result(result, make_run(), root / name, period_slug="2025-26-Q2", run_id=name)
        books += sorted(run.directory.glob("*.xlsx"))
        for code in result.sub_icb_codes:  # the third kind: each sub-ICB's practice statements
            path = root / name / f"gp-allocations_2025-26-Q2_{code}_statements.xlsx"
            write_statements_workbook(result, code, path, run=make_run())
            books.append(path)
    return books


def test_every_published_workbook_meets_every_rule(published):
    kinds = {
        p.stem.rsplit("_", 1)[-1] if p.stem.endswith(("_england", "_statements")) else "sub"
        for p in published
    }
    assert kinds == {"england", "sub", "statements"} and len(published) >= 10
    problems = {p.name: accessibility_problems(p) for p in published}
    assert problems == {p.name: [] for p in published}
    # the rules were exercised, not passed vacuously: charts with alt text, notes referenced, the
    # optional sheets (paid, implied price, practice changes, transition) among the tables
    alts = [a for p in published for a in _chart_alt_texts(p)]
    books = [p for p in published if not p.stem.endswith("_statements")]  # statements have no chart
    assert len(alts) >= 2 * len(books) - 2 and all(a and "chart" in a for a in alts)
    england = openpyxl.load_workbook(
        next(p for p in published if "generated" in str(p) and "england" in p.name)
    )
    optional = {"Paid vs recomputed", "Paid not in run", "Implied price", "Practice changes", "Transition"}
    assert optional <= set(england.sheetnames)
    notes = england["Notes"]
    assert notes.max_row - HEADER_ROW >= 10
    assert MARKER.search(england["Practices"]["A1"].value)


def test_paid_vs_recomputed_is_one_table_of_sub_icbs_with_england_as_its_totals_row(published):
    path = next(p for p in published if "generated" in str(p) and p.stem.endswith("_england"))
    ws = openpyxl.load_workbook(path)["Paid vs recomputed"]
    (table,) = ws.tables.values()
    _, first, _, last = openpyxl.utils.cell.range_boundaries(table.ref)
    codes = [ws.cell(r, 1).value for r in range(first + 1, last + 1)]
    assert table.totalsRowCount == 1 and codes[-1] == "England"
    assert all(re.fullmatch(r"[0-9A-Z]{3}", c) for c in codes[:-1]), codes  # sub-ICB codes only
    values = openpyxl.load_workbook(path, data_only=True)["Paid vs recomputed"]
    headers = [c.name for c in table.tableColumns]
    for header in ("Paid: Global Sum (£, annual)", "Recomputed capitation (£, annual)", "Practices"):
        col = headers.index(header) + 1
        body = sum(round(values.cell(r, col).value * 100) for r in range(first + 1, last))
        assert round(values.cell(last, col).value * 100) == body, header  # England = its sub-ICBs
        assert ws.cell(last, col).value.startswith("=SUM(")
    not_in_run = openpyxl.load_workbook(path)["Paid not in run"]
    assert not_in_run.max_row == HEADER_ROW + 2  # header and its one row


# ---------------------------------------------------------------------------------------------------
# planted defects: the checker sees each one


@pytest.fixture()
def good(tmp_path) -> Path:
    path = tmp_path / "good.xlsx"
    write_sub_icb_workbook(make_result(), "15N", path, run=make_run())
    assert accessibility_problems(path) == []
    return path


def _edit(path: Path, member: str, edit) -> None:
    """Rewrite one zip member of the workbook in place."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == member:
                new = edit(body.decode())
                assert new != body.decode(), member
                body = new.encode()
            dst.writestr(info, body)
    shutil.move(tmp, path)


def _sheet_member(path: Path, title: str) -> str:
    return f"xl/worksheets/sheet{openpyxl.load_workbook(path).sheetnames.index(title) + 1}.xml"


def _problems_after(path: Path, member: str, edit) -> str:
    _edit(path, member, edit)
    return "\n".join(accessibility_problems(path))


def test_checker_catches_a_sheet_without_its_table(good):
    member = _sheet_member(good, "Practices")
    found = _problems_after(good, member, lambda x: re.sub(r"<tableParts.*?</tableParts>", "", x))
    assert "Practices: 0 Excel Tables" in found


def test_checker_catches_a_default_table_name(good):
    found = _problems_after(
        good, "xl/tables/table3.xml", lambda x: re.sub(r'(displayName|name)="[^"]+_table"', r'\1="Table3"', x)
    )
    assert "table name 'Table3' is not meaningful" in found


def test_checker_catches_two_tables_on_a_sheet_and_a_cell_outside_the_table(good):
    wb = openpyxl.load_workbook(good)
    ws = wb["Notes"]
    ws.cell(ws.max_row + 3, 1, "Extra")
    ws.cell(ws.max_row + 1, 1, "more")
    ws.add_table(Table(displayName="Extra_table", ref=f"A{ws.max_row - 1}:A{ws.max_row}"))
    wb.save(good)
    found = "\n".join(accessibility_problems(good))
    assert "Notes: 2 Excel Tables" in found


def test_checker_catches_a_chart_without_alt_text(good):
    found = _problems_after(good, "xl/drawings/drawing1.xml", lambda x: re.sub(r' descr="[^"]*"', "", x))
    assert "chart 1 has no alt text" in found


def test_checker_catches_a_workbook_without_a_language(good):
    found = _problems_after(
        good, "docProps/core.xml", lambda x: re.sub(r"<dc:language>.*?</dc:language>", "", x)
    )
    assert "document property language not set" in found


def test_checker_catches_a_dangling_and_a_missing_note_reference(good):
    # a note referenced from one table only: its marker there is replaced by one for no note at all
    wb = openpyxl.load_workbook(good)
    titles = {ws.title: ws["A1"].value for ws in wb.worksheets if ws.title != "Notes"}
    where = {
        n: [s for s, t in titles.items() if f"[note {n}]" in t]
        for t in titles.values()
        for n in MARKER.findall(t)
    }
    n, (sheet,) = next((n, s) for n, s in sorted(where.items(), key=lambda kv: int(kv[0])) if len(s) == 1)
    title = titles[sheet]
    found = _problems_after(
        good, "xl/sharedStrings.xml", lambda x: x.replace(title, title.replace(f"[note {n}]", "[note 99]"))
    )
    assert f"{sheet}: [note 99] is not on the Notes sheet" in found
    assert f"notes referenced from no table: ['note {n}']" in found
