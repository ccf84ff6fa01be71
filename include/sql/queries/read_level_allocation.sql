SELECT variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence, total_pence
FROM mart_level_allocation
WHERE period = :period AND run_id = :run_id
ORDER BY variant, level, org_code;
