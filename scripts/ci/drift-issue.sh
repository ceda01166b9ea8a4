#!/usr/bin/env bash
# CI, scheduled: drift as an incident. Keeps exactly one open issue per stack in step with the
# result of its drift checks, with the gh CLI:
#   drift (or a check that could not run)  -> open the issue, or update it and add a comment
#   clean                                   -> close the open issue, saying so
# and exits with the worse of the two checks' codes, so the job fails while drift remains.
#
#   scripts/ci/drift-issue.sh STACK INFRA_EXIT CONFIG_EXIT INFRA_LOG CONFIG_LOG
#
# scripts/ci/drift-incident.sh runs the checks and calls this. The body is masked
# (ops.stack.incident) before it leaves the runner. Needs GH_TOKEN with issues:write.
set -euo pipefail
stack=${1:?usage: drift-issue.sh STACK INFRA_EXIT CONFIG_EXIT INFRA_LOG CONFIG_LOG}
infra=${2:?} config=${3:?} infra_log=${4:?} config_log=${5:?}
status=$(( infra > config ? infra : config ))
body=$(mktemp)
trap 'rm -f "$body"' EXIT
python -m ops.stack.incident --stack "$stack" --infra "$infra" --config "$config" "$infra_log" "$config_log" >"$body"

title="Drift in stack $stack"
gh label create drift --color B60205 --description "Reality no longer matches Git" --force >/dev/null
number=$(gh issue list --state open --label drift --search "\"$title\" in:title" --json number,title \
    --jq ".[] | select(.title == \"$title\") | .number" | head -n1)

if [ "$status" -eq 0 ]; then
    if [ -n "$number" ]; then
        gh issue close "$number" --comment "Clean again: both drift checks of \`$stack\` pass."
        echo "drift-issue: closed #$number"
    fi
    exit 0
fi
if [ -n "$number" ]; then
    gh issue edit "$number" --body-file "$body" >/dev/null
    gh issue comment "$number" --body "Still drifting (infrastructure exit $infra, configuration exit $config)."
    echo "drift-issue: updated #$number"
else
    gh issue create --title "$title" --label drift --body-file "$body"
    echo "drift-issue: opened an issue for $stack"
fi
exit "$status"
