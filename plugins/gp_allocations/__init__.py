"""GP allocations: NHS primary-care capitation, deprivation weighting and QOF, as plain Python.

Nothing in this package imports Airflow: the DAG in ``dags/`` calls these functions, and so do
the command line (``python -m gp_allocations``) and the tests.
"""

__version__ = "0.1.0"
