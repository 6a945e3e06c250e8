# runyard: `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/sdk/node_modules/.installed

.PHONY: run test lint bench bench-peers soak fuzz install node-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres,sdks]'
	touch $(STAMP)

install: $(STAMP)

$(NODE_STAMP): tests/sdk/package.json
	cd tests/sdk && npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

run: $(STAMP)
	$(VENV)/bin/runyard server --config examples/runyard.toml

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

test: $(STAMP) $(NODE_STAMP)
	$(MAKE) lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

PEERS := bench/peers/.venv
$(PEERS)/.installed: bench/peers/requirements.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r bench/peers/requirements.txt
	touch $(PEERS)/.installed

# runyard against Huey and Dramatiq (Redis at 127.0.0.1:6379) and Procrastinate and PgQueuer (PostgreSQL at
# 127.0.0.1:5432), side by side: bench/results/peers.md and peers.png.
# QUICK=1: 1,000 jobs, one repetition.
bench-peers: $(STAMP) $(PEERS)/.installed
	$(PEERS)/bin/python bench/peers/run.py $(if $(QUICK),--quick,)

fuzz: $(STAMP)
	$(PY) -m tests.api.test_fuzz $(or $(EXAMPLES),300)

soak: $(STAMP)
	$(PY) -m tests.acceptance.soak --seconds 300

bench: $(STAMP) $(NODE_STAMP)
	$(PY) bench/run.py
	$(PY) bench/claim_depth.py
	$(PY) bench/schedules.py
	$(PY) bench/evals.py
	$(PY) bench/execution.py
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) .runyard tests/sdk/node_modules
