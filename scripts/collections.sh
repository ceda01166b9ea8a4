#!/usr/bin/env bash
# Install the Ansible collections the playbooks need (community.general, ansible.posix) without
# Galaxy: both are taken from the pinned `ansible` community wheel on PyPI and unpacked into the
# venv's site-packages `ansible_collections/` directory, where ansible-core finds them on sys.path.
#
# Idempotent and fast: a stamp file records the wheel version; when it matches and both
# collections are present, nothing is downloaded or unpacked.
set -euo pipefail
cd "$(dirname "$0")/.."

ANSIBLE_WHEEL_VERSION="12.3.0"   # ships community.general and ansible.posix for ansible-core 2.19
COLLECTIONS=(community/general ansible/posix)

venv_python=".venv/bin/python"
[ -x "$venv_python" ] || { echo "collections: $venv_python missing; run scripts/setup.sh" >&2; exit 2; }

site=$("$venv_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
dest="$site/ansible_collections"
stamp="$dest/.samakia-ansible-wheel"

installed=1
for c in "${COLLECTIONS[@]}"; do
  [ -f "$dest/$c/MANIFEST.json" ] || installed=0
done
if [ "$installed" = 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$ANSIBLE_WHEEL_VERSION" ]; then
  exit 0
fi

cache="${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/wheels"
mkdir -p "$cache"
wheel="$cache/ansible-$ANSIBLE_WHEEL_VERSION-py3-none-any.whl"
if [ ! -s "$wheel" ]; then
  echo "collections: downloading ansible==$ANSIBLE_WHEEL_VERSION wheel (once, cached in $cache)"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$cache" "ansible==$ANSIBLE_WHEEL_VERSION"
fi
[ -s "$wheel" ] || { echo "collections: wheel not found at $wheel" >&2; exit 2; }

echo "collections: unpacking ${COLLECTIONS[*]} from ansible $ANSIBLE_WHEEL_VERSION"
"$venv_python" - "$wheel" "$dest" "${COLLECTIONS[@]}" <<'PY'
"""Extract only the named collections from the ansible wheel, atomically per collection."""
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

wheel, dest, *names = sys.argv[1:]
dest_path = Path(dest)
dest_path.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as zf:
    for name in names:
        prefix = f"ansible_collections/{name}/"
        members = [m for m in zf.namelist() if m.startswith(prefix)]
        if not members:
            sys.exit(f"collections: {name} not found in {wheel}")
        with tempfile.TemporaryDirectory(dir=dest_path) as tmp:
            for m in members:
                zf.extract(m, tmp)
            target = dest_path / name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / prefix).rename(target)
PY
# The namespace packages need no __init__.py (ansible-core's collection loader handles them).
echo "$ANSIBLE_WHEEL_VERSION" > "$stamp"
echo "collections: installed into $dest"
