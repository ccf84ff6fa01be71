INSERT INTO core_region (period, region_code, region_ons_code, region_name)
SELECT period, region_code, MIN(region_ons_code), MIN(region_name)
FROM stg_practice_map
WHERE period = :period
GROUP BY period, region_code;
