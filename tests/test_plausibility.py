"""Plausibility gates (issue 14.5): each gate catches a planted implausible figure and passes the sample's;
a gate with nothing to compare with says "not checked" (never passes); a breach stops the run unless an
explicit override is given; an override publishes only after sign-off, with reason, who and when in the
manifest and on every workbook's Cover (the command line's --override-reason and --by, end to end)."""

from __future__ import annotations

import json
import logging
import shutil

import openpyxl
import pandas as pd
import pytest

from bad_inputs.breakers import apply_break
from gp_allocations import plausibility as pl
from gp_allocations.config import RunContext
from gp_allocations.errors import InputError
from gp_allocations.periods import Period

PERIOD = Period.parse("2025-26-Q2")
LIMITS = pl.thresholds()


def _age_sex(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["practice_code", "sex", "age_band", "patients"])


def test_thresholds_are_data_with_a_reason_and_source_for_each():
    import yaml

    from gp_allocations.config import include_dir

    doc = yaml.safe_load((include_dir() / "plausibility.yaml").read_text(encoding="utf-8"))["gates"]
    assert (
        set(doc)
        == set(LIMITS)
        == {
            "age_sex_band_bound",
            "practice_list_vs_contracts",
            "practice_list_vs_previous_period",
            "national_list_vs_previous_publication",
            "england_envelope_vs_previous_publication",
        }
    )
    for gate, entry in doc.items():
        values = {k: v for k, v in entry.items() if isinstance(v, dict)}
        assert values and entry["description"], gate
        for name, v in values.items():
            assert {"value", "unit", "reason", "source", "status"} <= set(v), (gate, name)


def test_band_bound_catches_the_original_defect_and_passes_real_sized_bands():
    ok = pl.band_bound(
        _age_sex([("A1", "MALE", "20_24", 3106), ("A1", "FEMALE", "0_4", 50_000)]),
        LIMITS["age_sex_band_bound"],
    )
    assert (ok.status, ok.breaches) == (pl.PASSED, ())
    bad = pl.band_bound(_age_sex([("A1", "FEMALE", "20_24", 9_999_999)]), LIMITS["age_sex_band_bound"])
    assert bad.status == pl.BREACHED and bad.breaches == (
        pl.Breach(
            "practice A1 has 9,999,999 patients (FEMALE 20_24), above the bound of 50,000 in one "
            "age-sex band",
            rule="age_sex_band_bound",
        ),
    )


def _contracts(rows: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"practice_code": list(rows), "registered_patients": list(rows.values())})


def test_list_against_contracts_same_year_only_both_ways_and_not_for_part_year_practices():
    limit = LIMITS["practice_list_vs_contracts"]
    lists = pd.Series({"A1": 9000, "A2": 3000, "A3": 10_000, "A4": 1500, "A5": 12_000})
    paid = _contracts({"A1": 3000.25, "A2": 9000.0, "A3": 9800.0, "A4": 500.0, "A5": 900.0})
    got = pl.list_vs_contracts(lists, paid, "2025/26", PERIOD, limit)
    # A1 three times, A2 a third (either way); A3 close; A4 and A5 under 1,000 in the payments file
    assert got.status == pl.BREACHED and [b.message.split(" has ")[0] for b in got.breaches] == [
        "practice A1",
        "practice A2",
    ]
    assert got.breaches[0].message.startswith("practice A1 has a registered list of 9,000, 3.00 times")
    assert "2 with under 1,000 in it not compared" in got.detail
    other_year = pl.list_vs_contracts(lists, paid, "2024/25", PERIOD, limit)
    assert other_year.status == pl.NOT_CHECKED and "2024/25" in other_year.detail
    assert pl.list_vs_contracts(lists, None, None, PERIOD, limit).status == pl.NOT_CHECKED


def test_list_against_previous_period_and_not_checked_without_one():
    limit = LIMITS["practice_list_vs_previous_period"]
    lists = pd.Series({"A1": 33_000, "A2": 10_000, "A3": 500})
    before = pd.Series({"A1": 10_000, "A2": 9_000, "A4": 7_000})
    got = pl.list_vs_previous_period(lists, before, "", Period.parse("2025-26-Q1"), limit)
    assert got.status == pl.BREACHED and len(got.breaches) == 1
    assert "practice A1 has a registered list of 33,000, 3.30 times its 10,000 in 2025-26-Q1" in (
        got.breaches[0].message
    )
    assert "1 new, 1 no longer listed" in got.detail
    none = pl.list_vs_previous_period(
        lists, None, "2025-26-Q1 was never loaded", Period.parse("2025-26-Q1"), limit
    )
    assert (none.status, none.detail) == (pl.NOT_CHECKED, "2025-26-Q1 was never loaded")


def _manifest(registered: int, envelopes: dict[str, int]) -> dict:
    return {"totals": {"sub_icb": {"X": {"registered_patients": registered}}}, "envelopes_pence": envelopes}


def test_national_list_and_envelope_against_publications():
    earlier = [
        pl.Comparison("this period", why_not="this period: nothing published yet (not checked)"),
        pl.Comparison("the previous period", _manifest(1_000_000, {"global_sum": 100_000_000})),
    ]
    nat = LIMITS["national_list_vs_previous_publication"]
    env = LIMITS["england_envelope_vs_previous_publication"]
    assert pl.national_list(1_040_000, earlier, nat).status == pl.PASSED
    jump = pl.national_list(1_080_000, earlier, nat)
    assert (
        jump.status == pl.BREACHED and "+8.0% on 1,000,000 in the previous period" in jump.breaches[0].message
    )
    assert "nothing published yet (not checked)" in jump.detail
    assert pl.england_envelope({"global_sum": 115_000_000}, earlier, env, scenario=False).status == pl.PASSED
    big = pl.england_envelope({"global_sum": 590_000_000, "new": 1}, earlier, env, scenario=False)
    assert big.status == pl.BREACHED and len(big.breaches) == 1
    assert "global_sum envelope is £5,900,000.00, +490.0% on £1,000,000.00" in big.breaches[0].message
    assert (
        pl.england_envelope({"global_sum": 590_000_000}, earlier, env, scenario=True).status == pl.NOT_CHECKED
    )
    nothing = [pl.Comparison("a", why_not="a: nothing published yet (not checked)")]
    for got in (
        pl.national_list(5, nothing, nat),
        pl.england_envelope({"g": 5}, nothing, env, scenario=False),
    ):
        assert (got.status, got.detail) == (pl.NOT_CHECKED, "a: nothing published yet (not checked)")


def _ctx(tmp_path, **kw) -> RunContext:
    return RunContext.prepare(
        run_id="r1",
        period=PERIOD,
        source=str(tmp_path),
        sources={},
        warehouse_url=f"sqlite:///{tmp_path / 'w.sqlite'}",
        output_root=str(tmp_path / "out"),
        data_dir=str(tmp_path / "data"),
        **kw,
    )


def _report(n: int) -> pl.PlausibilityReport:
    breaches = tuple(pl.Breach(f"figure {i} is too big", rule="age_sex_band_bound") for i in range(n))
    return pl.PlausibilityReport(
        [
            pl.GateResult("age_sex_band_bound", pl.BREACHED if n else pl.PASSED, "bands", breaches),
            pl.GateResult("national_list_vs_previous_publication", pl.NOT_CHECKED, "nothing published"),
        ]
    )


def test_a_breach_stops_the_run_listing_the_first_few_and_the_count(tmp_path):
    with pytest.raises(pl.PlausibilityFailed) as err:
        pl.enforce(_report(7), _ctx(tmp_path))
    text = str(err.value)
    assert isinstance(err.value, InputError) and len(err.value.breaches) == 7
    assert text.startswith(
        "rule age_sex_band_bound: plausibility gate breached: figure 0 is too big [7 breaches"
    )
    assert "figure 4 is too big; and 2 more]; nothing was published" in text and "figure 5" not in text
    assert "--override-reason" in text and "\n" not in text


def test_override_fixed_in_the_context_and_recorded_per_breach(tmp_path, caplog):
    ctx = _ctx(tmp_path, override_reason="  list confirmed by\nthe ICB  ", override_by="Jo Bloggs")
    assert (ctx.override_reason, ctx.override_by) == ("list confirmed by the ICB", "Jo Bloggs")
    assert ctx.override_at and ctx.override_at.endswith("Z")
    assert RunContext.from_dict(json.loads(json.dumps(ctx.to_dict()))) == ctx
    got = pl.enforce(_report(2), ctx)
    assert got == [
        {
            "gate": "age_sex_band_bound",
            "message": f"figure {i} is too big",
            "reason": "list confirmed by the ICB",
            "by": "Jo Bloggs",
            "at": ctx.override_at,
        }
        for i in range(2)
    ]
    cover = pl.cover_text(got)
    assert cover and cover.startswith("PUBLISHED OVER 2 BREACHED PLAUSIBILITY GATES: age_sex_band_bound")
    assert "Jo Bloggs" in cover and ctx.override_at in cover and "list confirmed by the ICB" in cover
    with caplog.at_level(logging.INFO, logger="gp_allocations.plausibility"):
        assert pl.enforce(_report(0), ctx) == []
    assert "no plausibility gate was breached: nothing recorded" in caplog.text
    assert pl.cover_text([]) is None


def test_override_defaults_and_limits(tmp_path):
    import getpass

    assert _ctx(tmp_path, override_reason="   ").override_reason is None
    assert _ctx(tmp_path).override_by is None
    assert _ctx(tmp_path, override_reason="checked").override_by == getpass.getuser()
    with pytest.raises(InputError, match="override reason has 2001 characters; at most 2000"):
        _ctx(tmp_path, override_reason="x" * 2001)


# --- end to end on the command line: a breach, an override, sign-off, the manifest and every Cover -----


def _covers(folder) -> dict[str, dict[str, str]]:
    """Each allocation workbook's Cover (Item -> Detail); each statements workbook's first statement
    (every cell, by position)."""
    out = {}
    for path in sorted(folder.glob("*.xlsx")):
        wb = openpyxl.load_workbook(path, read_only=True)
        if "Cover" in wb.sheetnames:
            rows = wb["Cover"].iter_rows(values_only=True)
            out[path.name] = {str(r[0]): str(r[1]) for r in rows if r and r[0] and len(r) > 1}
        else:
            first = next(n for n in wb.sheetnames if n not in ("Contents", "Notes"))
            cells = [v for r in wb[first].iter_rows(values_only=True) for v in r if v is not None]
            out[path.name] = {str(i): str(v) for i, v in enumerate(cells)}
        wb.close()
    return out


def test_override_on_the_command_line_publishes_after_sign_off_with_reason_by_and_at(
    tmp_path, monkeypatch, capsys
):
    from gp_allocations import cli
    from gp_allocations_samples import generate_samples

    source = tmp_path / "src"
    generate_samples(source, period=PERIOD, practices=30, seed=5)
    code = pd.read_csv(next(source.glob("gp-reg-pat-prac-map*.csv")), dtype=str)["PRACTICE_CODE"].iloc[0]
    apply_break(
        source,
        [
            {
                "extract": "capitation_age_sex",
                "op": "practice_patients",
                "practices": [code],
                "value": 9_999_999,
                "sex": "FEMALE",
                "age_band": "20_24",
            }
        ],
    )
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(data))
    monkeypatch.setenv("GP_ALLOC_OUTPUT_ROOT", str(outputs))
    monkeypatch.setenv("GP_ALLOC_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'w.sqlite'}")
    run = ["run", "--period", PERIOD.slug, "--source", str(source)]

    assert cli.main([*run, "--run-id", "no-override"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(
        f"error: rule age_sex_band_bound: plausibility gate breached: practice {code} has 9,999,999 patients"
    ), err
    assert not outputs.exists() or not any(outputs.rglob("*.xlsx"))

    reason = "9,999,999 confirmed with the practice as a test load"
    assert cli.main([*run, "--run-id", "over", "--override-reason", reason, "--by", "Jo Bloggs"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "awaiting sign-off" and out["previous_run_id"] is None
    assert any(
        r.startswith("a plausibility gate was overridden: age_sex_band_bound: ") for r in out["reasons"]
    )
    assert not (outputs / PERIOD.slug / "latest").exists()  # nothing published before the sign-off

    sign = ["sign-off", "--period", PERIOD.slug, "--run-id", "over"]
    assert cli.main([*sign, "--approve", "--as", "Finance Director", "--comment", "seen"]) == 0
    capsys.readouterr()
    latest = (outputs / PERIOD.slug / "latest").resolve()
    assert latest.name == "over"
    manifest = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    overrides = manifest["overrides"]
    assert overrides and {o["gate"] for o in overrides} >= {
        "age_sex_band_bound",
        "practice_list_vs_contracts",
    }
    for o in overrides:
        assert (o["reason"], o["by"]) == (reason, "Jo Bloggs") and o["at"].endswith("Z") and o["message"]
    assert manifest["sign_off"]["decision"] == "approved"
    gates = {g["gate"]: g["status"] for g in manifest["plausibility"]}
    assert gates["age_sex_band_bound"] == gates["practice_list_vs_contracts"] == pl.BREACHED
    assert gates["practice_list_vs_previous_period"] == pl.NOT_CHECKED  # no earlier period loaded
    covers = _covers(latest)
    assert len(covers) >= 3 and any(name.endswith("_england.xlsx") for name in covers)
    for name, cover in covers.items():
        (line,) = [v for v in cover.values() if v.startswith("PUBLISHED OVER")]
        assert line.startswith(f"PUBLISHED OVER {len(overrides)} BREACHED PLAUSIBILITY GATES: "), name
        assert "Jo Bloggs" in line and overrides[0]["at"] in line and reason in line, name
        if not name.endswith("_statements.xlsx"):  # the allocation books: the Cover, with the sign-off
            assert cover["Plausibility override"] == line, name
            assert "Finance Director" in cover.get("Sign-off", ""), name
    assert any(name.endswith("_statements.xlsx") for name in covers)


def test_the_report_says_not_checked_when_there_is_nothing_earlier(tmp_path):
    """A first run in an empty warehouse and output folder: the gates that need an earlier period or
    publication are 'not checked', with why, in the run's plausibility report."""
    from gp_allocations.pipeline import run_all
    from gp_allocations_samples import generate_samples

    source = tmp_path / "src"
    generate_samples(source, period=PERIOD, practices=30, seed=5)
    ctx = _ctx(source)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    assert run_all(ctx)["status"] == "published"
    report = json.loads((ctx.compute_dir / pl.REPORT_FILE).read_text(encoding="utf-8"))
    status = {g["gate"]: (g["status"], g["detail"]) for g in report["gates"]}
    assert status["age_sex_band_bound"][0] == status["practice_list_vs_contracts"][0] == pl.PASSED
    assert status["practice_list_vs_previous_period"] == (
        pl.NOT_CHECKED,
        "2025-26-Q1 was never loaded into this warehouse",
    )
    for gate in ("national_list_vs_previous_publication", "england_envelope_vs_previous_publication"):
        assert status[gate][0] == pl.NOT_CHECKED and "nothing published yet (not checked)" in status[gate][1]
    assert report["overrides"] == []
