-- Which load each publication of a period used, and from which inputs (parameter :period): one row per
-- publication and input file. A publication used the load of its own run. 'unchanged' published no new
-- files (output_dir is the earlier run's folder that stands). load_status says what became of the load
-- and core_holds_this_load whether the period's core tables still hold it (0 once a later run has
-- loaded the period: include/sql/queries/core_load.sql says what that later load became).
SELECT pub.period, pub.run_id, pub.status AS publication_status, pub.published_at, pub.output_dir,
    pub.manifest_sha256, pub.parameter_set, pub.selected_variant, lr.loaded_at,
    ls.status AS load_status, ls.in_core AS core_holds_this_load,
    f.extract, f.file, f.source, f.sha256, f.row_count
FROM publication pub
JOIN load_runs lr ON lr.period = pub.period AND lr.run_id = pub.run_id
LEFT JOIN load_status ls ON ls.period = pub.period AND ls.run_id = pub.run_id
JOIN load_files f ON f.period = pub.period AND f.run_id = pub.run_id
WHERE pub.period = :period
ORDER BY pub.published_at, pub.run_id, f.extract, f.file;
