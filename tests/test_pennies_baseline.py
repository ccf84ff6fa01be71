"""Behaviour pin: every practice's pennies (every variant and QOF) on the fixed 200-practice sample equal
the committed baseline, through the pipeline's own pull, standardise, load and compute.

The England-sized pin (6,500 practices, checked by digest, also against the baseline from before the
redesign for every column no named change moved) takes about two minutes and is run by
``make pennies`` (scripts/pennies.py check) before landing a change to the engine.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pennies():
    spec = importlib.util.spec_from_file_location("pennies_script", ROOT / "scripts" / "pennies.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["pennies_script"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def measured(pennies):
    return pennies.measure(pennies.SIZES["small"])


def test_small_sample_pennies_identical_to_baseline(pennies, measured):
    frame, files, inputs = measured
    assert len(frame) == 200
    assert pennies.compare(pennies.SIZES["small"], frame, files, inputs) == []


def test_the_pin_catches_a_moved_penny(pennies, measured):
    frame, files, inputs = measured
    moved = frame.copy()
    moved.loc[17, "deprivation_weighted"] += 1
    moved.loc[18, "deprivation_weighted"] -= 1  # envelope still balances: only the pin sees it
    problems = pennies.compare(pennies.SIZES["small"], moved, files, inputs)
    assert problems and "deprivation_weighted: 2 practices differ" in problems[0]


def test_identical_to_the_original_baseline_except_the_named_changes(pennies, measured):
    """The baseline committed before the redesign: every column but those a named change moved (15.9:
    deprivation_weighted, listed in the England file's 'changes' and in CHANGELOG) is identical."""
    frame, files, inputs = measured
    assert pennies.changed_columns() == {"deprivation_weighted"}
    assert pennies.compare(pennies.SIZES["small"], frame, files, inputs, original=True) == []
    original = pennies.read_small(original=True)
    assert (original["deprivation_weighted"] != frame["deprivation_weighted"]).sum() == 200  # it did move
    assert original["deprivation_weighted"].sum() == frame["deprivation_weighted"].sum()  # envelope-neutral
