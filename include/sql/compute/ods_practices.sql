-- ODS practice reference of the period, from staging: read only by the engine's practice-changes report.
SELECT practice_code, practice_name, region_code, icb_code, practice_postcode, open_date, close_date,
    status_code, sub_icb_code, prescribing_setting
FROM stg_ods_practices
WHERE period = :period
ORDER BY practice_code;
