"""Drift is an incident: infrastructure (refresh, expect no changes) and configuration (check mode).

The one drift front end. ``python -m ops.stack drift`` refreshes the stack and expects no
changes. ``python -m ops.stack drift-config`` runs the policy in check mode, either on every
configured container of the stack (the requests its config policies ran with, read back from
state) or on explicit targets (``--root``, ``--host``, ``--targets-file``; no stack needed).
Both print one report and exit 0 clean, 1 drift, 2 when a target could not be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from fabric.runtime.ansible_run import SITE_PLAYBOOK, AnsibleRunError, ChrootTarget, Recap, SshTarget, Target
from fabric.tokens import COMMAND, CONFIG_POLICY
from ops.config.drift import (
    EXIT_CLEAN,
    EXIT_DRIFT,
    EXIT_ERROR,
    DriftResult,
    check_drift,
    exit_code,
    group_by_vars,
    load_targets_file,
    load_vars,
    verdict,
)
from ops.stack.workspace import Workspace


def drift_check(ws: Workspace) -> int:
    """Refresh and expect no changes; print what drifted.

    Exit status as every drift check: 0 no drift, 1 drift (each change listed), 2 the check
    could not run (the engine failed without naming a change: its error output is shown).
    """
    result = ws.pulumi("preview", "--refresh", "--expect-no-changes", "--json", check=False, capture=True)
    drifted = [s for s in _steps(result.stdout) if s.get("op") not in ("same", "read", "refresh")]
    for step in drifted:
        print(f"DRIFT: {step['op']} {step['urn'].rsplit('::', 1)[-1]} ({', '.join(step.get('diffReasons') or [])})")
    if result.returncode != 0 and not drifted:
        sys.stderr.write(result.stderr[-3000:])
        print(f"infrastructure drift: check could not complete (pulumi exit {result.returncode})")
        return EXIT_ERROR
    print("infrastructure drift: none" if not drifted else f"infrastructure drift: {len(drifted)} change(s)")
    return EXIT_DRIFT if drifted else EXIT_CLEAN


def policy_requests(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The request each applied config policy ran with, read back from the stack's state."""
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout)
    requests = {}
    for res in state.get("deployment", {}).get("resources") or []:
        if res.get("type") == COMMAND and CONFIG_POLICY in res.get("parent", ""):
            stdin = (res.get("inputs") or {}).get("stdin")
            if isinstance(stdin, str):
                requests[res["urn"].rsplit("::", 1)[-1]] = json.loads(stdin)
    return requests


def config_drift_check(ws: Workspace, only: list[str] | None = None, *, as_json: bool = False) -> int:
    """Check mode on every configured container of the stack (or ``only`` those policies), in parallel."""
    early, results, duration = _stack_results(ws, only)
    return early if early is not None else report(results, duration_s=duration, as_json=as_json)


def repair_config_drift(ws: Workspace, policy_args: tuple[str, ...] = (), only: list[str] | None = None) -> int:
    """Re-apply from Git exactly the config policies that drifted, through the engine, then re-check.

    The documented repair path for configuration drift (docs/runbooks.md): one targeted update that
    replaces only the drifted policies' commands (so their playbooks run again from the committed
    code) and touches nothing else, recorded in the stack's history like any update. A container
    that could not be checked is not repaired blindly: exit 2, as the check. ``only`` limits the
    check (and so the repair) to those policies.
    """
    early, results, duration = _stack_results(ws, only)
    if early is not None:
        return early
    code = report(results, duration_s=duration)
    if code != EXIT_DRIFT:
        print("repair: nothing to repair" if code == EXIT_CLEAN else "repair: some containers could not be checked")
        return code
    drifted = sorted(r.target for r in results if r.drifted and not r.error)
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout)
    urns = [
        r["urn"]
        for r in state.get("deployment", {}).get("resources") or []
        if r.get("type") == COMMAND and r["urn"].rsplit("::", 1)[-1] in drifted
    ]
    print(f"repair: re-applying {', '.join(drifted)} from Git")
    ws.pulumi("up", "--yes", "--skip-preview", "--refresh", *[a for u in urns for a in ("--target", u, "--replace", u)],
              *policy_args)  # fmt: skip
    return config_drift_check(ws, only=drifted)


def _stack_results(ws: Workspace, only: list[str] | None) -> tuple[int | None, list[DriftResult], float]:
    """(an early exit code, or None), the verdict per policy, and the time the checks took."""
    from fabric.runtime.apply_policy import run

    requests = {n: r for n, r in policy_requests(ws).items() if only is None or n in only}
    if only and set(only) - set(requests):
        print(f"ERROR: no applied config policy named {', '.join(sorted(set(only) - set(requests)))}")
        return EXIT_ERROR, [], 0.0
    if not requests:
        print("configuration drift: no applied config policy in this stack")
        return EXIT_CLEAN, [], 0.0

    def check(name: str) -> tuple[DriftResult, float]:
        started = time.monotonic()
        try:
            recap = run(requests[name], check=True, base=ws.project_dir, env=ws.env)
        except AnsibleRunError as err:
            return DriftResult(name, (), error=str(err)), time.monotonic() - started
        # One target per policy: its only host in the recap (the last tried, for SSH).
        return verdict(name, next(iter(recap.hosts.values()), None)), recap.duration_s

    with ThreadPoolExecutor(max_workers=min(4, len(requests))) as pool:
        checked = list(pool.map(check, requests))
    results = sorted((r for r, _ in checked), key=lambda r: r.target)
    return None, results, sum(d for _, d in checked)


def add_target_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The options that name explicit targets for ``drift-config`` instead of a stack's containers."""
    p.add_argument("--root", action="append", default=[], type=Path, help="a root filesystem (chroot; repeatable)")
    p.add_argument("--host", action="append", default=[], help="an SSH host to check (repeatable)")
    p.add_argument("--user", default="root", help="SSH user for --host (the admin user once hardened)")
    p.add_argument("--port", type=int, default=22, help="SSH port for --host")
    p.add_argument("--private-key", type=Path, help="SSH private key for --host")
    p.add_argument("--vars-file", type=Path, help="extra vars (JSON or YAML) for --root/--host targets")
    p.add_argument("--targets-file", type=Path, help="JSON/YAML list of targets with per-target vars")
    p.add_argument("--playbook", type=Path, default=SITE_PLAYBOOK, help="playbook (default: site.yml)")
    p.add_argument("--diff", action="store_true", help="print the differences (may show file content)")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of text")


def has_targets(args: argparse.Namespace) -> bool:
    return bool(args.root or args.host or args.targets_file)


def config_drift_targets(args: argparse.Namespace) -> int:
    """Check mode on the explicit targets of ``args`` (see ``add_target_arguments``)."""
    try:
        direct: list[Target] = [ChrootTarget(root=r) for r in args.root]
        direct += [SshTarget(host=h, user=args.user, port=args.port, private_key=args.private_key) for h in args.host]
        common = load_vars(args.vars_file) if args.vars_file else {}
        groups = group_by_vars(direct, common, load_targets_file(args.targets_file) if args.targets_file else ())
        if not groups:
            print("drift-config: no targets (give --root, --host or --targets-file)", file=sys.stderr)
            return EXIT_ERROR
        results, recaps = check_drift(groups, args.playbook, diff=args.diff)
    except (AnsibleRunError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"drift-config: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return report(
        results, duration_s=sum(r.duration_s for r in recaps), as_json=args.json, diffs=recaps if args.diff else ()
    )


def report(
    results: Sequence[DriftResult], *, duration_s: float, as_json: bool = False, diffs: Sequence[Recap] = ()
) -> int:
    """Print the verdicts (text or JSON) and return the exit code: 0 clean, 1 drift, 2 error."""
    code = exit_code(results)
    if as_json:
        targets = [
            {"target": r.target, "drifted": r.drifted, "changed_tasks": list(r.changed_tasks), "error": r.error}
            for r in results
        ]
        status = {EXIT_CLEAN: "clean", EXIT_DRIFT: "drift", EXIT_ERROR: "error"}[code]
        print(json.dumps({"status": status, "targets": targets, "duration_s": round(duration_s, 3)}, indent=2))
        return code
    for r in results:
        if r.error:
            print(f"ERROR: {r.target}: {r.error}")
        for task in r.changed_tasks:
            print(f"DRIFT: {r.target}: {task}")
        if not r.error and not r.drifted:
            print(f"CLEAN: {r.target}")
    for recap in diffs:
        for ct in recap.changed_tasks:
            if ct.diff:
                print(f"--- {ct.host}: {ct.task}\n{ct.diff}")
    bad = [r for r in results if r.error or r.drifted]
    if code == EXIT_CLEAN:
        print("configuration drift: none")
    else:
        print(f"configuration drift: {len(bad)} of {len(results)} target(s) (an incident: re-apply from Git)")
    return code


def _steps(preview_json: str) -> list[dict[str, Any]]:
    try:
        steps = json.loads(preview_json or "{}").get("steps") or []
    except (ValueError, AttributeError):
        return []
    return (
        [s for s in steps if isinstance(s, dict) and isinstance(s.get("urn"), str)] if isinstance(steps, list) else []
    )
