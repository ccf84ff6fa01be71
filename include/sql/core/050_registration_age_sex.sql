INSERT INTO core_registration_age_sex (period, practice_code, sex, age_band, patients, extract_date)
SELECT period, practice_code, sex, age_band, patients, extract_date
FROM stg_capitation_age_sex
WHERE period = :period;
