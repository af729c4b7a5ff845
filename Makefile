# Two commands: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types contracts migrations-check unit tests mutate bench clean

# Reinstall only when the declared dependencies change; -qq keeps a clean install silent (errors still show).
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -c requirements.lock -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/coop run

test: lint types contracts tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# Branch coverage of the whole suite, reported at the end (figures, not a gate). Two processes,
# one per core, each with its own embedded PostgreSQL and Valkey; an idle one takes work from the other.
PYTEST_PROCESSES ?= 2
tests: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_PROCESSES) --dist worksteal --cov --cov-report=term

# Mutation testing of the pure core against the unit tests (about 10 minutes on 2 cores);
# survivors judged equivalent are listed with their reason in tests/mutation-survivors.md.
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run
	$(BIN)/mutmut results

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
