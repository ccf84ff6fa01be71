-- Rebuild the effective-dated hierarchy from the practice maps of every loaded period.
DELETE FROM core_practice_membership;

INSERT INTO core_practice_membership (
    practice_code, pcn_code, sub_icb_code, icb_code, region_code, effective_from, effective_to
)
WITH snapshot AS (
    SELECT practice_code, COALESCE(pcn_code, '') AS pcn_code, sub_icb_code, icb_code, region_code,
        MIN(extract_date) AS extract_date
    FROM stg_practice_map
    GROUP BY period, practice_code, COALESCE(pcn_code, ''), sub_icb_code, icb_code, region_code
),
keyed AS (
    SELECT snapshot.*,
        pcn_code || '|' || sub_icb_code || '|' || icb_code || '|' || region_code AS membership,
        LAG(pcn_code || '|' || sub_icb_code || '|' || icb_code || '|' || region_code)
            OVER (PARTITION BY practice_code ORDER BY extract_date) AS previous_membership
    FROM snapshot
),
changes AS (
    SELECT * FROM keyed
    WHERE previous_membership IS NULL OR previous_membership <> membership
)
SELECT practice_code, NULLIF(pcn_code, ''), sub_icb_code, icb_code, region_code, extract_date,
    LEAD(extract_date) OVER (PARTITION BY practice_code ORDER BY extract_date)
FROM changes;
