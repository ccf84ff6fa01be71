"""Allocation engine: Carr-Hill components, the registered variants, the ledger in exact pennies.

Pure pandas, no Airflow. Parameters are data files under include/parameters (see ``parameters``); the
steps are in ``steps``, run in order by ``allocate.compute_allocations``.
"""

from .allocate import compute_allocations
from .parameters import ParameterError, ParameterSet, list_parameter_sets, load_parameter_set
from .reconcile import (
    ImpliedPriceReport,
    implied_price_report,
    latest_practice_imd,
    paid_not_in_run,
    payments_equity,
)
from .weighted_list import BAND_MAP

__all__ = [
    "BAND_MAP",
    "ImpliedPriceReport",
    "ParameterError",
    "ParameterSet",
    "compute_allocations",
    "implied_price_report",
    "latest_practice_imd",
    "list_parameter_sets",
    "load_parameter_set",
    "paid_not_in_run",
    "payments_equity",
]
