# Two commands on a fresh machine: `make run` (the portal with demo data) and
# `make test` (lint and the whole test suite). See README.md.

# `:=` so that a PYTHON, HOST or PORT exported by the shell is not picked up by
# accident; override on the command line instead: `make run PORT=8001`.
PYTHON := python3.11
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when a requirements file changes.
STAMP := $(VENV)/.requirements-installed
HOST := 127.0.0.1
PORT := 8000
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/portal
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run lint test test-postgres test-sqlite clean

help:
	@echo "make run            create .venv, migrate, load demo data, serve http://$(HOST):$(PORT)/"
	@echo "make test           ruff, mypy, hadolint, migrations check and pytest (DATABASE_URL if set, else SQLite)"
	@echo "make test-postgres  make test against PostgreSQL (POSTGRES_URL=$(POSTGRES_URL))"
	@echo "make test-sqlite    make test against SQLite"
	@echo "make venv           create .venv and install requirements-dev.txt"
	@echo "make clean          remove .venv, caches, collected static files and the SQLite databases"

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	touch $@

run: venv
	VENV=$(VENV) PORTAL_HOST=$(HOST) PORTAL_PORT=$(PORT) bash scripts/run_dev.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

# pytest exits 5 when it collected nothing: that is a failure here, and said so.
test: lint
	@mkdir -p var
	$(BIN)/pytest $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest ran no test: failing." >&2; exit $$rc; }

test-postgres:
	DATABASE_URL=$(POSTGRES_URL) $(MAKE) test

test-sqlite:
	DATABASE_URL=sqlite:///$(CURDIR)/db.sqlite3 $(MAKE) test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles var test-artifacts
	rm -f db.sqlite3 db.sqlite3-shm db.sqlite3-wal
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
