# glioma-rings: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
# uv is installed with pip when missing; `python3 -m uv` works without a PATH entry or pyenv rehash.
UV ?= $(shell command -v uv >/dev/null 2>&1 && echo uv || echo "python3 -m uv")
DATA ?= data
DEMO_COHORT ?= $(DATA)/demo-cohort
DEMO_PATIENTS ?= 48
# Text files are UTF-8 whatever the machine's locale (CI may run without LANG).
export PYTHONUTF8 := 1
export DAGSTER_HOME ?= $(abspath $(DATA)/dagster_home)

.PHONY: setup lint demo demo-run test-deps test test-slow test-all bench browser-test clean

setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --quiet

$(DEMO_COHORT)/UCSF-PDGM-metadata_v5.csv: | setup
	$(UV) run glioma-rings demo-cohort $(DEMO_COHORT) --patients $(DEMO_PATIENTS)

# `run` validates every case itself (raw_scans); `glioma-rings ingest` is for looking before running.
demo-run: setup $(DEMO_COHORT)/UCSF-PDGM-metadata_v5.csv
	$(UV) run glioma-rings run $(DEMO_COHORT) --data-dir $(DATA) --params demo

# Builds the demo cohort, materializes every asset, then serves the Dagster UI (port 3000) and
# the dashboard (port 8501) until Ctrl-C.
demo: demo-run
	$(UV) run glioma-rings dev $(DEMO_COHORT) --data-dir $(DATA) --params demo

browser-test: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(UV) run pytest -q tests/browser

# ruff, the layer contract (pyproject [tool.importlinter]) and Dagster's own check of the definitions.
lint: setup
	$(UV) run ruff check --select F,E9 .
	$(UV) run lint-imports
	$(UV) run dg check defs
	$(UV) run dagster definitions validate -w workspace.yaml

# What the tests need from Debian, installed when missing (the browser tests drive chromium).
test-deps: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Every test but the end-to-end ones marked slow; `make test-slow` runs those (CI runs both:
# .ci/run), `make test-all` both in turn.
test: test-deps lint
	$(UV) run pytest -q -m "not slow"

test-slow: test-deps
	$(UV) run pytest -q -m slow

test-all: test test-slow

clean:
	rm -rf $(DATA) tests/artifacts
