INSERT INTO core_qof_achievement (period, practice_code, indicator_code, measure, value)
SELECT period, practice_code, indicator_code, measure, value
FROM stg_qof_achievement
WHERE period = :period;
