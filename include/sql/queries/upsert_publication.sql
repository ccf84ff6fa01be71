DELETE FROM publication WHERE period = :period AND run_id = :run_id;
INSERT INTO publication (
    period, run_id, status, parameter_set, selected_variant, output_dir, manifest_sha256, published_at
)
VALUES (
    :period, :run_id, :status, :parameter_set, :selected_variant, :output_dir, :manifest_sha256, :published_at
);
