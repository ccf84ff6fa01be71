"""Rules an older era of a published file meets differently, declared as data in its layout.

An era block of ``include/layouts/<extract>.yaml`` may list ``rules``: which rule of the extract's
suite (``expectations/<extract>.json``, by ``rule`` and canonical ``column``) its files meet with
another pattern (``regex``), value set (``value_set``) or ``severity``, and ``why``. Payments files of
2014/15-2018/19 name NHS England area teams and local offices (``Q..``) where later files name
commissioning regions (``Y..``): the older codes are legitimate for those years only, so the rule is
changed for files of those eras and stays as strict for every other file.

An era rule with ``compared: false`` on a cross-extract rule (``hierarchy_agrees_across_extracts``)
leaves that column of that era's files out of the comparison: the 2014/15-2018/19 payments files'
region column holds area teams or local offices, not the region the practice map names.

A frame read from files of several eras gets an era's change only when every one of its eras makes
the same change: mixing a 2022/23 file with a 2014/15 one never loosens a rule for the 2022/23 rows.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pandas as pd

from gp_allocations.layouts import LayoutSpec, layout_named

_GX_SEVERITY = {"error": "critical", "warning": "warning"}


def frame_layouts(frame: pd.DataFrame) -> list[LayoutSpec]:
    """The layouts (eras) the reader recorded for this frame (``attrs['layout']``); [] when unknown."""
    names = [n for n in str(frame.attrs.get("layout") or "").split(",") if n]
    out: list[LayoutSpec] = []
    for name in names:
        try:
            out.append(layout_named(name))
        except KeyError:
            return []  # a layout this installation does not know: keep the suite as written
    return out


def _key(rule: dict[str, Any]) -> tuple[str, str]:
    return str(rule["rule"]), str(rule["column"])


def _shared_rules(layouts: list[LayoutSpec]) -> list[dict[str, Any]]:
    """The era rules every layout declares identically (all of one layout's, when there is one)."""
    if not layouts:
        return []
    first = list(layouts[0].rules)
    return [r for r in first if all(r in spec.rules for spec in layouts[1:])]


def apply_era_rules(suite: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """The suite with this frame's era rules applied (a copy); the suite itself when it has none."""
    layouts = frame_layouts(frame)
    rules = {_key(r): r for r in _shared_rules(layouts)}
    if not rules:
        return suite
    era = ", ".join(dict.fromkeys(s.name for s in layouts))
    out = copy.deepcopy(suite)
    for expectation in out.get("expectations", []):
        meta = expectation.setdefault("meta", {})
        rule = rules.get((str(meta.get("rule")), str(expectation.get("kwargs", {}).get("column"))))
        if rule is None:
            continue
        for field in ("regex", "value_set"):
            if field in rule:
                expectation["kwargs"][field] = rule[field]
        if "severity" in rule:
            meta["severity"] = str(rule["severity"])
            expectation["severity"] = _GX_SEVERITY[str(rule["severity"])]
        meta["description"] = f"{meta.get('description', '')} Files of era {era}: {rule['why']}".strip()
    return out


def apply_era_cross_rules(
    rules: list[dict[str, Any]], frames: Mapping[str, pd.DataFrame]
) -> list[dict[str, Any]]:
    """The cross-extract rules with each extract's era exemptions applied (``compared: false``): the
    column is not compared for that extract, and the rule's description says so and why."""
    out = copy.deepcopy(rules)
    for rule in out:
        compare = (rule.get("params") or {}).get("compare")
        if not isinstance(compare, dict):
            continue
        for extract, columns in list(compare.items()):
            if extract not in frames:
                continue
            exempt = {
                str(r["column"]): str(r["why"])
                for r in _shared_rules(frame_layouts(frames[extract]))
                if r["rule"] == rule.get("rule") and r.get("compared") is False
            }
            if not exempt:
                continue
            compare[extract] = [c for c in columns if c not in exempt]
            said = "; ".join(
                f"{extract}.{c} not compared for its era: {why}" for c, why in sorted(exempt.items())
            )
            rule["description"] = f"{rule.get('description', '')} ({said})".strip()
    return out
