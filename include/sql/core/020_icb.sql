INSERT INTO core_icb (period, icb_code, icb_ons_code, icb_name, region_code)
SELECT period, icb_code, MIN(icb_ons_code), MIN(icb_name), MIN(region_code)
FROM stg_practice_map
WHERE period = :period
GROUP BY period, icb_code;
