INSERT INTO core_practice (
    period, practice_code, practice_name, practice_postcode, pcn_code, pcn_name, sub_icb_code, extract_date
)
SELECT period, practice_code, practice_name, practice_postcode, pcn_code, pcn_name, sub_icb_code, extract_date
FROM stg_practice_map
WHERE period = :period;
