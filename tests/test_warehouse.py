"""Warehouse loads through the SQL in include/sql, on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from _canonical import canonical_frames
from gp_allocations import warehouse
from gp_allocations.errors import WarehouseRefused
from gp_allocations.extracts import EXTRACTS, Column, ExtractSpec
from gp_allocations.layouts import blank_in_some_era
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
    with pytest.raises(
        WarehouseRefused, match="rule warehouse:constraint: the warehouse refused the 2025-26-Q2 load"
    ):
        load_period(engine, period="2025-26-Q2", run_id="bad", frames=bad, files=FILES)
    assert _count(engine, "core_registration_age_sex", "2025-26-Q2") == 160
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_id FROM load_runs")).scalars().all()
        negative = conn.execute(
            sa.text("SELECT COUNT(*) FROM core_registration_age_sex WHERE patients < 0")
        ).scalar()
    assert runs == ["good"] and negative == 0


def test_an_extract_larger_than_a_slice_is_inserted_whole_and_in_order(engine, monkeypatch) -> None:
    """``bulk_insert`` sends SQLite its rows a slice at a time: every row arrives once, in file order,
    missing values still NULL in a slice after the first, and a slice that breaks a constraint undoes
    the whole load."""
    monkeypatch.setattr(warehouse, "INSERT_SLICE_ROWS", 3)  # 160 age/sex rows: 54 slices, the last short
    frames = canonical_frames(4)
    summary = _qof_summary_with_blanks(frames)
    summary.loc[0, ["achievement_points", "max_points"]] = [500.0, 559.0]
    summary.loc[3, ["achievement_points", "max_points"]] = None
    frames["qof_practice_summary"] = summary  # the blank now in the second slice, its 1st row
    load_period(engine, period="2025-26-Q2", run_id="r", frames=frames, files=FILES)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source_row, patients FROM stg_capitation_age_sex")).all()
        qof = conn.execute(
            sa.text("SELECT practice_code, achievement_points FROM stg_qof_practice_summary")
        ).all()
    sent = frames["capitation_age_sex"].reset_index(drop=True)
    got = {r.source_row: r.patients for r in rows}
    assert len(rows) == len(sent) == len(got)
    assert [got[i + 2] for i in range(len(sent))] == [int(p) for p in sent["patients"]]
    blank = {r.practice_code for r in qof if r.achievement_points is None}
    assert blank == {summary.loc[3, "practice_code"]} and len(qof) == 4
    bad = canonical_frames(4)
    bad["capitation_age_sex"].loc[150, "patients"] = -5  # in a late slice: the earlier ones are undone
    with pytest.raises(WarehouseRefused):
        load_period(engine, period="2025-26-Q2", run_id="bad", frames=bad, files=FILES)
    assert _count(engine, "core_registration_age_sex", "2025-26-Q2") == 160
    assert _count(engine, "stg_capitation_age_sex", "2025-26-Q2") == 160


def test_practice_outside_the_hierarchy_is_refused_by_a_foreign_key(engine) -> None:
    frames = canonical_frames(4)
    frames["capitation_age_sex"].loc[0, "practice_code"] = "Z99999"
    with pytest.raises(WarehouseRefused, match=r"(?i)foreign key"):
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


def test_staging_tables_are_generated_from_the_specs(engine) -> None:
    create_schema(engine)
    inspector = sa.inspect(engine)
    for spec in EXTRACTS.values():
        columns = inspector.get_columns(spec.staging_table)
        assert [c["name"] for c in columns] == [
            "period",
            "run_id",
            "source_file",
            "source_row",
            *spec.column_names,
        ]
        nullable = {c["name"]: c["nullable"] for c in columns}
        blank = blank_in_some_era(spec.name)  # published blank by an era: kept as read, stored as NULL
        expected = {c.name: c.nullable or c.name in blank for c in spec.columns}
        assert {c.name: nullable[c.name] for c in spec.columns} == expected


_TOOL_LIKE = ExtractSpec(
    name="example_weights",
    title="An extract declared only as a spec: no DDL, clear or compute SQL written for it",
    file_patterns=("example-weights*.csv",),
    columns=(
        Column("practice_code", "str", "ODS practice code"),
        Column("population", "float", "Population"),
        Column("patients", "int", "Patients", nullable=True),
        Column("paid_pence", "pence", "Paid"),
        Column("published", "date", "Publication date"),
    ),
    key=("practice_code",),
    required=False,
)


def test_a_new_extract_is_staged_cleared_and_read_back_from_its_spec_alone(engine, monkeypatch) -> None:
    monkeypatch.setitem(EXTRACTS, _TOOL_LIKE.name, _TOOL_LIKE)
    frame = pd.DataFrame(
        {
            "practice_code": ["B00002", "A00001"],
            "population": [1234.5, 10.25],
            "patients": pd.array([7, None], dtype="Int64"),
            "paid_pence": [100, 250],
            "published": pd.to_datetime(["2025-04-01", "2025-04-01"]),
            "_file": "example/example-weights.csv",
            "_row": [2, 3],
        }
    )
    frames = {**canonical_frames(4), _TOOL_LIKE.name: frame}
    load_period(engine, period="2025-26-Q2", run_id="r1", frames=frames, files=FILES)
    back = read_compute_inputs(engine, "2025-26-Q2")[_TOOL_LIKE.name]
    assert back["practice_code"].tolist() == ["A00001", "B00002"]  # ordered by the declared key
    assert _TOOL_LIKE.read_dtypes() == {
        "practice_code": "str",
        "population": "float64",
        "patients": "Int64",
        "paid_pence": "int64",
        "published": "datetime64",
    }
    assert pd.api.types.is_string_dtype(back["practice_code"])
    assert pd.api.types.is_datetime64_dtype(back["published"])
    assert {c: str(back[c].dtype) for c in ("population", "patients", "paid_pence")} == {
        "population": "float64",
        "patients": "Int64",
        "paid_pence": "int64",
    }
    assert back["patients"].tolist()[1] == 7 and pd.isna(back["patients"].tolist()[0])
    # a later load of the period without the extract leaves no older copy behind
    load_period(engine, period="2025-26-Q2", run_id="r2", frames=canonical_frames(4), files=FILES)
    assert _count(engine, _TOOL_LIKE.staging_table, "2025-26-Q2") == 0
    assert _TOOL_LIKE.name not in read_compute_inputs(engine, "2025-26-Q2")


def test_a_spec_with_an_unknown_dtype_or_key_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dtype 'money'"):
        Column("paid", "money", "not a canonical dtype")
    with pytest.raises(ValueError, match="key columns"):
        ExtractSpec("x", "x", ("x*.csv",), (Column("a", "str", "a"),), key=("b",), required=False)


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


def _qof_summary_with_blanks(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    practices = frames["practice_map"][["practice_code", "sub_icb_code"]].drop_duplicates()
    summary = practices.assign(pcn_code=None, list_size=1000, achievement_points=500.0, max_points=559.0)
    summary.loc[summary.index[0], ["achievement_points", "max_points"]] = None  # ':' not available
    return summary.reset_index(drop=True)


def test_a_column_an_era_publishes_blank_is_stored_as_null(engine) -> None:
    # the 2017/18 and 2018/19 QOF summaries publish ':' for practices with no achievement; their era
    # blocks report it as a warning and keep the row, so the staging table must take NULL
    frames = canonical_frames(4)
    frames["qof_practice_summary"] = _qof_summary_with_blanks(frames)
    load_period(engine, period="2025-26-Q2", run_id="r", frames=frames, files=FILES)
    back = read_compute_inputs(engine, "2025-26-Q2")["qof_practice_summary"]
    assert back["achievement_points"].isna().sum() == 1 and back["max_points"].isna().sum() == 1
    assert back["achievement_points"].notna().sum() == len(back) - 1


def test_a_column_no_era_publishes_blank_stays_not_null(engine, monkeypatch) -> None:
    import gp_allocations.layouts as layouts
    import gp_allocations.warehouse as warehouse

    for module in (layouts, warehouse):  # the planted defect: no era's blanks known
        monkeypatch.setattr(module, "blank_in_some_era", lambda extract: frozenset())
    frames = canonical_frames(4)
    frames["qof_practice_summary"] = _qof_summary_with_blanks(frames)
    with pytest.raises(WarehouseRefused, match=r"(?i)not.null|null value"):
        load_period(engine, period="2025-26-Q2", run_id="r", frames=frames, files=FILES)
