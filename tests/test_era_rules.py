"""Era rules (include/layouts/<extract>.yaml `rules`): an older era's own codes, declared as data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gp_allocations import layouts
from gp_allocations.config import include_dir
from gp_allocations.era_rules import apply_era_rules
from gp_allocations.validation import load_suite_dict


def _rule(suite: dict, rule: str, column: str) -> dict:
    return next(
        e for e in suite["expectations"] if e["meta"]["rule"] == rule and e["kwargs"].get("column") == column
    )


def _frame(layout: str) -> pd.DataFrame:
    frame = pd.DataFrame({"practice_code": ["A81001"]})
    frame.attrs["layout"] = layout
    return frame


def test_an_eras_rules_change_only_that_eras_suite():
    suite = load_suite_dict("contracts")
    base = _rule(suite, "region_code_format", "region_code")
    old = apply_era_rules(suite, _frame("payments_ccg_2014"))
    changed = _rule(old, "region_code_format", "region_code")
    assert (base["kwargs"]["regex"], changed["kwargs"]["regex"]) == ("^Y\\d{2}$", "^Q\\d{2}$")
    assert "payments_ccg_2014" in changed["meta"]["description"]
    assert _rule(suite, "region_code_format", "region_code") == base  # the suite itself is unchanged
    assert apply_era_rules(suite, _frame("payments_sub_icb_2022")) is suite
    assert apply_era_rules(suite, _frame("")) is suite
    # a frame of several eras gets only the changes every one of them makes, and a 2022/23 file in the
    # mix keeps every rule strict
    mixed = apply_era_rules(suite, _frame("payments_ccg_2016,payments_ccg_2014"))
    assert _rule(mixed, "contract_type_allowed", "contract_type") == _rule(
        suite, "contract_type_allowed", "contract_type"
    )
    assert apply_era_rules(suite, _frame("payments_ccg_2014,payments_sub_icb_2022")) is suite
    qof = apply_era_rules(load_suite_dict("qof_practice_summary"), _frame("qof_summary_ccg_2017"))
    nn = _rule(qof, "not_null", "achievement_points")
    assert (nn["severity"], nn["meta"]["severity"]) == ("warning", "warning")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"rule": "region_code_format", "column": "nope", "why": "x"}, "needs rule, a canonical column"),
        ({"rule": "region_code_format", "column": "region_code"}, "needs rule, a canonical column"),
        ({"rule": "x", "column": "region_code", "why": "x", "min": 1}, "unknown keys"),
        ({"rule": "x", "column": "region_code", "why": "x", "severity": "info"}, "error or warning"),
    ],
)
def test_a_broken_era_rule_fails_when_layouts_load(tmp_path: Path, monkeypatch, rule, message):
    folder = tmp_path / "layouts"
    shutil.copytree(include_dir() / "layouts", folder)
    doc = yaml.safe_load((folder / "contracts.yaml").read_text())
    doc["eras"][0]["rules"] = [rule]
    (folder / "contracts.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match=message):
        layouts._load(str(folder))


def test_an_eras_column_of_another_meaning_is_not_compared_across_extracts():
    """2014/15-2018/19 payments name area teams / local offices in the region column: the hierarchy rule
    leaves that column of those files out (and says so); sub-ICB codes are still compared."""
    from gp_allocations.cross_extract import load_cross_rules
    from gp_allocations.era_rules import apply_era_cross_rules

    rules = load_cross_rules()
    old = {"contracts": _frame("payments_ccg_2014"), "practice_map": _frame("prac_map_ccg_2020")}
    across = next(
        r for r in apply_era_cross_rules(rules, old) if r["rule"] == "hierarchy_agrees_across_extracts"
    )
    assert across["params"]["compare"]["contracts"] == ["pcn_code", "sub_icb_code"]
    assert "contracts.region_code not compared for its era" in across["description"]
    new = {"contracts": _frame("payments_sub_icb_2022"), "practice_map": _frame("prac_map_ccg_2020")}
    assert apply_era_cross_rules(rules, new) == rules
    original = next(r for r in rules if r["rule"] == "hierarchy_agrees_across_extracts")
    assert original["params"]["compare"]["contracts"] == ["pcn_code", "sub_icb_code", "region_code"]


def test_an_eras_spelling_of_a_value_is_declared_for_that_era_only():
    """2016/17 and 2018/19 payments publish 'UNKNOWN' contract types and dispensing flags, read as
    'Unknown' (the warehouse accepts no other spelling; the real files' counts are pinned in
    tests/test_real_files_validation.py); other eras' values are kept as published."""
    for name in ("payments_ccg_2016", "payments_ccg_2018"):
        spec = layouts.layout_named(name)
        assert spec.values == {
            "contract_type": {"UNKNOWN": "Unknown"},
            "dispensing_practice": {"UNKNOWN": "Unknown"},
        }
    assert not layouts.layout_named("payments_sub_icb_2022").values
    assert not layouts.layout_named("payments_ccg_2014").values
