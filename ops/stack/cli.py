"""Drive a stack with the real Pulumi engine: the local fabric by default, a real Proxmox when selected.

    python -m ops.stack up --stack local       # the main job: images, fake Proxmox, preview, up
    python -m ops.stack preview --stack prod   # a PR check against the real cluster
    python -m ops.stack drift-config --root ROOTFS --vars-file vars.json   # explicit targets, no stack

For the ``local`` stack this starts everything the fabric needs on loopback (the template
mirror and the local Proxmox), keeps state under ``.state/`` (ignored by Git), and stops it
all afterwards. Secrets the local fabric needs are generated once into ``.state/`` with mode
0600 and reach Pulumi and the fake through the environment, never through argv.

Exit status: 0 success; 1 findings (``drift``/``drift-config`` found drift); 2 the command could
not do its job: an unusable stack name or stack file (one line naming it), a refused ``down`` of
a protected stack, or a failed engine run (the engine's own output is shown above the line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping

from fabric.errors import EXIT_UNUSABLE, InputError
from fabric.paths import PROJECT_ROOT
from fabric.protection import is_protected
from fabric.stack_file import read_stack_file
from ops.localpve.services import ensure_local_images
from ops.stack.drift import add_target_arguments, config_drift_check, config_drift_targets, drift_check, has_targets
from ops.stack.local import local_fabric
from ops.stack.workspace import Workspace

ROOT = PROJECT_ROOT
LOCAL_STACKS = ("local",)
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_stack(stack: str, action: str) -> None:
    """The stack's name and file are usable, and a protected stack is never destroyed from here.

    ``pulumi destroy`` run by hand does not run the program, so the apply guard never sees it:
    for a protected stack this runner refuses ``down`` outright (see README, "Protected stacks").
    """
    if not _STACK_NAME.match(stack):
        raise InputError(f"--stack: {stack!r} is not a stack name (letters, digits, '_', '.', '-')")
    raw, _ = read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    if action == "down" and is_protected(stack, raw.get("protected") is True):
        raise InputError(
            f"Pulumi.{stack}.yaml: protected: stack '{stack}' is protected; 'down' is refused. Remove "
            "containers by removing them from the stack file in a reviewed pull request"
        )


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
    try:
        check_stack(args.stack, args.action)
        return _run(args, environ)
    except InputError as err:
        print(f"stack: error: {err}", file=sys.stderr)
        return EXIT_UNUSABLE
    except SystemExit as stop:  # the workspace stops with a message when the engine fails
        if isinstance(stop.code, str):
            print(f"stack: error: {stop.code.splitlines()[0] if stop.code else 'failed'}", file=sys.stderr)
            return EXIT_UNUSABLE
        raise


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
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
