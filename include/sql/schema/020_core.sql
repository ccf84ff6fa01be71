-- Core: one typed, constrained copy per period. Constraints enforce what validation promised.

CREATE TABLE IF NOT EXISTS core_region (
    period TEXT NOT NULL,
    region_code TEXT NOT NULL CHECK (length(region_code) = 3),
    region_ons_code TEXT NOT NULL,
    region_name TEXT NOT NULL,
    PRIMARY KEY (period, region_code)
);

CREATE TABLE IF NOT EXISTS core_icb (
    period TEXT NOT NULL,
    icb_code TEXT NOT NULL CHECK (length(icb_code) = 3),
    icb_ons_code TEXT NOT NULL,
    icb_name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    PRIMARY KEY (period, icb_code),
    FOREIGN KEY (period, region_code) REFERENCES core_region (period, region_code)
);

CREATE TABLE IF NOT EXISTS core_sub_icb (
    period TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL CHECK (length(sub_icb_code) BETWEEN 3 AND 5),
    sub_icb_ons_code TEXT NOT NULL,
    sub_icb_name TEXT NOT NULL,
    icb_code TEXT NOT NULL,
    PRIMARY KEY (period, sub_icb_code),
    FOREIGN KEY (period, icb_code) REFERENCES core_icb (period, icb_code)
);

CREATE TABLE IF NOT EXISTS core_practice (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL CHECK (length(practice_code) = 6),
    practice_name TEXT NOT NULL,
    practice_postcode TEXT,
    pcn_code TEXT,
    pcn_name TEXT,
    sub_icb_code TEXT NOT NULL,
    extract_date DATE NOT NULL,
    PRIMARY KEY (period, practice_code),
    FOREIGN KEY (period, sub_icb_code) REFERENCES core_sub_icb (period, sub_icb_code)
);

CREATE TABLE IF NOT EXISTS core_registration_age_sex (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('MALE', 'FEMALE')),
    age_band TEXT NOT NULL,
    patients BIGINT NOT NULL CHECK (patients >= 0),
    extract_date DATE NOT NULL,
    PRIMARY KEY (period, practice_code, sex, age_band),
    FOREIGN KEY (period, practice_code) REFERENCES core_practice (period, practice_code)
);

CREATE TABLE IF NOT EXISTS core_registration_lsoa (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    lsoa_code TEXT NOT NULL,
    patients BIGINT NOT NULL CHECK (patients >= 0),
    extract_date DATE NOT NULL,
    PRIMARY KEY (period, practice_code, lsoa_code),
    FOREIGN KEY (period, practice_code) REFERENCES core_practice (period, practice_code)
);

CREATE TABLE IF NOT EXISTS core_contract (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    practice_name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    region_name TEXT NOT NULL,
    sub_icb_code TEXT NOT NULL,
    sub_icb_name TEXT NOT NULL,
    pcn_code TEXT,
    pcn_name TEXT,
    practice_postcode TEXT,
    -- 'Unknown' is published (e.g. 155 practices in 2022/23 payments) and validated as a warning
    contract_type TEXT NOT NULL CHECK (contract_type IN ('GMS', 'PMS', 'APMS', 'Unknown')),
    dispensing_practice TEXT,
    practice_rurality TEXT,
    registered_patients DOUBLE PRECISION NOT NULL CHECK (registered_patients >= 0),
    weighted_patients DOUBLE PRECISION NOT NULL CHECK (weighted_patients >= 0),
    global_sum_pence BIGINT NOT NULL,
    mpig_pence BIGINT NOT NULL,
    qof_pence BIGINT NOT NULL,
    total_payments_pence BIGINT NOT NULL,
    seniority_pence BIGINT,
    PRIMARY KEY (period, practice_code)
);

CREATE TABLE IF NOT EXISTS core_qof_indicator (
    period TEXT NOT NULL,
    indicator_code TEXT NOT NULL,
    indicator_point_value DOUBLE PRECISION NOT NULL CHECK (indicator_point_value >= 0),
    group_code TEXT NOT NULL,
    group_description TEXT NOT NULL,
    domain_code TEXT NOT NULL,
    domain_description TEXT NOT NULL,
    patient_list_type TEXT,
    PRIMARY KEY (period, indicator_code)
);

CREATE TABLE IF NOT EXISTS core_qof_achievement (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    indicator_code TEXT NOT NULL,
    measure TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (period, practice_code, indicator_code, measure)
);

CREATE TABLE IF NOT EXISTS core_qof_prevalence (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    group_code TEXT NOT NULL,
    register BIGINT NOT NULL CHECK (register >= 0),
    patient_list_type TEXT NOT NULL,
    practice_list_size BIGINT NOT NULL CHECK (practice_list_size >= 0),
    PRIMARY KEY (period, practice_code, group_code)
);

CREATE TABLE IF NOT EXISTS core_deprivation_lsoa (
    period TEXT NOT NULL,
    lsoa_code TEXT NOT NULL,
    lsoa_name TEXT NOT NULL,
    lad_code TEXT NOT NULL,
    lad_name TEXT NOT NULL,
    imd_score DOUBLE PRECISION NOT NULL,
    imd_rank BIGINT NOT NULL CHECK (imd_rank >= 1),
    imd_decile BIGINT NOT NULL CHECK (imd_decile BETWEEN 1 AND 10),
    health_deprivation_score DOUBLE PRECISION NOT NULL,
    population BIGINT NOT NULL CHECK (population >= 0),
    PRIMARY KEY (period, lsoa_code)
);

CREATE TABLE IF NOT EXISTS core_practice_characteristics (
    period TEXT NOT NULL,
    practice_code TEXT NOT NULL,
    new_registrations BIGINT NOT NULL CHECK (new_registrations >= 0),
    care_home_patients BIGINT NOT NULL CHECK (care_home_patients >= 0),
    PRIMARY KEY (period, practice_code)
);

CREATE TABLE IF NOT EXISTS core_additional_needs (
    period TEXT NOT NULL,
    lsoa_code TEXT NOT NULL,
    slli DOUBLE PRECISION NOT NULL CHECK (slli >= 0),
    smr_under_65 DOUBLE PRECISION NOT NULL CHECK (smr_under_65 >= 0),
    PRIMARY KEY (period, lsoa_code)
);

-- The organisation hierarchy by effective date: one row per practice per spell in which its PCN,
-- sub-ICB location (formerly CCG), ICB and region stayed the same. Rebuilt from every loaded
-- period's practice map, so moves (practice to another PCN, CCGs becoming sub-ICB locations in
-- July 2022, ICB mergers from April 2026) are kept as history whatever order periods load in.
CREATE TABLE IF NOT EXISTS core_practice_membership (
    practice_code TEXT NOT NULL,
    pcn_code TEXT,
    sub_icb_code TEXT NOT NULL,
    icb_code TEXT NOT NULL,
    region_code TEXT NOT NULL,
    effective_from DATE NOT NULL,
    effective_to DATE,
    PRIMARY KEY (practice_code, effective_from),
    CHECK (effective_to IS NULL OR effective_to > effective_from)
);
