"""Quarantine tells the truth (issue 14.11): rows flagged by warning rules are kept in the calculation,
every workbook says so, and a sub-ICB workbook reports its own practices' rows, not the national count.

A generated sample is broken with warnings only, in chosen places: two LSOA rows of one practice carry
an unknown residence code (sub-ICB A), one practice's dispensing flag is unknown (sub-ICB B), and one
indicator row has an unknown domain (not tied to a practice). The run publishes. The expected figures
are worked out apart from the code under test: flagged rows from the published quarantine.csv, each
practice's sub-ICB from the practice map, registered patients from the age/sex file, pounds from the
ledger's lines. The Cover, the Data quality sheet and the Notes of every workbook must state them.
"""

from __future__ import annotations

import re
import shutil

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from bad_inputs.breakers import CsvFile, extract_file
from gp_allocations.ledger import load_allocation
from gp_allocations.manifest import allocation_workbooks
from gp_allocations.variants import label
from test_faults_common import context, generate_source, run_stages

STAGES = ["pull", "standardise", "validate", "load", "compute", "publish"]
FLAG = "Quarantined input rows"


def _first_row_of(f: CsvFile, column: str, value: str) -> int:
    i = f.index(column)
    return next(n for n, r in enumerate(f.records[1:], 2) if r[i] == value)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("quarantine")
    source = generate_source(root / "extracts", practices=30, seed=7)
    practice_map = pd.read_csv(extract_file(source, "practice_map"), dtype=str)
    subs = practice_map.groupby("SUB_ICB_LOCATION_CODE")["PRACTICE_CODE"].apply(sorted)
    sub_a, sub_b = sorted(subs.index)[:2]
    p_a, p_b = subs[sub_a][0], subs[sub_b][0]

    lsoa = CsvFile(extract_file(source, "capitation_lsoa"))
    first = _first_row_of(lsoa, "PRACTICE_CODE", p_a)
    for row, code in ((first, "NO2011"), (first + 1, "CLOSED")):
        lsoa.record(row)[lsoa.index("LSOA_CODE")] = code
    lsoa.save()
    contracts = CsvFile(extract_file(source, "contracts"))
    contracts.record(_first_row_of(contracts, "Practice Code", p_b))[
        contracts.index("Dispensing Practice")
    ] = "Maybe"
    contracts.save()
    indicators = CsvFile(extract_file(source, "qof_indicators"))
    domain = next(c for c in indicators.header if "DOMAIN" in c.upper() and "CODE" in c.upper())
    indicators.record(2)[indicators.index(domain)] = "XX"
    indicators.save()

    ctx = context(root / "data", source, "flagged")
    run_stages(ctx, STAGES)
    folder = root / "data" / "outputs" / ctx.period.slug / "latest"
    yield {"ctx": ctx, "folder": folder.resolve(), "sub_a": sub_a, "sub_b": sub_b, "p_a": p_a, "p_b": p_b,
           "map": practice_map, "source": source}  # fmt: skip
    shutil.rmtree(root, ignore_errors=True)


def _texts(book) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ws in book.worksheets:
        out[ws.title] = [str(v) for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    return out


def _cover_detail(texts: list[str]) -> str:
    return texts[texts.index(FLAG) + 1]


def _expected(published, sub_icb: str | None) -> dict:
    """The figures a truthful workbook states, from the published files and the ledger."""
    quarantine = pd.read_csv(published["folder"] / "quarantine.csv", dtype=str, keep_default_na=False)
    warnings = quarantine[quarantine["severity"] == "warning"]
    rows = warnings.drop_duplicates(["extract", "file", "row"])
    where = published["map"].set_index("PRACTICE_CODE")["SUB_ICB_LOCATION_CODE"]
    allocation = load_allocation(published["ctx"].compute_dir / "result")
    paid = set(allocation.practices["practice_code"])
    tied = rows[rows["practice_code"].isin(paid)]
    mine = tied if sub_icb is None else tied[tied["practice_code"].map(where) == sub_icb]
    practices = sorted(set(mine["practice_code"]))
    age_sex = pd.read_csv(extract_file(published["source"], "capitation_age_sex"), dtype=str)
    bands = age_sex[
        (age_sex["ORG_TYPE"] == "GP")
        & age_sex["SEX"].isin(["MALE", "FEMALE"])
        & (age_sex["AGE_GROUP_5"] != "ALL")
        & age_sex["ORG_CODE"].isin(practices)
    ]
    patients = bands["NUMBER_OF_PATIENTS"].astype(int).sum()
    ledger = allocation.ledger
    variant = allocation.selected_variant
    pence = int(
        ledger[(ledger["variant"] == variant) & ledger["practice_code"].isin(practices)]["pence"].sum()
    )
    return {
        "rows": len(mine),
        "practices": len(practices),
        "patients": int(patients),
        "pounds": f"£{pence / 100:,.2f}",
        "run_rows": len(rows),
        "untied": len(rows) - len(tied),
        "variant": label(variant),
    }


def _stated(text: str, e: dict, scope: str) -> None:
    if e["rows"]:
        head = (
            f"{e['rows']:,} flagged input row(s) at {e['practices']:,} practice(s) of {scope} "
            f"({e['patients']:,} registered patients; their total allocation {e['pounds']}, {e['variant']})."
        )
    else:
        head = f"No flagged input row at a practice of {scope}."
    assert text.startswith(head), (text, head)
    assert "kept: the calculation uses them as read (none is removed or corrected)" in text
    assert f"Whole run: {e['run_rows']:,} flagged row(s), {e['untied']:,} of them not tied" in text


def test_each_workbook_states_its_own_quarantine(published):
    books = allocation_workbooks(published["folder"])
    seen = set()
    for path in books:
        code = path.stem.rsplit("_", 1)[-1]
        sub_icb = None if code == "england" else code
        expected = _expected(published, sub_icb)
        texts = _texts(openpyxl.load_workbook(path, read_only=True))
        scope = "England" if sub_icb is None else "this sub-ICB location"
        _stated(_cover_detail(texts["Cover"]), expected, scope)
        quality = next(t for t in texts["Data quality"] if t.startswith("Validation passed"))
        _stated(quality.split(". ", 1)[1], expected, scope)
        note = next(t for t in texts["Notes"] if "flagged" in t)
        _stated(note.split("validation. ", 1)[1], expected, scope)
        assert not any("kept out of the calculation" in t for ts in texts.values() for t in ts), path.name
        seen.add((sub_icb, expected["rows"]))
    # the planted rows are among them (the sample has a few unknown residence codes of its own)
    counts = dict(seen)
    assert counts[published["sub_a"]] >= 2 and counts[published["sub_b"]] >= 1
    assert sum(n for code, n in seen if code) == counts[None], "each tied row is in exactly one sub-ICB book"
    assert _expected(published, None)["untied"] >= 1  # the indicator row


def test_flagged_rows_are_in_the_calculation(published):
    """'Kept' is true: the flagged LSOA rows are in the warehouse's core tables the engine read."""
    ctx = published["ctx"]
    engine = sa.create_engine(ctx.warehouse_url)
    with engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM core_registration_lsoa "
                "WHERE period = :p AND practice_code = :c AND lsoa_code IN ('NO2011', 'CLOSED')"
            ),
            {"p": ctx.period.slug, "c": published["p_a"]},
        ).scalar_one()
    engine.dispose()
    assert kept == 2
    allocation = load_allocation(ctx.compute_dir / "result")
    facts = allocation.practices.set_index("practice_code")["quarantined_rows"]
    quarantine = pd.read_csv(published["folder"] / "quarantine.csv", dtype=str, keep_default_na=False)
    flagged = quarantine[quarantine["severity"] == "warning"].drop_duplicates(["extract", "file", "row"])
    per_practice = flagged.groupby("practice_code").size()
    assert facts[published["p_a"]] == per_practice[published["p_a"]] >= 2
    assert facts[published["p_b"]] == per_practice[published["p_b"]] >= 1
    assert facts.sum() == per_practice.reindex(facts.index).fillna(0).sum()


def test_the_checker_sees_a_workbook_that_reports_the_national_count(published):
    """Planted defect: a sub-ICB Cover stating England's figures fails the check."""
    national = _cover_detail(
        _texts(openpyxl.load_workbook(next(published["folder"].glob("*_england.xlsx")), read_only=True))[
            "Cover"
        ]
    )
    planted = national.replace("of England", "of this sub-ICB location")
    with pytest.raises(AssertionError):
        _stated(planted, _expected(published, published["sub_a"]), "this sub-ICB location")
    assert re.search(r"^\d+ flagged input row\(s\) at \d+ practice\(s\) of England", national)
