-- The load the period's core tables hold, what became of it, and the run whose load the period's
-- latest published version used (NULL when none): the two differ after a load that was not published.
SELECT ls.period, ls.run_id, ls.status, ls.failed_stage, ls.detail, lr.loaded_at,
    (
        SELECT p.run_id FROM publication p
        WHERE p.period = ls.period AND p.status = 'published'
        ORDER BY p.published_at DESC, p.run_id DESC
        LIMIT 1
    ) AS published_run_id
FROM load_status ls
JOIN load_runs lr ON lr.period = ls.period AND lr.run_id = ls.run_id
WHERE ls.period = :period AND ls.in_core = 1;
