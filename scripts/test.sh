#!/usr/bin/env bash
# Every tier CI runs (`make test`), ordered so that the cold Go builds overlap the tiers that do not
# need them.
#
#   scripts/test.sh          # what `make test` runs; warm caches: the tiers alone
#
# On a fresh machine the Go builds (the engine, the bridged proxmoxve plugin, SeaweedFS, OpenTofu
# with bpg's own main) are about half an hour of two cores. They run in the background, in the
# order the tiers need them, while the foreground runs lint and the tiers that need no engine at a
# lower priority (nice), so the builds get the CPU first and the tiers take what the builds leave
# (downloads, linking, debootstrap's and the containers' waits). Each engine tier then asks for its
# build in the foreground: the build scripts hold an flock per cache key, so that call waits for the
# background build and is warm after it. Every tier still runs; nothing is skipped when a build is
# slow. The background builds' output is kept in a log that is printed if they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/tools.sh >/dev/null

log=$(mktemp -t samakia-builds.XXXXXX)
# In a session of its own, so that a failed or interrupted run stops the whole build tree (each
# build writes its product last, so the flock'd caches stay whole).
setsid bash -c 'scripts/engine.sh >/dev/null && scripts/seaweedfs.sh >/dev/null && scripts/wire.sh >/dev/null' \
    </dev/null >"$log" 2>&1 &
builds=$!
trap 'kill -- -"$builds" 2>/dev/null || true; rm -f "$log"' EXIT

# shellcheck source=scripts/env.sh
. scripts/env.sh
nice -n 10 scripts/lint.sh
nice -n 10 pytest tests/unit tests/pipeline tests/playbooks tests/images tests/package tests/controller

wait_for() {
    if ! "$@" >/dev/null; then
        printf 'test.sh: the build %s failed; the background builds said:\n' "$*" >&2
        cat "$log" >&2
        exit 1
    fi
}
wait_for scripts/engine.sh
pytest tests/provider tests/e2e tests/faults tests/chaos
wait_for scripts/seaweedfs.sh
pytest tests/s3
wait_for scripts/wire.sh
pytest tests/wire
wait "$builds" || { cat "$log" >&2; exit 1; }
