DELETE FROM mart_level_allocation WHERE period = :period AND run_id = :run_id;
