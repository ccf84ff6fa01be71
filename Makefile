# Two commands a new user needs:  make demo  (run the nightly job end to end)  and  make test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins
export GX_ANALYTICS_ENABLED := false

.PHONY: venv demo test lint bench pennies sample clean

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

# The England-sized behaviour pin of the engine (about two minutes): every practice's pennies, every
# variant and QOF, against tests/baselines/pennies_england.json. Run before landing an engine change.
pennies: venv
	$(BIN)/python scripts/pennies.py check --size england

# England-scale benchmark (scripts/bench.py --help for sizes/warehouses); writes docs/benchmarks.{json,md}.
bench: venv
	$(BIN)/pip install --quiet -r requirements-bench.txt -c constraints.txt
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache .ruff_cache
