DELETE FROM quarantine_rows WHERE period = :period AND run_id = :run_id;
