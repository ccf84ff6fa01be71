#!/bin/bash
# Runs once, when the PostgreSQL volume is first created (docker-entrypoint-initdb.d): the warehouse
# database and its own least-privilege login (deploy/warehouse-init.sql).
set -euo pipefail
: "${GP_WAREHOUSE_PASSWORD:?set GP_WAREHOUSE_PASSWORD in .env}"
psql --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v warehouse_db=gp_warehouse -v warehouse_user=gp_warehouse \
  -v warehouse_password="$GP_WAREHOUSE_PASSWORD" -v airflow_db="$POSTGRES_DB" \
  -f /opt/gp-allocations/warehouse-init.sql
