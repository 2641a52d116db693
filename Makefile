# Two entry points for a fresh machine: `make run` and `make test`. Both set everything up first.
# Prerequisites: Python 3.11+, and one of: Java 17+ with Maven, Docker, or KAFKA_BOOTSTRAP_SERVERS.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit setup postgres chromium docker k8s-tools redis bench bench-stages bench-edge clean

run: $(STAMP)  ## Broker, topics, all stages, a load generator and a live status view (Ctrl-C stops)
	$(BIN)/pipeline dev

test: $(STAMP) postgres chromium docker k8s-tools redis lint typecheck  ## Lint, type-check, then every test against a real broker
	$(BIN)/pytest

unit: $(STAMP)  ## Only the fast tests that need no broker or database
	$(BIN)/pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)  ## Runtime benchmarks (not part of `make test`)
	$(BIN)/python -m benchmarks.runtime

bench-stages: $(STAMP)  ## Each real stage on the runtime against a bare confluent-kafka loop doing its work
	$(BIN)/python -m benchmarks.stages

bench-edge: $(STAMP)  ## The edge under wrk against a minimal ASGI app, and a flood with Kafka frozen
	$(BIN)/python -m benchmarks.edge

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

postgres:  ## The PostgreSQL tests start their own server; this installs it if missing (Debian)
	bash .ci/install-postgres.sh

chromium:  ## The status page tests drive a real headless Chromium; this installs it if missing
	bash .ci/install-chromium.sh

docker:  ## The Docker tests need an engine and a local base image; this prepares both (Debian)
	bash .ci/install-docker.sh

k8s-tools:  ## The manifest tests render with kustomize and read KEDA's CRDs from its Go module
	bash .ci/install-k8s-tools.sh

redis:  ## The edge's quota tests start their own Redis; this installs it if missing (Debian)
	bash .ci/install-redis.sh

clean:
	rm -rf $(VENV) .pipeline .pytest_cache .mypy_cache .ruff_cache
