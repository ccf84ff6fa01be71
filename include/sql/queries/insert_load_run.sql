INSERT INTO load_runs (period, run_id, loaded_at) VALUES (:period, :run_id, :loaded_at);
