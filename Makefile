# Stratoflow. Needs only Python 3.11, pip, make and git: `make local`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SYSTEM_PYTHON := $(shell command -v python3.11 || command -v python3)
PYTHON ?= $(SYSTEM_PYTHON)
VENV := .venv
VENV_SAM := .venv-sam
PY := $(VENV)/bin/python
SAM := $(VENV_SAM)/bin/sam
PORT ?= 3000
FN ?= CallerApiFunction
NAME ?= order_saga
EVENT ?= events/caller_api_health.json
PYTEST_ARGS ?=

export PYTHONPATH := $(CURDIR)/layers/stratoflow:$(CURDIR)/local:$(CURDIR)/sdk/src
export SAM_CLI_TELEMETRY := 0
# `sam build` looks for python3.11 on PATH: the virtualenv has one.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv local local-reset test pytest lint typecheck validate build check-build invoke example bench bench-local bench-timers soak deploy destroy \
	outputs token smoke clean

help:
	@echo "make local     run the local stack on http://127.0.0.1:$(PORT) (Ctrl-C stops it; state kept across restarts)"
	@echo "make local-reset   the same, from a clean state"
	@echo "make test      everything CI runs: lint, typecheck, pytest, validate, build, check-build (TEST_JOBS=3 at a time)"
	@echo "make invoke FN=<LogicalId> EVENT=events/<file>.json   (against a running make local, else a fresh endpoint)"
	@echo "make example NAME=order_saga|provider_race|fanout_deadline|cleanup_deadline   (against a running make local)"
	@echo "make deploy [GUIDED=1] | outputs | token TENANT=<t> | smoke URL=<ApiUrl> TOKEN=<t> | destroy"
	@echo "make lint | typecheck | validate | build | bench | bench-local [QUICK=1] | bench-timers [TIMERS=n] | soak | clean"

# ---------------------------------------------------------------- virtualenvs (rebuilt when requirements change)
venv: $(VENV)/.stamp $(VENV_SAM)/.stamp

# requirements-dev.txt installs the SDK editable (`-e ./sdk`), which puts the `stratoflow` CLI in .venv/bin.
$(VENV)/.stamp: requirements-dev.txt layers/dependencies/requirements.txt sdk/pyproject.toml
	@echo "Installing the pinned packages into $(VENV) (the first time takes about two minutes)..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@echo "$(VENV) is ready."
	@touch $@

$(VENV_SAM)/.stamp: requirements-sam.txt
	@echo "Installing the AWS SAM CLI into $(VENV_SAM) (its own virtualenv; about two minutes the first time)..."
	@test -x $(VENV_SAM)/bin/python || $(PYTHON) -m venv $(VENV_SAM)
	@$(VENV_SAM)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

# ---------------------------------------------------------------- run
local: $(VENV)/.stamp
	@$(PY) -m stratoflow_local serve --port $(PORT)

# The local stack from a clean state (make local keeps its state in .stratoflow/state across restarts).
local-reset: $(VENV)/.stamp
	@$(PY) -m stratoflow_local serve --port $(PORT) --reset

# One function in a container of its own: against the running `make local` (its .stratoflow/local.json) if one is up,
# else a fresh embedded endpoint. Dummy credentials are set for you.
invoke: $(VENV)/.stamp
	@$(PY) -m stratoflow_local invoke $(FN) $(EVENT)

# An SDK example against a running `make local` (STRATOFLOW_URL and STRATOFLOW_TOKEN override the defaults).
example: $(VENV)/.stamp
	@$(PY) examples/$(NAME).py

# ---------------------------------------------------------------- checks
# validate and check-build wait mostly on the network (the SAM CLI's virtualenv the first time, `sam build`'s download
# of the layer's packages), so they run beside lint, typecheck and pytest; their output is kept and printed after.
test: $(VENV)/.stamp
	@sam_log=$$(mktemp); trap 'rm -f "$$sam_log"' EXIT; \
	$(MAKE) --no-print-directory validate check-build >"$$sam_log" 2>&1 & sam_checks=$$!; \
	rc=0; $(MAKE) --no-print-directory lint typecheck pytest || rc=$$?; \
	sam_rc=0; wait $$sam_checks || sam_rc=$$?; \
	echo "== validate, check-build"; cat "$$sam_log"; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$sam_rc

lint: $(VENV)/.stamp
	$(PY) -m ruff check .

# One mypy run: every handler is a module named `app`, but with explicit package bases (pyproject.toml) each is known
# by its folder (`functions.sweeper.app`), so they do not clash.
typecheck: $(VENV)/.stamp
	$(PY) -m mypy local $(wildcard layers/stratoflow/stratoflow) $(wildcard layers/stratoflow/stratoflow_api) \
	  $(wildcard sdk/src/stratoflow_sdk) \
	  $(wildcard functions/*/app.py)

# The unit tests in one pytest process (pytest's exit 5, no test collected, fails the target) and each integration
# module in a process of its own, as each starts background stacks whose leftovers must not reach the next module,
# but for those that use only the session's stack, a few to a process sharing one; TEST_JOBS processes at a time,
# each one's output printed whole and in order, with its wall and CPU seconds (tests/support/run_modules.py).
TEST_JOBS ?= 3
pytest: $(VENV)/.stamp
	$(PY) -m tests.support.run_modules --jobs $(TEST_JOBS) tests/unit $(wildcard tests/integration/test_*.py) \
	  -- $(PYTEST_ARGS)

validate: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint

build: venv
	$(SAM) build

# Import every built handler in a fresh interpreter that sees only its build folder, the built layers and what
# the Lambda runtime ships (boto3), to prove the packaging.
check-build: build
	$(PY) -m stratoflow_local.check_build .aws-sam/build

# ---------------------------------------------------------------- other
bench: $(VENV)/.stamp
	$(PY) -m bench

# The local stack's own speed: front door and runtime overhead per route, the SDK end to end, batches (QUICK=1: fewer).
bench-local: $(VENV)/.stamp
	$(PY) -m bench.local_stack $(if $(QUICK),--quick)

# Timer lateness with Scheduler's 60-second imprecision emulated, with and without the last mile (TIMERS=<n>).
bench-timers: $(VENV)/.stamp
	$(PY) -m bench.timers $(if $(TIMERS),--timers $(TIMERS))

soak: $(VENV)/.stamp
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# ---------------------------------------------------------------- AWS (credentials and region from the AWS environment)
STACK ?= stratoflow
TENANT ?=
SCOPES ?= client,worker

# The first deploy may be `make deploy GUIDED=1` (sam asks for the settings once); later ones do not stop to ask.
deploy: $(VENV_SAM)/.stamp
	$(SAM) build
	$(SAM) deploy --stack-name $(STACK) $(if $(GUIDED),--guided,--no-confirm-changeset)
	@$(MAKE) --no-print-directory outputs

outputs: $(VENV_SAM)/.stamp
	@$(SAM) list stack-outputs --stack-name $(STACK) --output table

# A token for a tenant of the deployed stack; the table is found from the stack's TableName output.
token: $(VENV)/.stamp
	@test -n "$(TENANT)" || { echo "usage: make token TENANT=<tenant> [SCOPES=client,worker] [STACK=stratoflow]"; exit 2; }
	@$(PY) -m stratoflow_local tokens create --tenant $(TENANT) --scopes $(SCOPES) --stack-name $(STACK)

# The README's tour as a script, against a deployed (or local) API.
smoke: $(VENV)/.stamp
	@test -n "$(URL)" -a -n "$(TOKEN)" || { echo "usage: make smoke URL=<ApiUrl output> TOKEN=<token>"; exit 2; }
	@$(PY) -m stratoflow_local.smoke --url $(URL) --token $(TOKEN)

# Deletes the stack; the table is kept (DeletionPolicy: Retain), delete it in the console if you mean to.
destroy: $(VENV_SAM)/.stamp
	$(SAM) delete --stack-name $(STACK) --no-prompts

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis .stratoflow/local.json
	find . -name __pycache__ -type d -not -path "./.venv*" -prune -exec rm -rf {} +
