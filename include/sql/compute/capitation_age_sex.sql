SELECT extract_date, practice_code, sex, age_band, patients
FROM core_registration_age_sex
WHERE period = :period
ORDER BY practice_code, sex, age_band;
