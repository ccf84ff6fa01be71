"""The whole nightly DAG, run with dag.test() on a small generated sample: SQLite, then PostgreSQL.

Checks what a user checks: workbooks exist and open, every sub-ICB location of the sample has one,
the national total equals the sum of the practice allocations, and both warehouses agree to the penny.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from gp_allocations.manifest import allocation_workbooks
from gp_allocations.variants import label, variant_names

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2025-26-Q2"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from gp_allocations.periods import Period
    from gp_allocations_samples import generate_samples

    out = tmp_path_factory.mktemp("extracts")
    generate_samples(out, period=Period.parse(PERIOD), practices=150, seed=7)
    return out


@pytest.fixture(scope="module")
def airflow_db() -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


@pytest.fixture
def pg_url():
    name = f"gp_alloc_e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _run_dag(monkeypatch, tmp_path: Path, sample: Path, warehouse_url: str) -> Path:
    from airflow.dag_processing.dagbag import DagBag

    out = tmp_path / "outputs"
    monkeypatch.setenv("GP_ALLOC_SOURCE", str(sample))
    monkeypatch.setenv("GP_ALLOC_OUTPUT_ROOT", str(out))
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GP_ALLOC_WAREHOUSE_URL", warehouse_url)
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["gp_allocations_nightly"]
    run = dag.test(run_conf={"period": PERIOD, "variant": "deprivation_weighted"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    latest = out / PERIOD / "latest"
    assert latest.exists()
    return latest.resolve()


def _practice_allocations(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql_query(
            sa.text(
                "SELECT variant, practice_code, capitation_pence, qof_pence, total_pence"
                " FROM mart_practice_allocation WHERE period = :p ORDER BY variant, practice_code"
            ),
            conn,
            params={"p": PERIOD},
        )
    engine.dispose()
    return frame


def _check_published(published: Path, sample: Path) -> None:
    manifest = json.loads((published / "manifest.json").read_text())
    sub_icbs = set(pd.read_csv(sample / "gp-reg-pat-prac-map.csv", dtype=str)["SUB_ICB_LOCATION_CODE"])
    workbooks = allocation_workbooks(published)
    names = " ".join(w.name for w in workbooks)
    for code in sub_icbs:
        assert code in names, f"no workbook for sub-ICB {code}"
    for wb_path in workbooks:
        wb = openpyxl.load_workbook(wb_path, read_only=True)
        assert "Practices" in wb.sheetnames or "Sub-ICB locations" in wb.sheetnames or len(wb.sheetnames) > 3
        wb.close()
    listed = {f["name"] for f in manifest["files"]}
    assert {w.name for w in workbooks} <= listed


# every registered variant the sample can compute: the generated sample has no NHS England
# weighted-populations extract, so the need-based variant is not computed (its sheets say so)
VARIANT_LABELS = {name: label(name) for name in variant_names() if name != "need_based_fair_shares"}


def _check_national_total(published: Path, allocations: pd.DataFrame) -> None:
    """The national workbook's total (as a plain reader sees it) equals the sum of the practices."""
    (national,) = published.glob("*_england.xlsx")
    sheet = pd.read_excel(national, sheet_name="Practices", header=2)
    total_row = sheet[sheet["Practice code"] == "Total"].iloc[0]
    rows = sheet[sheet["Practice code"] != "Total"]
    for variant, group in allocations.groupby("variant"):
        column = f"Total: {VARIANT_LABELS[variant]} (£, annual)"
        practice_sum_pence = int(group["total_pence"].sum())
        assert round(total_row[column] * 100) == practice_sum_pence, variant
        assert round(rows[column].sum() * 100) == practice_sum_pence, variant


def test_nightly_dag_end_to_end_on_sqlite_then_postgresql(monkeypatch, tmp_path, sample, airflow_db, pg_url):
    sqlite_url = f"sqlite:///{tmp_path / 'sqlite' / 'warehouse.sqlite'}"
    published = _run_dag(monkeypatch, tmp_path / "sqlite", sample, sqlite_url)
    _check_published(published, sample)

    allocations = _practice_allocations(sqlite_url)
    practices = set(pd.read_csv(sample / "gp-reg-pat-prac-map.csv", dtype=str)["PRACTICE_CODE"])
    assert set(allocations["variant"]) == set(VARIANT_LABELS)
    for _, group in allocations.groupby("variant"):
        assert set(group["practice_code"]) == practices
    _check_national_total(published, allocations)
    manifest = json.loads((published / "manifest.json").read_text())
    for variant, group in allocations.groupby("variant"):
        by_sub_icb = sum(
            t["variants"][variant]["total_pence"] for t in manifest["totals"]["sub_icb"].values()
        )
        assert by_sub_icb == int(group["total_pence"].sum())

    pg_published = _run_dag(monkeypatch, tmp_path / "pg", sample, pg_url)
    _check_published(pg_published, sample)
    pd.testing.assert_frame_equal(_practice_allocations(pg_url), allocations, check_dtype=False)
