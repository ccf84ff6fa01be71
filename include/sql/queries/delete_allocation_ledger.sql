DELETE FROM mart_allocation_ledger WHERE period = :period AND run_id = :run_id;
