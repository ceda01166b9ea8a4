# Samakia Fabric: the one front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export SAMAKIA_CACHE ?= $(HOME)/.cache/samakia-fabric
STACK ?= local
FAMILY ?= debian12-base
VERSION ?=
CATALOG ?= images/catalog.yaml
VENV := .venv
PY := $(VENV)/bin/python
ENV := source scripts/env.sh &&

.PHONY: help setup engine lint unit test-playbooks test-images test-e2e test bench \
        preview up down drift drift-infra drift-config image catalog-check

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Install everything the project needs (Debian packages, venv, Ansible collections)
	scripts/setup.sh

engine: setup ## Build (or find) the Pulumi engine and providers from Go modules, cached by version
	scripts/engine.sh

lint: setup ## Ruff, mypy, yamllint, ansible-lint, packer fmt/validate, catalog immutability
	$(ENV) scripts/lint.sh

unit: setup ## Unit tier: components, validation, guard, policies under Pulumi mocks
	$(ENV) pytest -q tests/unit

test-playbooks: setup ## Playbook tier: roles on a real Debian root (debootstrap + chroot)
	$(ENV) pytest -q tests/playbooks

test-images: setup ## Image tier: a real Packer build, catalog immutability
	$(ENV) pytest -q tests/images

test-e2e: engine ## Engine tier: real Pulumi engine against fakepve, whole lifecycle
	$(ENV) pytest -q tests/e2e

test: setup engine ## Everything CI runs, every tier
	$(ENV) scripts/lint.sh
	$(ENV) pytest tests/unit tests/playbooks tests/images tests/e2e

bench: engine ## Benchmarks: print figures (recorded in docs/benchmarks.md)
	$(ENV) python bench/run_all.py

image: setup ## Build an image: make image FAMILY=debian12-base VERSION=1.2.0 [CATALOG=...]
	$(ENV) python -m ops.images.build --family "$(FAMILY)" --version "$(VERSION)" --catalog "$(CATALOG)"

catalog-check: setup ## Fail if an existing catalog entry was changed or removed (vs BASE, default origin/main or main)
	$(ENV) python -m ops.images.catalog_check --catalog "$(CATALOG)" $(if $(BASE),--base "$(BASE)")

preview: engine ## pulumi preview of STACK (local fabric by default)
	$(ENV) python -m ops.stack preview --stack "$(STACK)"

up: engine ## The main job: preview then up of STACK (local fabric by default), print outputs
	$(ENV) python -m ops.stack up --stack "$(STACK)"

down: engine ## Destroy STACK's containers (images are retained by design)
	$(ENV) python -m ops.stack down --stack "$(STACK)"

drift-infra: engine ## Infrastructure drift: refresh and expect no changes
	$(ENV) python -m ops.stack drift --stack "$(STACK)"

drift-config: engine ## Configuration drift: Ansible check mode on every configured container of STACK
	$(ENV) python -m ops.stack drift-config --stack "$(STACK)"

drift: drift-infra drift-config ## Both drift checks; non-zero on any drift
