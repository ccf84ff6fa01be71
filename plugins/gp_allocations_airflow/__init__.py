"""Airflow glue for the gp_allocations package: settings from connections/variables, callbacks.

Kept apart from the domain package so that ``gp_allocations`` never imports Airflow. Imported only
inside task code (never at DAG parse time beyond these light functions).
"""

from __future__ import annotations

import logging
import re

from gp_allocations.config import RunContext, data_dir, default_source, output_root, warehouse_url
from gp_allocations.periods import Period

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "gp_warehouse"
SOURCE_VARIABLE = "gp_alloc_source"
OUTPUT_VARIABLE = "gp_alloc_output_root"


def sqlalchemy_url_from_connection(uri: str) -> str:
    """Airflow connection URI -> SQLAlchemy URL (postgres:// becomes postgresql+psycopg://)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", uri)


def _warehouse_url() -> str:
    from airflow.sdk import Connection

    try:
        conn = Connection.get(WAREHOUSE_CONN_ID)
    except Exception:  # not configured: the documented default applies
        return warehouse_url()
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    return sqlalchemy_url_from_connection(conn.get_uri())


def _variable(key: str, default: str) -> str:
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=default) or default
    except Exception:
        return default


def run_context_from_airflow(params: dict, run_id: str, run_after) -> RunContext:
    """Build the run's context: Params first, then Airflow connections/variables, then env defaults."""
    period = (params.get("period") or "").strip()
    period = Period.parse(period).slug if period else Period.containing(run_after.date()).slug
    price = params.get("price_per_weighted_patient")
    extracts = params.get("extracts") or None
    return RunContext(
        run_id=run_id,
        period=period,
        variant=params.get("variant") or "global_sum",
        parameter_set=params.get("parameter_set") or "carr_hill_2004",
        price_per_weighted_patient=str(price) if price not in (None, "") else None,
        source=_variable(SOURCE_VARIABLE, default_source()),
        extracts=list(extracts) if extracts else None,
        warehouse_url=_warehouse_url(),
        output_root=_variable(OUTPUT_VARIABLE, str(output_root())),
        data_dir=str(data_dir()),
    )
