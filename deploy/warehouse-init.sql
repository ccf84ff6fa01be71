-- The warehouse on its own database and its own login, with least privilege. Run by psql with
--   -v warehouse_db=gp_warehouse -v warehouse_user=gp_warehouse -v warehouse_password=...
--   -v airflow_db=airflow
-- (deploy/postgres-init.sh does that on the first start of the PostgreSQL volume;
-- tests/test_compose.py runs it against a real PostgreSQL and checks what the login can and cannot do).
\set ON_ERROR_STOP on

-- A plain login: no superuser, cannot create databases or roles, cannot bypass row security.
CREATE ROLE :"warehouse_user" LOGIN PASSWORD :'warehouse_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 50;

-- Its own database, which it owns (the load creates and replaces its staging/core/mart tables).
CREATE DATABASE :"warehouse_db" OWNER :"warehouse_user";
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;

-- The Airflow metadata database is the airflow login's alone: no other login may even connect.
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;

\connect :"warehouse_db"
-- Only the owner creates objects in the public schema (PostgreSQL 15+ default, made explicit).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"warehouse_user";
