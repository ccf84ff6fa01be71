-- Marts: what each run computed and published. Keyed by run, so history is never overwritten.

CREATE TABLE IF NOT EXISTS mart_practice_allocation (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    parameter_set TEXT NOT NULL,
    variant TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    registered_patients BIGINT NOT NULL CHECK (registered_patients >= 0),
    weighted_list DOUBLE PRECISION NOT NULL CHECK (weighted_list >= 0),
    capitation_pence BIGINT NOT NULL,
    qof_pence BIGINT NOT NULL,
    total_pence BIGINT NOT NULL,
    CHECK (total_pence = capitation_pence + qof_pence),
    PRIMARY KEY (period, run_id, variant, practice_code)
);

-- The engine's ledger: one row per practice x variant x line (capitation, out_of_hours_deduction,
-- mpig_recycled, qof ...), exact pennies. mart_practice_allocation and mart_level_allocation are views of
-- it written by the engine (aggregates computed once, in Python), checked against it after writing.
CREATE TABLE IF NOT EXISTS mart_allocation_ledger (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    line TEXT NOT NULL,
    pence BIGINT NOT NULL,
    PRIMARY KEY (period, run_id, variant, practice_code, line)
);

CREATE TABLE IF NOT EXISTS mart_level_allocation (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('pcn', 'sub_icb', 'icb', 'region', 'england')),
    org_code TEXT NOT NULL,
    practices BIGINT NOT NULL,
    registered_patients BIGINT NOT NULL,
    capitation_pence BIGINT NOT NULL,
    qof_pence BIGINT NOT NULL,
    total_pence BIGINT NOT NULL,
    PRIMARY KEY (period, run_id, variant, level, org_code)
);

CREATE TABLE IF NOT EXISTS publication (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('published', 'unchanged', 'failed')),
    parameter_set TEXT NOT NULL,
    selected_variant TEXT NOT NULL,
    output_dir TEXT,
    manifest_sha256 TEXT,
    published_at TEXT NOT NULL,
    PRIMARY KEY (period, run_id)
);
