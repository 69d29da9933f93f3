# Tradewind: the two commands are `make demo` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The environment is rebuilt only when a requirement file changes (CI caches it by this hash). The stamp's
# name carries the files' hash, so their timestamps do not matter: a fresh clone reuses a cached environment
# (hence the order-only prerequisites below).
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)
EDITABLE := $(VENV)/.editable-$(shell echo $(CURDIR) | sha256sum | cut -c1-12)
KEEP ?= 0
PORT ?= 8080
PYTEST_ARGS ?=

# checkov cannot share .venv (its pins would downgrade boto3, packaging, ...): it gets its own
# environment, rebuilt only when terraform/tools-requirements.txt changes.
TOOLS_VENV ?= .venv-tools
TOOLS_HASH := $(shell cat terraform/tools-requirements.txt | sha256sum | cut -c1-16)
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(TOOLS_HASH)
export TRADEWIND_TOOLS_VENV := $(abspath $(TOOLS_VENV))

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: help venv tools demo stop test lint format typecheck suites bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: $(EDITABLE) ## Create the virtual environment (.venv) with the pinned stack

$(STAMP): | requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	@# The CPU build of torch first: an unpinned resolve would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

tools: $(TOOLS_STAMP) ## Install the checkers that cannot share .venv (checkov) into .venv-tools

$(TOOLS_STAMP): | terraform/tools-requirements.txt
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q -U pip
	$(TOOLS_VENV)/bin/python -m pip install -q -r terraform/tools-requirements.txt
	@rm -f $(TOOLS_VENV)/.installed-*
	@touch $@

$(EDITABLE): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.editable-*
	@touch $@

demo: venv ## Run ingest -> validate on real Airflow (KEEP=1 leaves Airflow running)
	TRADEWIND_PROFILE=demo $(BIN)/python -m tradewind_airflow.demo --port $(PORT) $(if $(filter 1,$(KEEP)),--keep,)

stop: venv ## Stop an Airflow left running by `make demo KEEP=1`
	$(BIN)/python -m tradewind_airflow.devstack stop

lint: venv ## ruff (with Airflow's AIR rules) and the format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv ## mypy on the core
	$(BIN)/mypy

test: tools lint typecheck ## Lint and type-check, then every test tier that needs no cloud (unit, dags, integration, e2e, perf)
	@$(BIN)/python -m pytest -m "not cloud" $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test-%: venv tools ## One tier: make test-unit, test-dags, test-integration, test-e2e, test-perf
	$(BIN)/python -m pytest -m "$*" $(PYTEST_ARGS)

suites: venv ## Rewrite the versioned GX suites in include/expectations from the dataset specs
	$(BIN)/python -m tradewind.validation build-suites

bench: venv ## Run the benchmarks (figures go to bench/RESULTS.md by hand)
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/ingest_validate.py

clean: stop ## Remove the demo's Airflow home and data (keeps .venv)
	rm -rf .airflow data
