# authsim: the two commands of the Quickstart are `make demo` and `make test`.
# Both create .venv with the system's python3 (3.11+) when it is missing and install into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= results/demo
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint format bench clean install dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

## Run the default scenario (all four strategies) and write JSON, a request table and plots to $(OUT)
demo: $(VENV)/.installed
	$(BIN)/authsim run --out $(OUT)
	@echo "Wrote $(OUT)/results.json, $(OUT)/requests.csv and the plots in $(OUT)/"

## Lint, type-check and run the whole test suite
test: lint
	$(BIN)/python -m pytest -n 2 -q

## Throughput (reference SimPy model vs authsim, same process) and peak memory; see benchmarks/README.md
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_throughput.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_memory.py $(MEMORY_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check simulator tests benchmarks
	$(BIN)/ruff format --check simulator tests benchmarks
	$(BIN)/mypy simulator

format: $(VENV)/.installed-dev
	$(BIN)/ruff format simulator tests benchmarks
	$(BIN)/ruff check --fix simulator tests benchmarks

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
