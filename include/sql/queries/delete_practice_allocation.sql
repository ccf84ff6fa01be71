DELETE FROM mart_practice_allocation WHERE period = :period AND run_id = :run_id;
