SELECT practice_code, indicator_code, measure, value
FROM core_qof_achievement
WHERE period = :period
ORDER BY practice_code, indicator_code, measure;
