#!/usr/bin/env bash
# Build (or find) the Pulumi engine for Samakia Fabric and print its bin dir on stdout.
#
#   scripts/engine.sh            # cold: builds (minutes); warm: prints the bin dir (well under 1 s)
#   scripts/engine.sh --rebuild  # forget the stamp and build again
#
# Everything lands outside the repo, in ${SAMAKIA_CACHE:-$HOME/.cache/samakia-fabric}:
#   engine/<key>/bin/    pulumi, the base pulumi-language-python (+ -exec), pulumi-resource-pulumi-python
#   engine/<key>/src/    the wrapper modules copied from scripts/engine/ and built there
#   engine/<key>/stamp   written only after everything above succeeded
#   engine/<hostkey>/    the language host callers use: scripts/engine/langhost plus scripts/langhost/
#                        (RunPlugin, for policy packs), and a hard link to the CLI; its bin/ is the
#                        bin dir printed and put on PATH
#   pulumi-home-bridged/ PULUMI_HOME: the resource providers registered with `pulumi plugin install`
# <key> (computed by scripts/env.sh) encodes the CLI, SDK, command and proxmoxve versions, the Go
# version and a hash of scripts/engine/, so a change to any of them builds afresh (10-60 minutes).
# <hostkey> encodes the SDK, CLI and Go versions and a hash of the host's sources (scripts/engine/
# langhost and scripts/langhost/): a change to scripts/langhost/ rebuilds the host alone (minutes).
#
# Resource providers: github.com/pulumi/pulumi-command/provider and
# github.com/muhlba91/pulumi-proxmoxve/provider are refused by the Go module proxy (403), so they
# cannot be built here. Put binaries named pulumi-resource-command and pulumi-resource-proxmoxve in
# the directory named by SAMAKIA_PROVIDER_BINARIES and this script registers them into PULUMI_HOME at
# the versions the Python SDKs request. Otherwise the stand-ins (providers/) are registered, and they
# refuse any stack but the local ones. SAMAKIA_ENGINE_STRICT=1 (production workflows) never registers
# a stand-in and fails (exit 3) unless the real plugins are there. See docs/engine.md.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf 'engine.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

REBUILD=0
for arg in "$@"; do
    case "$arg" in
        --rebuild) REBUILD=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

GO=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
[ -x "$GO" ] || die "no Go toolchain (looked on PATH and at /usr/local/go/bin/go)"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}   # never fetch another Go behind our back
export GOFLAGS="-mod=mod -buildvcs=false"

BIN=$SAMAKIA_ENGINE_DIR/bin          # the CLI entry
SRC=$SAMAKIA_ENGINE_DIR/src
STAMP=$SAMAKIA_ENGINE_DIR/stamp
HOST_BIN=$SAMAKIA_ENGINE_BIN         # the language host entry (what callers use)
HOST_SRC=$SAMAKIA_LANGHOST_DIR/src
HOST_STAMP=$SAMAKIA_LANGHOST_DIR/stamp
ENGINE_SRC=$SAMAKIA_ROOT/scripts/engine
HOST_ADDITIONS=$SAMAKIA_ROOT/scripts/langhost
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
CLI_MODULE=github.com/pulumi/pulumi/pkg/v3

# The SDK pins in requirements.txt must match the ones the engine is built for.
check_pins() {
    local req=$SAMAKIA_ROOT/requirements.txt name want got
    [ -f "$req" ] || return 0
    for name in pulumi pulumi-command pulumi-proxmoxve; do
        case $name in
            pulumi) want=$SAMAKIA_PULUMI_SDK_VERSION ;;
            pulumi-command) want=$SAMAKIA_COMMAND_VERSION ;;
            pulumi-proxmoxve) want=$SAMAKIA_PROXMOXVE_VERSION ;;
        esac
        got=$(sed -n "s/^${name}==\([^ #]*\).*/\1/p" "$req")
        [ -z "$got" ] || [ "$got" = "$want" ] ||
            die "requirements.txt pins $name==$got but scripts/env.sh builds for $want: bump them together"
    done
}

# register NAME VERSION BINARY: install a resource provider into PULUMI_HOME unless the same binary
# is already there.
register() {
    local name=$1 version=$2 bin=$3
    local installed=$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name
    if [ -f "$installed" ] && cmp -s "$installed" "$bin"; then
        return 0
    fi
    log "registering resource provider $name $version from $bin"
    "$BIN/pulumi" plugin install resource "$name" "$version" --file "$bin" --reinstall >&2
}

# standin NAME: a plugin executable that runs the repository's stand-in provider (providers/NAME.py).
# It finds the checkout through SAMAKIA_ROOT (scripts/env.sh), so every clone shares one registration.
standin() {
    local name=$1 out=$SAMAKIA_ENGINE_DIR/standin/pulumi-resource-$1
    mkdir -p "$(dirname "$out")"
    cat >"$out.tmp" <<SH
#!/usr/bin/env bash
# Samakia Fabric's stand-in for the upstream $name provider, whose Go module the proxy refuses.
root=\${SAMAKIA_ROOT:?source scripts/env.sh first}
export PYTHONPATH="\$root\${PYTHONPATH:+:\$PYTHONPATH}"
exec "\$root/.venv/bin/python" -m providers.$name "\$@"
SH
    chmod 0755 "$out.tmp" && mv -f "$out.tmp" "$out"
    printf '%s\n' "$out"
}

# installed_real NAME VERSION: true when PULUMI_HOME holds a plugin for NAME that is not our stand-in.
installed_real() {
    local f=$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1
    [ -x "$f" ] && ! grep -qs "Samakia Fabric's stand-in" "$f"
}

# providers: register real binaries from SAMAKIA_PROVIDER_BINARIES when given, else the stand-ins.
# With SAMAKIA_ENGINE_STRICT=1 (production workflows) a stand-in is never registered: the real
# plugin must come from SAMAKIA_PROVIDER_BINARIES or be installed already (`pulumi plugin install
# resource NAME VERSION`). Returns the number of real providers missing.
providers() {
    local missing=0 name version dir=${SAMAKIA_PROVIDER_BINARIES:-}
    for name in command proxmoxve; do
        case $name in
            command) version=$SAMAKIA_COMMAND_VERSION ;;
            proxmoxve) version=$SAMAKIA_PROXMOXVE_VERSION ;;
        esac
        if [ -n "$dir" ] && [ -x "$dir/pulumi-resource-$name" ]; then
            register "$name" "$version" "$dir/pulumi-resource-$name"
        elif [ "$name" = proxmoxve ] && [ "${SAMAKIA_ENGINE_STRICT:-0}" != 1 ]; then
            # Upstream's own code: bpg's provider through Pulumi's bridge, built by the project.
            register "$name" "$version" "$("$SAMAKIA_ROOT/scripts/proxmoxve.sh")"
        elif [ "${SAMAKIA_ENGINE_STRICT:-0}" = 1 ]; then
            if ! installed_real "$name" "$version"; then
                log "ERROR: no real $name $version plugin: run 'pulumi plugin install resource $name $version --reinstall'" \
                    "on a runner that reaches the plugin host, or set SAMAKIA_PROVIDER_BINARIES (docs/engine.md)"
                missing=$((missing + 1))
            fi
        else
            register "$name" "$version" "$(standin "$name")"
            missing=$((missing + 1))
        fi
    done
    return "$missing"
}

# build_host BIN SRC SOURCES...: build the language host from the given source directories (copied
# into SRC, later ones over earlier ones) into BIN, with the exec script and the dynamic-provider shim
# from the sdk/v3 module beside it, then check that it starts and prints its port.
build_host() {
    local bin=$1 src=$2 out pid port sdk_dir dir
    shift 2
    rm -rf "$src" && mkdir -p "$src" "$bin"
    for dir in "$@"; do cp -r "$dir/." "$src/"; done
    log "go build pulumi-language-python (sdk/v3 v$SAMAKIA_PULUMI_SDK_VERSION) into $bin"
    (cd "$src" && "$GO" build -trimpath -ldflags "-s -w -X main.version=$SAMAKIA_PULUMI_SDK_VERSION" \
        -o "$bin/pulumi-language-python.tmp" .)
    mv -f "$bin/pulumi-language-python.tmp" "$bin/pulumi-language-python"
    sdk_dir=$(cd "$src" && "$GO" list -m -f '{{.Dir}}' "$SDK_MODULE")
    [ "$(cd "$src" && "$GO" list -m -f '{{.Version}}' "$SDK_MODULE")" = "v$SAMAKIA_PULUMI_SDK_VERSION" ] ||
        die "scripts/engine/langhost/go.mod does not require $SDK_MODULE v$SAMAKIA_PULUMI_SDK_VERSION"
    install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
    install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"

    out=$(mktemp)
    "$bin/pulumi-language-python" 127.0.0.1:1 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    port=$(head -n1 "$out")
    rm -f "$out"
    case "$port" in
        ''|*[!0-9]*) die "pulumi-language-python did not start (printed '$port')" ;;
    esac
}

# link_cli: the host entry's bin holds the CLI as a hard link (a copy across file systems), because the
# CLI takes its language host from beside its own executable before PATH; a symlink would not do, as
# the CLI resolves it. Cheap, so it runs on the warm path too (the CLI entry may have been rebuilt).
link_cli() {
    [ "$HOST_BIN/pulumi" -ef "$BIN/pulumi" ] && return 0
    ln -f "$BIN/pulumi" "$HOST_BIN/pulumi.tmp" 2>/dev/null || cp -f "$BIN/pulumi" "$HOST_BIN/pulumi.tmp"
    mv -f "$HOST_BIN/pulumi.tmp" "$HOST_BIN/pulumi"
}

# ensure_host: the language host entry, built unless its stamp is there (under its own lock).
ensure_host() {
    if [ "$REBUILD" = 0 ] && [ -f "$HOST_STAMP" ] && [ -x "$HOST_BIN/pulumi-language-python" ]; then
        link_cli
        return 0
    fi
    mkdir -p "$SAMAKIA_LANGHOST_DIR"
    exec 8>"$SAMAKIA_LANGHOST_DIR.lock"
    flock 8
    if [ "$REBUILD" = 1 ] || [ ! -f "$HOST_STAMP" ]; then
        rm -f "$HOST_STAMP"
        local start
        start=$(date +%s)
        build_host "$HOST_BIN" "$HOST_SRC" "$ENGINE_SRC/langhost" "$HOST_ADDITIONS"
        printf 'built %s in %ss\n' "$SAMAKIA_LANGHOST_KEY" "$(($(date +%s) - start))" >"$HOST_STAMP"
        log "language host built in $(($(date +%s) - start))s"
    fi
    link_cli
    exec 8>&-
}

finish() {
    local missing=0
    ensure_host
    providers || missing=$?
    if [ "$missing" -gt 0 ] && [ "${SAMAKIA_ENGINE_STRICT:-0}" = 1 ]; then
        log "ERROR: $missing upstream resource provider(s) missing (SAMAKIA_ENGINE_STRICT=1: stand-ins are never registered)"
        exit 3
    fi
    printf '%s\n' "$HOST_BIN"
}

check_pins

# Warm path: the stamp says a full build finished, and the binaries are still there.
if [ "$REBUILD" = 0 ] && [ -f "$STAMP" ] && [ -x "$BIN/pulumi" ] && [ -x "$BIN/pulumi-language-python" ] &&
    [ -x "$BIN/pulumi-language-python-exec" ]; then
    finish
    exit 0
fi

mkdir -p "$SAMAKIA_ENGINE_DIR" "$PULUMI_HOME"
# One build per key at a time (parallel make, two shells).
exec 9>"$SAMAKIA_ENGINE_DIR.lock"
flock 9
if [ "$REBUILD" = 0 ] && [ -f "$STAMP" ]; then   # another process finished it while we waited
    finish
    exit 0
fi
rm -f "$STAMP"
mkdir -p "$BIN" "$SRC"
log "building the engine into $SAMAKIA_ENGINE_DIR (cold: several minutes)"
start=$(date +%s)

# 1. The pulumi CLI. Use one of the right version already on PATH (outside this cache), else build
#    it from a wrapper module (scripts/engine/pulumi: pkg/v3's go.mod has replace lines, which only
#    apply in the main module, so the wrapper repeats the one that matters).
found=""
outside=${PATH//$BIN:/}
if candidate=$(PATH=${outside//$HOST_BIN:/} command -v pulumi 2>/dev/null) &&
    [ "$("$candidate" version 2>/dev/null)" = "v$SAMAKIA_PULUMI_CLI_VERSION" ]; then
    found=$candidate
fi
if [ -n "$found" ]; then
    log "using $found (v$SAMAKIA_PULUMI_CLI_VERSION)"
    cp "$found" "$BIN/pulumi.tmp"
else
    rm -rf "$SRC/pulumi" && cp -r "$ENGINE_SRC/pulumi" "$SRC/pulumi"
    log "go build $CLI_MODULE/cmd/pulumi@v$SAMAKIA_PULUMI_CLI_VERSION"
    (cd "$SRC/pulumi" && "$GO" build -trimpath \
        -ldflags "-s -w -X $SDK_MODULE/go/common/version.Version=v$SAMAKIA_PULUMI_CLI_VERSION" \
        -o "$BIN/pulumi.tmp" "$CLI_MODULE/cmd/pulumi")
fi
mv -f "$BIN/pulumi.tmp" "$BIN/pulumi"
[ "$("$BIN/pulumi" version)" = "v$SAMAKIA_PULUMI_CLI_VERSION" ] ||
    die "built pulumi reports $("$BIN/pulumi" version), wanted v$SAMAKIA_PULUMI_CLI_VERSION"

# 2. The base Python language host (scripts/engine/langhost; the upstream one is refused by the proxy)
#    and, beside it, pulumi-language-python-exec and the dynamic-provider shim from the sdk/v3 module
#    at the Python SDK's version. Callers use the host entry's build (host(), above), which adds
#    scripts/langhost/; this one stays so that the entry is complete on its own.
build_host "$BIN" "$SRC/langhost" "$ENGINE_SRC/langhost"

printf 'built %s in %ss\n' "$SAMAKIA_ENGINE_KEY" "$(($(date +%s) - start))" >"$STAMP"
log "engine built in $(($(date +%s) - start))s"
finish
