#!/usr/bin/env bash
# Pipeline lint: no secret in Git (gitleaks) and workflows that CI can run (actionlint).
# Called by scripts/lint.sh; runs alone as `scripts/lint-pipeline.sh`. Both tools are pinned and
# built from the Go module proxy by scripts/tools.sh into the cache, outside the repository.
#
#   gitleaks: every commit reachable from HEAD, plus the uncommitted changes (staged or not), so a
#             secret is caught before it is committed and also if it was committed and "removed".
#             Findings are redacted in the output: the scanner never prints the secret it found.
#   actionlint: every workflow under .github/workflows (with shellcheck on their run: blocks).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(scripts/tools.sh)
status=0

echo "lint: gitleaks (history and uncommitted changes)"
scan() {
    "$bin/gitleaks" git --config .gitleaks.toml --redact --no-banner --log-level warn --exit-code 1 "$@" . ||
        { echo "lint-pipeline: gitleaks found a secret (${*:-history}); see the findings above" >&2; status=1; }
}
scan
scan --pre-commit
scan --staged

echo "lint: actionlint"
"$bin/actionlint" -no-color || { echo "lint-pipeline: actionlint found problems in .github/workflows" >&2; status=1; }
exit "$status"
