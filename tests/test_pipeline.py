"""Each stage of the nightly run, called as the DAG calls it, on a small generated sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from gp_allocations import pipeline
from gp_allocations.config import RunContext
from gp_allocations.manifest import allocation_workbooks
from gp_allocations.periods import Period
from gp_allocations.workbooks.prose import plain
from gp_allocations_samples import generate_samples

PERIOD = "2025-26-Q2"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    generate_samples(root / "src", period=Period.parse(PERIOD), practices=60, seed=11)
    ctx = RunContext.prepare(
        run_id="manual__2025-10-01T02:00:00+00:00",
        period=PERIOD,
        source=str(root / "src"),
        data_dir=str(root / "var"),
        output_root=str(root / "out"),
        warehouse_url=f"sqlite:///{root / 'wh.sqlite'}",
    )
    summaries = {stage.__name__: stage(ctx) for stage in pipeline.STAGES}
    return ctx, summaries


def test_pull_records_every_nightly_extract_with_its_hash(run) -> None:
    ctx, summaries = run
    records = json.loads((ctx.raw_dir / "pull.json").read_text())
    assert {r["extract"] for r in records} == set(summaries["stage_pull"]["extracts"])
    assert {"contracts", "capitation_age_sex", "capitation_lsoa", "practice_map"} <= {
        r["extract"] for r in records
    }
    assert all(len(r["sha256"]) == 64 and r["bytes"] > 0 for r in records)


def test_standardise_writes_one_canonical_frame_per_extract(run) -> None:
    ctx, summaries = run
    frame = pd.read_parquet(ctx.standardised_dir / "capitation_age_sex.parquet")
    assert {"practice_code", "sex", "age_band", "patients", "_file", "_row"} <= set(frame.columns)
    assert set(frame["sex"]) == {"MALE", "FEMALE"}
    assert summaries["stage_standardise"]["capitation_age_sex"]["rows"] == len(frame)


def test_validate_writes_a_report_and_data_docs(run) -> None:
    ctx, summaries = run
    assert summaries["stage_validate"]["passed"] is True
    assert (ctx.validation_dir / "report.json").exists()
    assert (ctx.validation_dir / "data_docs" / "index.html").exists()


def test_load_and_compute_leave_one_copy_and_marts_that_add_up(run) -> None:
    ctx, summaries = run
    engine = sa.create_engine(ctx.warehouse_url)
    with engine.connect() as conn:
        practices = conn.execute(
            sa.text("SELECT COUNT(*) FROM core_practice WHERE period = :p"), {"p": PERIOD}
        ).scalar()
        england = dict(
            conn.execute(
                sa.text("SELECT variant, total_pence FROM mart_level_allocation WHERE level = 'england'")
            ).fetchall()
        )
        practice_sums = dict(
            conn.execute(
                sa.text("SELECT variant, SUM(total_pence) FROM mart_practice_allocation GROUP BY variant")
            ).fetchall()
        )
    assert practices == 60 == summaries["stage_compute"]["practices"]
    assert england == practice_sums == summaries["stage_compute"]["england_total_pence"]


def test_publish_moves_a_complete_run_into_place_and_records_it(run) -> None:
    ctx, summaries = run
    published = summaries["stage_publish"]
    manifest = json.loads(Path(published["manifest"]).read_text())
    sub_icbs = {f["sub_icb_code"] for f in manifest["files"] if f.get("kind") == "sub_icb"}
    assert len(sub_icbs) >= 3 and published["workbooks"] == len(sub_icbs) + 1
    # a practice statements workbook per sub-ICB beside it (PDFs are off unless GP_ALLOC_STATEMENT_PDFS=1)
    statements = {f["sub_icb_code"]: f for f in manifest["files"] if f.get("kind") == "statements"}
    assert set(statements) == sub_icbs and published["statements"] == len(sub_icbs)
    assert sum(f["rows"] for f in statements.values()) == sum(
        f["rows"] for f in manifest["files"] if f.get("kind") == "sub_icb"
    )
    assert not any(f["kind"] == "statements_pdf" for f in manifest["files"])
    latest = (Path(ctx.output_root) / PERIOD / "latest").resolve()
    assert latest == Path(published["directory"]).resolve()
    assert not list(Path(ctx.output_root).glob(f"{PERIOD}/*/*.part"))
    engine = sa.create_engine(ctx.warehouse_url)
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status, output_dir FROM publication")).fetchall()
    assert [tuple(s) for s in status] == [("published", published["directory"])]


def test_national_workbook_reports_the_implied_price_paid_per_weighted_patient(run) -> None:
    ctx, summaries = run
    national = next(Path(summaries["stage_publish"]["directory"]).glob("*_england.xlsx"))
    table = pd.read_excel(national, sheet_name="Implied price", header=2, dtype=str)
    measures = dict(zip(table["Measure"], table["Value"], strict=True))
    contracts = pd.read_parquet(ctx.standardised_dir / "contracts.parquet")
    gms = contracts[(contracts["contract_type"] == "GMS") & (contracts["weighted_patients"] > 0)]
    implied = gms["global_sum_pence"] / 100 / gms["weighted_patients"]
    assert int(measures[plain("GMS_practices")]) == int((contracts["contract_type"] == "GMS").sum())
    assert float(measures[plain("implied_price_median_gbp")]) == pytest.approx(
        implied.median(), abs=5e-5
    )  # 4 dp


def test_quarantined_rows_are_published_beside_the_workbooks(run) -> None:
    ctx, summaries = run
    published = Path(summaries["stage_publish"]["directory"])
    assert (published / "quarantine.csv").read_bytes() == (ctx.validation_dir / "quarantine.csv").read_bytes()
    manifest = json.loads((published / "manifest.json").read_text())
    (entry,) = [f for f in manifest["files"] if f["kind"] == "quarantine"]
    quarantine = pd.read_csv(published / "quarantine.csv", dtype=str)
    assert entry["rows"] == len(quarantine)
    assert set(quarantine["severity"]) <= {"warning"}  # an error would have stopped the run


def test_the_workbooks_and_manifest_say_which_period_each_extract_is_for(run) -> None:
    import openpyxl

    _, summaries = run
    published = Path(summaries["stage_publish"]["directory"])
    periods = json.loads((published / "manifest.json").read_text())["extract_periods"]
    assert set(periods) == set(summaries["stage_standardise"])
    assert periods["contracts"] | {"reason": ""} == {
        "period": "2025/26",
        "read_from": "file name",
        "files": ["nhspaymentsgp-25-26-prac-csv.csv"],
        "status": "allowed",
        "allowed": "financial years 2023/24 to 2025/26",
        "reason": "",
    }
    assert periods["capitation_age_sex"]["period"] == "2025-07-01"
    assert periods["practice_characteristics"]["status"] == "not stated"
    books = allocation_workbooks(published)
    for book in books:  # the national book and every sub-ICB book
        wb = openpyxl.load_workbook(book, read_only=True)
        cover = {r[0]: r[1] for r in wb["Cover"].iter_rows(values_only=True) if r and r[0] and len(r) > 1}
        line = next(v for k, v in cover.items() if str(k).strip() == "Extract periods")
        assert "contracts: 2025/26 (from the file name)" in line, book.name
        assert "Capitation age sex: 2025-07-01 (from column EXTRACT_DATE)" in line, book.name
        notes = [
            r
            for r in wb["Notes"].iter_rows(values_only=True)
            if r and "Extract period: contracts" in map(str, r)
        ]
        assert notes and "allowed for this run: financial years 2023/24 to 2025/26" in str(notes[0]), (
            book.name
        )
        wb.close()
