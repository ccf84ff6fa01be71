"""Allocation engine: Carr-Hill weighted lists, deprivation-weighted variants, QOF, exact pennies.

Pure pandas, no Airflow. Parameters are data files under include/parameters (see ``parameters``).
"""

from .allocate import aggregate, compute_allocations
from .parameters import ParameterError, ParameterSet, list_parameter_sets, load_parameter_set
from .reconcile import (
    ImpliedPriceReport,
    implied_price_report,
    latest_practice_imd,
    paid_reconciliation,
    payments_equity,
)
from .weighted_list import BAND_MAP

__all__ = [
    "BAND_MAP",
    "ImpliedPriceReport",
    "ParameterError",
    "ParameterSet",
    "aggregate",
    "compute_allocations",
    "implied_price_report",
    "latest_practice_imd",
    "list_parameter_sets",
    "load_parameter_set",
    "paid_reconciliation",
    "payments_equity",
]
