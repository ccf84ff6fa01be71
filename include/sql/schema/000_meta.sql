-- Load history: one row per extract file loaded, per run. Kept for ever, so "which inputs did
-- the 2025/26 Q2 publication use" is one join (see marts/publication_inputs view).
CREATE TABLE IF NOT EXISTS load_files (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    extract TEXT NOT NULL,
    file TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    row_count BIGINT NOT NULL CHECK (row_count >= 0),
    loaded_at TEXT NOT NULL,
    PRIMARY KEY (period, run_id, extract, file)
);

CREATE TABLE IF NOT EXISTS load_runs (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    loaded_at TEXT NOT NULL,
    PRIMARY KEY (period, run_id)
);

-- Rows that failed a row-level validation rule, kept per run with where they came from.
CREATE TABLE IF NOT EXISTS quarantine_rows (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    extract TEXT NOT NULL,
    file TEXT NOT NULL,
    row_number BIGINT,
    column_name TEXT,
    value TEXT,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    message TEXT
);
CREATE INDEX IF NOT EXISTS ix_quarantine_rows_run ON quarantine_rows (period, run_id);

-- What became of each run's load of a period, so the warehouse never passes an unpublished load off
-- as the published one (the core tables hold one load per period: the latest).
--   loaded         in the core tables, not published (yet): a run stopped or killed after load stays so
--   not_published  compute or publish failed after the load (failed_stage and detail say where and why)
--   published      the run published a new version from this load
--   unchanged      the run's figures equal the latest published version: no new version, no new files
-- in_core = 1 marks the one load of the period that the core tables hold now.
CREATE TABLE IF NOT EXISTS load_status (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('loaded', 'not_published', 'published', 'unchanged')),
    in_core INTEGER NOT NULL CHECK (in_core IN (0, 1)),
    failed_stage TEXT,
    detail TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (period, run_id)
);
