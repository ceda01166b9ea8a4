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
echo "lint: gofmt (the project's Go: the bridged plugin, the language host, the wrapper modules)"
gofmt_bin=$(command -v gofmt 2>/dev/null || echo /usr/local/go/bin/gofmt)
unformatted=$("$gofmt_bin" -l scripts)
if [ -n "$unformatted" ]; then
    printf 'gofmt would reformat:\n%s\n' "$unformatted"
    exit 1
fi
echo "lint: stack files validate"
python -m ops.stack.validate Pulumi.prod.yaml
scripts/lint-playbooks.sh
scripts/lint-images.sh
scripts/lint-pipeline.sh
echo "lint: all clean"
