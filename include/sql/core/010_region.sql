-- One row per region. Validation (rule hierarchy_one_parent) and the load stage have checked that each
-- region code has one ONS code and one name, so DISTINCT selects that one row; a second would break
-- the primary key rather than be silently dropped.
INSERT INTO core_region (period, region_code, region_ons_code, region_name)
SELECT DISTINCT period, region_code, region_ons_code, region_name
FROM stg_practice_map
WHERE period = :period;
