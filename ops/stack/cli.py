"""Drive a stack with the real Pulumi engine: the local fabric by default, a real Proxmox when selected.

    python -m ops.stack up --stack local       # the main job: images, fake Proxmox, preview, up
    python -m ops.stack preview --stack prod   # a PR check against the real cluster
    python -m ops.stack drift-config --root ROOTFS --vars-file vars.json   # explicit targets, no stack

For the ``local`` stack this starts everything the fabric needs on loopback (the template
mirror and the local Proxmox), keeps state under ``.state/`` (ignored by Git), and stops it
all afterwards. Secrets the local fabric needs are generated once into ``.state/`` with mode
0600 and reach Pulumi and the fake through the environment, never through argv.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping

from fabric.paths import PROJECT_ROOT
from ops.localpve.services import ensure_local_images
from ops.stack.drift import add_target_arguments, config_drift_check, config_drift_targets, drift_check, has_targets
from ops.stack.local import local_fabric
from ops.stack.workspace import Workspace

ROOT = PROJECT_ROOT
LOCAL_STACKS = ("local",)


def run_action(ws: Workspace, action: str, *, as_json: bool = False) -> int:
    if action == "preview":
        return ws.pulumi("preview", "--diff", check=False).returncode
    if action == "up":
        ws.pulumi("preview", "--diff")
        ws.pulumi("up", "--yes", "--skip-preview")
        print(json.dumps(ws.outputs(), indent=2, sort_keys=True))
        return 0
    if action == "down":
        return ws.pulumi("destroy", "--yes", check=False).returncode
    if action == "drift":
        return drift_check(ws)
    if action == "drift-config":
        return config_drift_check(ws, as_json=as_json)
    if action == "outputs":
        print(json.dumps(ws.outputs(), indent=2, sort_keys=True))
        return 0
    raise SystemExit(f"unknown action {action}")


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description="Drive a Samakia Fabric stack with the real engine.")
    parser.add_argument("action", choices=["preview", "up", "down", "drift", "drift-config", "outputs"])
    parser.add_argument("--stack", default=environ.get("STACK", "local"))
    add_target_arguments(parser.add_argument_group("drift-config on explicit targets instead of the stack"))
    args = parser.parse_args(argv)
    if has_targets(args):
        if args.action != "drift-config":
            parser.error("--root, --host and --targets-file only go with drift-config")
        return config_drift_targets(args)
    if args.stack in LOCAL_STACKS:
        if args.action in ("preview", "up"):
            ensure_local_images(ROOT, args.stack, ROOT / ".state" / "mirror")
        with local_fabric(ROOT, args.stack) as (ws, _):
            return run_action(ws, args.action, as_json=args.json)
    # A real cluster: the operator's (or CI's) backend, passphrase and credentials apply.
    ws = Workspace(ROOT, args.stack, dict(environ))
    return run_action(ws, args.action, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
