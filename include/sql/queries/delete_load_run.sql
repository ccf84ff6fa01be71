DELETE FROM load_files WHERE period = :period AND run_id = :run_id;
DELETE FROM load_runs WHERE period = :period AND run_id = :run_id;
