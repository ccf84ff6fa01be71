SELECT lsoa_code, slli, smr_under_65
FROM core_additional_needs
WHERE period = :period
ORDER BY lsoa_code;
