# Cauce — the two-command quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := app
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
VIEWER := web/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js
EDITOR := web/static/build/editor.js
CATALOG := web/translations/en/LC_MESSAGES/messages.mo

.PHONY: install install-test assets run test lint browser bench worker translations clean
.PHONY: serve-pg faults

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[postgres,test]'
	touch $@

# The BPMN viewer comes from npm (pinned in package-lock.json) and is served locally: no CDN.
$(VIEWER): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && \
	  rm -rf web/static/vendor/bpmn-js && mkdir -p web/static/vendor && \
	  cp -r node_modules/bpmn-js/dist web/static/vendor/bpmn-js; \
	else \
	  echo "npm not found: case pages will show no diagram (install Node.js and npm)"; \
	fi

# The process owner's editor (bpmn-js Modeler, properties panel, bpmnlint, dmn-js): bundled by
# esbuild from web/assets/editor into web/static/build (`npm run build`), never committed.
$(EDITOR): $(VIEWER) $(wildcard web/assets/editor/*)
	@if command -v npm >/dev/null 2>&1; then \
	  npm run --silent build; \
	else \
	  echo "npm not found: the procedure editor will not load (install Node.js and npm)"; \
	fi

$(CATALOG): web/translations/en/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d web/translations

assets: $(VIEWER) $(EDITOR) $(CATALOG)

install: $(VENV)/.installed assets

install-test: $(VENV)/.installed-test assets
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's Chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || { \
	  echo "Installing Debian's OpenLDAP (slapd, ldap-utils) for the directory sign-in tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq slapd ldap-utils >/dev/null; }

# Serves on $(HOST):$(PORT) with the timer worker beside it; demo passwords are printed on the
# first run (set DEMO_PASSWORD=… to give every demo person the same one). An existing database
# is upgraded to the newest schema (`flask db upgrade`), never dropped.
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo $(if $(DEMO_PASSWORD),--password '$(DEMO_PASSWORD)')
	@echo "Cauce en http://$(HOST):$(PORT)/"
	@$(BIN)/flask worker & worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/waitress-serve --listen=$(HOST):$(PORT) --threads=8 --call app:create_app

worker: install
	$(BIN)/flask worker

# Production on PostgreSQL, one command: DATABASE_URL=postgresql://user@host/db make serve-pg
# Upgrades the schema, starts TIMER_WORKERS timer workers, then gunicorn with WORKERS processes
# of THREADS threads each on $(HOST):$(PORT). Pool and timeout: CAUCE_DB_* (README, Production).
WORKERS       ?= 4
THREADS       ?= 8
TIMER_WORKERS ?= 1
serve-pg: install
	@case "$$DATABASE_URL" in postgresql://*|postgresql+psycopg://*) ;; \
	  *) echo "serve-pg necesita DATABASE_URL=postgresql://usuario@servidor/base"; exit 2;; esac
	$(BIN)/flask db upgrade
	@echo "Cauce en http://$(HOST):$(PORT)/ ($(WORKERS) procesos, $(TIMER_WORKERS) trabajador(es))"
	@pids=""; for i in $$(seq 1 $(TIMER_WORKERS)); do $(BIN)/flask worker & pids="$$pids $$!"; done; \
	  trap "kill $$pids 2>/dev/null" EXIT INT TERM; \
	  CAUCE_DB_STATEMENT_TIMEOUT_MS=$${CAUCE_DB_STATEMENT_TIMEOUT_MS:-30000} \
	  $(BIN)/gunicorn --workers $(WORKERS) --threads $(THREADS) --bind $(HOST):$(PORT) \
	    --access-logfile - 'app:create_app()'

# Faults under load (bench/faults_bench.py): a private PostgreSQL started here (initdb, pg_ctl),
# app processes and timer workers killed with SIGKILL at KILLS random moments, one database
# restart; prints the figures and fails if anything was lost, inconsistent or a 500.
KILLS ?= 100
faults: install-test
	$(BIN)/python bench/faults_bench.py --kills $(KILLS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# Re-extract the interface's strings after changing templates or messages.
translations: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k N_ -o web/translations/messages.pot .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations
	$(BIN)/pybabel compile --use-fuzzy -d web/translations

# The whole suite on SQLite; then, when TEST_DATABASE_URL names a PostgreSQL server, every test
# that touches the database again on PostgreSQL.
test: install-test lint
	env -u TEST_DATABASE_URL $(BIN)/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== integration tests on $$TEST_DATABASE_URL =="; \
	  $(BIN)/pytest -m integration; \
	fi

browser: install-test
	$(BIN)/pytest -m browser

# Engine vs SpiffWorkflow's own round trips (paired, cold and warm cache), HTTP, the inbox at
# 1 k and 1 M tasks and, with BENCH_DATABASE_URL (a PostgreSQL database of its own: it is
# emptied), the inbox on PostgreSQL and the loopback throughput; one JSON line at the end.
bench: install-test
	$(BIN)/python bench/engine_bench.py $(if $(BENCH_DATABASE_URL),--postgres '$(BENCH_DATABASE_URL)')

clean:
	rm -rf $(VENV) instance node_modules web/static/vendor .pytest_cache .mypy_cache .ruff_cache
