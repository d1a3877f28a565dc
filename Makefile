# Everything a new user needs starts here: `make chaos SCENARIO=order-down`.
# The first run creates .venv, installs the pinned packages and builds
# Toxiproxy into .tools/bin; later runs reuse them.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools/bin
TOXIPROXY := $(TOOLS)/toxiproxy-server
SCENARIO ?= order-down
BREAKERS ?= on
RUNTIME ?= local
REPEAT ?= 1
PYTEST_ARGS ?=

export PATH := $(CURDIR)/$(TOOLS):$(PATH)

.DEFAULT_GOAL := help

.PHONY: help setup setup-chromium chaos nightly up down reset status list validate test unit integration bench clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  variables: SCENARIO=$(SCENARIO) BREAKERS=$(BREAKERS) RUNTIME=$(RUNTIME) REPEAT=$(REPEAT)"

$(VENV)/.installed: requirements-dev.txt services/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(TOXIPROXY):
	toxiproxy/install.sh $@

setup: $(VENV)/.installed $(TOXIPROXY) ## create .venv and build Toxiproxy (done by every target that needs them)

chaos: setup ## run a scenario: make chaos SCENARIO=order-down [BREAKERS=off]
	$(PY) -m chaos --runtime $(RUNTIME) run $(SCENARIO) --breakers $(BREAKERS)

nightly: setup ## every scenario REPEAT times: combined JUnit XML, index, changes in reports/nightly/
	$(PY) -m chaos --runtime $(RUNTIME) nightly --repeat $(REPEAT) --breakers $(BREAKERS)

up: setup ## start Toxiproxy and every service, and leave them running
	$(PY) -m chaos --runtime $(RUNTIME) up --breakers $(BREAKERS)

down: ## stop everything the toolkit started
	@if [ -x $(PY) ]; then $(PY) -m chaos --runtime $(RUNTIME) down; else echo "nothing set up"; fi

reset: setup ## after an interrupted or killed run: no toxics, every service up, every breaker closed
	BREAKERS=$(BREAKERS) $(PY) -m chaos --runtime $(RUNTIME) reset

status: setup ## show what runs
	$(PY) -m chaos status

list: setup ## list the scenarios
	$(PY) -m chaos list

validate: setup ## check every scenario file
	$(PY) -m chaos validate

# The report render test needs a headless Chromium; CI machines start with none.
setup-chromium: ## install Debian's chromium for the report render test, if missing
	@if [ -x /usr/bin/chromium ] || [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v google-chrome >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (for the report render test)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "no chromium: the report render test will skip (fail with CI=true)."; \
		echo "  install it: sudo apt-get install -y chromium, or set CHROMIUM=/path/to/chrome"; fi

test: setup setup-chromium ## unit and integration tests (runs real scenarios; a few minutes)
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup ## the fast tests only
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

bench: setup ## measure breaker visibility latency and fail-fast figures
	$(PY) -m bench

clean: down ## remove .venv, .tools, state and reports
	rm -rf $(VENV) .tools .chaos reports
