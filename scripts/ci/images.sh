#!/usr/bin/env bash
# CI, on a change under images/: the image goes through the pipeline (docs/pipeline.md, "Images").
#
#   scripts/ci/images.sh BASE OUT            # PR: check only
#   scripts/ci/images.sh BASE OUT --publish  # main, after merge: check, then publish
#
# 1. Every family whose images/<family>/ changed since BASE carries a new catalog entry in the same
#    change (the catalog check also proves that no existing entry was rewritten).
# 2. Each new entry is rebuilt twice from the commit it names, into OUT/<family>-<version>/{1,2}: the
#    two builds must be bit-identical (else every difference is named) and match the entry's sha256.
# 3. --publish: build 1 and its sha256 go to the image mirror through the one pluggable target
#    (make publish-image: SAMAKIA_IMAGE_PUBLISH_URL, never overwriting).
# Exit 0 all good (or nothing to do), 1 a rule broken or a build not reproducible, 2 unusable input.
set -euo pipefail
base=${1:?usage: images.sh BASE OUT [--publish]}
out=${2:?usage: images.sh BASE OUT [--publish]}
publish=${3:-}
catalog=images/catalog.yaml

python -m ops.images.catalog_check --catalog "$catalog" --base "$base"
added=$(python -m ops.images.catalog_check --catalog "$catalog" --base "$base" --added)
changed=$(git diff --name-only "$base" HEAD -- images/ | awk -F/ 'NF > 2 { print $2 }' | sort -u)
for family in $changed; do
    if ! grep -q "^$family " <<<"$added"; then
        echo "images: images/$family changed since $base but the change adds no catalog entry for it:" \
            "run 'make image FAMILY=$family VERSION=<next>' and commit the entry with the image code" >&2
        exit 1
    fi
done
if [ -z "$added" ]; then
    echo "images: no new image version since $base"
    exit 0
fi
while read -r family version; do
    python -m ops.images.reproduce --family "$family" --version "$version" --twice "$out/$family-$version"
    if [ "$publish" = --publish ]; then
        python -m ops.images.publish --family "$family" --version "$version" --cache-dir "$out/$family-$version/1"
    fi
done <<<"$added"
