#!/usr/bin/env bash
# CI, main job: download the plan the PR check saved for this exact Git tree, with the gh CLI.
#
#   scripts/ci/fetch-plan.sh STACK PLAN_DIR      # -> PLAN_DIR/STACK/{plan.json,meta.json,preview.json}
#
# The PR job uploads PLAN_DIR/STACK as the artifact plan-STACK-<tree>. The merge commit main builds
# has the same tree when the branch was up to date (branch protection), so the name is found by
# the tree alone; no artifact means nothing was reviewed for this code, and the apply stops here
# (exit 3, as apply-plan's refusals). Needs GH_TOKEN with actions:read.
set -euo pipefail
stack=${1:?usage: fetch-plan.sh STACK PLAN_DIR}
out=${2:?usage: fetch-plan.sh STACK PLAN_DIR}
tree=$(git rev-parse 'HEAD^{tree}')
name="plan-$stack-$tree"
run_id=$(gh api "repos/{owner}/{repo}/actions/artifacts?name=$name" \
    --jq '[.artifacts[] | select(.expired | not)][0].workflow_run.id // empty')
if [ -z "$run_id" ]; then
    echo "fetch-plan: no unexpired artifact $name: no plan was reviewed for this tree." >&2
    echo "fetch-plan: bring the PR up to date with main (its check then plans this tree), or re-run it." >&2
    exit 3
fi
rm -rf "${out:?}/$stack"
mkdir -p "$out/$stack"
gh run download "$run_id" --name "$name" --dir "$out/$stack"
echo "fetch-plan: $name from run $run_id in $out/$stack"
