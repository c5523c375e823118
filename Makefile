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

.PHONY: install repro test test-fast lab clean-outputs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRA),dev]'
	$(BIN)/python -m fashionbench.core.offline
	touch $@

install: $(STAMP)  ## create .venv and install fashionbench with its extras (EXTRA=cpu|gpu)

repro: $(STAMP)  ## run the whole pipeline (PROFILE=tiny|default|paper to switch profile)
	@if [ -n "$(PROFILE)" ]; then $(BIN)/python -m fashionbench.cli set-profile $(PROFILE); fi
	$(BIN)/dvc repro

test: $(STAMP)  ## the test suite, including an end-to-end `dvc repro` of the tiny profile
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)  ## the test suite without the end-to-end pipeline run
	$(BIN)/python -m pytest -q -ra -m "not slow"

lab: $(STAMP)  ## JupyterLab on the notebooks, offline
	$(BIN)/jupyter lab notebooks/ --no-browser $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
