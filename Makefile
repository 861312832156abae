# Curator: `make run` for a working demo, `make test` for the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
SIM_PORT ?= 8765

-include .env
export

.PHONY: install run worker gpu-worker test lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev,local-training]"
	@touch $@

install: $(VENV)/.installed

run: install
	@set -euo pipefail; export DEBUG=$${DEBUG:-true}; \
	$(PY) manage.py prepare_services; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	mkdir -p var; $(PY) manage.py setup_demo | tee var/demo-logins.txt; \
	trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; exit 0' INT TERM EXIT; \
	if [ -z "$${OPENAI_API_KEY:-}" ] || [ -z "$${TOGETHER_API_KEY:-}" ] || [ -z "$${FIREWORKS_API_KEY:-}" ]; then \
	  $(PY) manage.py run_openai_simulator --port $(SIM_PORT) & \
	  echo "Providers without a key (OPENAI_API_KEY, TOGETHER_API_KEY, FIREWORKS_API_KEY) train on the local simulator on port $(SIM_PORT)."; \
	fi; \
	$(PY) manage.py rqworker default pii training --with-scheduler & \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	sleep 4; echo; echo "Curator is running at http://$(HOST):$(PORT)/"; grep -A2 "Demo logins" var/demo-logins.txt; \
	echo "Ctrl-C stops the web server and the worker."; echo; \
	wait

worker: install
	$(PY) manage.py rqworker default pii training --with-scheduler

gpu-worker: install
	$(PY) manage.py rqworker training-gpu

test: install
	@$(PY) -m playwright --version >/dev/null
	DEBUG=true $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check curation training tests

bench: install
	@for bench in tests/benchmarks/bench_*.py; do echo "== $$bench"; DEBUG=true $(PY) $$bench || exit 1; done

clean:
	rm -rf $(VENV) var
