# Passerelle — every command the README and CI use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
export FLASK_APP := app:create_app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint typecheck demo install migrate bench security lighthouse format

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

# The local demo runs over plain http://127.0.0.1, so its session cookie cannot be Secure.
run: export SESSION_COOKIE_SECURE ?= 0
run: migrate
	$(BIN)/flask demo load --if-empty
	$(BIN)/flask demo logins
	$(BIN)/gunicorn --worker-class gthread --workers 2 --threads 16 --timeout 120 \
		--bind $(HOST):$(PORT) 'app:create_app()'

demo: migrate
	$(BIN)/flask demo load --reset
	$(BIN)/flask demo logins

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

format: install
	$(BIN)/ruff check --fix app tests
	$(BIN)/ruff format app tests

typecheck: install
	$(BIN)/mypy
