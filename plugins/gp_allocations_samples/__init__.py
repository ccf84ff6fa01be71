"""Deterministic, England-shaped sample extracts in the published NHS file layouts.

A tool beside the nightly package, not part of it: the CLI (``python -m gp_allocations generate``),
``make demo`` / ``make sample``, the tests and the benchmarks import it when they need sample files.

Nothing here is real data: codes, names and numbers are drawn from seeded random generators so that
the same seed, size and period always give byte-identical files. Only the *layouts* (file names,
column headers, code formats, value conventions) copy the published files, so that the readers, the
validation suites and the engine can be exercised end to end without downloading anything.

Each component draws from its own random stream (``draws.random_stream(seed, stream)``) so that, for
example, the organisation hierarchy does not change when the QOF generator draws one more number.

Modules: ``tables`` (reference numbers), ``draws`` (streams and exact splits), ``hierarchy`` (the
organisation tree), ``registrations``, ``need``, ``qof``, ``payments`` (one writer per published file),
``output`` (CSV formatting), ``generator`` (``generate_samples``: every extract of a period).
"""

from __future__ import annotations

from .generator import generate_samples
from .hierarchy import Hierarchy, build_hierarchy, scaled_counts
from .qof import qof_indicators
from .tables import ENGLAND_PRACTICES

__all__ = [
    "ENGLAND_PRACTICES",
    "Hierarchy",
    "build_hierarchy",
    "generate_samples",
    "qof_indicators",
    "scaled_counts",
]
