# Herald: `make run` starts the service on embedded defaults, `make test` runs the whole suite.
# Both create .venv and install what they need; re-running only reinstalls when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORE_STAMP := $(VENV)/.core-installed
FULL_STAMP := $(VENV)/.full-installed

.PHONY: run test lint format bench demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(CORE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(FULL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[indextts,test]'
	touch $@ $(CORE_STAMP)

run: $(CORE_STAMP)
	$(BIN)/herald serve

demo: $(CORE_STAMP)
	$(BIN)/herald demo

test: $(FULL_STAMP)
	bash scripts/test-prerequisites.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(FULL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(FULL_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(FULL_STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .pytest_cache
