SELECT practice_code, new_registrations, care_home_patients
FROM core_practice_characteristics
WHERE period = :period
ORDER BY practice_code;
