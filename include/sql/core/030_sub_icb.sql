INSERT INTO core_sub_icb (period, sub_icb_code, sub_icb_ons_code, sub_icb_name, icb_code)
SELECT period, sub_icb_code, MIN(sub_icb_ons_code), MIN(sub_icb_name), MIN(icb_code)
FROM stg_practice_map
WHERE period = :period
GROUP BY period, sub_icb_code;
