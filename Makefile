# The two set-up commands of the README. Each creates .venv and installs the project
# (with its test extras) on first use, so either works alone on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo
ROOT   := $(CURDIR)

.PHONY: demo test lint wheel-check benchmark benchmark-scale clean

$(BIN)/abmq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/abmq  ## generate sample data, run the flow, print where the report is
	$(BIN)/abmq demo --out $(OUT)

test: $(BIN)/abmq  ## run the test suite
	$(BIN)/python -m pytest

# Ruff (lint and format) and the import-linter layer contracts of pyproject.toml. The layers
# are checked on the built wheel's tree: there `tasks/` and `flows/` are `abmq.tasks` and
# `abmq.flows`, as users import them (an editable install maps them with an import hook
# that import-linter cannot follow).
lint: $(BIN)/abmq  ## ruff check, ruff format --check, lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	rm -rf build/lint
	$(BIN)/python -m pip wheel --quiet --no-deps -w build/lint . 2>/dev/null
	$(BIN)/python -m zipfile -e build/lint/abm_qualify-*.whl build/lint/tree
	cd build/lint && PYTHONPATH=tree $(ROOT)/$(BIN)/lint-imports $(ROOT)/pyproject.toml

# Install like a user: the wheel into a fresh virtual environment outside the checkout,
# then the demo from an empty folder and a run on the demo's sample data.
WHEEL_CHECK ?= /tmp/abmq-wheel-check
wheel-check: $(BIN)/abmq  ## build the wheel, install it in a fresh venv, run demo + run from an empty folder, demo from the checkout
	rm -rf $(WHEEL_CHECK) && mkdir -p $(WHEEL_CHECK)/empty
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEEL_CHECK)/dist . 2>/dev/null
	$(PYTHON) -m venv $(WHEEL_CHECK)/venv
	$(WHEEL_CHECK)/venv/bin/python -m pip install --quiet $(WHEEL_CHECK)/dist/abm_qualify-*.whl
	cd $(WHEEL_CHECK)/empty && $(WHEEL_CHECK)/venv/bin/abmq demo --accounts 300 --out demo --as-of 2026-11-25
	cd $(WHEEL_CHECK)/empty && $(WHEEL_CHECK)/venv/bin/abmq run --input demo/data --out rerun --as-of 2026-11-25
	cmp $(WHEEL_CHECK)/empty/demo/run/targets.csv $(WHEEL_CHECK)/empty/rerun/targets.csv
	# and from this checkout, whose abmq/ folder must not hide the installed package (the
	# chart renderer once imported it, and drew no chart)
	$(WHEEL_CHECK)/venv/bin/abmq demo --accounts 300 --out $(WHEEL_CHECK)/from-checkout --as-of 2026-11-25
	! grep -q "could not be drawn" $(WHEEL_CHECK)/from-checkout/run/report.html

benchmark: $(BIN)/abmq  ## S, M and L sizes: wall time per stage, peak memory, the DuckDB yardstick (~4 min)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/run_benchmark.py --sizes S M L --yardstick

benchmark-scale: $(BIN)/abmq  ## M, L, then full and incremental daily runs at L and XL (~12 min, ~5 GB of disk)
	$(BIN)/python benchmarks/run_benchmark.py --sizes M L --incremental L XL

clean:
	rm -rf $(VENV) out build benchmarks/data benchmarks/out
