# Two commands on a fresh machine: `make repro` (set up, then the whole pipeline) and
# `make test` (set up, then the tests). Both are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SHARED_CIFAR := ../shared/data/cifar10-jpg
RAW_CIFAR := data/raw/cifar10
# stage commands call `python`: the venv's
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup data repro test test-fast check bench lint clean-checkpoints

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# CIFAR-10 as a user with the data has it: the shared JPEG archives copied into data/raw/.
# Without them, `prepare` downloads CIFAR-10 with torchvision (needs a network).
data:
	mkdir -p $(RAW_CIFAR)
	@if [ -z "$$(ls -A $(RAW_CIFAR))" ] && [ -d $(SHARED_CIFAR) ]; then \
		cp $(SHARED_CIFAR)/*.tar.gz $(RAW_CIFAR)/ && echo "copied $(SHARED_CIFAR) into $(RAW_CIFAR)"; fi

repro: setup data
	$(VENV)/bin/dvc repro

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

# What CI checks after the tests: params.yaml is the composition of conf/, dvc.lock is current.
check: setup data
	$(PY) -m stages.config check
	$(PY) .ci/check_pipeline.py

bench: setup
	$(PY) -m stages.bench

lint: setup
	$(VENV)/bin/ruff check stages tests hydra_plugins .ci
	$(VENV)/bin/ruff format --check stages tests hydra_plugins .ci

clean-checkpoints:
	rm -rf checkpoints
