-- Every level is the integer sum of the practices under it (no re-rounding at any level).
DELETE FROM mart_level_allocation WHERE period = :period AND run_id = :run_id;

INSERT INTO mart_level_allocation (
    period, run_id, variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence,
    total_pence
)
SELECT a.period, a.run_id, a.variant, 'pcn', COALESCE(p.pcn_code, '[none]'), COUNT(*),
    SUM(a.registered_patients), SUM(a.capitation_pence), SUM(a.qof_pence), SUM(a.total_pence)
FROM mart_practice_allocation a
JOIN core_practice p ON p.period = a.period AND p.practice_code = a.practice_code
WHERE a.period = :period AND a.run_id = :run_id
GROUP BY a.period, a.run_id, a.variant, COALESCE(p.pcn_code, '[none]');

INSERT INTO mart_level_allocation (
    period, run_id, variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence,
    total_pence
)
SELECT a.period, a.run_id, a.variant, 'sub_icb', p.sub_icb_code, COUNT(*),
    SUM(a.registered_patients), SUM(a.capitation_pence), SUM(a.qof_pence), SUM(a.total_pence)
FROM mart_practice_allocation a
JOIN core_practice p ON p.period = a.period AND p.practice_code = a.practice_code
WHERE a.period = :period AND a.run_id = :run_id
GROUP BY a.period, a.run_id, a.variant, p.sub_icb_code;

INSERT INTO mart_level_allocation (
    period, run_id, variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence,
    total_pence
)
SELECT a.period, a.run_id, a.variant, 'icb', s.icb_code, COUNT(*),
    SUM(a.registered_patients), SUM(a.capitation_pence), SUM(a.qof_pence), SUM(a.total_pence)
FROM mart_practice_allocation a
JOIN core_practice p ON p.period = a.period AND p.practice_code = a.practice_code
JOIN core_sub_icb s ON s.period = p.period AND s.sub_icb_code = p.sub_icb_code
WHERE a.period = :period AND a.run_id = :run_id
GROUP BY a.period, a.run_id, a.variant, s.icb_code;

INSERT INTO mart_level_allocation (
    period, run_id, variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence,
    total_pence
)
SELECT a.period, a.run_id, a.variant, 'region', i.region_code, COUNT(*),
    SUM(a.registered_patients), SUM(a.capitation_pence), SUM(a.qof_pence), SUM(a.total_pence)
FROM mart_practice_allocation a
JOIN core_practice p ON p.period = a.period AND p.practice_code = a.practice_code
JOIN core_sub_icb s ON s.period = p.period AND s.sub_icb_code = p.sub_icb_code
JOIN core_icb i ON i.period = s.period AND i.icb_code = s.icb_code
WHERE a.period = :period AND a.run_id = :run_id
GROUP BY a.period, a.run_id, a.variant, i.region_code;

INSERT INTO mart_level_allocation (
    period, run_id, variant, level, org_code, practices, registered_patients, capitation_pence, qof_pence,
    total_pence
)
SELECT a.period, a.run_id, a.variant, 'england', 'E92000001', COUNT(*),
    SUM(a.registered_patients), SUM(a.capitation_pence), SUM(a.qof_pence), SUM(a.total_pence)
FROM mart_practice_allocation a
WHERE a.period = :period AND a.run_id = :run_id
GROUP BY a.period, a.run_id, a.variant;
