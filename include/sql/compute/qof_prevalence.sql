SELECT practice_code, group_code, register, patient_list_type, practice_list_size
FROM core_qof_prevalence
WHERE period = :period
ORDER BY practice_code, group_code;
