"""Warehouse loads through the SQL in include/sql, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import re
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from _canonical import canonical_frames
from gp_allocations.config import sql_dir
from gp_allocations.extracts import EXTRACTS
from gp_allocations.warehouse import create_schema, load_period, make_engine, read_compute_inputs

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'wh.sqlite'}")
        yield eng
        eng.dispose()
        return
    name = f"gp_alloc_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


FILES = [
    {
        "extract": "practice_map",
        "file": "practice_map/map.csv",
        "source": "/src/map.csv",
        "sha256": "a" * 64,
        "bytes": 10,
    }
]


def _count(engine, table: str, period: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(f"SELECT COUNT(*) FROM {table} WHERE period = :p"), {"p": period}
        ).scalar()


def test_loading_a_period_twice_leaves_one_copy(engine) -> None:
    frames = canonical_frames(4)
    for run in ("run1", "run2"):
        load_period(engine, period="2025-26-Q2", run_id=run, frames=frames, files=FILES)
    assert _count(engine, "core_practice", "2025-26-Q2") == 4
    assert _count(engine, "core_registration_age_sex", "2025-26-Q2") == 4 * 2 * 20
    assert _count(engine, "stg_capitation_lsoa", "2025-26-Q2") == 8
    # history of both loads is kept
    assert _count(engine, "load_runs", "2025-26-Q2") == 2


def test_periods_are_kept_apart(engine) -> None:
    load_period(engine, period="2025-26-Q1", run_id="r1", frames=canonical_frames(3), files=FILES)
    load_period(engine, period="2025-26-Q2", run_id="r2", frames=canonical_frames(4), files=FILES)
    assert _count(engine, "core_practice", "2025-26-Q1") == 3
    assert _count(engine, "core_practice", "2025-26-Q2") == 4


def test_a_failed_load_leaves_the_previous_state_intact(engine) -> None:
    load_period(engine, period="2025-26-Q2", run_id="good", frames=canonical_frames(4), files=FILES)
    bad = canonical_frames(4)
    bad["capitation_age_sex"].loc[0, "patients"] = -5  # violates the core CHECK (patients >= 0)
    with pytest.raises(sa.exc.IntegrityError):
        load_period(engine, period="2025-26-Q2", run_id="bad", frames=bad, files=FILES)
    assert _count(engine, "core_registration_age_sex", "2025-26-Q2") == 160
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_id FROM load_runs")).scalars().all()
        negative = conn.execute(
            sa.text("SELECT COUNT(*) FROM core_registration_age_sex WHERE patients < 0")
        ).scalar()
    assert runs == ["good"] and negative == 0


def test_practice_outside_the_hierarchy_is_refused_by_a_foreign_key(engine) -> None:
    frames = canonical_frames(4)
    frames["capitation_age_sex"].loc[0, "practice_code"] = "Z99999"
    with pytest.raises(sa.exc.IntegrityError):
        load_period(engine, period="2025-26-Q2", run_id="fk", frames=frames, files=FILES)


def test_compute_inputs_come_back_in_canonical_shape(engine) -> None:
    frames = canonical_frames(4)
    load_period(engine, period="2025-26-Q2", run_id="r", frames=frames, files=FILES)
    back = read_compute_inputs(engine, "2025-26-Q2")
    assert set(back) == set(frames)
    for name, frame in frames.items():
        cols = EXTRACTS[name].column_names
        assert list(back[name].columns) == cols
        key = list(EXTRACTS[name].key)
        expected = frame[cols].sort_values(key).reset_index(drop=True)
        got = back[name].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_datetimelike_compat=True)


def test_staging_sql_matches_the_canonical_schemas() -> None:
    ddl = (sql_dir() / "schema" / "010_staging.sql").read_text()
    for spec in EXTRACTS.values():
        block = re.search(rf"CREATE TABLE IF NOT EXISTS stg_{spec.name} \((.*?)\n\);", ddl, re.S)
        assert block, spec.name
        cols = [line.strip().split()[0] for line in block.group(1).strip().splitlines()]
        assert cols == ["period", "run_id", "source_file", "source_row", *spec.column_names]


def test_schema_creation_is_idempotent(engine) -> None:
    create_schema(engine)
    create_schema(engine)
    assert "core_practice" in sa.inspect(engine).get_table_names()


def test_quarantined_rows_are_kept_per_run(engine) -> None:
    from gp_allocations.warehouse import record_quarantine

    quarantine = pd.DataFrame(
        {
            "extract": ["capitation_age_sex"],
            "file": ["gp-reg-pat-prac-quin-age.csv"],
            "row": [17],
            "column": ["NUMBER_OF_PATIENTS"],
            "value": ["-5"],
            "rule": ["non_negative_count"],
            "severity": ["error"],
            "message": ["counts cannot be negative"],
        }
    )
    for _ in range(2):  # a retried task replaces its own rows, it does not add a second copy
        record_quarantine(engine, period="2025-26-Q2", run_id="r1", quarantine=quarantine)
    record_quarantine(engine, period="2025-26-Q2", run_id="r2", quarantine=quarantine.iloc[0:0])
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT run_id, file, row_number, column_name, value, rule FROM quarantine_rows")
        ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("r1", "gp-reg-pat-prac-quin-age.csv", 17, "NUMBER_OF_PATIENTS", "-5", "non_negative_count")
    ]


def test_hierarchy_history_keeps_moves_and_mergers_by_effective_date(engine) -> None:
    q1 = canonical_frames(4)
    q2 = canonical_frames(4)
    q2["practice_map"]["extract_date"] = pd.Timestamp("2025-10-01")
    for frame in q2.values():
        if "extract_date" in frame:
            frame["extract_date"] = pd.Timestamp("2025-10-01")
    q2["practice_map"].loc[0, "pcn_code"] = "U99999"  # A81001 moves PCN
    q2["practice_map"]["icb_code"] = "QXX"  # the ICB merges into a new one
    # load the later period first: history must not depend on load order
    load_period(engine, period="2025-26-Q3", run_id="r2", frames=q2, files=FILES)
    load_period(engine, period="2025-26-Q2", run_id="r1", frames=q1, files=FILES)
    load_period(engine, period="2025-26-Q2", run_id="r1b", frames=q1, files=FILES)  # reload: no new spell
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT practice_code, pcn_code, icb_code, effective_from, effective_to"
                " FROM core_practice_membership ORDER BY practice_code, effective_from"
            )
        ).fetchall()
        as_of = lambda day: {  # noqa: E731
            r[0]: (r[1], r[3])
            for r in conn.execute(
                sa.text(
                    "SELECT practice_code, pcn_code, sub_icb_code, icb_code, region_code, effective_from,"
                    " effective_to FROM core_practice_membership WHERE effective_from <= :as_of"
                    " AND (effective_to IS NULL OR effective_to > :as_of) ORDER BY practice_code"
                ),
                {"as_of": day},
            )
        }
        before, after = as_of("2025-08-01"), as_of("2025-11-01")
    spells = [(r[0], r[1], r[2], str(r[3])[:10], None if r[4] is None else str(r[4])[:10]) for r in rows]
    assert spells[:2] == [
        ("A81001", "U10000", "QHM", "2025-07-01", "2025-10-01"),
        ("A81001", "U99999", "QXX", "2025-10-01", None),
    ]
    assert len(spells) == 8  # every practice: one spell in QHM, one after the merger
    assert before["A81001"] == ("U10000", "QHM") and after["A81001"] == ("U99999", "QXX")
    assert after["A81002"] == ("U10001", "QXX")
