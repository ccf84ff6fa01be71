-- Staging: one table per extract, canonical columns as standardised, plus load metadata.
-- Rows are replaced per period on each load (see include/sql/staging/*.sql); history of loads is
-- kept in load_files. Generated once from plugins/gp_allocations/extracts.py; a test keeps them equal.
-- No indexes: staging is written in bulk once per load and read once, by period, into core.

-- GP contracts and payments (NHS Payments to General Practice, practice level)
CREATE TABLE IF NOT EXISTS stg_contracts (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    practice_name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    region_name TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    sub_icb_name TEXT NOT NULL,
    pcn_code TEXT,
    pcn_name TEXT,
    practice_postcode TEXT,
    contract_type TEXT NOT NULL,
    dispensing_practice TEXT,
    practice_rurality TEXT,
    registered_patients DOUBLE PRECISION NOT NULL,
    weighted_patients DOUBLE PRECISION NOT NULL,
    global_sum_pence BIGINT NOT NULL,
    mpig_pence BIGINT NOT NULL,
    qof_pence BIGINT NOT NULL,
    total_payments_pence BIGINT NOT NULL
);

-- Patients registered at a GP practice by sex and 5-year age band
CREATE TABLE IF NOT EXISTS stg_capitation_age_sex (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    extract_date DATE NOT NULL,
    practice_code TEXT NOT NULL,
    sex TEXT NOT NULL,
    age_band TEXT NOT NULL,
    patients BIGINT NOT NULL
);

-- Patients registered at a GP practice by LSOA of residence
CREATE TABLE IF NOT EXISTS stg_capitation_lsoa (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    extract_date DATE NOT NULL,
    practice_code TEXT NOT NULL,
    lsoa_code TEXT NOT NULL,
    patients BIGINT NOT NULL
);

-- Practice to PCN, sub-ICB location, ICB and region
CREATE TABLE IF NOT EXISTS stg_practice_map (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    extract_date DATE NOT NULL,
    practice_code TEXT NOT NULL,
    practice_name TEXT NOT NULL,
    practice_postcode TEXT,
    pcn_code TEXT,
    pcn_name TEXT,
    sub_icb_code TEXT NOT NULL,
    sub_icb_ons_code TEXT NOT NULL,
    sub_icb_name TEXT NOT NULL,
    icb_code TEXT NOT NULL,
    icb_ons_code TEXT NOT NULL,
    icb_name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    region_ons_code TEXT NOT NULL,
    region_name TEXT NOT NULL
);

-- QOF achievement by practice, indicator and measure
CREATE TABLE IF NOT EXISTS stg_qof_achievement (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    indicator_code TEXT NOT NULL,
    measure TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL
);

-- QOF disease registers and list sizes by practice
CREATE TABLE IF NOT EXISTS stg_qof_prevalence (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    group_code TEXT NOT NULL,
    register BIGINT NOT NULL,
    patient_list_type TEXT NOT NULL,
    practice_list_size BIGINT NOT NULL
);

-- QOF indicator mapping (points available per indicator)
CREATE TABLE IF NOT EXISTS stg_qof_indicators (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    indicator_code TEXT NOT NULL,
    indicator_point_value DOUBLE PRECISION NOT NULL,
    group_code TEXT NOT NULL,
    group_description TEXT NOT NULL,
    domain_code TEXT NOT NULL,
    domain_description TEXT NOT NULL,
    patient_list_type TEXT
);

-- English Indices of Deprivation by LSOA (IoD2019 File 7 layout)
CREATE TABLE IF NOT EXISTS stg_deprivation_lsoa (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    lsoa_code TEXT NOT NULL,
    lsoa_name TEXT NOT NULL,
    lad_code TEXT NOT NULL,
    lad_name TEXT NOT NULL,
    imd_score DOUBLE PRECISION NOT NULL,
    imd_rank BIGINT NOT NULL,
    imd_decile BIGINT NOT NULL,
    health_deprivation_score DOUBLE PRECISION NOT NULL,
    population BIGINT NOT NULL
);

-- Carr-Hill practice inputs: new registrations and nursing/residential home patients
CREATE TABLE IF NOT EXISTS stg_practice_characteristics (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    new_registrations BIGINT NOT NULL,
    care_home_patients BIGINT NOT NULL
);

-- Carr-Hill additional needs inputs by LSOA: SLLI and SMR under 65
CREATE TABLE IF NOT EXISTS stg_additional_needs (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    lsoa_code TEXT NOT NULL,
    slli DOUBLE PRECISION NOT NULL,
    smr_under_65 DOUBLE PRECISION NOT NULL
);

-- Practice deprivation score (OHID Fingertips indicator 93553)
CREATE TABLE IF NOT EXISTS stg_deprivation_practice (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    imd_year BIGINT NOT NULL,
    imd_score DOUBLE PRECISION NOT NULL
);

-- QOF practice summary (points achieved per practice)
CREATE TABLE IF NOT EXISTS stg_qof_practice_summary (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    pcn_code TEXT,
    list_size BIGINT NOT NULL,
    achievement_points DOUBLE PRECISION NOT NULL,
    max_points DOUBLE PRECISION NOT NULL
);

-- ODS GP practice reference (epraccur, headerless, 27 fields)
CREATE TABLE IF NOT EXISTS stg_ods_practices (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    practice_code TEXT NOT NULL,
    practice_name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    icb_code TEXT NOT NULL,
    practice_postcode TEXT,
    open_date DATE,
    close_date DATE,
    status_code TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    prescribing_setting BIGINT NOT NULL
);

-- ODS PCN reference (ePCN workbook, PCNDetails sheet)
CREATE TABLE IF NOT EXISTS stg_pcn_reference (
    period TEXT NOT NULL,
    run_id TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    pcn_code TEXT NOT NULL,
    pcn_name TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    open_date DATE,
    close_date DATE
);
