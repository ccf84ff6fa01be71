INSERT INTO core_qof_prevalence (period, practice_code, group_code, register, patient_list_type, practice_list_size)
SELECT period, practice_code, group_code, register, patient_list_type, practice_list_size
FROM stg_qof_prevalence
WHERE period = :period;
