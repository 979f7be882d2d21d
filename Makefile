# Priority ticket router. `make` alone lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV ?= .venv
PY := $(VENV)/bin/python
# The first interpreter on PATH that is Python 3.11 or newer (override: make PYTHON=/path/to/python3).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
PACKAGES := common ingest worker-slack worker-trello worker-s3 standins

COMPOSE ?= docker compose
# Compose reads .env itself; make only needs the profile, and defaults to the offline stack.
export COMPOSE_PROFILES ?= $(or $(shell sed -n 's/^COMPOSE_PROFILES=//p' .env 2>/dev/null),offline)

.PHONY: help venv dev demo status provision provision-aws dlq redrive test test-unit test-system test-containers lint \
	up down logs ps tunnel bench bench-localstack constraints clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required and none was found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	@touch $@

# The Teams card is validated with Microsoft's adaptivecards library (Node.js), where npm exists.
teams/node_modules/.installed: teams/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix teams --no-audit --no-fund --silent && touch $@; \
	else echo "note: npm not found; the Adaptive Card validation tests will be skipped" >&2; fi

# The AWS emulator (MiniStack) lives in its own virtualenv: its exact pins are not the router's.
EMULATOR_VENV ?= .venv-emulator
$(EMULATOR_VENV)/.installed: requirements-emulator.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required and none was found on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(EMULATOR_VENV)
	$(EMULATOR_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-emulator.txt
	@touch $@

venv: $(VENV)/.installed $(EMULATOR_VENV)/.installed teams/node_modules/.installed ## Create .venv (every pinned dependency) and .venv-emulator (done by the other targets)

dev: venv ## Run everything locally without Docker (MiniStack, stand-ins, ingest, workers); Ctrl-C stops
	$(PY) scripts/devstack.py

demo: venv ## Submit one ticket per priority to a running stack and show where each landed
	$(PY) scripts/demo.py

provision: venv ## Create/reconcile queues, DLQs and bucket at AWS_ENDPOINT_URL (unset = real AWS)
	$(PY) -m ticketrouter.provision

status: venv ## One screen: queue depths, DLQ counts, oldest waiting ticket, last deliveries
	$(PY) -m ticketrouter.status

dlq: venv ## List what is parked on the dead-letter queues, and why
	$(PY) -m ticketrouter.dlq list

redrive: venv ## Move PRIORITY's dead-lettered tickets back to its queue: make redrive PRIORITY=high
	@test -n "$(PRIORITY)" || { echo "usage: make redrive PRIORITY=high|medium|low" >&2; exit 2; }
	$(PY) -m ticketrouter.dlq redrive --priority $(PRIORITY)

provision-aws: venv ## The same provisioning against real AWS (credentials from the usual boto3 chain)
	env -u AWS_ENDPOINT_URL $(PY) -m ticketrouter.provision

up: ## Build and start the container stack (profiles from .env; default offline) and wait until healthy
	$(COMPOSE) up -d --build --wait
	@echo "Stack is up (profiles: $$COMPOSE_PROFILES). Try: make demo   Logs: make logs   Stop: make down"

down: ## Stop and remove the container stack
	$(COMPOSE) down --remove-orphans

logs: ## Follow the container stack's logs
	$(COMPOSE) logs -f --tail=100

ps: ## Show the container stack's services and health
	$(COMPOSE) ps

tunnel: ## Start the ngrok tunnel to ingest (NGROK_AUTHTOKEN and NGROK_DOMAIN in .env)
	COMPOSE_PROFILES=$$COMPOSE_PROFILES,tunnel $(COMPOSE) up -d --wait ngrok
	@echo "Power Automate posts to https://$$(sed -n 's/^NGROK_DOMAIN=//p' .env)/tickets  (inspector: http://127.0.0.1:4040)"

test: lint ## Lint, then run the whole test suite (unit + system tests with real processes)
	$(PY) -m pytest

lint: venv ## Check style and common bugs with ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-unit: venv ## Run only the fast unit tests
	$(PY) -m pytest tests/unit

test-system: venv ## Run only the system tests (real processes)
	$(PY) -m pytest tests/system

test-containers: venv ## Run only the container tests (needs a Docker engine)
	$(PY) -m pytest tests/containers

bench: venv ## Run the benchmarks (under 10 minutes) on make dev's emulator and write bench/RESULTS.md; fails if a bound is missed
	$(PY) bench/run.py

bench-localstack: venv ## The same benchmarks on LocalStack in Docker (LOCALSTACK_IMAGE): bench/RESULTS-localstack.md
	$(PY) bench/run.py --emulator localstack --output bench/RESULTS-localstack.md

constraints: ## Re-pin every dependency into constraints.txt from a fresh resolve
	rm -rf $(VENV).pin && $(PYTHON) -m venv $(VENV).pin
	$(VENV).pin/bin/pip install --quiet -r requirements-dev.txt
	{ sed -n '1,2p' constraints.txt; $(VENV).pin/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf $(VENV).pin

clean: ## Remove the virtual environment and dev logs (not the container stack: make down)
	rm -rf $(VENV) $(EMULATOR_VENV) .dev .pytest_cache
