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

.PHONY: help venv dev demo status provision provision-aws dlq redrive test test-unit test-system test-console test-containers browser trello-discover check-live lint \
	up down logs ps tunnel bench bench-localstack bench-footprint audit constraints clean \
	deploy-aws destroy-aws images-push deploy-localstack

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required and none was found on PATH" >&2; exit 1; }
	@echo "[venv 1/2] creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@echo "[venv 2/2] installing the pinned dependencies (one line per package; a few minutes the first time)"
	@$(PY) -m pip install --disable-pip-version-check --progress-bar off -c constraints.txt -r requirements-dev.txt \
		| sed -n 's/^Collecting \([^ ]*\).*/  collecting \1/p; s/^Successfully installed/  installed:/p'; \
		test $${PIPESTATUS[0]} -eq 0
	@touch $@
	@echo "[venv] ready: $(VENV)"

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

# The ops targets (provision, status, dlq, redrive, demo) find their stack themselves: the
# running `make dev` (.dev/env), else AWS_ENDPOINT_URL, else the compose stack of .env; real
# AWS only with TARGET=aws. Each says which in its first line. Every Python command reads
# .env (ENV_FILE) the way Compose does: a variable set in the shell wins.

dev: venv ## Run everything locally without Docker (MiniStack, stand-ins, ingest, workers, console :9000); Ctrl-C stops
	$(PY) scripts/devstack.py

demo: venv ## Submit one ticket per priority to the running stack and show where each landed
	$(PY) scripts/demo.py

provision: venv ## Create/reconcile queues, DLQs and buckets on the running stack (TARGET=aws: real AWS)
	$(PY) -m ticketrouter.provision

status: venv ## One screen: queue depths, DLQ counts, oldest waiting ticket, last deliveries (TARGET=aws: real AWS)
	$(PY) -m ticketrouter.status

dlq: venv ## List what is parked on the dead-letter queues, and why
	$(PY) -m ticketrouter.dlq list

redrive: venv ## Move PRIORITY's dead-lettered tickets back to its queue: make redrive PRIORITY=high
	@test -n "$(PRIORITY)" || { echo "usage: make redrive PRIORITY=high|medium|low" >&2; exit 2; }
	$(PY) -m ticketrouter.dlq redrive --priority $(PRIORITY)

provision-aws: venv ## The same provisioning against real AWS (credentials from the usual boto3 chain)
	TARGET=aws $(PY) -m ticketrouter.provision

trello-discover: venv ## List your Trello boards, lists and labels with the ids for .env (TRELLO_KEY, TRELLO_TOKEN)
	$(PY) scripts/trello_discover.py $(if $(BOARD),--board "$(BOARD)")

check-live: venv ## Check the live configuration without sending a ticket: Slack, Trello, AWS (TARGET=aws: real AWS)
	$(PY) scripts/check_live.py

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

lint: venv ## ruff (style, common bugs), mypy --strict (the packages' src/), cfn-lint (the CloudFormation templates)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint deploy/aws/*.yaml

test-unit: venv ## Run only the fast unit tests
	$(PY) -m pytest tests/unit

test-system: venv ## Run only the system tests (real processes)
	$(PY) -m pytest tests/system

browser: ## Install Debian's chromium + chromium-driver for the console test (root: apt-get)
	scripts/install-browser.sh

test-console: venv ## Drive the dev console in headless Chromium; CONSOLE_SCREENSHOT=docs/console.png saves it
	$(PY) -m pytest tests/system/test_console.py

test-containers: venv ## Run only the container tests (needs a Docker engine)
	$(PY) -m pytest tests/containers

# AWS deployment (deploy/aws/, scripts/deploy_aws.py). STACK names the main stack; the
# bootstrap stack (ECR repositories, secrets) is $(STACK)-bootstrap.
STACK ?= ticketrouter
ARCH ?= X86_64
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
DEPLOY_AWS := env -u AWS_ENDPOINT_URL $(PY) scripts/deploy_aws.py --stack $(STACK)

deploy-aws: venv ## Create/update both stacks on AWS through change sets (deploy/aws/parameters.json; YES=1 skips the question)
	$(DEPLOY_AWS) deploy --image-tag "$(VERSION)" $(if $(YES),--yes)

destroy-aws: venv ## Delete the main stack; keeps the buckets unless DELETE_BUCKETS=1 (DELETE_BOOTSTRAP=1: repositories and secrets too)
	$(DEPLOY_AWS) destroy $(if $(DELETE_BUCKETS),--delete-buckets) $(if $(DELETE_BOOTSTRAP),--delete-bootstrap)

images-push: venv ## Create the bootstrap stack if needed, build the five images for ARCH (X86_64|ARM64), push them tagged VERSION
	$(DEPLOY_AWS) images-push --image-tag "$(VERSION)" --architecture $(ARCH) $(if $(YES),--yes)

deploy-localstack: venv ## Deploy the same templates to LocalStack (AWS_ENDPOINT_URL, default http://127.0.0.1:4566)
	$(PY) scripts/deploy_aws.py --stack $(STACK) deploy-localstack

bench: venv ## Run the benchmarks (under 10 minutes) on make dev's emulator and write bench/RESULTS.md; fails if a bound is missed
	$(PY) bench/run.py

bench-localstack: venv ## The same benchmarks on LocalStack in Docker (LOCALSTACK_IMAGE): bench/RESULTS-localstack.md
	$(PY) bench/run.py --emulator localstack --output bench/RESULTS-localstack.md

bench-footprint: venv ## Image sizes, make up time to healthy, idle memory of each service (needs Docker): its section of bench/RESULTS.md
	$(PY) bench/footprint.py

# The audit tool lives in its own virtualenv too: it is not a dependency of the router.
.venv-audit/.installed: requirements-audit.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv .venv-audit
	.venv-audit/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-audit.txt
	@touch $@

# Not part of `make test`: it asks a vulnerability service (PyPI's, by default) over the network.
audit: .venv-audit/.installed ## Check every pinned dependency (constraints.txt) for known vulnerabilities
	.venv-audit/bin/pip-audit --requirement constraints.txt --no-deps --disable-pip --progress-spinner off

constraints: ## Re-pin every dependency into constraints.txt from a fresh resolve
	rm -rf $(VENV).pin && $(PYTHON) -m venv $(VENV).pin
	$(VENV).pin/bin/pip install --quiet -r requirements-dev.txt
	{ sed -n '1,2p' constraints.txt; $(VENV).pin/bin/pip freeze --exclude-editable | grep -v '^-e'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf $(VENV).pin

clean: ## Remove the virtual environment and dev logs (not the container stack: make down)
	rm -rf $(VENV) $(EMULATOR_VENV) .venv-audit .dev .pytest_cache .mypy_cache
