SELECT practice_code, registered_patients
FROM mart_practice_allocation
WHERE period = :period AND run_id = :run_id AND variant = 'global_sum'
ORDER BY practice_code;
