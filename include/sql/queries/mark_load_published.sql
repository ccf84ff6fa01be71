-- In the publication's transaction: what became of the run's load ('published' or 'unchanged').
UPDATE load_status
SET status = :load_status, failed_stage = NULL, detail = NULL, updated_at = :updated_at
WHERE period = :period AND run_id = :run_id;
