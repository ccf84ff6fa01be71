INSERT INTO core_deprivation_lsoa (
    period, lsoa_code, lsoa_name, lad_code, lad_name, imd_score, imd_rank, imd_decile,
    health_deprivation_score, population
)
SELECT period, lsoa_code, lsoa_name, lad_code, lad_name, imd_score, imd_rank, imd_decile,
    health_deprivation_score, population
FROM stg_deprivation_lsoa
WHERE period = :period;
