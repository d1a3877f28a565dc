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
# PORT_OFFSET=auto (or a number) moves every port, so runs side by side do not collide.
# An exported CHAOS_PORT_OFFSET counts too: `CHAOS_PORT_OFFSET=1500 make soak` once
# ran on the default ports (this file exported 0 over it) and collided with another run.
PORT_OFFSET ?= $(or $(CHAOS_PORT_OFFSET),0)
# make soak: repeats of every scenario, and the hogs that load the machine meanwhile.
SOAK_REPEAT ?= 10
HOGS ?= cpu,disk
# make explore: wall-time budget, and optionally an example count and Hypothesis seed.
BUDGET ?= 10m
EXAMPLES ?=
SEED ?=
export CHAOS_PORT_OFFSET := $(PORT_OFFSET)
PYTEST_ARGS ?=
# Every scenario file, for `make docker-scenarios`.
SCENARIOS := $(sort $(basename $(notdir $(wildcard scenarios/*.yaml))))
# The Docker and swarm runtimes need their images; `make images` rebuilds only what changed.
RUNTIME_DEPS := $(if $(filter docker swarm,$(RUNTIME)),images)

export PATH := $(CURDIR)/$(TOOLS):$(PATH)

.DEFAULT_GOAL := help

.PHONY: demo explore mutants soak test-long help setup setup-redis setup-chromium setup-prometheus chaos nightly up down reset status list validate test unit integration bench clean \
	images docker-engine docker-ready docker-scenarios bench-runtimes bench-load bench-overhead bench-dashboard

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'
	@echo "  variables: SCENARIO=$(SCENARIO) BREAKERS=$(BREAKERS) RUNTIME=$(RUNTIME) REPEAT=$(REPEAT)"

$(VENV)/.installed: requirements-dev.txt services/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# `chaos setup` links a toxiproxy-server found on PATH, or builds v2.12.0 with Go.
# Order-only on the venv: new Python packages are no reason to rebuild Toxiproxy.
$(TOXIPROXY): | $(VENV)/.installed
	$(PY) -m chaos setup --into $(TOOLS)

setup: $(VENV)/.installed $(TOXIPROXY) ## create .venv and build Toxiproxy (done by every target that needs them)

# The shop's Redis (breaker store, broker) is a unit like the services; the
# local runtime runs Debian's redis-server, the Docker one its own image.
setup-redis: ## install Debian's redis-server for the shop's Redis unit, if missing (done by every target that runs the shop)
	@if command -v redis-server >/dev/null || [ "$(RUNTIME)" = docker ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing redis-server (the shop's Redis unit)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server \
		&& (systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true); \
	else echo "error: the shop runs redis-server and it is missing: sudo apt-get install -y redis-server"; exit 1; fi

# GNU make exits 2 whenever a command fails; say first which verdict it was.
chaos: setup setup-redis $(RUNTIME_DEPS) ## run a scenario: make chaos SCENARIO=order-down [BREAKERS=off] [RUNTIME=docker]
	@rc=0; $(PY) -m chaos --runtime $(RUNTIME) run $(SCENARIO) --breakers $(BREAKERS) || rc=$$?; \
	case $$rc in 0) ;; 1) echo "chaos: exit 1: a check failed or could not tell";; \
	  2) echo "chaos: exit 2: bad input or a set-up failure; nothing was left running";; \
	  130) echo "chaos: exit 130: interrupted, after rolling back";; esac; exit $$rc

# The dashboard's port (0: a free one); the URL is printed, no browser is opened.
DEMO_PORT ?= 8090
DEMO_RATE ?= 30
demo: setup setup-redis $(RUNTIME_DEPS) ## live dashboard on 127.0.0.1:8090 under steady load, fault buttons included; Ctrl-C rolls back [DEMO_PORT=] [DEMO_RATE=]
	$(PY) -m chaos --runtime $(RUNTIME) demo --port $(DEMO_PORT) --rate $(DEMO_RATE) --breakers $(BREAKERS)

nightly: setup setup-redis $(RUNTIME_DEPS) ## every scenario REPEAT times: combined JUnit XML, index, changes in reports/nightly/
	$(PY) -m chaos --runtime $(RUNTIME) nightly --repeat $(REPEAT) --breakers $(BREAKERS)

explore: setup setup-redis ## Hypothesis fault schedules on the live stack: make explore [BUDGET=10m] [EXAMPLES=N] [SEED=N] [BREAKERS=off]
	$(PY) -m chaos explore --budget $(BUDGET) --breakers $(BREAKERS) $(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(SEED),--seed $(SEED))

up: setup setup-redis $(RUNTIME_DEPS) ## start Toxiproxy and every service, and leave them running [RUNTIME=docker]
	$(PY) -m chaos --runtime $(RUNTIME) up --breakers $(BREAKERS)

down: ## stop everything the toolkit started [RUNTIME=docker: remove its containers, network, volumes; RUNTIME=swarm: the stack, and the swarm it joined]
	@if [ -x $(PY) ]; then $(PY) -m chaos --runtime $(RUNTIME) down; else echo "nothing set up"; fi

reset: setup setup-redis ## after an interrupted or killed run: no toxics, every service up, every breaker closed
	BREAKERS=$(BREAKERS) $(PY) -m chaos --runtime $(RUNTIME) reset

status: setup ## show what runs
	$(PY) -m chaos --runtime $(RUNTIME) status

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

# The agent's metrics test scrapes with a real Prometheus; CI machines start with none.
setup-prometheus: ## install Debian's prometheus for the agent's metrics scrape test, if missing
	@if [ -n "$$PROMETHEUS" ] || command -v prometheus >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing prometheus (for the agent's metrics scrape test)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus; \
	else echo "no prometheus: the agent's metrics scrape test will skip (fail with CI=true)."; \
		echo "  install it: sudo apt-get install -y prometheus, or set PROMETHEUS=/path/to/prometheus"; fi

test: setup setup-redis setup-chromium setup-prometheus docker-ready ## unit and integration tests, local and Docker runtimes (runs real scenarios)
	tests/lanes.sh $(PY) "not long" $(PYTEST_ARGS)

test-long: setup setup-redis setup-chromium setup-prometheus docker-ready ## make test plus the long form: every repeat it leaves out
	KILL_TRIALS=$${KILL_TRIALS:-3} tests/lanes.sh $(PY) "" $(PYTEST_ARGS)

unit: setup ## the fast tests only
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

bench: setup setup-redis ## every figure: breaker visibility and fail-fast; load generator and report; run overhead (~10 min)
	$(PY) -m bench
	$(PY) -m bench.load
	$(PY) -m bench.overhead

soak: setup setup-redis ## every scenario SOAK_REPEAT times (10) under HOGS (cpu,disk): passed/failed/unknown per scenario [BREAKERS=off]
	$(PY) -m bench.soak --repeat $(SOAK_REPEAT) --hogs $(HOGS) --breakers $(BREAKERS)

# Each mutant runs in a scratch copy on ports of its own (PORT_OFFSET=0 means auto there).
# REPEAT defaults to 3 here: a catch must hold run after run, not once.
MUTANTS_REPEAT := $(if $(filter command line environment,$(origin REPEAT)),$(REPEAT),3)
mutants: setup setup-redis ## every catalogued bug (services/mutants/) in a scratch copy: which scenario and check catch it, REPEAT=3 runs [ONLY=name]
	$(PY) -m chaos mutants --repeat $(MUTANTS_REPEAT) $(if $(ONLY),--only $(ONLY))

# Needs no shop stack: a bare Flask endpoint under gunicorn on a free port.
bench-load: setup ## load generator CPU, schedule lag and delivery at 400/1000/1500 req/s, report size and memory, vs before
	$(PY) -m bench.load

bench-dashboard: setup setup-redis setup-chromium ## the demo page's CPU (server and Chromium, 30 s) and the delay from a button to the edge's colour
	$(PY) -m bench.dashboard

bench-overhead: setup setup-redis ## a run's wall time against its scenario's own time (duration + read-back), warm and cold, and the floor under cold (the stack's own start + stop)
	$(PY) -m bench.overhead

bench-runtimes: setup setup-redis images ## stack start time and memory per service, local vs Docker vs swarm; task replacement time; image sizes [BENCH_RUNTIMES=swarm]
	$(PY) -m bench.runtimes $(if $(BENCH_RUNTIMES),--only $(BENCH_RUNTIMES))

images: setup ## build the Docker images (no registry needed: see docker/images.sh)
	docker/images.sh

docker-engine: ## make sure a Docker engine answers (CI=true: install Debian's docker.io and start dockerd)
	@docker/engine.sh

# For `make test`: with an engine, build the images so the Docker tests run;
# without one (exit 10), carry on and let those tests skip (or fail, in CI).
docker-ready: setup
	@rc=0; docker/engine.sh || rc=$$?; \
	if [ $$rc = 0 ]; then docker/images.sh; elif [ $$rc != 10 ]; then exit $$rc; fi

docker-scenarios: setup images ## run every scenario on the Docker runtime; fails if any fails
	@failed=""; for s in $(SCENARIOS); do \
	  echo "== $$s (docker)"; \
	  if ! $(PY) -m chaos --runtime docker run $$s --dry-run >/dev/null 2>&1; then \
	    echo "skipped: $$($(PY) -m chaos --runtime docker run $$s --dry-run 2>&1 | tail -1)"; continue; fi; \
	  $(PY) -m chaos --runtime docker run $$s --breakers $(BREAKERS) || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed on docker:$$failed"; exit 1; fi; echo "every scenario passed on docker: $(SCENARIOS)"

clean: down ## remove .venv, .tools, state and reports
	rm -rf $(VENV) .tools .chaos reports
