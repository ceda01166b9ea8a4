#!/usr/bin/env bash
# Image lint: packer fmt -check and packer validate for every family, then the catalog
# immutability check against the target branch (BASE, default origin/main, else main).
# Called by scripts/lint.sh; runs alone as `scripts/lint-images.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHECKPOINT_DISABLE=1
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3
fi

status=0
families=0
for dir in images/*/; do
  compgen -G "${dir}*.pkr.hcl" >/dev/null || continue
  families=$((families + 1))
  if ! packer fmt -check -diff "$dir"; then
    echo "lint-images: $dir is not packer-formatted (run: packer fmt $dir)" >&2
    status=1
  fi
  # Validate with placeholder values for the variables the build command supplies.
  if ! packer validate \
    -var version=0.0.0 -var output_dir=/nonexistent/out -var work_dir=/nonexistent/work \
    -var source_date_epoch=0 -var "template_digest=sha256:$(printf '0%.0s' {1..64})" "$dir" >/dev/null; then
    packer validate -var version=0.0.0 -var output_dir=/x -var work_dir=/x -var source_date_epoch=0 \
      -var template_digest=sha256:0 "$dir" >&2 || true
    echo "lint-images: packer validate failed for $dir" >&2
    status=1
  fi
done
[ "$families" -gt 0 ] || { echo "lint-images: no Packer templates under images/" >&2; exit 1; }

base_args=()
[ -n "${BASE:-}" ] && base_args=(--base "$BASE")
"$py" -m ops.images.catalog_check --catalog "${CATALOG:-images/catalog.yaml}" "${base_args[@]}" || status=1

[ "$status" -eq 0 ] && echo "lint-images: OK (Packer templates: $families)"
exit "$status"
