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
