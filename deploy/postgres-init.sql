-- Runs once when the PostgreSQL volume is created: a separate database for the warehouse,
-- so the Airflow metadata and the allocations never share a schema.
CREATE DATABASE gp_warehouse;
