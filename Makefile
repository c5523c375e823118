# fashionbench: the two commands a user needs are `make repro` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
EXTRA ?= cpu
PROFILE ?=
STAMP := $(VENV)/.installed-$(EXTRA)

# Nothing may download at run time; ultralytics and matplotlib keep their state in the project.
export HF_HUB_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := False
export YOLO_CONFIG_DIR := $(CURDIR)/.cache/ultralytics
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install repro test test-fast verify check lab clean-outputs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRA),dev]'
	$(BIN)/python -m fashionbench.core.offline
	touch $@

install: $(STAMP)  ## create .venv and install fashionbench with its extras (EXTRA=cpu|gpu)

repro: $(STAMP)  ## run the whole pipeline (PROFILE=tiny|default|paper to switch profile)
	@if [ -n "$(PROFILE)" ]; then $(BIN)/python -m fashionbench.cli set-profile $(PROFILE); fi
	$(BIN)/python -m fashionbench.cli prune-lock   # first: a removed row's lock entries and outputs (stages read metrics/)
	$(BIN)/dvc repro

test: $(STAMP)  ## the test suite, including an end-to-end `dvc repro` of the tiny profile
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)  ## the test suite without the end-to-end pipeline run
	$(BIN)/python -m pytest -q -ra -m "not slow"

verify: $(STAMP)  ## a clean clone of HEAD in a temp folder, the tiny CI subset from scratch, metrics compared exactly with tests/data/tiny-metrics
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  git clone -q "$(CURDIR)" "$$tmp/fashionbench" && \
	  { [ -d "$(CURDIR)/../shared" ] && ln -s "$(abspath $(CURDIR)/../shared)" "$$tmp/shared" || true; } && \
	  echo "verify: clean clone of $$(git rev-parse --short HEAD) in $$tmp" && \
	  cd "$$tmp/fashionbench" && PYTHONPATH="$$tmp/fashionbench" $(CURDIR)/$(BIN)/python -m pytest -q -p no:cacheprovider \
	    tests/test_pipeline.py -k "reference"

check: $(STAMP)  ## validate params.yaml (every row under every profile) without running anything
	$(BIN)/python -m fashionbench.cli check

lab: $(STAMP)  ## JupyterLab on the notebooks, offline
	$(BIN)/jupyter lab notebooks/ --no-browser $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
