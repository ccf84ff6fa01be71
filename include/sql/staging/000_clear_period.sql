-- Staging holds the latest load of each period: clear every extract's rows for the period first,
-- so an optional extract absent from this load cannot leave an older copy behind.
DELETE FROM stg_contracts WHERE period = :period;
DELETE FROM stg_capitation_age_sex WHERE period = :period;
DELETE FROM stg_capitation_lsoa WHERE period = :period;
DELETE FROM stg_practice_map WHERE period = :period;
DELETE FROM stg_qof_achievement WHERE period = :period;
DELETE FROM stg_qof_prevalence WHERE period = :period;
DELETE FROM stg_qof_indicators WHERE period = :period;
DELETE FROM stg_deprivation_lsoa WHERE period = :period;
DELETE FROM stg_practice_characteristics WHERE period = :period;
DELETE FROM stg_additional_needs WHERE period = :period;
DELETE FROM stg_deprivation_practice WHERE period = :period;
DELETE FROM stg_qof_practice_summary WHERE period = :period;
DELETE FROM stg_ods_practices WHERE period = :period;
DELETE FROM stg_pcn_reference WHERE period = :period;
