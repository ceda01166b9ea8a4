#!/usr/bin/env bash
# Production runners: install the real provider plugins at the pinned versions (from the plugin
# host, which these runners reach), then check that the engine uses them and no stand-in.
#
#   scripts/real-providers.sh        # make real-providers
#
# The first engine.sh builds the CLI; its exit 3 only means the real plugins are not installed yet.
set -euo pipefail
cd "$(dirname "$0")/.."
code=0
SAMAKIA_ENGINE_STRICT=1 scripts/engine.sh >/dev/null || code=$?
[ "$code" -eq 0 ] || [ "$code" -eq 3 ] || exit "$code"
# shellcheck source=scripts/env.sh
. scripts/env.sh
pulumi plugin install resource proxmoxve "$SAMAKIA_PROXMOXVE_VERSION" --reinstall
pulumi plugin install resource command "$SAMAKIA_COMMAND_VERSION" --reinstall
SAMAKIA_ENGINE_STRICT=1 scripts/engine.sh >/dev/null
