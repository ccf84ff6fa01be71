-- Children before parents, so foreign keys hold at every step.
DELETE FROM core_registration_age_sex WHERE period = :period;
DELETE FROM core_registration_lsoa WHERE period = :period;
DELETE FROM core_practice WHERE period = :period;
DELETE FROM core_sub_icb WHERE period = :period;
DELETE FROM core_icb WHERE period = :period;
DELETE FROM core_region WHERE period = :period;
DELETE FROM core_contract WHERE period = :period;
DELETE FROM core_qof_achievement WHERE period = :period;
DELETE FROM core_qof_prevalence WHERE period = :period;
DELETE FROM core_qof_indicator WHERE period = :period;
DELETE FROM core_deprivation_lsoa WHERE period = :period;
DELETE FROM core_practice_characteristics WHERE period = :period;
DELETE FROM core_additional_needs WHERE period = :period;
