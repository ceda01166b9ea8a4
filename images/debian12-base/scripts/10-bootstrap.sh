#!/bin/bash
# Step 1: debootstrap a minimal Debian base (minbase) from the pinned suite and mirror.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "10-bootstrap: debootstrap needs root" >&2; exit 1; }
if [ -e "$ROOTFS" ]; then
  echo "10-bootstrap: $ROOTFS already exists; a build never reuses a half-built tree" >&2
  exit 1
fi
mkdir -p "$ROOTFS"

echo "10-bootstrap: debootstrap --variant=minbase $SUITE from $MIRROR"
debootstrap --variant=minbase --arch="$ARCH" --components=main --keyring="$KEYRING" \
  "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK_DIR/debootstrap.log" 2>&1 || {
  tail -n 40 "$WORK_DIR/debootstrap.log" >&2
  exit 1
}
grep -q '^12\.' "$ROOTFS/etc/debian_version" || {
  echo "10-bootstrap: not a Debian 12 root: $(cat "$ROOTFS/etc/debian_version")" >&2
  exit 1
}
echo "10-bootstrap: base is Debian $(cat "$ROOTFS/etc/debian_version")"
