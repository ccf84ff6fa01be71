SELECT indicator_code, indicator_point_value, group_code, group_description, domain_code, domain_description,
    patient_list_type
FROM core_qof_indicator
WHERE period = :period
ORDER BY indicator_code;
