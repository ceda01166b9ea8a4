#!/usr/bin/env bash
# Every static check CI runs: Python style and types, playbooks, Packer templates, catalog immutability,
# secrets in Git (gitleaks) and the workflows (actionlint).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "lint: ruff"
ruff check .
ruff format --check .
echo "lint: mypy"
mypy
echo "lint: stack files validate"
python -m ops.stack.validate Pulumi.prod.yaml
scripts/lint-playbooks.sh
scripts/lint-images.sh
scripts/lint-pipeline.sh
echo "lint: all clean"
