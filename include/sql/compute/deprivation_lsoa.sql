SELECT lsoa_code, lsoa_name, lad_code, lad_name, imd_score, imd_rank, imd_decile, health_deprivation_score,
    population
FROM core_deprivation_lsoa
WHERE period = :period
ORDER BY lsoa_code;
