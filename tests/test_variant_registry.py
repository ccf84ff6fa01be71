"""A variant is one declaration: registering one in a temporary module (through the documented
GP_ALLOC_VARIANT_MODULES hook) puts it in the DAG's Params, the CLI, the ledger, the workbooks and the
manifest, with no other change."""

from __future__ import annotations

import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from _workbook_fixtures import make_run
from gp_allocations import variants
from gp_allocations.engine import compute_allocations
from gp_allocations.manifest import build_manifest
from gp_allocations.periods import Period
from gp_allocations.variants import REGISTRY, Formula, Variant, net_envelope, register
from gp_allocations.views import practice_table
from gp_allocations.workbooks import HEADER_ROW, write_sub_icb_workbook
from test_engine_allocate import generated

ROOT = Path(__file__).resolve().parent.parent
DECLARATION = """
from gp_allocations.variants import Formula, Variant, net_envelope, register

register(
    Variant(
        name="age_sex_only",
        label="Age-sex only",
        description="Scenario: capitation by the age-sex workload index alone, same envelope.",
        parameters=("price_per_weighted_patient", "out_of_hours_deduction"),
        components=Formula(
            drop=("additional_needs", "list_turnover", "care_homes", "market_forces", "rurality")
        ),
        envelope=net_envelope,
        envelope_neutral=True,
    )
)
"""


@pytest.fixture
def extra_variant(tmp_path, monkeypatch):
    (tmp_path / "scenario_variants.py").write_text(DECLARATION)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(variants.EXTRA_MODULES_ENV, "scenario_variants")
    assert variants.load_extra_modules() == ["scenario_variants"]
    try:
        yield "age_sex_only"
    finally:
        REGISTRY.unregister("age_sex_only")
        sys.modules.pop("scenario_variants", None)


def test_registered_variant_reaches_params_ledger_workbooks_and_manifest(extra_variant, tmp_path):
    name = extra_variant
    # the DAG's Params form and the CLI offer it
    from airflow.dag_processing.dagbag import DagBag

    from gp_allocations.cli import build_parser

    bag = DagBag(dag_folder=str(ROOT / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    assert name in bag.dags["gp_allocations_nightly"].params.get_param("variant").schema["enum"]
    args = build_parser().parse_args(["run", "--variant", name])
    assert args.variant == name

    # the ledger has its lines, adding up to the same envelope as the global sum
    a = compute_allocations(generated(), period=Period.parse("2025-26-Q2"), selected_variant=name)
    assert name in a.variants and a.checks["passed"].all()
    lines = a.ledger[a.ledger["variant"] == name]
    assert set(lines["line"]) == {"capitation", "out_of_hours_deduction", "qof"}
    assert a.envelope_pence(name) == a.envelope_pence("global_sum")
    wide = practice_table(a)
    expected = wide["registered_patients"] * wide["index_age_sex"]
    assert wide[f"weighted_list__{name}"].tolist() == pytest.approx(expected.tolist(), rel=1e-9)

    # the workbooks label it and describe it in the Notes
    code = a.sub_icb_codes[0]
    path = tmp_path / "book.xlsx"
    write_sub_icb_workbook(a, code, path, run=make_run())
    book = openpyxl.load_workbook(path)
    headers = [c.value for c in book["Practices"][HEADER_ROW + 1]]
    assert (
        "Capitation: Age-sex only (£, annual)" in headers
        and "Change, Age-sex only minus global sum (£, annual)" in headers
    )
    notes = pd.read_excel(path, sheet_name="Notes", header=HEADER_ROW)
    # the variants share one numbered note: each variant's description is in it
    described = "Scenario: capitation by the age-sex workload index alone, same envelope."
    assert any(described in text for text in notes["Text"])
    cover = " ".join(str(c.value) for c in book["Cover"]["B"])
    assert "Formula variants" in [c.value for c in book["Cover"]["A"]] and "Age-sex only" in cover

    # the manifest lists it, declares it and totals it per sub-ICB location
    manifest = build_manifest(a, make_run(), [], period_slug="2025-26-Q2", run_id="r")
    assert name in manifest["variants"] and manifest["selected_variant"] == name
    (decl,) = [d for d in manifest["variant_declarations"] if d["name"] == name]
    assert decl["envelope_neutral"] is True and decl["label"] == "Age-sex only"
    assert name in manifest["totals"]["sub_icb"][code]["variants"]


def test_a_variant_that_cannot_run_says_why():
    register(
        Variant(
            name="needs_contracts",
            label="Needs contracts",
            description="x",
            parameters=(),
            envelope=net_envelope,
            envelope_neutral=True,
            components=Formula(),
            unavailable=lambda vi: None if vi.paid is not None else "no contracts extract given",
        )
    )
    try:
        ex = generated()
        ex.pop("contracts")
        a = compute_allocations(ex, period=Period.parse("2025-26-Q2"))
        assert "needs_contracts" not in a.variants
        assert "needs_contracts not computed: no contracts extract given" in a.notes
        with pytest.raises(ValueError, match="already registered"):
            register(REGISTRY.get("global_sum"))
    finally:
        REGISTRY.unregister("needs_contracts")
