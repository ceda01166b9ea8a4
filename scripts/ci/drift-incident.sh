#!/usr/bin/env bash
# CI, scheduled: run both drift checks of STACK (never stopping at the first), print them, and
# hand the results to scripts/ci/drift-issue.sh, which keeps the stack's drift issue in step.
#
#   scripts/ci/drift-incident.sh STACK        # make drift-incident STACK=prod
set -euo pipefail
stack=${1:?usage: drift-incident.sh STACK}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
python -m ops.stack drift --stack "$stack" >"$work/infra.txt" 2>&1
infra=$?
python -m ops.stack drift-config --stack "$stack" >"$work/config.txt" 2>&1
config=$?
set -e
cat "$work/infra.txt" "$work/config.txt"
"$(dirname "$0")/drift-issue.sh" "$stack" "$infra" "$config" "$work/infra.txt" "$work/config.txt"
