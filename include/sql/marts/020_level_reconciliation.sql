-- Rows returned here are reconciliation failures: a level whose total differs from England's.
SELECT l.variant, l.level, SUM(l.total_pence) AS level_total, e.total_pence AS england_total
FROM mart_level_allocation l
JOIN mart_level_allocation e
    ON e.period = l.period AND e.run_id = l.run_id AND e.variant = l.variant AND e.level = 'england'
WHERE l.period = :period AND l.run_id = :run_id
GROUP BY l.variant, l.level, e.total_pence
HAVING SUM(l.total_pence) <> e.total_pence;
