#!/usr/bin/env bash
# Build (or find) upstream's provider and OpenTofu for the wire tier, and print their bin dir.
#
#   scripts/wire.sh     # cold: two Go builds (minutes each); warm: prints the bin dir (well under 1 s)
#
# Into ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/wire/<key>/bin/, keyed by both versions, the Go
# version and a hash of scripts/wire/, under an flock (the pattern of scripts/engine.sh):
#   terraform-provider-proxmox  bpg/terraform-provider-proxmox's own main at the version pinned in
#                               scripts/wire/provider/go.mod (a wrapper module: `go install @version`
#                               is refused because the proxy does not serve the version list)
#   tofu                        github.com/opentofu/opentofu's ./cmd/tofu, built in a writable copy of
#                               the downloaded module (`go install` refuses: its go.mod has replaces)
# Nothing here is fetched at test time: the tier points OpenTofu at the provider through a
# dev_overrides block in its own CLI config file (TF_CLI_CONFIG_FILE).
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/build-once.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-once.sh"

TOFU_MODULE=github.com/opentofu/opentofu
TOFU_VERSION=v1.12.6
BPG_MODULE=github.com/bpg/terraform-provider-proxmox

log() { printf 'wire.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

go_toolchain

SRC=$SAMAKIA_ROOT/scripts/wire
BPG_VERSION=$(sed -n "s|^[[:space:]]*$BPG_MODULE \(v[^ ]*\).*|\1|p" "$SRC/provider/go.mod" | head -n1)
[ -n "$BPG_VERSION" ] || die "$SRC/provider/go.mod does not require $BPG_MODULE"
srchash=$(cd "$SRC" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-10)
KEY="bpg$BPG_VERSION-tofu$TOFU_VERSION-$("$GO" env GOVERSION)-$srchash"
DIR=$SAMAKIA_CACHE/wire/$KEY
BIN=$DIR/bin
STAMP=$DIR/stamp

build_wire() {
    local start mid moddir
    mkdir -p "$DIR"
    start=$(date +%s)
    rm -rf "$DIR/src" && mkdir -p "$DIR/src" "$BIN"
    cp -r "$SRC/provider" "$DIR/src/provider"
    log "go build $BPG_MODULE ($BPG_VERSION, its own main) into $BIN (cold: minutes)"
    (cd "$DIR/src/provider" && "$GO" build -trimpath -ldflags "-s -w" \
        -o "$BIN/terraform-provider-proxmox.tmp" "$BPG_MODULE")
    mv -f "$BIN/terraform-provider-proxmox.tmp" "$BIN/terraform-provider-proxmox"
    log "provider built in $(($(date +%s) - start))s"

    mid=$(date +%s)
    moddir=$("$GO" mod download -json "$TOFU_MODULE@$TOFU_VERSION" |
        sed -n 's|^[[:space:]]*"Dir": "\(.*\)",*$|\1|p')
    [ -d "$moddir" ] || die "go mod download $TOFU_MODULE@$TOFU_VERSION gave no directory"
    cp -r "$moddir" "$DIR/src/tofu" && chmod -R u+w "$DIR/src/tofu"
    log "go build $TOFU_MODULE/cmd/tofu ($TOFU_VERSION) into $BIN (cold: minutes)"
    (cd "$DIR/src/tofu" && "$GO" build -trimpath \
        -ldflags "-s -w -X $TOFU_MODULE/version.dev=no" -o "$BIN/tofu.tmp" ./cmd/tofu)
    mv -f "$BIN/tofu.tmp" "$BIN/tofu"
    log "tofu built in $(($(date +%s) - mid))s"
    rm -rf "$DIR/src"
    printf 'built %s in %ss\n' "$KEY" "$(($(date +%s) - start))" >"$STAMP"
    log "wire tools built in $(($(date +%s) - start))s"
}
built_once "$STAMP" "$DIR.lock" build_wire
printf '%s\n' "$BIN"
