"""The extracts a run reads, and the one canonical schema each is standardised to.

Every published era of a file maps onto the schema here (see ``layouts``); nothing downstream of
standardisation sees a published column name. Extract names are the stable identifiers used in
configuration (``GP_ALLOC_SOURCE_<NAME>``), suite files (``expectations/<name>.json``), staging
tables (``stg_<name>``) and the manifest.

The mechanical things are generated from the spec, never written by hand: the staging table's DDL
(``ExtractSpec.staging_ddl``), the statement that clears a period from it (``clear_period_sql``), the
query that reads it back for the engine when the extract has no core table (``compute_sql``) and the
dtypes the warehouse reads it back with (``read_dtypes``). Adding an extract is therefore: its spec
here, its layout (``include/layouts/<name>.yaml``), its suite (``expectations/<name>.json``) and the
engine step that uses it; see docs/adding-an-extract.md for a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class DType:
    """How a canonical dtype is stored in the warehouse and read back into pandas."""

    sql: str
    pandas: str
    pandas_nullable: str


#: The five canonical dtypes. Column types are portable between SQLite and PostgreSQL.
DTYPES: dict[str, DType] = {
    "str": DType("TEXT", "str", "str"),
    "int": DType("BIGINT", "int64", "Int64"),
    "float": DType("DOUBLE PRECISION", "float64", "float64"),
    "pence": DType("BIGINT", "int64", "Int64"),
    "date": DType("DATE", "datetime64", "datetime64"),  # the unit is pandas' choice
}

#: Load metadata every staging table carries before the canonical columns.
STAGING_METADATA: tuple[tuple[str, str], ...] = (
    ("period", "TEXT"),
    ("run_id", "TEXT"),
    ("source_file", "TEXT"),
    ("source_row", "BIGINT"),
)


@dataclass(frozen=True)
class Column:
    """A canonical column. ``dtype`` is one of DTYPES: str, int, float, pence (integer pennies), date."""

    name: str
    dtype: str
    description: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: unknown dtype {self.dtype!r}; known: {sorted(DTYPES)}")
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"column {self.name!r}: canonical names are lower-case identifiers")

    @property
    def sql_type(self) -> str:
        return DTYPES[self.dtype].sql

    @property
    def pandas_dtype(self) -> str:
        kind = DTYPES[self.dtype]
        return kind.pandas_nullable if self.nullable else kind.pandas


@dataclass(frozen=True)
class ExtractSpec:
    name: str
    title: str
    file_patterns: tuple[str, ...]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool
    many_files: bool = False
    #: False for reference extracts that validation reads but the engine does not (no compute query).
    engine_input: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"extract {self.name!r}: names are lower-case identifiers")
        missing = set(self.key) - set(self.column_names)
        if missing:
            raise ValueError(f"extract {self.name!r}: key columns {sorted(missing)} are not columns")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def staging_table(self) -> str:
        return f"stg_{self.name}"

    def staging_ddl(self, blank: frozenset[str] = frozenset()) -> str:
        """CREATE TABLE for the extract's staging table: load metadata, then the canonical columns
        (NOT NULL unless nullable, or in ``blank``: published blank by some era, kept as read)."""
        cols = [f"    {name} {sql} NOT NULL" for name, sql in STAGING_METADATA]
        for c in self.columns:
            cols.append(f"    {c.name} {c.sql_type}{'' if c.nullable or c.name in blank else ' NOT NULL'}")
        body = ",\n".join(cols)
        return f"-- {self.title}\nCREATE TABLE IF NOT EXISTS {self.staging_table} (\n{body}\n)"

    def clear_period_sql(self) -> str:
        """Staging holds the latest load of each period: this clears the period before a load."""
        return f"DELETE FROM {self.staging_table} WHERE period = :period"

    def compute_sql(self) -> str:
        """The engine's read of the period from staging (used when there is no include/sql/compute file)."""
        return (
            f"SELECT {', '.join(self.column_names)}\nFROM {self.staging_table}\n"
            f"WHERE period = :period\nORDER BY {', '.join(self.key)}"
        )

    def read_dtypes(self) -> dict[str, str]:
        """The pandas dtype of each canonical column, as the warehouse hands it to the engine."""
        return {c.name: c.pandas_dtype for c in self.columns}


def _c(name: str, dtype: str, description: str, nullable: bool = False) -> Column:
    return Column(name, dtype, description, nullable)


EXTRACTS: dict[str, ExtractSpec] = {
    spec.name: spec
    for spec in (
        ExtractSpec(
            name="contracts",
            title="GP contracts and payments (NHS Payments to General Practice, practice level)",
            # every practice-level year in the folder (2018/19 was published as nhspaymentsgp-18-19-csv.csv):
            # the newest is the run's contracts, the older ones its long-run history (long_run.py)
            file_patterns=(
                "nhspaymentsgp-*-prac-csv.csv|nhspaymentsgp-??-??-csv.csv",
                "nhspaymentsgp-*.csv",
                "*payments*.csv",
            ),
            many_files=True,
            columns=(
                _c("practice_code", "str", "ODS practice code, e.g. A81001"),
                _c("practice_name", "str", "Practice name as published"),
                _c("region_code", "str", "NHS England commissioning region code, e.g. Y63"),
                _c("region_name", "str", "Region name"),
                _c("sub_icb_code", "str", "Sub-ICB location (formerly CCG) code, e.g. 16C"),
                _c("sub_icb_name", "str", "Sub-ICB location / CCG name"),
                _c("pcn_code", "str", "Primary care network code, e.g. U89141", nullable=True),
                _c("pcn_name", "str", "PCN name", nullable=True),
                _c("practice_postcode", "str", "Practice postcode", nullable=True),
                _c("contract_type", "str", "GMS, PMS or APMS"),
                _c("dispensing_practice", "str", "Yes or No", nullable=True),
                _c("practice_rurality", "str", "Urban or Rural", nullable=True),
                _c("registered_patients", "float", "Average number of registered patients"),
                _c("weighted_patients", "float", "Average number of weighted (Carr-Hill) patients"),
                _c("global_sum_pence", "pence", "Global Sum paid, pennies"),
                _c("mpig_pence", "pence", "MPIG correction factor paid, pennies"),
                _c("seniority_pence", "pence", "Seniority payments paid, pennies", nullable=True),
                _c("qof_pence", "pence", "Total QOF payments, pennies"),
                _c("total_payments_pence", "pence", "Total NHS payments to general practice, pennies"),
            ),
            key=("practice_code",),
            required=True,
        ),
        ExtractSpec(
            name="capitation_age_sex",
            title="Patients registered at a GP practice by sex and 5-year age band",
            file_patterns=("gp-reg-pat-prac-quin-age*.csv", "gp-reg-pat-prac-quin-age*.zip"),
            columns=(
                _c("extract_date", "date", "Date the list was extracted"),
                _c("practice_code", "str", "ODS practice code"),
                _c("sex", "str", "MALE or FEMALE"),
                _c("age_band", "str", "5-year band: 0_4, 5_9, ... 90_94, 95+"),
                _c("patients", "int", "Number of registered patients"),
            ),
            key=("practice_code", "sex", "age_band"),
            required=True,
        ),
        ExtractSpec(
            name="capitation_lsoa",
            title="Patients registered at a GP practice by LSOA of residence",
            file_patterns=("gp-reg-pat-prac-lsoa-all*.csv", "gp-reg-pat-prac-lsoa*.zip"),
            columns=(
                _c("extract_date", "date", "Date the list was extracted"),
                _c("practice_code", "str", "ODS practice code"),
                _c(
                    "lsoa_code",
                    "str",
                    "LSOA of residence (E01..., W01..., or a non-LSOA code such as NO2011)",
                ),
                _c("patients", "int", "Number of registered patients"),
            ),
            key=("practice_code", "lsoa_code"),
            required=True,
        ),
        ExtractSpec(
            name="practice_map",
            title="Practice to PCN, sub-ICB location, ICB and region",
            file_patterns=("gp-reg-pat-prac-map*.csv",),
            columns=(
                _c("extract_date", "date", "Date of the mapping"),
                _c("practice_code", "str", "ODS practice code"),
                _c("practice_name", "str", "Practice name"),
                _c("practice_postcode", "str", "Practice postcode", nullable=True),
                _c("pcn_code", "str", "PCN code", nullable=True),
                _c("pcn_name", "str", "PCN name", nullable=True),
                _c("sub_icb_code", "str", "Sub-ICB location (formerly CCG) code"),
                _c("sub_icb_ons_code", "str", "ONS code E38..."),
                _c("sub_icb_name", "str", "Sub-ICB location / CCG name"),
                _c("icb_code", "str", "ICB (formerly STP) code, e.g. QHM"),
                _c("icb_ons_code", "str", "ONS code E54..."),
                _c("icb_name", "str", "ICB / STP name"),
                _c("region_code", "str", "Commissioning region code, e.g. Y63"),
                _c("region_ons_code", "str", "ONS code E40..."),
                _c("region_name", "str", "Commissioning region name"),
            ),
            key=("practice_code",),
            required=True,
        ),
        ExtractSpec(
            name="qof_achievement",
            title="QOF achievement by practice, indicator and measure",
            file_patterns=("ACHIEVEMENT_*.csv", "ACHIEVEMENT_*.txt"),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("indicator_code", "str", "QOF indicator, e.g. AF006"),
                _c("measure", "str", "NUMERATOR, DENOMINATOR, REGISTER, ACHIEVED_POINTS, PCAS, ..."),
                _c("value", "float", "Value of the measure"),
            ),
            key=("practice_code", "indicator_code", "measure"),
            required=True,
            many_files=True,
        ),
        ExtractSpec(
            name="qof_prevalence",
            title="QOF disease registers and list sizes by practice",
            file_patterns=("PREVALENCE_*.csv", "PREVALENCE_*.txt"),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("group_code", "str", "Indicator group (register), e.g. AF"),
                _c("register", "int", "Patients on the disease register"),
                _c("patient_list_type", "str", "TOTAL or an age-restricted list, e.g. 18OV"),
                _c("practice_list_size", "int", "List size used as the prevalence denominator"),
            ),
            key=("practice_code", "group_code"),
            required=True,
        ),
        ExtractSpec(
            name="qof_indicators",
            title="QOF indicator mapping (points available per indicator)",
            file_patterns=("MAPPING_INDICATORS_*.csv", "MAPPING_INDICATORS_*.txt"),
            columns=(
                _c("indicator_code", "str", "QOF indicator"),
                _c("indicator_point_value", "float", "Maximum points for the indicator"),
                _c("group_code", "str", "Indicator group"),
                _c("group_description", "str", "Indicator group name"),
                _c("domain_code", "str", "CL, PH, QI ..."),
                _c("domain_description", "str", "Domain name"),
                _c("patient_list_type", "str", "List the prevalence is measured on", nullable=True),
            ),
            key=("indicator_code",),
            required=True,
        ),
        ExtractSpec(
            name="deprivation_lsoa",
            title="English Indices of Deprivation by LSOA (IoD2019 File 7 layout)",
            file_patterns=("File_7*.csv", "*IoD*.csv"),
            columns=(
                _c("lsoa_code", "str", "LSOA code"),
                _c("lsoa_name", "str", "LSOA name"),
                _c("lad_code", "str", "Local authority district code"),
                _c("lad_name", "str", "Local authority district name"),
                _c("imd_score", "float", "Index of Multiple Deprivation score"),
                _c("imd_rank", "int", "IMD rank (1 = most deprived)"),
                _c("imd_decile", "int", "IMD decile (1 = most deprived 10%)"),
                _c("health_deprivation_score", "float", "Health Deprivation and Disability score"),
                _c("population", "int", "Total population (mid-year, excluding prisoners)"),
            ),
            key=("lsoa_code",),
            required=True,
        ),
        ExtractSpec(
            name="practice_characteristics",
            title="Carr-Hill practice inputs: new registrations and nursing/residential home patients",
            file_patterns=("carr-hill-practice-inputs*.csv",),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("new_registrations", "int", "Patients newly registered in the last 12 months"),
                _c("care_home_patients", "int", "Patients living in nursing or residential homes"),
            ),
            key=("practice_code",),
            required=False,
        ),
        ExtractSpec(
            name="additional_needs",
            title="Carr-Hill additional needs inputs by LSOA: SLLI and SMR under 65",
            file_patterns=("carr-hill-additional-needs*.csv",),
            columns=(
                _c("lsoa_code", "str", "LSOA code"),
                _c("slli", "float", "Standardised limiting long-standing illness ratio (100 = England)"),
                _c("smr_under_65", "float", "Standardised mortality ratio, under 65 (100 = England)"),
            ),
            key=("lsoa_code",),
            required=False,
        ),
        ExtractSpec(
            name="deprivation_practice",
            title="Practice deprivation score (OHID Fingertips indicator 93553)",
            file_patterns=("fingertips_93553*.csv", "*practice_imd*.csv"),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("imd_year", "int", "IMD edition: 2010, 2015, 2019"),
                _c("imd_score", "float", "Population-weighted IMD score of the practice's patients"),
            ),
            key=("practice_code", "imd_year"),
            required=False,
        ),
        ExtractSpec(
            name="qof_practice_summary",
            title="QOF practice summary (points achieved per practice)",
            file_patterns=("QOF *.csv", "qof-*-prac*.csv"),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("sub_icb_code", "str", "Sub-ICB location / CCG code"),
                _c("pcn_code", "str", "PCN code", nullable=True),
                _c("list_size", "int", "Registered list size"),
                _c("achievement_points", "float", "QOF points achieved"),
                _c("max_points", "float", "Points available"),
            ),
            key=("practice_code",),
            required=False,
        ),
        ExtractSpec(
            name="nhse_weighted_populations",
            title="NHS England practice need-weighted populations (ICB Place Based Allocation Tool data)",
            file_patterns=("nhse-place-based-allocation-tool-*.csv", "*place*based*allocation*.csv"),
            columns=(
                _c("practice_code", "str", "ODS practice code"),
                _c("practice_name", "str", "Practice name as published"),
                _c("practice_postcode", "str", "Practice postcode", nullable=True),
                _c("icb_code", "str", "ICB code, e.g. QHM"),
                _c("icb_name", "str", "ICB name"),
                _c("region_code", "str", "Commissioning region code, e.g. Y63"),
                _c("lad_code", "str", "Local authority district code", nullable=True),
                _c("lad_name", "str", "Local authority district name", nullable=True),
                _c("population", "float", "Registered population the weights apply to"),
                _c("general_acute_wp", "float", "General and acute need-weighted population"),
                _c("community_wp", "float", "Community services need-weighted population"),
                _c("mental_health_wp", "float", "Mental health need-weighted population"),
                _c("maternity_wp", "float", "Maternity need-weighted population"),
                _c("health_inequalities_wp", "float", "Health inequalities weighted population"),
                _c("prescribing_wp", "float", "Prescribing need-weighted population"),
                _c("final_wp", "float", "Core services weighted population (all components)"),
                _c("primary_medical_care_wp", "float", "Primary medical care need-weighted population"),
                _c(
                    "final_pmc_wp",
                    "float",
                    "Primary medical care with the health inequalities adjustment (0.85 PMC + 0.15 HI)",
                ),
            ),
            key=("practice_code",),
            required=False,
        ),
        ExtractSpec(
            name="ods_practices",
            title="ODS GP practice reference (epraccur, headerless, 27 fields)",
            file_patterns=("epraccur*.csv", "epraccur*.zip"),
            columns=(
                _c("practice_code", "str", "Organisation code"),
                _c("practice_name", "str", "Name"),
                _c("region_code", "str", "National grouping"),
                _c("icb_code", "str", "High level health geography"),
                _c("practice_postcode", "str", "Postcode", nullable=True),
                _c("open_date", "date", "Open date", nullable=True),
                _c("close_date", "date", "Close date", nullable=True),
                _c("status_code", "str", "A active, C closed, D dormant, P proposed"),
                _c("sub_icb_code", "str", "Commissioner (sub-ICB location / CCG)"),
                _c("prescribing_setting", "int", "4 = GP practice"),
            ),
            key=("practice_code",),
            required=False,
            engine_input=False,
        ),
        ExtractSpec(
            name="pcn_reference",
            title="ODS PCN reference (ePCN workbook, PCNDetails sheet)",
            file_patterns=("ePCN*.xlsx",),
            columns=(
                _c("pcn_code", "str", "PCN code"),
                _c("pcn_name", "str", "PCN name"),
                _c("sub_icb_code", "str", "Current sub-ICB location code"),
                _c("open_date", "date", "Open date", nullable=True),
                _c("close_date", "date", "Close date", nullable=True),
            ),
            key=("pcn_code",),
            required=False,
        ),
    )
}


def check_one_file(extract: str, names: list[str], where: str, found: str) -> None:
    """An extract of one file found more than once (a second download beside the first, a zip holding
    two) is an error naming every file, never a silent pick; ``found`` says where they were found."""
    if len(names) > 1 and not EXTRACTS[extract].many_files:
        raise InputError(
            f"{len(names)} files for extract '{extract}' {found} ({', '.join(names)}): the extract is one "
            "file and which one to use is ambiguous; keep only the file of the run",
            file=where,
            rule="extract_one_file",
        )


def staging_schema_sql() -> list[str]:
    """The staging DDL of every extract, one statement each (run by ``warehouse.create_schema``)."""
    from gp_allocations.layouts import blank_in_some_era  # layouts imports this module

    return [spec.staging_ddl(blank_in_some_era(spec.name)) for spec in EXTRACTS.values()]


def clear_staging_sql() -> list[str]:
    """One DELETE per extract: an optional extract absent from this load leaves no older copy behind."""
    return [spec.clear_period_sql() for spec in EXTRACTS.values()]


#: Extracts a nightly run pulls by default (required ones, the optional Carr-Hill inputs and the
#: alternatives of EXTRACT_ALTERNATIVES; an optional extract with no file is simply not pulled).
NIGHTLY_EXTRACTS: tuple[str, ...] = (
    "contracts",
    "capitation_age_sex",
    "capitation_lsoa",
    "practice_map",
    "qof_achievement",
    "qof_prevalence",
    "qof_indicators",
    "deprivation_lsoa",
    "practice_characteristics",
    "additional_needs",
    "qof_practice_summary",
    "deprivation_practice",
    "nhse_weighted_populations",
)

#: A required extract may be absent when one of its alternatives is pulled instead. The rule is
#: deliberately simple: "required extract OR any of these". QOF is paid from the three raw files or
#: from the practice summary; practice deprivation comes from LSOA scores or from the practice scores.
EXTRACT_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "qof_achievement": ("qof_practice_summary",),
    "qof_prevalence": ("qof_practice_summary",),
    "qof_indicators": ("qof_practice_summary",),
    "deprivation_lsoa": ("deprivation_practice",),
}

#: Published 5-year age bands (gp-reg-pat-prac-quin-age AGE_GROUP_5), top-coded at 95+.
AGE_BANDS_5: tuple[str, ...] = (*(f"{a}_{a + 4}" for a in range(0, 95, 5)), "95+")

SEXES: tuple[str, ...] = ("MALE", "FEMALE")
