#!/usr/bin/env bash
# Build (or find) the SeaweedFS server the S3 tier runs, and print the path of its `weed` binary.
#
#   scripts/seaweedfs.sh      # cold: builds from the Go module proxy (minutes); warm: instant
#
# SeaweedFS (github.com/seaweedfs/seaweedfs, Apache-2.0) gives an S3-compatible API on loopback;
# MinIO's server is AGPL and is not used. Its go.mod carries a `replace` line, so `go install
# pkg@version` refuses it: the module is downloaded at the pinned pseudo-version and built from
# the module cache's copy with its own go.mod. The binary lands in
# ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/seaweedfs-<version>-<go>/weed, outside the
# repository, under an flock so concurrent callers wait for one build.
set -euo pipefail

# Pinned: the proxy serves pseudo-versions only (`go list -m -json github.com/seaweedfs/seaweedfs@latest`).
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=${SAMAKIA_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}

log() { printf 'seaweedfs.sh: %s\n' "$*" >&2; }

# shellcheck source=scripts/build-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-once.sh"
go_toolchain
CACHE=${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}
DIR=$CACHE/seaweedfs-$SEAWEEDFS_VERSION-$("$GO" env GOVERSION)

build_weed() {
    log "building $SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION (cold: several minutes)"
    local started src
    started=$(date +%s)
    src=$("$GO" mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$src" ] || { log "ERROR: go mod download gave no source directory"; exit 1; }
    rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
    # The module cache's copy is read-only; go build writes only to GOCACHE and the -o path.
    (cd "$src" && "$GO" build -trimpath -ldflags "-s -w" -o "$DIR.tmp/weed" ./weed)
    rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
    log "built in $(( $(date +%s) - started )) s"
}
built_once "$DIR/weed" "$CACHE/seaweedfs.lock" build_weed
printf '%s\n' "$DIR/weed"
