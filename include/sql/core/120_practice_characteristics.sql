INSERT INTO core_practice_characteristics (period, practice_code, new_registrations, care_home_patients)
SELECT period, practice_code, new_registrations, care_home_patients
FROM stg_practice_characteristics
WHERE period = :period;
