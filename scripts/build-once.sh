# shellcheck shell=bash
# What the cached Go builds share (scripts/wire.sh, seaweedfs.sh, proxmoxve.sh): the toolchain,
# and one build per cache key at a time, outside the repository.
#
#   . scripts/build-once.sh
#   go_toolchain                                 # sets GO; GOTOOLCHAIN=local; module mode
#   built_once "$BIN" "$DIR.lock" build_it    # build_it under an flock, unless $BIN is there
#
# The path is the build's last product (written under a temporary name, then moved into place), so
# it exists only once the build is whole. built_once checks again once it holds the lock: a concurrent caller (parallel make, two shells,
# CI beside a developer) may have finished the build while this one waited.

go_toolchain() {
    GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
    if [ ! -x "$GO" ]; then
        printf '%s: ERROR: no Go toolchain (looked on PATH and at /usr/local/go/bin/go)\n' "${0##*/}" >&2
        exit 1
    fi
    export GOTOOLCHAIN=${GOTOOLCHAIN:-local}   # never fetch another Go behind our back
    export GOFLAGS="-mod=mod -buildvcs=false"
}

built_once() {
    local path=$1 lock=$2
    shift 2
    if [ -e "$path" ]; then
        return 0
    fi
    mkdir -p "$(dirname "$lock")"
    exec 9>"$lock"
    flock 9
    if [ ! -e "$path" ]; then
        "$@"
    fi
    exec 9>&-
}
