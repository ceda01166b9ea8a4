#!/usr/bin/env bash
# Dump the upstream provider's schema facts from bpg/terraform-provider-proxmox's own Go packages
# and compare them with the committed fixture the stand-in is derived from.
#
#   scripts/conformance.sh           # check: fail (exit 1, with a diff) if the fixture is stale
#   scripts/conformance.sh --write   # regenerate the fixture (after bumping the pin in go.mod)
#
# The program (providers/conformance/main.go, its own go.mod pinning bpg) is built once into
# ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/conformance/<key>/, keyed by the bpg version, the Go
# version and a hash of the sources, like scripts/engine.sh: a cold build takes minutes, a warm
# check well under a second. The fixture is providers/conformance/bpg-<version>.json.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/build-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-once.sh"

log() { printf 'conformance.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

MODE=check
for arg in "$@"; do
    case "$arg" in
        --write) MODE=write ;;
        --check) MODE=check ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

# The resources the fabric uses, by the Terraform names pulumi_proxmoxve 8.6.0 bridges them from:
# ContainerLegacy, download.File, Haresource, pool.Membership (8.x's non-"Legacy" classes bridge
# bpg's short proxmox_* names; see providers/upstream_schema.py).
RESOURCES=(proxmox_virtual_environment_container proxmox_download_file proxmox_haresource proxmox_pool_membership)

SRC=$SAMAKIA_ROOT/providers/conformance
go_toolchain

BPG=$(sed -n 's|^require github.com/bpg/terraform-provider-proxmox \(v[^ ]*\).*|\1|p; s|^[[:space:]]*github.com/bpg/terraform-provider-proxmox \(v[^ ]*\).*|\1|p' "$SRC/go.mod" | head -n1)
[ -n "$BPG" ] || die "$SRC/go.mod does not require github.com/bpg/terraform-provider-proxmox"
FIXTURE=$SRC/bpg-$BPG.json

srchash=$(cd "$SRC" && sha256sum go.mod go.sum main.go | sha256sum | cut -c1-10)
KEY="bpg$BPG-$("$GO" env GOVERSION)-$srchash"
DIR=$SAMAKIA_CACHE/conformance/$KEY
BIN=$DIR/conformance

build_dumper() {
    log "building the schema dumper against bpg $BPG into $DIR (cold: a few minutes)"
    local start
    start=$(date +%s)
    mkdir -p "$DIR"
    (cd "$SRC" && "$GO" build -trimpath -ldflags "-s -w" -o "$BIN.tmp" .)
    mv -f "$BIN.tmp" "$BIN"
    log "built in $(($(date +%s) - start))s"
}
built_once "$BIN" "$DIR.lock" build_dumper

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN" "$BPG" "${RESOURCES[@]}" >"$out"

if [ "$MODE" = write ]; then
    chmod 0644 "$out" && mv -f "$out" "$FIXTURE"
    log "wrote ${FIXTURE#"$SAMAKIA_ROOT"/}"
    exit 0
fi
[ -f "$FIXTURE" ] || die "no fixture ${FIXTURE#"$SAMAKIA_ROOT"/}: run 'make conformance-write' and commit it"
if ! diff -u "$FIXTURE" "$out" >&2; then
    die "${FIXTURE#"$SAMAKIA_ROOT"/} differs from bpg $BPG's schema (above): run 'make conformance-write', then fix the stand-in"
fi
log "fixture matches bpg $BPG (${#RESOURCES[@]} resources)"
