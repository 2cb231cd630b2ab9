# One command to run, one to test. Everything is installed by these targets.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT

.PHONY: contract typecheck constraints soak chaos cluster deps-system e2e-js test-postgres run test test-python test-client install client db-upgrade lint clean bench-ab

# The project installed editable (`chat` console script, importable chatapp.ops for
# deploy/ and bench/), its dev tools, every transitive package pinned by
# constraints.txt: a clean clone installs what passed. After changing a
# requirement: `make constraints` and commit both files.
PIP_INSTALL := $(BIN)/pip install --quiet --constraint constraints.txt
$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP_INSTALL) pip
	$(PIP_INSTALL) -r requirements-dev.txt -e .
	touch $@

constraints:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt -e .
	{ echo "# Every package of a green run, pinned (make constraints writes it; make install uses it)."; \
	  $(BIN)/pip freeze --all --exclude-editable | grep -v -i -E '^(setuptools|wheel)=='; } > constraints.txt

install: $(BIN)/.installed

# The web client; without Node the API still runs (and says so).
client:
	@if [ ! -f mobile_client/package.json ]; then echo "mobile_client: not present yet"; \
	elif command -v npm >/dev/null 2>&1; then cd mobile_client && npm ci --no-audit --no-fund --loglevel=error && npm run build; \
	else echo "WARNING: Node.js/npm not found: serving the API without the web client (apt-get install nodejs npm)"; fi

db-upgrade: install
	CHAT_ASYNC_MODE=threading $(BIN)/flask --app wsgi db upgrade

# The embedded default: SQLite in instance/, one process, no Redis, eventlet.
run: install client db-upgrade
	$(BIN)/python wsgi.py

test: install deps-system
	$(MAKE) lint
	$(MAKE) test-python
	$(MAKE) test-postgres
	$(MAKE) test-client

# Node's socket.io-client for the e2e tests (tests/e2e/js, lockfile-pinned);
# without npm those tests skip (fail with CI=true).
e2e-js:
	@if command -v npm >/dev/null 2>&1; then cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "WARNING: npm not found: the Node client e2e tests will not run (apt-get install nodejs npm)"; fi

# Two phases per pass (docs/testing.md): everything not marked `serial` on
# PYTEST_WORKERS pytest-xdist workers, then the `serial` tests (wall-clock or
# RSS bounds) alone. Exit 5 ("no test selected") of the serial phase is fine:
# a pass may have none (test-postgres keeps only the database_url tests).
PYTEST_WORKERS ?= 4
PYTEST_PARALLEL = $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist load -m "not serial"
PYTEST_SERIAL = $(BIN)/python -m pytest -n 0 -m serial || [ $$? -eq 5 ]

test-python: install deps-system e2e-js
	$(PYTEST_PARALLEL)
	$(PYTEST_SERIAL)

# The suite again on a scratch PostgreSQL database (created and dropped by the
# run). Only tests that take the database from the fixtures run twice; the
# rest (real processes, Redis, HAProxy) already use PostgreSQL themselves.
test-postgres: install deps-system
	CHAT_TEST_DB=postgres $(PYTEST_PARALLEL)
	CHAT_TEST_DB=postgres $(PYTEST_SERIAL)

# HAProxy, nginx (and Redis if missing) from Debian packages; no-op when installed.
deps-system:
	bash deploy/install-system-deps.sh

# N workers behind HAProxy on PORT (default 8080), Redis and PostgreSQL of the
# machine when present. Foreground: Ctrl-C stops everything. docs/deployment.md.
WORKERS ?= 2
CLUSTER_PORT = $(if $(filter file,$(origin PORT)),8080,$(PORT))
cluster: install deps-system client
	WORKERS=$(WORKERS) PORT=$(CLUSTER_PORT) $(BIN)/python deploy/cluster.py

test-client:
	@if [ -f mobile_client/package.json ]; then $(MAKE) client && bash mobile_client/scripts/ci.sh; fi

# Fault tests (database outage, worker SIGKILL, Redis restart, join race); also part of `make test`.
chaos: install
	$(BIN)/python -m pytest tests/chaos -v

# Benchmark (issue 7): real server processes on loopback driven by the Node
# load generator; results in bench/results/. See docs/performance.md.
bench-deps: install
	$(PIP_INSTALL) -r bench/requirements.txt
	cd bench/loadgen && npm ci --no-audit --no-fund --loglevel=error

bench: bench-deps
	$(BIN)/python -m bench.run --profile full

bench-quick: bench-deps
	$(BIN)/python -m bench.run --profile quick

# Paired A/B (bench/ab.py): AB="--b CHAT_SEND_GROUP_MAX=1" or AB="--b-rev HEAD~1 --swap".
AB ?=
bench-ab: bench-deps
	$(BIN)/python -m bench.ab $(AB)

# Bounded soak (issue 5): 500 sockets, two workers, PostgreSQL + Redis, 50 msg/s
# for SOAK_SECONDS (default 600); bench/results/soak.{json,md}. docs/performance.md.
SOAK_SECONDS ?= 600
soak: bench-deps
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS)

# Style and types (issue 12): ruff; strict mypy for chatapp/ (pyproject [tool.mypy]);
# for mobile_client/, tsc strict and eslint + typescript-eslint (pinned in its lockfile).
# Without npm the client half is skipped (fails with CI=true). Part of `make test`.
lint: install
	$(BIN)/ruff check chatapp tests config.py wsgi.py deploy
	$(BIN)/mypy
	@if command -v npm >/dev/null 2>&1; then cd mobile_client && \
	  { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && \
	  npm run --silent typecheck && npm run --silent lint; \
	elif [ "$$CI" = "true" ]; then echo "npm is required to lint mobile_client/ (apt-get install nodejs npm)"; exit 1; \
	else echo "WARNING: npm not found: mobile_client/ was not type-checked or linted"; fi

# The contract as code (issue 12): regenerate docs/openapi.json, docs/asyncapi.json,
# the event tables of docs/events.md and mobile_client/src/core/types.ts from
# chatapp/contract. `make test` fails while any of them is stale (tests/contract).
contract: install
	$(BIN)/python -m chatapp.contract.generate

clean:
	rm -rf $(VENV) instance mobile_client/node_modules mobile_client/dist
