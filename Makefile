# Two commands do all the set-up (see README):
#   make demo   create .venv, install sigmd with only what the demo needs (hl7, screen), assess bundled example
#               patients and screen a synthetic cohort
#   make test   create .venv, install sigmd with test tools (and Debian's chromium, postgresql and Java), run ruff,
#               mypy and pytest, and build the documentation site in strict mode (into .cache/site)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-all-$(HASH)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)

.PHONY: demo test install docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	rm -f $(VENV)/.installed-all-*
	touch $@

$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[hl7,screen]'
	rm -f $(VENV)/.installed-demo-*
	touch $@

install: $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/sigmd assess examples/full-workup-adult.json --as-of 2026-11-01 --profile all
	$(BIN)/sigmd assess examples/oru-low-igm.hl7 --as-of 2026-11-01
	$(BIN)/sigmd synth --patients 3000 --out out/demo/extract.parquet
	$(BIN)/sigmd screen out/demo/extract.parquet --records out/demo/extract.records.csv --out out/demo/screen
	@echo "Screening report: out/demo/screen/report.html"

test: $(STAMP)
	./scripts/system-packages.sh
	./scripts/test-assets.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs: $(STAMP)
	$(BIN)/typer sigmd.cli utils docs --name sigmd --output docs/cli.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
