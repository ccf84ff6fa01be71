-- What was published for a period, and from which inputs: one query (parameters :period).
SELECT pub.period, pub.run_id, pub.status, pub.parameter_set, pub.selected_variant, pub.output_dir,
    pub.manifest_sha256, pub.published_at, f.extract, f.file, f.source, f.sha256, f.row_count
FROM publication pub
JOIN load_files f ON f.period = pub.period AND f.run_id = pub.run_id
WHERE pub.period = :period
ORDER BY pub.published_at, f.extract, f.file;
