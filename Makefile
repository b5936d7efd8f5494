# ekswin — see README.md. `make test` and `make e2e` set up what they need themselves.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test unit e2e bench soak lint up down clean

setup:
	@bash scripts/setup.sh

# `long` tests are demonstrations of a minute or more each (the `ekswin step` sequences
# exported and replayed, a short soak, a found leak re-run on a real environment):
# GitHub Actions' local job runs them; the CI gate leaves them out to stay within its
# time budget. `make test TEST_MARKS=` runs everything.
TEST_MARKS ?= not long
test: setup
	$(PY) -m pytest $(if $(TEST_MARKS),-m "$(TEST_MARKS)") $(PYTEST_ARGS)

# Tests that need no control plane and no Docker (the lint/unit CI job).
unit: setup
	$(PY) -m pytest -m "not cluster and not e2e and not docker" $(PYTEST_ARGS)

e2e: setup
	@mkdir -p results
	$(PY) -m pytest -m e2e -s --junitxml=results/junit.xml $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

# Seeded pod churn on 5 nodes while faults fire (README: Reliability); SOAK_ARGS e.g.
# "--pods 200 --nodes 2 --faults 3 --seed 7 --duration 60".
soak: setup
	$(PY) -m harness.soak $(SOAK_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy harness fake_ec2 fake_hns controller
	$(VENV)/bin/lint-imports

up: setup
	$(VENV)/bin/ekswin up --detach $(UP_ARGS)

down:
	$(VENV)/bin/ekswin down

clean:
	-$(VENV)/bin/ekswin down 2>/dev/null
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
