SELECT practice_code, practice_name, region_code, region_name, sub_icb_code, sub_icb_name, pcn_code, pcn_name,
    practice_postcode, contract_type, dispensing_practice, practice_rurality, registered_patients,
    weighted_patients, global_sum_pence, mpig_pence, seniority_pence, qof_pence, total_payments_pence
FROM core_contract
WHERE period = :period
ORDER BY practice_code;
