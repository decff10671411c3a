# The two set-up commands of the README. Each creates .venv and installs the project
# (with its test extras) on first use, so either works alone on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test benchmark benchmark-scale clean

$(BIN)/abmq: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/abmq  ## generate sample data, run the flow, print where the report is
	$(BIN)/abmq demo --out $(OUT)

test: $(BIN)/abmq  ## run the test suite
	$(BIN)/python -m pytest

benchmark: $(BIN)/abmq  ## S, M and L sizes: wall time per stage and peak memory (~2 min)
	$(BIN)/python benchmarks/run_benchmark.py --sizes S M L

benchmark-scale: $(BIN)/abmq  ## M, L, then full and incremental daily runs at L and XL (~12 min, ~5 GB of disk)
	$(BIN)/python benchmarks/run_benchmark.py --sizes M L --incremental L XL

clean:
	rm -rf $(VENV) out benchmarks/data benchmarks/out
