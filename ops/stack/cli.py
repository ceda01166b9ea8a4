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
a protected stack, or a failed engine run; 3 ``apply-plan`` refused the reviewed plan. A failed
``up``, ``preview`` or ``apply-plan`` ends, below the engine's own output, with a summary naming
each failed resource and Proxmox's message (or Ansible's failed task) and what to do next
(``ops.stack.failure_summary``). The program's tracebacks from its shutdown are not shown unless
``--debug`` or ``SAMAKIA_DEBUG=1`` asks for them (``fabric.cancellation``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from fabric.cancellation import DEBUG_ENV
from fabric.errors import EXIT_UNUSABLE, InputError
from fabric.paths import PROJECT_ROOT
from fabric.protection import is_protected
from fabric.stack_file import read_stack_file
from ops.localpve.services import ensure_local_images
from ops.stack import s3_state  # noqa: F401 - registers the s3:// lock finder with ops.stack.locks
from ops.stack.adoption import adopt_reviewed, preview_adopting
from ops.stack.drift import (
    add_target_arguments,
    config_drift_check,
    config_drift_targets,
    drift_check,
    has_targets,
    repair_config_drift,
)
from ops.stack.failure_summary import RunFailed, logged_run
from ops.stack.local import local_fabric
from ops.stack.local_stacks import LOCAL_STACKS
from ops.stack.plan_summary import LOST_KEY
from ops.stack.prepare import clear_stale_lock, prepare_apply, preview_workspace, pve_api, unlock
from ops.stack.reviewed import EXIT_REFUSED, PlanRefused, apply_plan, check_plan, plan_dir, policy_args, save_plan
from ops.stack.workspace import Workspace

ROOT = PROJECT_ROOT
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


def _print_outputs(ws: Workspace) -> int:
    print(json.dumps(ws.outputs(), indent=2, sort_keys=True))
    return 0


def _up(ws: Workspace, _: argparse.Namespace) -> int:
    # Always from refreshed state: a change PVE rejected (or one made outside Pulumi) is seen and
    # retried instead of being taken from stale state.
    # First, whatever a killed or disturbed last run left (a stale lock, pending creates, a lost
    # data volume) is resolved or named (ops/stack/prepare.py).
    # Then the preview, which also finds what a killed apply created and the state lacks
    # (ops/stack/adoption.py): it is adopted, and the preview runs again.
    prepare_apply(ws)
    preview_adopting(ws, pve_api(ws), "--diff", "--refresh", *policy_args(ws))
    logged_run(ws, "up", "up", "--yes", "--skip-preview", "--refresh", *policy_args(ws))
    return _print_outputs(ws)


def _down(ws: Workspace, _: argparse.Namespace) -> int:
    # A killed destroy leaves its lock, cleared when provably stale, and a state that believes in
    # containers it deleted (the engine writes the snapshot once, at the end: ops/stack/workspace.py):
    # refreshed first, since upstream's delete of a container PVE no longer holds fails on reading
    # its status (bpg proxmoxtf/resource/container/container.go, containerDelete).
    clear_stale_lock(ws)
    return ws.pulumi("destroy", "--yes", "--skip-preview", "--refresh", check=False).returncode


def _preview(ws: Workspace, _: argparse.Namespace) -> int:
    with preview_workspace(ws) as place:
        return logged_run(place.ws, "preview", "preview", "--diff", "--refresh", *policy_args(ws)).returncode


def _plan(ws: Workspace, args: argparse.Namespace) -> int:
    # The apply runs the recovery steps first (``_apply_plan``): the plan is made as they leave the
    # state, so what was reviewed is what applies.
    with preview_workspace(ws) as place:
        code = save_plan(place.ws, Path(args.out))
        if place.lost:
            preview = plan_dir(Path(args.out), ws.stack).resolve() / "preview.json"
            document = json.loads(preview.read_text() or "{}")
            preview.write_text(json.dumps({**document, LOST_KEY: place.lost_entries()}))
        return code


def _apply_plan(ws: Workspace, args: argparse.Namespace) -> int:
    if not args.plan:
        raise SystemExit("apply-plan needs --plan DIR (the directory `make plan` wrote, e.g. plans/prod)")
    try:
        check_plan(ws.project_dir, ws.stack, Path(args.plan))  # before the recovery steps touch anything
    except PlanRefused as err:
        print(f"apply-plan refused: {err}")
        return EXIT_REFUSED
    prepare_apply(ws)
    adopted = adopt_reviewed(ws, Path(args.plan), pve_api(ws), policy_args(ws))
    if adopted:
        print(
            f"apply-plan refused: {adopted} resource(s) the reviewed plan creates were created by a killed apply "
            f"and are now adopted (above); nothing else was applied. Plan again (`make plan STACK={ws.stack}`)"
        )
        return EXIT_REFUSED
    code = apply_plan(ws, Path(args.plan))
    return _print_outputs(ws) if code == 0 else code


ACTIONS: dict[str, Callable[[Workspace, argparse.Namespace], int]] = {
    "preview": _preview,
    "up": _up,
    "plan": _plan,
    "apply-plan": _apply_plan,
    "down": _down,
    "drift": lambda ws, _: drift_check(ws),
    "drift-config": lambda ws, args: config_drift_check(ws, as_json=args.json),
    "repair": lambda ws, _: repair_config_drift(ws, policy_args(ws)),
    "outputs": lambda ws, _: _print_outputs(ws),
    "unlock": lambda ws, _: unlock(ws),
}


def run_action(ws: Workspace, action: str, args: argparse.Namespace | None = None) -> int:
    if action not in ACTIONS:
        raise SystemExit(f"unknown action {action}")
    return ACTIONS[action](ws, args or argparse.Namespace(out="plans", plan=None, json=False))


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description="Drive a Samakia Fabric stack with the real engine.")
    parser.add_argument("action", choices=list(ACTIONS))
    parser.add_argument("--stack", default=environ.get("STACK", "local"))
    add_target_arguments(parser.add_argument_group("drift-config on explicit targets instead of the stack"))
    parser.add_argument("--out", default="plans", help="plan: where <stack>/plan.json and its key go")
    parser.add_argument("--plan", help="apply-plan: the directory `plan` wrote (e.g. plans/prod)")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the program's own tracebacks when a run fails (or {DEBUG_ENV}=1)"
    )
    args = parser.parse_args(argv)
    if args.debug:
        os.environ[DEBUG_ENV] = "1"  # the local fabric's engine runs take the process environment
        environ = {**environ, DEBUG_ENV: "1"}
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
    except RunFailed as failed:  # the engine's output is above; the summary is the last thing shown
        print(f"\n{failed.summary}", file=sys.stderr)
        return EXIT_REFUSED if failed.code == EXIT_REFUSED else EXIT_UNUSABLE
    except SystemExit as stop:  # the workspace stops with a message when the engine fails
        if isinstance(stop.code, str):
            print(f"stack: error: {stop.code.splitlines()[0] if stop.code else 'failed'}", file=sys.stderr)
            return EXIT_UNUSABLE
        raise


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if args.stack in LOCAL_STACKS:
        local = LOCAL_STACKS[args.stack]
        state = local.state_dir(ROOT)
        if args.action in ("preview", "up", "plan", "apply-plan"):
            ensure_local_images(ROOT, args.stack, state / "mirror")
        # `down` leaves nothing behind: after the destroy, every container and bridge of this
        # checkout's local fabric goes, even if the destroy failed half-way.
        with local_fabric(
            ROOT,
            args.stack,
            state_dir=state,
            pve_host=local.pve_host,
            mirror_port=local.mirror_port,
            teardown=args.action == "down",
            lxc_tag=local.tag,
            rewrite=local.rewriter,
        ) as (ws, _):
            return run_action(ws, args.action, args)
    # A real cluster: the operator's (or CI's) backend, passphrase and credentials apply.
    ws = Workspace(ROOT, args.stack, dict(environ))
    return run_action(ws, args.action, args)


if __name__ == "__main__":
    sys.exit(main())
