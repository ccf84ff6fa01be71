INSERT INTO core_additional_needs (period, lsoa_code, slli, smr_under_65)
SELECT period, lsoa_code, slli, smr_under_65
FROM stg_additional_needs
WHERE period = :period;
