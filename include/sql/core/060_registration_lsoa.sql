INSERT INTO core_registration_lsoa (period, practice_code, lsoa_code, patients, extract_date)
SELECT period, practice_code, lsoa_code, patients, extract_date
FROM stg_capitation_lsoa
WHERE period = :period;
