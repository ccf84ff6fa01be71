-- Registered list per practice in a period's core tables (the plausibility gate against the previous
-- period): the sum of the practice's sex and age bands, as the engine's list is.
SELECT practice_code, SUM(patients) AS registered_patients
FROM core_registration_age_sex
WHERE period = :period
GROUP BY practice_code
ORDER BY practice_code;
