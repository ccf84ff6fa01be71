INSERT INTO load_files (period, run_id, extract, file, source, sha256, bytes, row_count, loaded_at)
VALUES (:period, :run_id, :extract, :file, :source, :sha256, :bytes, :row_count, :loaded_at);
