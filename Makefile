# Passerelle — every command the README and CI use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
export FLASK_APP := app:create_app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test lint typecheck demo install migrate bench security lighthouse format chaos

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/flask db upgrade

# The local demo runs over plain http://127.0.0.1, so its session cookie cannot be Secure.
# One gevent process serves the pages and the live streams (a stream is a greenlet, not a
# thread) without Redis; production splits them behind the proxy (README, "Production").
run: export SESSION_COOKIE_SECURE ?= 0
run: migrate
	$(BIN)/flask demo load --if-empty
	$(BIN)/flask demo logins
	$(BIN)/gunicorn -c gunicorn_streams.conf.py --bind $(HOST):$(PORT) 'app:create_app()'

demo: migrate
	$(BIN)/flask demo load --reset
	$(BIN)/flask demo logins

# The OpenID Provider the identity tests start (npm oidc-provider, tests/oidc/): installed again
# only when its lock file changes.
OIDC_STAMP := tests/oidc/node_modules/.installed-$(shell cat tests/oidc/package-lock.json | md5sum | cut -c1-8)

$(OIDC_STAMP): tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $(OIDC_STAMP)

test: install $(OIDC_STAMP)
	$(BIN)/pytest

# axe-core for the accessibility sweep (tests/e2e/test_accessibility_e2e.py), from its lock file.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	npm ci --prefix tests/e2e/axe --no-audit --no-fund
	touch $(AXE)
test: $(AXE)

lint: install
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests

format: install
	$(BIN)/ruff check --fix app tests
	$(BIN)/ruff format app tests

typecheck: install
	$(BIN)/mypy

# Security gate: bandit on app/ (severity and confidence medium and up) and a wapiti3 scan of
# the app served on 127.0.0.1 (security/scan.py). The scanners live in their own venv:
# wapiti3 pins Flask/SQLAlchemy versions that conflict with the app's (see pyproject.toml).
SECVENV := .venv-security
SECSTAMP := $(SECVENV)/.installed-$(shell cat pyproject.toml security/constraints.txt | md5sum | cut -c1-8)

$(SECSTAMP): pyproject.toml security/constraints.txt
	test -d $(SECVENV) || $(PY) -m venv $(SECVENV)
	$(SECVENV)/bin/pip install -q --upgrade pip
	$(SECVENV)/bin/pip install -q -c security/constraints.txt $$($(PY) security/scan.py --requirements)
	touch $(SECSTAMP)

SCAN_TIME ?= 300

security: install $(SECSTAMP)
	$(SECVENV)/bin/bandit -q -r app --severity-level medium --confidence-level medium
	$(BIN)/python security/scan.py --wapiti $(SECVENV)/bin/wapiti --max-scan-time $(SCAN_TIME)

# School-scale benchmark (bench/run.py): generates a school (20 classes, 600 learners) on SQLite,
# and on PostgreSQL too when BENCH_DATABASE_URL is set (its name must contain "bench"); measures
# in-process latency and SQL statements per page, gunicorn throughput (wrk when installed:
# apt-get install -y wrk), documents and asset sizes → bench/results.json + bench/results.md;
# then, per database, the same mix again while 1,000 live streams are open on the stream server
# (bench/streams.py beside_mix: memory per stream, event → all listeners p50/p95), reported
# beside the mix alone and the hello-world ratio. Redis: REDIS_URL, else a redis-server of its own.
bench: install
	$(BIN)/python -m bench.run
	$(MAKE) bench-streams

# The page mix alone under 2 and 3 workers × 4, 8 and 16 threads (gunicorn.conf.py), on the
# school of the last `make bench` → bench/gunicorn_sweep.md.
.PHONY: bench-gunicorn
bench-gunicorn: install
	$(BIN)/python -m bench.run --sweep --reuse

# Live streams (bench/streams.py): 1,000 SSE streams on the stream server (gevent) beside the
# page server (gthread) sharing Redis (REDIS_URL, else a redis-server of its own): memory per
# stream, rating → listeners latency, a light page mix → bench/streams.json + bench/streams.md.
.PHONY: bench-streams
bench-streams: install
	$(BIN)/python -m bench.streams

# Lighthouse 12.2.3 (mobile preset, CHROME_PATH=/usr/bin/chromium) on the login page, the period
# view and the assessment page; installs it into bench/node_modules on first use (npm).
lighthouse: install
	$(BIN)/python -m bench.lighthouse

# Fault suite (tests/chaos/run.py): gunicorn (2 workers, gunicorn.conf.py), a throwaway
# PostgreSQL cluster and Redis, all started on free ports of 127.0.0.1; 20 devices send 2,000+
# changes through /api/sync while a worker is killed mid-batch, PostgreSQL restarts, Redis is
# down 20 s and answers are dropped after commit; prints one summary line (see README, "Fault
# tolerance"). Needs the PostgreSQL server binaries and redis-server (apt-get install -y
# postgresql redis-server). `make test` runs a short version (tests/chaos/test_chaos_quick.py).
chaos: install
	$(BIN)/python -m tests.chaos.run
