-- One row per sub-ICB location: each has one ICB, ONS code and name (rule hierarchy_one_parent, checked
-- before load), so DISTINCT selects it; a second value would break the primary key, never be dropped.
INSERT INTO core_sub_icb (period, sub_icb_code, sub_icb_ons_code, sub_icb_name, icb_code)
SELECT DISTINCT period, sub_icb_code, sub_icb_ons_code, sub_icb_name, icb_code
FROM stg_practice_map
WHERE period = :period;
