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
# The tiers without services (unit, dags, perf) are CPU-bound and parallel-safe: one pytest-xdist worker per core
# (at most 4), whole files per worker (--dist loadfile: a module's fixtures are built once). The tiers that start
# real Airflow stacks, PostgreSQL databases and servers run in a second pytest run, one worker per tier
# (--dist-tiers, tests/conftest.py): the integration modules one after another on one worker, the e2e demo beside
# them on the other. TEST_WORKERS=0 / STACK_WORKERS=0 run a part in one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 4 ? n : 4 )))
STACK_WORKERS ?= 2
FAST_TIERS := not cloud and not integration and not e2e
STACK_TIERS := (integration or e2e) and not cloud
FAST_XDIST := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)
STACK_XDIST := $(if $(filter-out 0 1,$(STACK_WORKERS)),-n $(STACK_WORKERS) --dist-tiers)
# One pytest run inside a recipe's shell: its exit status joins $$rc (the first failure wins); exit status 5
# (no tests collected) counts as a pass.
define pytest_run
$(BIN)/python -m pytest -m "$(1)" $(2) $(PYTEST_ARGS); s=$$?; \
	if [ $$s -eq 5 ]; then echo "pytest collected no tests for -m '$(1)'"; s=0; fi; \
	if [ $$rc -eq 0 ]; then rc=$$s; fi;
endef

# checkov cannot share .venv (its pins would downgrade boto3, packaging, ...): it gets its own
# environment, rebuilt only when terraform/tools-requirements.txt changes.
TOOLS_VENV ?= .venv-tools
TOOLS_HASH := $(shell cat terraform/tools-requirements.txt | sha256sum | cut -c1-16)
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(TOOLS_HASH)
export TRADEWIND_TOOLS_VENV := $(abspath $(TOOLS_VENV))

# The stage image's environment without Airflow (docker/trainer/requirements.txt): the integration tier runs
# the rendered pods' commands in it. Rebuilt only when that file changes.
STAGE_VENV ?= .venv-stage
STAGE_HASH := $(shell cat docker/trainer/requirements.txt | sha256sum | cut -c1-16)
STAGE_STAMP := $(STAGE_VENV)/.installed-$(STAGE_HASH)
export TRADEWIND_STAGE_VENV := $(abspath $(STAGE_VENV))

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GX_ANALYTICS_ENABLED := False

.PHONY: help venv tools stage-venv demo stop test lint format typecheck suites bench clean

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

stage-venv: $(STAGE_STAMP) ## The stage image's environment without Airflow (.venv-stage), for the pod-parity tests

$(STAGE_STAMP): | docker/trainer/requirements.txt
	@test -x $(STAGE_VENV)/bin/python || $(PYTHON) -m venv $(STAGE_VENV)
	$(STAGE_VENV)/bin/python -m pip install -q -U pip
	$(STAGE_VENV)/bin/python -m pip install -q torch==2.13.0
	$(STAGE_VENV)/bin/python -m pip install -q -r docker/trainer/requirements.txt
	@rm -f $(STAGE_VENV)/.installed-*
	@touch $@

$(EDITABLE): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.editable-*
	@touch $@

demo: venv ## The whole loop on real Airflow: ingest, validate, train, serve, drift, retrain, canary (KEEP=1 leaves it running)
	TRADEWIND_PROFILE=demo $(BIN)/python -m tradewind_dev.demo --port $(PORT) $(if $(filter 1,$(KEEP)),--keep,)

stop: venv ## Stop an Airflow left running by `make demo KEEP=1`
	$(BIN)/python -m tradewind_dev.stack stop

lint: venv ## ruff (Airflow's AIR rules, complexity, banned heavy imports in dags/ and plugins/), the format check, the import contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: venv ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv ## mypy on the core
	$(BIN)/mypy

test: tools stage-venv lint typecheck ## Lint and type-check, then every test tier that needs no cloud (unit, dags, perf in parallel; then integration, e2e)
	@rc=0; \
	$(call pytest_run,$(FAST_TIERS),$(FAST_XDIST)) \
	$(call pytest_run,$(STACK_TIERS),$(STACK_XDIST)) \
	exit $$rc

test-%: venv tools ## One tier: make test-unit, test-dags, test-integration, test-e2e, test-perf
	@rc=0; \
	$(call pytest_run,$*,$(if $(filter $*,unit dags perf),$(FAST_XDIST))) \
	exit $$rc

suites: venv ## Rewrite the versioned GX suites in include/expectations from the dataset specs
	$(BIN)/python -m tradewind build-suites

bench: venv ## Run the benchmarks (figures go to bench/RESULTS.md by hand)
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/ingest_validate.py

clean: stop ## Remove the demo's Airflow home and data (keeps .venv)
	rm -rf .airflow data
