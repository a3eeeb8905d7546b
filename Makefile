# The two commands a newcomer needs: `make run` and `make test`.
# Each one sets up what it needs: a virtual environment in .venv with the locked
# dependencies (requirements/lock.txt: runtime, dev tools and the embedded servers).
# Nothing else has to be installed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test bench lint format typecheck check lock clean-var help

help:
	@echo "make run    start the whole platform (embedded PostgreSQL, Redis, files) on http://localhost:$(PORT)"
	@echo "make test   run the test suite (embedded services unless BIPPOP_TEST_* URLs are set)"
	@echo "make bench  run the benchmarks in tests/benchmarks"
	@echo "make check  lint, format check, type check and import layers"

$(STAMP): requirements/lock.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/bippop run --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -m benchmark -s $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check platform tests

format: $(STAMP)
	$(BIN)/ruff format platform tests

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck
	$(BIN)/ruff format --check platform tests
	$(BIN)/lint-imports  # the import layers: [tool.importlinter] in pyproject.toml

# Re-pin the dependencies after changing pyproject.toml: requirements/runtime.txt is what the
# production image installs (no extra); requirements/lock.txt adds the dev tools and the embedded
# servers for make run / make test. The runtime lock is constrained by the full one: same pins.
LOCK_FLAGS := --group build --generate-hashes --universal --python-version 3.11
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra embedded $(LOCK_FLAGS) -o requirements/lock.txt
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -c requirements/lock.txt -o requirements/runtime.txt

clean-var:
	rm -rf var
