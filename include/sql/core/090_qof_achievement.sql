-- Core keeps the measure payments are made on (points achieved per indicator); the other measures
-- (numerator, denominator, register, PCAs) stay in staging for the period's latest load.
INSERT INTO core_qof_achievement (period, practice_code, indicator_code, measure, value)
SELECT period, practice_code, indicator_code, measure, value
FROM stg_qof_achievement
WHERE period = :period AND measure = 'ACHIEVED_POINTS';
