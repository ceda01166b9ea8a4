# shellcheck shell=bash
# Environment for running the Pulumi engine that scripts/engine.sh builds.
#
#   . scripts/env.sh          # from a Makefile recipe, a script or a shell
#
# Sets PATH (engine bin dir first, then the repo's .venv/bin), PULUMI_HOME and the switches that keep
# the CLI offline. Builds nothing and exports nothing secret: run scripts/engine.sh first (it prints
# the same bin dir), and set PULUMI_CONFIG_PASSPHRASE and the backend yourself.
#
# The engine version pins live here, so that engine.sh (which sources this file) and every caller
# agree on the cache key. Bump them together with requirements.txt and scripts/engine/*/go.mod.

# Versions. The Python SDK pins come from requirements.txt; the CLI is the nearest version of
# github.com/pulumi/pulumi/pkg/v3 that the Go module proxy serves (v3.272.0 is refused there).
SAMAKIA_PULUMI_CLI_VERSION=3.274.1
SAMAKIA_PULUMI_SDK_VERSION=3.272.0
SAMAKIA_COMMAND_VERSION=1.2.1
SAMAKIA_PROXMOXVE_VERSION=8.6.0

SAMAKIA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SAMAKIA_CACHE=${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}

# The cache key: the four versions, the Go version and a hash of the wrapper-module sources, so a
# change to any of them lands in a fresh directory and an old one stays usable until removed.
_samakia_go=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
if [ -x "$_samakia_go" ]; then
    _samakia_gover=$("$_samakia_go" env GOVERSION 2>/dev/null || echo nogo)
else
    _samakia_gover=nogo
fi
_samakia_srchash=$(cd "$SAMAKIA_ROOT/scripts/engine" 2>/dev/null &&
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort |
    xargs -r sha256sum | sha256sum | cut -c1-10)
SAMAKIA_ENGINE_KEY="pulumi${SAMAKIA_PULUMI_CLI_VERSION}-sdk${SAMAKIA_PULUMI_SDK_VERSION}"
SAMAKIA_ENGINE_KEY+="-command${SAMAKIA_COMMAND_VERSION}-proxmoxve${SAMAKIA_PROXMOXVE_VERSION}"
SAMAKIA_ENGINE_KEY+="-${_samakia_gover}-${_samakia_srchash:-nosrc}"
SAMAKIA_ENGINE_DIR="$SAMAKIA_CACHE/engine/$SAMAKIA_ENGINE_KEY"

# The language host has its own entry: the base host (scripts/engine/langhost) plus the project's
# additions to it (scripts/langhost/, RunPlugin for policy packs), keyed by the SDK and Go versions
# and a hash of both. A change to scripts/langhost/ rebuilds the host alone (a few minutes) while the
# CLI entry above (10-60 minutes cold) stays warm. Its bin dir is the one callers use: it holds the
# host beside a hard link to the CLI, because the CLI looks for its language host next to itself.
_samakia_hosthash=$(cd "$SAMAKIA_ROOT/scripts" 2>/dev/null &&
    find engine/langhost langhost -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) 2>/dev/null |
    LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -c1-10)
SAMAKIA_LANGHOST_KEY="langhost-sdk${SAMAKIA_PULUMI_SDK_VERSION}-pulumi${SAMAKIA_PULUMI_CLI_VERSION}"
SAMAKIA_LANGHOST_KEY+="-${_samakia_gover}-${_samakia_hosthash:-nosrc}"
SAMAKIA_LANGHOST_DIR="$SAMAKIA_CACHE/engine/$SAMAKIA_LANGHOST_KEY"
SAMAKIA_ENGINE_BIN="$SAMAKIA_LANGHOST_DIR/bin"
unset _samakia_go _samakia_gover _samakia_srchash _samakia_hosthash

case ":$PATH:" in
    *":$SAMAKIA_ROOT/.venv/bin:"*) ;;
    *) PATH="$SAMAKIA_ROOT/.venv/bin:$PATH" ;;
esac
case ":$PATH:" in
    *":$SAMAKIA_ENGINE_BIN:"*) ;;
    *) PATH="$SAMAKIA_ENGINE_BIN:$PATH" ;;
esac

export PATH SAMAKIA_ROOT SAMAKIA_CACHE SAMAKIA_ENGINE_KEY SAMAKIA_ENGINE_DIR SAMAKIA_ENGINE_BIN
export SAMAKIA_LANGHOST_KEY SAMAKIA_LANGHOST_DIR
export SAMAKIA_PULUMI_CLI_VERSION SAMAKIA_PULUMI_SDK_VERSION SAMAKIA_COMMAND_VERSION SAMAKIA_PROXMOXVE_VERSION
# Which plugins a checkout registers depends on its code (the bridged proxmoxve plugin since it
# replaced the stand-in), and checkouts of different code share this machine's cache: each such
# generation gets its own PULUMI_HOME, so one never registers its plugins over another's.
export PULUMI_HOME="$SAMAKIA_CACHE/pulumi-home-bridged"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
