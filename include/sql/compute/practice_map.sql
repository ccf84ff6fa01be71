-- The organisation hierarchy of the period, in the canonical practice_map shape.
SELECT p.extract_date, p.practice_code, p.practice_name, p.practice_postcode, p.pcn_code, p.pcn_name,
    s.sub_icb_code, s.sub_icb_ons_code, s.sub_icb_name,
    i.icb_code, i.icb_ons_code, i.icb_name,
    r.region_code, r.region_ons_code, r.region_name
FROM core_practice p
JOIN core_sub_icb s ON s.period = p.period AND s.sub_icb_code = p.sub_icb_code
JOIN core_icb i ON i.period = s.period AND i.icb_code = s.icb_code
JOIN core_region r ON r.period = i.period AND r.region_code = i.region_code
WHERE p.period = :period
ORDER BY p.practice_code;
