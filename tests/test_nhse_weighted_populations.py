"""NHS England's practice-level weighted populations (ICB Place Based Allocation Tool data): the
extract added from its spec alone (docs/adding-an-extract.md), read and validated."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gp_allocations.standardise import standardise
from gp_allocations.validation import validate

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" / "allocations"
REAL_FILE = REAL / "nhse-place-based-allocation-tool-2025-26.csv"
HEADER = [  # the published header, in order
    *("Practice_Code", "GP_Practice_Name", "Practice_Postcode", "Latitude", "Longitude", "CCG"),
    *("Former CCG", "PCN_Code", "PCN_Name", "LOC", "LOCname", "ICB", "ICBname", "Rcode", "Region"),
    *("LAD", "LTLA", "LA", "UTLA", "Patients", "Population", "G&A WP", "CS WP", "MH WP", "Mat WP"),
    *("Health Ineq WP", "Prescr WP", "Final WP", "Primary Medical Care WP", "Final PMC WP"),
]
EXTRACT = "nhse_weighted_populations"


def _row(code: str, population: float, pmc: float, hi: float, **overrides: str) -> dict[str, str]:
    row = dict.fromkeys(HEADER, "")
    row.update(
        {
            "Practice_Code": code,
            "GP_Practice_Name": f"PRACTICE {code}",
            "Practice_Postcode": "TS18 1HU",
            "ICB": "QHM",
            "ICBname": "NHS North East and North Cumbria ICB",
            "Rcode": "Y63",
            "Region": "NHS North East & Yorkshire",
            "LAD": "E06000004",
            "LTLA": "Stockton-on-Tees",
            "Population": f"{population}",
            "G&A WP": f"{population * 1.1}",
            "CS WP": f"{population * 1.2}",
            "MH WP": f"{population * 0.9}",
            "Mat WP": f"{population * 0.8}",
            "Health Ineq WP": f"{hi}",
            "Prescr WP": f"{population * 1.05}",
            "Final WP": f"{population * 1.02}",
            "Primary Medical Care WP": f"{pmc}",
            "Final PMC WP": f"{0.85 * pmc + 0.15 * hi}",
        }
    )
    row.update(overrides)
    return row


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # published with a BOM
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _errors(tmp_path: Path, rows: list[dict[str, str]]):
    path = _write(tmp_path / "nhse-place-based-allocation-tool-2025-26.csv", rows)
    frame = standardise(EXTRACT, [path]).frame
    report = validate({EXTRACT: frame}, out_dir=tmp_path / "v", build_data_docs=False)
    return report, report.quarantine


def test_a_small_file_is_read_on_the_canonical_schema_and_passes(tmp_path: Path) -> None:
    rows = [_row("A81001", 3928.02, 4340.16, 7290.28), _row("A81002", 18818.3, 20784.9, 31034.0)]
    path = _write(tmp_path / "nhse-place-based-allocation-tool-2025-26.csv", rows)
    result = standardise(EXTRACT, [path])
    assert result.period_hint == "2025/26"
    assert result.frame["icb_code"].tolist() == ["QHM", "QHM"]
    assert result.frame["final_pmc_wp"].iloc[0] == pytest.approx(0.85 * 4340.16 + 0.15 * 7290.28)
    report = validate({EXTRACT: result.frame}, out_dir=tmp_path / "v", build_data_docs=False)
    assert report.passed and report.quarantine.empty


def test_a_blank_weighted_population_is_an_error_naming_file_row_and_column_never_a_zero(tmp_path) -> None:
    rows = [
        _row("A81001", 3928.02, 4340.16, 7290.28),
        _row("A81002", 18818.3, 20784.9, 31034.0, **{"Mat WP": ""}),
    ]
    report, quarantine = _errors(tmp_path, rows)
    assert not report.passed
    bad = quarantine[quarantine["rule"] == "not_null"]
    assert bad[["file", "row", "column"]].values.tolist() == [
        ["nhse-place-based-allocation-tool-2025-26.csv", 3, "Mat WP"]
    ]


def test_the_final_pmc_identity_is_checked_on_every_row(tmp_path: Path) -> None:
    good = _row("A81001", 3928.02, 4340.16, 7290.28)
    # a shifted column: Final PMC WP carries Primary Medical Care WP
    shifted = _row("A81002", 18818.3, 20784.9, 31034.0, **{"Final PMC WP": "20784.9"})
    near = _row("A81003", 100.0, 110.0, 130.0, **{"Final PMC WP": f"{0.85 * 110 + 0.15 * 130 + 0.0005}"})
    report, quarantine = _errors(tmp_path, [good, shifted, near])
    bad = quarantine[quarantine["rule"] == "final_pmc_identity"]
    assert bad[["row", "value"]].values.tolist() == [[3, "A81002"]]  # within 0.001 passes
    assert not report.passed


def test_a_negative_or_zero_population_is_refused(tmp_path: Path) -> None:
    rows = [_row("A81001", 0.0, 4340.16, 7290.28), _row("A81002", 10.0, 20.0, 30.0, **{"CS WP": "-1"})]
    _, quarantine = _errors(tmp_path, rows)
    assert set(quarantine["rule"]) == {"positive_population", "non_negative_weighted_population"}


@pytest.mark.skipif(not REAL_FILE.exists(), reason="the real NHS England file is in ../shared only")
def test_the_real_2025_26_file_is_read_and_passes_its_suite(tmp_path: Path) -> None:
    result = standardise(EXTRACT, [REAL_FILE])
    frame = result.frame
    assert len(frame) == 6348 and frame["practice_code"].is_unique
    assert result.period_hint == "2025/26"
    assert frame["icb_code"].nunique() == 42
    report = validate({EXTRACT: frame}, out_dir=tmp_path, build_data_docs=False)
    assert report.passed, report.error_summary if hasattr(report, "error_summary") else report
    assert report.quarantine.empty
