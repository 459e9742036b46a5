# The two commands of the README: `make lab` runs the lab, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/netlab lab

lint: $(STAMP)
	$(BIN)/ruff check netlab tests bench
	$(BIN)/ruff format --check netlab tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(BIN)/python bench/follow_bench.py
	$(BIN)/python bench/chat_load.py
	$(BIN)/python bench/capture_bench.py
	$(BIN)/python bench/sockets_bench.py
	$(BIN)/python bench/lab_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
