"""The warehouse: SQLite file by default, PostgreSQL in production, both through SQLAlchemy 2.

SQL lives in ``include/sql`` by layer (schema, core, compute, marts). A file named
``name.postgresql.sql`` replaces ``name.sql`` on PostgreSQL: the one explicit dialect switch. The
staging tables, the statements that clear a period from them and the default compute read are
generated from the extract specs (``extracts.ExtractSpec``), so they cannot drift from them.
Each period's load runs in one transaction, so a failure leaves the previous state intact. The core
tables hold one load per period (the latest); ``load_status`` says what became of each load, so a
load that compute or publish never turned into a publication is marked ``not_published`` (or stays
``loaded`` if the run was killed), never passed off as the published one (``core_load``,
``marts/030_publication_inputs.sql``).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import views
from .config import sql_dir
from .errors import PipelineError, WarehouseRefused
from .extracts import EXTRACTS, clear_staging_sql, staging_schema_sql
from .layouts import blank_in_some_era
from .ledger import LEVELS, Allocation

_STATEMENT_END = re.compile(r";\s*(?:\n|$)")
#: A failure's message kept with a load that was not published (the task log has all of it).
_DETAIL_CHARS = 500


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def make_engine(url: str) -> Engine:
    """An engine for the warehouse URL; SQLite gets foreign keys on and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:  # pragma: no cover - trivial
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def sql_file(relative: str, dialect: str) -> Path:
    """The SQL file for a dialect: ``x.<dialect>.sql`` if present, else ``x.sql``."""
    base = sql_dir() / relative
    special = base.with_name(f"{base.stem}.{dialect}.sql")
    return special if special.exists() else base


def statements(path: Path) -> list[str]:
    """Split a SQL file into statements (our files keep ';' only at line ends, never inside text)."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in _STATEMENT_END.split(text) if s.strip()]


def layer_files(layer: str, dialect: str) -> list[Path]:
    """The SQL files of a layer in run order (by name), with dialect-specific replacements."""
    folder = sql_dir() / layer
    bases = sorted({p.name.split(".")[0] for p in folder.glob("*.sql")})
    return [sql_file(f"{layer}/{b}.sql", dialect) for b in bases]


def run_layer(conn: Connection, layer: str, params: dict[str, Any] | None = None) -> None:
    for path in layer_files(layer, conn.dialect.name):
        run_file(conn, path, params)


def query_file(name: str, dialect: str) -> Path:
    """A named query of ``include/sql/queries`` (statements the code runs one at a time)."""
    return sql_file(f"queries/{name}.sql", dialect)


def run_query(conn: Connection, name: str, params: dict[str, Any] | None = None) -> None:
    run_file(conn, query_file(name, conn.dialect.name), params)


def run_file(conn: Connection, path: Path, params: dict[str, Any] | None = None) -> None:
    for stmt in statements(path):
        bound = {k: v for k, v in (params or {}).items() if f":{k}" in stmt}
        conn.execute(sa.text(stmt), bound)


#: Nullable columns added to core tables after their first release: a warehouse created before gets
#: them on its next run (``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it was).
ADDED_CORE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "core_contract": (("seniority_pence", "BIGINT"),),
}


def _add_missing_columns(conn: Connection, table: str, columns: Iterable[tuple[str, str]]) -> None:
    present = {c["name"] for c in sa.inspect(conn).get_columns(table)}
    for name, sql_type in columns:
        if name not in present:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"))


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet and add the nullable columns added since (idempotent)."""
    with engine.begin() as conn:
        run_layer(conn, "schema")
        for ddl in staging_schema_sql():
            conn.execute(sa.text(ddl))
        for spec in EXTRACTS.values():
            added = [(c.name, c.sql_type) for c in spec.columns if c.nullable]
            _add_missing_columns(conn, spec.staging_table, added)
            if conn.dialect.name == "postgresql":  # a table made before an era published blanks
                for name in sorted(blank_in_some_era(spec.name)):
                    conn.execute(
                        sa.text(f"ALTER TABLE {spec.staging_table} ALTER COLUMN {name} DROP NOT NULL")
                    )
        for table, columns in ADDED_CORE_COLUMNS.items():
            _add_missing_columns(conn, table, columns)


def _pg_copy(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """PostgreSQL COPY FROM STDIN (CSV): the fast path for millions of rows.

    The CSV is written by pyarrow (several times faster than pandas' writer): nulls become unquoted
    empty fields, which COPY's CSV format reads as NULL, while empty strings are quoted.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    buffer = io.BytesIO()
    table_data = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table_data, buffer, pa_csv.WriteOptions(include_header=False))
    raw = _driver(conn)
    columns = ", ".join(frame.columns)
    view = buffer.getbuffer()
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as cp:
        for start in range(0, len(view), 1 << 20):
            cp.write(view[start : start + (1 << 20)])
    view.release()


def _driver(conn: Connection) -> Any:
    """The DBAPI connection under a SQLAlchemy connection (COPY and fast reads use it)."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise PipelineError("the warehouse connection is closed")
    return driver


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame) -> None:
    """Insert a frame into an existing table: COPY on PostgreSQL, executemany elsewhere."""
    if frame.empty:
        return
    if conn.dialect.name == "postgresql":
        _pg_copy(conn, table, frame)
        return
    cols = list(frame.columns)
    stmt = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    cur = _driver(conn).cursor()
    # rows zipped from per-column lists: the same Python values as a whole-frame astype(object) and
    # itertuples, without building an object frame first; a slice at a time, so that only a slice of
    # an extract's millions of rows is ever held as Python objects (same rows, order and transaction)
    for start in range(0, len(frame), INSERT_SLICE_ROWS):
        part = frame.iloc[start : start + INSERT_SLICE_ROWS]
        cur.executemany(stmt, zip(*(_python_values(part[c]) for c in cols), strict=True))
    cur.close()


#: rows per executemany in ``bulk_insert`` (SQLite): large enough that the loop costs nothing
INSERT_SLICE_ROWS = 200_000


def _python_values(column: pd.Series) -> list[Any]:
    """A column as Python values (int, float, str, Timestamp), None where it is missing."""
    values = column.tolist()
    for i in np.flatnonzero(column.isna().to_numpy()):
        values[i] = None
    return values


def _staging_frame(extract: str, frame: pd.DataFrame, period: str, run_id: str) -> pd.DataFrame:
    spec = EXTRACTS[extract]
    out = pd.DataFrame(
        {
            "period": period,
            "run_id": run_id,
            "source_file": frame["_file"].astype(str) if "_file" in frame else extract,
            "source_row": frame["_row"].astype("int64") if "_row" in frame else range(2, len(frame) + 2),
        },
        index=frame.index,
    )
    for col in spec.columns:
        values = frame[col.name]
        if col.dtype == "date":
            values = _iso_dates(values)
        out[col.name] = values
    return out.reset_index(drop=True)


def _iso_dates(values: pd.Series) -> pd.Series:
    """Dates as ISO text, None where missing; each distinct date is formatted once (an extract has a
    handful of extract dates over millions of rows)."""
    codes, distinct = pd.factorize(values)
    text = pd.to_datetime(pd.Series(distinct)).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    out = np.full(len(codes), None, dtype=object)
    out[codes >= 0] = text[codes[codes >= 0]]
    return pd.Series(out, index=values.index, dtype=object)


def load_period(
    engine: Engine,
    *,
    period: str,
    run_id: str,
    frames: dict[str, pd.DataFrame],
    files: Iterable[dict[str, Any]],
) -> dict[str, int]:
    """Replace the period's staging and core rows with these frames, in one transaction.

    ``files`` are the pulled files (extract, file, source, sha256, bytes); they are recorded in
    ``load_files`` with row counts, so the history of what was loaded is kept for every run.
    Returns rows loaded per extract.
    """
    create_schema(engine)
    loaded_at = _now()
    counts: dict[str, int] = {}
    params = {"period": period, "run_id": run_id}
    try:
        with engine.begin() as conn:
            for clear in clear_staging_sql():
                conn.execute(sa.text(clear), {"period": period})
            for extract, frame in frames.items():
                bulk_insert(conn, f"stg_{extract}", _staging_frame(extract, frame, period, run_id))
                counts[extract] = len(frame)
            run_layer(conn, "core", params)
            rows_per_file = _rows_per_file(frames)
            run_query(conn, "delete_load_run", params)
            run_query(conn, "insert_load_run", {**params, "loaded_at": loaded_at})
            run_query(conn, "mark_load_in_core", {**params, "updated_at": loaded_at})
            for f in files:
                run_query(
                    conn,
                    "insert_load_file",
                    {
                        **params,
                        "extract": f["extract"],
                        "file": f["file"],
                        "source": f["source"],
                        "sha256": f["sha256"],
                        "bytes": f["bytes"],
                        "row_count": rows_per_file.get(f["extract"], {}).get(Path(f["file"]).name, 0),
                        "loaded_at": loaded_at,
                    },
                )
    # a constraint validation does not know (a rule is missing); bulk_insert's raw cursor raises the
    # driver's own IntegrityError, SQLAlchemy's statements its wrapper
    except (sa.exc.IntegrityError, engine.dialect.loaded_dbapi.IntegrityError) as exc:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        raise WarehouseRefused(
            f"rule warehouse:constraint: the warehouse refused the {period} load ({first[:300]}); nothing was"
            " loaded and the previous load of the period is unchanged"
        ) from exc
    return counts


def _rows_per_file(frames: dict[str, pd.DataFrame]) -> dict[str, dict[str, int]]:
    """Rows standardised from each source file, by extract and file name (one pass per extract)."""
    out: dict[str, dict[str, int]] = {}
    for extract, frame in frames.items():
        if "_file" not in frame:
            continue
        per_file: dict[str, int] = {}
        for name, n in frame["_file"].value_counts().items():
            per_file[Path(str(name)).name] = per_file.get(Path(str(name)).name, 0) + int(n)
        out[extract] = per_file
    return out


_NAMED_PARAM = re.compile(r"(?<!:):(\w+)")


def fetch_frame(conn: Connection, stmt: str, params: dict[str, Any]) -> pd.DataFrame:
    """Run a read query on the DBAPI cursor and build the frame from its rows.

    Millions of rows come back here (registrations by LSOA); skipping SQLAlchemy's per-row result
    processing halves the time. Parameters stay bound: sqlite3 takes ``:name`` as written, psycopg
    takes ``%(name)s``.
    """
    if conn.dialect.name != "sqlite":
        stmt = _NAMED_PARAM.sub(r"%(\1)s", stmt)
    cursor = _driver(conn).cursor()
    try:
        cursor.execute(stmt, params)
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    finally:
        cursor.close()


def read_compute_inputs(engine: Engine, period: str) -> dict[str, pd.DataFrame]:
    """The period's core tables in canonical shape, one frame per extract that has rows."""
    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as conn:
        for spec in EXTRACTS.values():
            if not spec.engine_input:
                continue
            # an extract with a core table reads it through include/sql/compute; others read staging
            path = sql_file(f"compute/{spec.name}.sql", engine.dialect.name)
            (stmt,) = statements(path) if path.exists() else (spec.compute_sql(),)
            frame = fetch_frame(conn, stmt, {"period": period})
            if frame.empty:
                continue
            for name, dtype in spec.read_dtypes().items():
                if dtype.startswith("datetime"):
                    frame[name] = pd.to_datetime(frame[name])
                elif dtype != "str":
                    frame[name] = frame[name].astype(pd.api.types.pandas_dtype(dtype))
            frames[spec.name] = frame
    return frames


def _practice_rows(allocation: Allocation, period: str, run_id: str) -> pd.DataFrame:
    """mart_practice_allocation: one row per practice and variant (payable capitation, QOF, total)."""
    table = views.practice_table(allocation)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "period": period,
                    "run_id": run_id,
                    "parameter_set": allocation.parameter_set,
                    "variant": v,
                    "practice_code": table["practice_code"],
                    "sub_icb_code": table["sub_icb_code"],
                    "registered_patients": table["registered_patients"].astype("int64"),
                    "weighted_list": table[f"weighted_list__{v}"].astype("float64"),
                    "capitation_pence": table[f"capitation_pence__{v}"].astype("int64"),
                    "qof_pence": table["qof_pence"].astype("int64"),
                    "total_pence": table[f"total_pence__{v}"].astype("int64"),
                }
            )
            for v in allocation.variants
        ],
        ignore_index=True,
    )


def _level_rows(allocation: Allocation, period: str, run_id: str) -> pd.DataFrame:
    """mart_level_allocation: the aggregates of each level (computed once, by ``aggregates``)."""
    frames = []
    for level in LEVELS:
        table = views.summary_table(allocation, level)
        for v in allocation.variants:
            frames.append(
                pd.DataFrame(
                    {
                        "period": period,
                        "run_id": run_id,
                        "variant": v,
                        "level": level,
                        "org_code": table["code"].astype(str),
                        "practices": table["practices"].astype("int64"),
                        "registered_patients": table["registered_patients"].astype("int64"),
                        "capitation_pence": table[f"capitation_pence__{v}"].astype("int64"),
                        "qof_pence": table["qof_pence"].astype("int64"),
                        "total_pence": table[f"total_pence__{v}"].astype("int64"),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def write_allocation_marts(
    engine: Engine, *, period: str, run_id: str, allocation: Allocation
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Store the run's ledger and its practice and level views, in one transaction; return what the
    warehouse then holds (levels, practice rows), read back, for the marts-equal-the-engine gate."""
    ledger = allocation.ledger.assign(period=period, run_id=run_id)
    ledger = ledger[["period", "run_id", "variant", "practice_code", "line", "pence"]]
    params = {"period": period, "run_id": run_id}
    with engine.begin() as conn:
        for name in ("delete_allocation_ledger", "delete_practice_allocation", "delete_level_allocation"):
            run_query(conn, name, params)
        bulk_insert(conn, "mart_allocation_ledger", ledger)
        bulk_insert(conn, "mart_practice_allocation", _practice_rows(allocation, period, run_id))
        bulk_insert(conn, "mart_level_allocation", _level_rows(allocation, period, run_id))
    with engine.connect() as conn:
        (levels,) = statements(query_file("read_level_allocation", conn.dialect.name))
        (practices,) = statements(query_file("read_practice_allocation", conn.dialect.name))
        return (
            pd.read_sql_query(sa.text(levels), conn, params=params),
            pd.read_sql_query(sa.text(practices), conn, params=params),
        )


def record_quarantine(engine: Engine, *, period: str, run_id: str, quarantine: pd.DataFrame) -> int:
    """Keep the run's quarantined rows (file, row, column, value, rule) in the warehouse."""
    create_schema(engine)
    rows = pd.DataFrame(
        {
            "period": period,
            "run_id": run_id,
            "extract": quarantine["extract"].astype(str),
            "file": quarantine["file"].astype(str),
            "row_number": pd.to_numeric(quarantine["row"], errors="coerce").astype("Int64"),
            "column_name": quarantine["column"].astype("string"),
            "value": quarantine["value"].astype("string"),
            "rule": quarantine["rule"].astype(str),
            "severity": quarantine["severity"].astype(str),
            "message": quarantine["message"].astype("string"),
        }
    )
    with engine.begin() as conn:
        run_query(conn, "delete_quarantine", {"period": period, "run_id": run_id})
        bulk_insert(conn, "quarantine_rows", rows)
    return len(rows)


def record_publication(
    engine: Engine,
    *,
    period: str,
    run_id: str,
    status: str,
    parameter_set: str,
    selected_variant: str,
    output_dir: str | None,
    manifest_sha256: str | None,
) -> None:
    """Record the run's publication (published, unchanged or failed) and, in the same transaction,
    what became of its load."""
    now = _now()
    params = {
        "period": period,
        "run_id": run_id,
        "status": status,
        "parameter_set": parameter_set,
        "selected_variant": selected_variant,
        "output_dir": output_dir,
        "manifest_sha256": manifest_sha256,
        "published_at": now,
    }
    load = {"published": "published", "unchanged": "unchanged"}.get(status)
    with engine.begin() as conn:
        run_query(conn, "upsert_publication", params)
        if load is not None:
            run_query(conn, "mark_load_published", {**params, "load_status": load, "updated_at": now})
        else:
            run_query(
                conn,
                "mark_load_not_published",
                {**params, "failed_stage": "publish", "detail": "publication failed", "updated_at": now},
            )


def mark_load_not_published(engine: Engine, *, period: str, run_id: str, stage: str, detail: str) -> None:
    """Record that the run's load was not published: ``stage`` failed after it, with ``detail``."""
    params = {
        "period": period,
        "run_id": run_id,
        "failed_stage": stage,
        "detail": detail[:_DETAIL_CHARS],
        "updated_at": _now(),
    }
    with engine.begin() as conn:
        run_query(conn, "mark_load_not_published", params)


def core_load(engine: Engine, period: str) -> dict[str, Any] | None:
    """The load the period's core tables hold: run_id, status (loaded, not_published, published,
    unchanged), failed_stage, detail, loaded_at, and published_run_id (the run whose load the latest
    publication of the period used). None when the period was never loaded."""
    create_schema(engine)
    with engine.connect() as conn:
        (stmt,) = statements(query_file("core_load", conn.dialect.name))
        row = conn.execute(sa.text(stmt), {"period": period}).mappings().fetchone()
        return dict(row) if row is not None else None


def publication_inputs(engine: Engine, period: str) -> pd.DataFrame:
    """``marts/030_publication_inputs.sql``: every publication of the period, the load it used and
    that load's input files."""
    create_schema(engine)
    with engine.connect() as conn:
        (stmt,) = statements(sql_file("marts/030_publication_inputs.sql", conn.dialect.name))
        return pd.read_sql_query(sa.text(stmt), conn, params={"period": period})


def core_practice_lists(engine: Engine, period: str) -> pd.DataFrame:
    """Registered list per practice (practice_code, registered_patients) in the period's core tables."""
    with engine.connect() as conn:
        (stmt,) = statements(query_file("read_core_practice_lists", conn.dialect.name))
        return pd.read_sql_query(sa.text(stmt), conn, params={"period": period})


def previous_list_sizes(
    engine: Engine, period: str, *, exclude_run_id: str | None = None
) -> pd.DataFrame | None:
    """Registered list per practice from the latest published run (for drift checks), or None."""
    create_schema(engine)
    with engine.connect() as conn:
        (latest,) = statements(query_file("latest_publication", conn.dialect.name))
        row = conn.execute(sa.text(latest), {"period": period, "run_id": exclude_run_id or ""}).fetchone()
        if row is None:
            return None
        (lists,) = statements(query_file("read_practice_lists", conn.dialect.name))
        return pd.read_sql_query(sa.text(lists), conn, params={"period": row[0], "run_id": row[1]})
