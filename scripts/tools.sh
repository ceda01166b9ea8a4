#!/usr/bin/env bash
# Build (or find) the pinned Go linters `make lint` runs, and print their bin dir on stdout.
#
#   scripts/tools.sh          # cold: go install from the Go module proxy (a minute or two); warm: instant
#
# gitleaks (secret scanner) and actionlint (workflow checker) are built from their own Go modules at
# the versions pinned below, into ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/tools/<name>-<version>-<go>/,
# outside the repository. A version bump (or a new Go) lands in a fresh directory. Nothing is fetched
# at run time once built.
set -euo pipefail

GITLEAKS_MODULE=github.com/zricethezav/gitleaks/v8
GITLEAKS_VERSION=v8.30.1
ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
ACTIONLINT_VERSION=v1.7.12

log() { printf 'tools.sh: %s\n' "$*" >&2; }

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[ -x "$GO" ] || { log "ERROR: no Go toolchain (looked on PATH and at /usr/local/go/bin/go)"; exit 1; }
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}   # never fetch another Go behind our back
export GOFLAGS="-buildvcs=false"
CACHE=${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}/tools
GOVER=$("$GO" env GOVERSION)
BIN=$CACHE/bin-$GOVER-gitleaks$GITLEAKS_VERSION-actionlint$ACTIONLINT_VERSION

# build NAME PACKAGE@VERSION: go install into a per-version directory, then link it into $BIN.
build() {
    local name=$1 pkg=$2 dir=$CACHE/$1-$3-$GOVER
    if [ ! -x "$dir/$name" ]; then
        mkdir -p "$CACHE"
        exec 9>"$CACHE/$name.lock"
        flock 9
        if [ ! -x "$dir/$name" ]; then
            log "go install $pkg@$3 (cold: a minute or two)"
            rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
            GOBIN=$dir.tmp "$GO" install -trimpath -ldflags "-s -w" "$pkg@$3"
            rm -rf "$dir" && mv "$dir.tmp" "$dir"
        fi
        exec 9>&-
    fi
    mkdir -p "$BIN"
    ln -sfn "$dir/$name" "$BIN/$name"
}

build gitleaks "$GITLEAKS_MODULE" "$GITLEAKS_VERSION"
build actionlint "$ACTIONLINT_MODULE" "$ACTIONLINT_VERSION"
printf '%s\n' "$BIN"
