SELECT extract_date, practice_code, lsoa_code, patients
FROM core_registration_lsoa
WHERE period = :period
ORDER BY practice_code, lsoa_code;
