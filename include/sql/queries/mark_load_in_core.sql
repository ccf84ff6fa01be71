-- In the load's transaction: this run's load is now the period's core content, not yet published.
UPDATE load_status SET in_core = 0 WHERE period = :period;
DELETE FROM load_status WHERE period = :period AND run_id = :run_id;
INSERT INTO load_status (period, run_id, status, in_core, failed_stage, detail, updated_at)
VALUES (:period, :run_id, 'loaded', 1, NULL, NULL, :updated_at);
