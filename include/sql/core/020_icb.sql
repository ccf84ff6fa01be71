-- One row per ICB: each ICB code has one region, ONS code and name (rule hierarchy_one_parent, checked
-- before load), so DISTINCT selects it; a second value would break the primary key, never be dropped.
INSERT INTO core_icb (period, icb_code, icb_ons_code, icb_name, region_code)
SELECT DISTINCT period, icb_code, icb_ons_code, icb_name, region_code
FROM stg_practice_map
WHERE period = :period;
