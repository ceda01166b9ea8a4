# Samakia Fabric: the one front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export SAMAKIA_CACHE ?= $(HOME)/.cache/samakia-fabric
STACK ?= local
FAMILY ?= debian12-base
VERSION ?=
CATALOG ?= images/catalog.yaml
PLAN_DIR ?= plans
PLAN ?= $(PLAN_DIR)/$(STACK)
VENV := .venv
PY := $(VENV)/bin/python
ENV := source scripts/env.sh &&

.PHONY: help setup engine lint unit proxmoxve test-provider test-playbooks test-images test-e2e test-wire wire test-controller test bench \
        preview up down drift drift-infra drift-config image catalog-check tools \
        plan apply-plan plan-key fetch-plan blast-radius pr-comment drift-incident publish-image repair record-fixtures \
        test-pipeline image-compare images-ci real-providers test-faults test-chaos unlock \
        test-s3 seaweedfs affected-stacks apply-sites dist docs-api test-package test-provider

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Install everything the project needs (Debian packages, venv, Ansible collections)
	scripts/setup.sh

real-providers: setup ## Production runners: install the real provider plugins (pinned) and refuse stand-ins
	scripts/real-providers.sh

engine: setup ## Build (or find) the Pulumi engine and the bridged proxmoxve plugin; the command stand-in only for local stacks
	$(if $(filter local local-% e2e e2e-%,$(STACK)),,SAMAKIA_ENGINE_STRICT=1) scripts/engine.sh

tools: ## Build (or find) the pinned gitleaks and actionlint from the Go module proxy, cached by version
	scripts/tools.sh

lint: setup tools ## Ruff, mypy, yamllint, ansible-lint, packer, catalog immutability, gitleaks, actionlint
	$(ENV) scripts/lint.sh

unit: setup ## Unit tier: components, validation, guard, policies under Pulumi mocks
	$(ENV) pytest -q tests/unit

test-playbooks: setup ## Playbook tier: roles on a real Debian root (debootstrap + chroot)
	$(ENV) pytest -q tests/playbooks

test-images: setup ## Image tier: a real Packer build, catalog immutability
	$(ENV) pytest -q tests/images

test-e2e: engine ## Engine tier: real Pulumi engine against fakepve, whole lifecycle
	$(ENV) pytest -q tests/e2e

test-faults: engine ## Fault tier: SIGKILL at each apply phase, deletes outside Pulumi, lost volume, stuck lock; prints the fault table
	$(ENV) pytest -q tests/faults

test-chaos: engine ## Chaos tier: seeded applies while Proxmox misbehaves (5xx, unreachable, backup locks, slow/failed tasks, SSH drop); prints the chaos table
	$(ENV) pytest -q tests/chaos

record-fixtures: engine ## Re-record tests/unit/fixtures/ (the PR comment's preview JSON) from the engine tier
	$(ENV) SAMAKIA_RECORD_FIXTURES=1 pytest -x -q tests/e2e/test_lifecycle.py -k "up_from_empty or image_bump"

test-controller: setup ## Warm controller tier: ConfigPolicy commands sharing one Ansible controller, on real LXC containers
	$(ENV) pytest -q tests/controller

test-pipeline: setup tools ## Pipeline tier: secret scanner, actionlint, CI scripts (scratch repos, fake gh)
	$(ENV) pytest -q tests/pipeline

wire: ## Build (or find) OpenTofu and bpg's provider for the wire tier, from the served Go modules, cached by version
	scripts/wire.sh

test-wire: engine wire ## Wire tier: upstream's provider (OpenTofu) and the stand-in (Pulumi) on the local PVE, compared
	$(ENV) pytest -q tests/wire
seaweedfs: ## Build (or find) the SeaweedFS server the S3 tier runs, cached by version
	scripts/seaweedfs.sh >/dev/null

test-s3: engine seaweedfs ## S3 tier: the local stack with its state in a SeaweedFS bucket (up, no-change, destroy, locks, secrets)
	$(ENV) pytest -q tests/s3

affected-stacks: ## Print the JSON list of deployable stacks a change since BASE touches (CI matrices; docs/sites.md)
	@$(ENV) python -m ops.stack.sites affected --base "$(BASE)"

apply-sites: engine ## Apply each reviewed plan of STACKS="a b ..." in turn; one report, non-zero if any failed
	$(ENV) python -m ops.stack.sites apply --stacks $(STACKS)

proxmoxve: ## Build (or find) the proxmoxve plugin: bpg v0.112.0 through Pulumi's bridge, cached by version
	scripts/proxmoxve.sh >/dev/null

test-provider: setup proxmoxve ## Provider tier: the bridged plugin's GetSchema against the pulumi_proxmoxve SDK (tokens, properties, nested types)
	$(ENV) pytest -q tests/provider

test: ## Everything CI runs, every tier (scripts/test.sh: the cold Go builds overlap the tiers that need no engine)
	scripts/test.sh

# The distribution (issue 23): the wheel, the samakia.fabric collection, the API reference.
dist: setup ## Build the wheel and the samakia.fabric collection into dist/
	$(ENV) python -m ops.dist wheel dist
	$(ENV) python -m ops.dist collection dist

docs-api: setup ## Generate the API reference of the public surface into build/api (fails on a name without a docstring)
	$(ENV) python -m ops.dist.api_reference build/api

test-package: setup ## Package tier: the wheel in a clean venv outside the repo, the API reference
	$(ENV) pytest -q tests/package

bench: engine ## Benchmarks: print figures (recorded in docs/benchmarks.md)
	$(ENV) python bench/run_all.py

image: setup ## Build an image from committed image code: make image FAMILY=debian12-base VERSION=1.2.0 [CATALOG=...] [DEV=1]
	$(ENV) python -m ops.images.build --family "$(FAMILY)" --version "$(VERSION)" --catalog "$(CATALOG)" $(if $(DEV),--dev)

publish-image: setup ## Publish a built version and its sha256 to the image mirror, never overwriting (SAMAKIA_IMAGE_PUBLISH_URL)
	$(ENV) python -m ops.images.publish --family "$(FAMILY)" --version "$(VERSION)" --catalog "$(CATALOG)"

image-compare: setup ## Compare two builds of a template bit for bit, naming what differs: make image-compare A=... B=...
	$(ENV) python -m ops.images.compare "$(A)" "$(B)"

images-ci: setup ## CI: new catalog entries since BASE rebuilt twice and compared (PUBLISH=1: then published), into OUT
	$(ENV) scripts/ci/images.sh "$(BASE)" "$(or $(OUT),.images-ci)" $(if $(PUBLISH),--publish)

catalog-check: setup ## Fail if an existing catalog entry was changed or removed (vs BASE, default origin/main or main)
	$(ENV) python -m ops.images.catalog_check --catalog "$(CATALOG)" $(if $(BASE),--base "$(BASE)")

preview: engine ## pulumi preview of STACK (local fabric by default)
	$(ENV) python -m ops.stack preview --stack "$(STACK)"

up: engine ## Preview then up of STACK from refreshed state (local fabric by default), print outputs
	$(ENV) python -m ops.stack up --stack "$(STACK)"

down: engine ## Destroy STACK's containers (images are retained by design)
	$(ENV) python -m ops.stack down --stack "$(STACK)"

unlock: engine ## Report STACK's state lock and clear it with pulumi cancel (after checking the run holding it is gone)
	$(ENV) python -m ops.stack unlock --stack "$(STACK)"

drift-infra: engine ## Infrastructure drift: refresh and expect no changes
	$(ENV) python -m ops.stack drift --stack "$(STACK)"

drift-config: engine ## Configuration drift: Ansible check mode on every configured container of STACK
	$(ENV) python -m ops.stack drift-config --stack "$(STACK)"

drift: drift-infra drift-config ## Both drift checks; non-zero on any drift

repair: engine ## Configuration drift repaired from Git: re-apply exactly the drifted policies of STACK
	$(ENV) python -m ops.stack repair --stack "$(STACK)"

drift-incident: engine ## CI: drift of STACK as an incident: open, update or close its one issue (gh CLI)
	$(ENV) scripts/ci/drift-incident.sh "$(STACK)"

plan: engine ## Save STACK's reviewed plan: preview --refresh --save-plan, keyed by Git tree, in PLAN_DIR/STACK
	$(ENV) python -m ops.stack plan --stack "$(STACK)" --out "$(PLAN_DIR)"

apply-plan: engine ## Apply exactly a reviewed plan: make apply-plan STACK=prod PLAN=plans/prod (refuses if anything moved)
	$(ENV) python -m ops.stack apply-plan --stack "$(STACK)" --plan "$(PLAN)"

plan-key: ## Print the Git tree plans are keyed by (CI names the plan artifact plan-STACK-<tree>)
	@git rev-parse 'HEAD^{tree}'

fetch-plan: ## CI main job: download the plan artifact the PR check saved for this tree (gh CLI)
	scripts/ci/fetch-plan.sh "$(STACK)" "$(PLAN_DIR)"

blast-radius: setup ## The PR gate on the saved plan: fails naming the rule and resources unless LABELS holds blast-radius-approved
	$(ENV) python -m ops.stack.plan_summary --stack-file "Pulumi.$(STACK).yaml" "$(PLAN_DIR)/$(STACK)/preview.json" --strict --labels "$(LABELS)" >/dev/null

pr-comment: setup ## CI PR job: render PLAN_DIR/STACK, post or update the PR's one plan comment (gh CLI)
	$(ENV) scripts/ci/pr-comment.sh "$(STACK)" "$(PLAN_DIR)"

