-- Practice deprivation scores (Fingertips 93553, one row per practice and IMD edition) of the period,
-- from staging: read only by the engine (quintiles and the payments equity view).
SELECT practice_code, imd_year, imd_score
FROM stg_deprivation_practice
WHERE period = :period
ORDER BY practice_code, imd_year;
