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

.PHONY: install install-web install-gpu install-test run worker gpu-worker test mutate lint bench clean serve screenshots

# Separate installs: the web server and CPU workers need the base package only; torch,
# transformers and peft (about 2 GB) come with the GPU worker and the test suite.
$(VENV)/.created:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-web: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-gpu: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e ".[local-training]"
	@touch $@ $(VENV)/.installed-web

$(VENV)/.installed-test: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e ".[dev,local-training]"
	@touch $@ $(VENV)/.installed-web $(VENV)/.installed-gpu

install-web: $(VENV)/.installed-web
install-gpu: $(VENV)/.installed-gpu
install-test: $(VENV)/.installed-test
install: install-test

# `make run`: the app on PORT, the OpenAI simulator on SIM_PORT (the app is told where, through
# CURATOR_SIMULATOR_URL), one worker; the URL and the logins come last, once all of them answer.
# Demo passwords stay the same across runs (var/demo-logins.json); RESET_DEMO=1 makes new ones.
run: install-web
	@set -euo pipefail; export DEBUG=$${DEBUG:-true}; \
	if [ ! -f .env ]; then printf '%s\n' '# This machine'"'"'s settings (every one is listed in .env.example); manage.py reads this file too.' 'DEBUG=true' > .env; echo "Wrote .env (DEBUG=true), so manage.py commands work from a shell as well."; fi; \
	export CURATOR_SIMULATOR_URL="http://127.0.0.1:$(SIM_PORT)/v1"; \
	$(PY) manage.py prepare_services; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	mkdir -p var; $(PY) manage.py setup_demo $(if $(filter 1 true yes,$(RESET_DEMO)),--reset-passwords) > var/demo-logins.txt; \
	sed '/Demo logins/,$$d' var/demo-logins.txt; \
	trap 'trap - INT TERM EXIT; kill 0 2>/dev/null; exit 0' INT TERM EXIT; \
	waits=""; \
	if [ -z "$${OPENAI_API_KEY:-}" ] || [ -z "$${TOGETHER_API_KEY:-}" ] || [ -z "$${FIREWORKS_API_KEY:-}" ]; then \
	  $(PY) manage.py run_openai_simulator --port $(SIM_PORT) & \
	  waits="--wait-url $$CURATOR_SIMULATOR_URL/models"; \
	fi; \
	$(PY) manage.py rqworker default pii training eval --with-scheduler & worker=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	echo "Starting the web server, the worker$${waits:+ and the OpenAI simulator}…"; \
	$(PY) manage.py prepare_services --wait-url http://127.0.0.1:$(PORT)/accounts/login/ $$waits --wait-worker-pid $$worker; \
	echo; echo "Curator is running at http://$(HOST):$(PORT)/"; \
	if [ -n "$$waits" ]; then echo "Providers without a key (OPENAI_API_KEY, TOGETHER_API_KEY, FIREWORKS_API_KEY) train on the local simulator at $$CURATOR_SIMULATOR_URL."; fi; \
	grep -A2 "Demo logins" var/demo-logins.txt; \
	echo "Same passwords next time (make run RESET_DEMO=1 for new ones). Ctrl-C stops everything."; echo; \
	wait

# Production web server: DEBUG off, static files built, deploy checks, gunicorn (curation/gunicorn.py).
# Needs SECRET_KEY and ALLOWED_HOSTS; over plain HTTP (a local smoke test) CURATOR_SSL_REDIRECT=false.
serve: install-web
	@set -euo pipefail; export DEBUG=false; \
	$(PY) manage.py migrate --noinput -v0; \
	$(PY) manage.py collectstatic --noinput -v0; \
	$(PY) manage.py check --deploy --fail-level ERROR; \
	export CURATOR_DB_CONN_MAX_AGE=$${CURATOR_DB_CONN_MAX_AGE:-60}; \
	exec $(VENV)/bin/gunicorn -c python:curation.gunicorn --bind $(HOST):$(PORT) curation.wsgi:application

worker: install-web
	$(PY) manage.py rqworker default pii training eval --with-scheduler

gpu-worker: install-gpu
	$(PY) manage.py rqworker training-gpu

# pytest-xdist: one process per core (PYTEST_WORKERS=0 for one process), each with its own test
# database, Redis database (counting down from TEST_REDIS_URL's), media folder and ports;
# a test file's tests stay on one worker so its module fixtures are built once. Bytecode is
# written even where the environment says not to (PYTHONDONTWRITEBYTECODE): otherwise every
# xdist worker and every process a test starts compiles the project and re-rewrites the
# tests' asserts (5 s of CPU per xdist worker).
PYTEST_WORKERS ?= auto
test: install-test
	@$(PY) -m playwright --version >/dev/null
	PYTHONDONTWRITEBYTECODE= DEBUG=true $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Mutation testing of the rules that cost users most ([tool.mutmut] in pyproject.toml), one
# mutant at a time against one kept test database; not in CI (it takes hours on 2 cores).
# `make mutate MUTATE_ARGS='training.local.loop*'` runs the mutants of one module.
mutate: install-test
	DEBUG=true CURATOR_TEST_DB=test_curator_mutmut $(VENV)/bin/mutmut run --max-children 1 $(MUTATE_ARGS)
	$(VENV)/bin/mutmut results

# Ruff (style and bugs), import-linter (the layers and no cycles: [tool.importlinter] in
# pyproject.toml), mypy with django-stubs over every module of both apps ([tool.mypy]).
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check curation training tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: install-test
	@for bench in tests/benchmarks/bench_*.py; do echo "== $$bench"; DEBUG=true $(PY) $$bench || exit 1; done

# The README's screenshots, from the demo that `make run` serves (run it first, in another
# terminal): tests/screenshots.py walks the demo through the loop and writes docs/screenshots/.
screenshots: install-test
	$(PY) tests/screenshots.py --base http://$(HOST):$(PORT)

clean:
	rm -rf $(VENV) var mutants
