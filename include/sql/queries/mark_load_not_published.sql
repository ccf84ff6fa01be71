-- Compute or publish failed after the load. A load already recorded as published stays so.
UPDATE load_status
SET status = 'not_published', failed_stage = :failed_stage, detail = :detail, updated_at = :updated_at
WHERE period = :period AND run_id = :run_id AND status IN ('loaded', 'not_published');
