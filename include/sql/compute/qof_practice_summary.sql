-- QOF practice summary of the period, straight from staging (staging holds the period's latest load;
-- the summary has no core table: it is read only by the engine's practice-points QOF path).
SELECT practice_code, sub_icb_code, pcn_code, list_size, achievement_points, max_points
FROM stg_qof_practice_summary
WHERE period = :period
ORDER BY practice_code;
