#!/usr/bin/env bash
# CI, PR job: render the saved plan and post it as the PR's one plan comment (created once, then
# updated in place), plus the job summary. Posting goes through the gh CLI.
#
#   PR_NUMBER=12 scripts/ci/pr-comment.sh STACK PLAN_DIR
#
# The comment is found again by a hidden marker naming the stack, so one PR holds one comment per
# stack however often it is pushed. Needs GH_TOKEN with pull-requests:write.
set -euo pipefail
stack=${1:?usage: pr-comment.sh STACK PLAN_DIR}
out=${2:?usage: pr-comment.sh STACK PLAN_DIR}
pr=${PR_NUMBER:?PR_NUMBER must name the pull request}
dir=$out/$stack
body=$dir/comment.md
python -m ops.stack.pr_comment --stack "$stack" --stack-file "Pulumi.$stack.yaml" "$dir" >"$body"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$body" >>"$GITHUB_STEP_SUMMARY"
fi
marker=$(head -n1 "$body")
id=$(gh api "repos/{owner}/{repo}/issues/$pr/comments" --paginate \
    --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n1)
if [ -n "$id" ]; then
    gh api --method PATCH "repos/{owner}/{repo}/issues/comments/$id" -F "body=@$body" >/dev/null
    echo "pr-comment: updated comment $id on PR $pr"
else
    gh pr comment "$pr" --body-file "$body"
    echo "pr-comment: created the plan comment on PR $pr"
fi
