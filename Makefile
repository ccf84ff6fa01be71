# Two commands a new user needs:  make demo  (run the nightly job end to end)  and  make test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins
export GX_ANALYTICS_ENABLED := false

.PHONY: venv demo test check lint bench pennies sample clean screenshots images

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $@

demo: venv
	$(BIN)/python scripts/demo.py

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check plugins dags tests scripts
	$(BIN)/ruff format --check plugins dags tests scripts
	MYPYPATH=plugins $(BIN)/mypy

# The fast inner loop (about two minutes): lint, then the unit tests of pure code (engine, ledger,
# aggregates, gates, variants, workbooks, publishing, layouts, money). `make test` runs everything.
UNIT_TESTS := tests/test_money.py tests/test_periods.py tests/test_engine_allocate.py \
	tests/test_engine_parameters.py tests/test_engine_reconcile.py tests/test_gates.py tests/test_variant_registry.py \
	tests/test_layouts.py tests/test_publish.py tests/test_workbooks.py tests/test_practice_changes.py \
	tests/test_pennies_baseline.py tests/test_signoff.py tests/test_sizes.py
check: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider $(UNIT_TESTS) -k "not real"

# The England-sized behaviour pin of the engine (about two minutes): every practice's pennies, every
# variant and QOF, against tests/baselines/pennies_england.json. Run before landing an engine change.
pennies: venv
	$(BIN)/python scripts/pennies.py check --size england

# England-scale benchmark (scripts/bench.py --help for sizes/warehouses); writes docs/benchmarks.{json,md}.
bench: venv
	$(BIN)/pip install --quiet -r requirements-bench.txt -c constraints.txt
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# Chromium screenshots of the Airflow UI in docs/img (real Airflow 3.3, about 7 minutes each): the trigger
# form, the grid and the plugin pages, then the approver's sign-off screen.
screenshots: venv
	GP_ALLOC_UPDATE_DOCS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/test_ui_standalone.py tests/test_signoff_airflow.py -k "data_engineer or approver"

# Page images of every sheet type and of a practice statement in docs/img (the test fixture's books printed
# by LibreOffice with forced recalculation, then pdftoppm; about a minute).
images: venv
	PYTHONPATH=plugins:tests $(BIN)/python scripts/page_images.py

# Sample extracts in the published layouts (deterministic from the seed): SAMPLE_ARGS="--practices 200".
sample: venv
	$(BIN)/python -m gp_allocations generate $(SAMPLE_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache
