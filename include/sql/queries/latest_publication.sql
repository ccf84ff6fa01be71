-- The latest published run up to a period, other than the current one (drift checks compare with it).
SELECT period, run_id
FROM publication
WHERE status = 'published' AND period <= :period AND run_id <> :run_id
ORDER BY period DESC, published_at DESC
LIMIT 1;
