# Cauce — the two-command quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export FLASK_APP := app
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: install install-test run test lint bench worker clean

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

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Serves on $(HOST):$(PORT) with the timer worker beside it; demo passwords are printed on the
# first run (set DEMO_PASSWORD=… to give every demo person the same one).
run: install
	$(BIN)/flask init-db
	$(BIN)/flask seed-demo $(if $(DEMO_PASSWORD),--password '$(DEMO_PASSWORD)')
	@echo "Cauce en http://$(HOST):$(PORT)/"
	@$(BIN)/flask worker & worker=$$!; trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/flask run --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/flask worker

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole suite on SQLite; then, when TEST_DATABASE_URL names a PostgreSQL server, every test
# that touches the database again on PostgreSQL.
test: install-test lint
	env -u TEST_DATABASE_URL $(BIN)/pytest
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== integration tests on $$TEST_DATABASE_URL =="; \
	  $(BIN)/pytest -m integration; \
	fi

bench: install-test
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
