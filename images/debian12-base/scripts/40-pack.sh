#!/bin/bash
# Step 4: pack the root as a Proxmox vztmpl: a tar of ./ (sorted entries, numeric owners,
# mtimes clamped to SOURCE_DATE_EPOCH, no atime/ctime), compressed with single-threaded zstd.
set -euo pipefail

mkdir -p "$OUTPUT_DIR"
if [ -e "$ARTIFACT" ]; then
  echo "40-pack: $ARTIFACT already exists; artifacts are never overwritten" >&2
  exit 1
fi
partial="$ARTIFACT.partial"
tar --create --file=- --directory="$ROOTFS" \
  --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
  --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
  --acls --xattrs --xattrs-include='security.capability' --one-file-system \
  . | zstd -q --single-thread "-$ZSTD_LEVEL" -o "$partial" -f
mv -n "$partial" "$ARTIFACT"
echo "40-pack: $(basename "$ARTIFACT") $(stat -c %s "$ARTIFACT") bytes"
