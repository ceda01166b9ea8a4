#!/usr/bin/env bash
# Build (or find) the proxmoxve resource plugin every engine run uses, and print its path.
#
#   scripts/proxmoxve.sh     # cold: two Go builds (minutes); warm: prints the path (well under 1 s)
#
# The plugin is the project's own build of bpg/terraform-provider-proxmox v0.112.0 served through
# Pulumi's terraform bridge (pulumi-terraform-bridge v3.137.0): the code inside pulumi-proxmoxve
# 8.6.0, whose released binary (muhlba91/pulumi-proxmoxve) the Go module proxy refuses. Sources:
# scripts/proxmoxve/ (a ProviderInfo of about 100 lines, a tfgen main and the plugin main). Two steps:
#   1. tfgen writes schema.json and bridge-metadata.json (the mux dispatch table) from bpg's schema;
#   2. the plugin is built with both embedded.
# Into ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/proxmoxve/<key>/, keyed by the bridge and bpg
# versions (from scripts/proxmoxve/go.mod), the Go version and a hash of scripts/proxmoxve/, under an
# flock; Go's module and build caches are the default ones the other builds share. The directory also
# keeps schema.json for reading; tests/provider/ holds the running plugin's GetSchema against the
# Python SDK (make test-provider).
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/build-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-once.sh"

log() { printf 'proxmoxve.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

go_toolchain

SRC=$SAMAKIA_ROOT/scripts/proxmoxve
pin() { sed -n "s|^[[:space:]]*$1 \(v[^ ]*\).*|\1|p" "$SRC/go.mod" | head -n1; }
BPG_VERSION=$(pin github.com/bpg/terraform-provider-proxmox)
BRIDGE_VERSION=$(pin github.com/pulumi/pulumi-terraform-bridge/v3)
if [ -z "$BPG_VERSION" ] || [ -z "$BRIDGE_VERSION" ]; then die "$SRC/go.mod does not pin bpg and the bridge"; fi
srchash=$(cd "$SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort |
    xargs sha256sum | sha256sum | cut -c1-10)
KEY="proxmoxve$SAMAKIA_PROXMOXVE_VERSION-bpg$BPG_VERSION-bridge$BRIDGE_VERSION-$("$GO" env GOVERSION)-$srchash"
DIR=$SAMAKIA_CACHE/proxmoxve/$KEY
PLUGIN=$DIR/pulumi-resource-proxmoxve

build_plugin() {
    local start mid work
    start=$(date +%s)
    work=$DIR/src
    rm -rf "$work" && mkdir -p "$work"
    cp -r "$SRC/." "$work/"
    log "go build tfgen (bpg $BPG_VERSION, bridge $BRIDGE_VERSION) into $DIR (cold: minutes)"
    (cd "$work" && "$GO" build -trimpath -ldflags "-s -w" -o "$DIR/tfgen" ./cmd/tfgen)
    log "tfgen built in $(($(date +%s) - start))s; writing the schema and the mux table"
    (cd "$work" && "$DIR/tfgen" schema --skip-examples --skip-docs --out "$work/cmd/pulumi-resource-proxmoxve" >"$DIR/tfgen.log" 2>&1) || { cat "$DIR/tfgen.log" >&2; die "tfgen failed"; }
    [ -s "$work/cmd/pulumi-resource-proxmoxve/schema.json" ] || die "tfgen wrote no schema.json"
    [ -s "$work/cmd/pulumi-resource-proxmoxve/bridge-metadata.json" ] || die "tfgen wrote no bridge-metadata.json"
    mid=$(date +%s)
    log "go build pulumi-resource-proxmoxve"
    (cd "$work" && "$GO" build -trimpath -ldflags "-s -w" -o "$PLUGIN.tmp" ./cmd/pulumi-resource-proxmoxve)
    cp "$work/cmd/pulumi-resource-proxmoxve/schema.json" "$DIR/schema.json"
    rm -rf "$work" "$DIR/tfgen" "$DIR/tfgen.log"
    mv -f "$PLUGIN.tmp" "$PLUGIN"
    log "plugin built in $(($(date +%s) - mid))s ($(($(date +%s) - start))s in all)"
}
built_once "$PLUGIN" "$DIR.lock" build_plugin
printf '%s\n' "$PLUGIN"
