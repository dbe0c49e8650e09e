# Two commands do all the set-up (see README):
#   make demo   create .venv, install sigmd, run the main job on bundled example data
#   make test   create .venv, install sigmd with test tools, run ruff, mypy and pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test install docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sigmd assess examples/partial-sigmd-persistent.json --as-of 2026-11-01
	$(BIN)/sigmd assess examples/secondary-clozapine.json --as-of 2026-11-01 --json

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

docs: $(STAMP)
	$(BIN)/typer sigmd.cli utils docs --name sigmd --output docs/cli.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
