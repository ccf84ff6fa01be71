INSERT INTO core_qof_indicator (
    period, indicator_code, indicator_point_value, group_code, group_description, domain_code,
    domain_description, patient_list_type
)
SELECT period, indicator_code, indicator_point_value, group_code, group_description, domain_code,
    domain_description, patient_list_type
FROM stg_qof_indicators
WHERE period = :period;
