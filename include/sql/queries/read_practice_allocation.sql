SELECT variant, practice_code, capitation_pence, qof_pence, total_pence
FROM mart_practice_allocation
WHERE period = :period AND run_id = :run_id
ORDER BY variant, practice_code;
