"""Drift is an incident: infrastructure (refresh, expect no changes) and configuration (check mode)."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fabric.tokens import COMMAND, CONFIG_POLICY
from ops.stack.workspace import Workspace


def drift_check(ws: Workspace) -> int:
    """Refresh and expect no changes; print what drifted. Non-zero on drift."""
    result = ws.pulumi("preview", "--refresh", "--expect-no-changes", "--json", check=False, capture=True)
    drifted = [s for s in _steps(result.stdout) if s.get("op") not in ("same", "read", "refresh")]
    for step in drifted:
        print(f"DRIFT: {step['op']} {step['urn'].rsplit('::', 1)[-1]} ({', '.join(step.get('diffReasons') or [])})")
    if result.returncode != 0 and not drifted:
        sys.stderr.write(result.stderr[-3000:])
    print("infrastructure drift: none" if result.returncode == 0 else f"infrastructure drift: {len(drifted)} change(s)")
    return result.returncode


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


def config_drift_check(ws: Workspace, only: list[str] | None = None) -> int:
    """Ansible check mode on every configured container (or ``only`` those policies).

    Names each task that would change. Exit code as `ops.config.drift`: 0 clean, 1 drift, 2 when a
    container could not be checked. Containers are checked in parallel.
    """
    from fabric.runtime.ansible_run import AnsibleRunError
    from fabric.runtime.apply_policy import run
    from ops.config.drift import DriftResult, exit_code, verdict

    requests = {n: r for n, r in policy_requests(ws).items() if only is None or n in only}
    if only and set(only) - set(requests):
        print(f"ERROR: no applied config policy named {', '.join(sorted(set(only) - set(requests)))}")
        return 2
    if not requests:
        print("configuration drift: no applied config policy in this stack")
        return 0

    def check(name: str) -> DriftResult:
        try:
            recap = run(requests[name], check=True, base=ws.project_dir)
        except AnsibleRunError as err:
            return DriftResult(name, (), error=str(err))
        # One target per policy: its only host in the recap (the last tried, for SSH).
        return verdict(name, next(iter(recap.hosts.values()), None))

    with ThreadPoolExecutor(max_workers=min(4, len(requests))) as pool:
        results = sorted(pool.map(check, requests), key=lambda r: r.target)
    for r in results:
        if r.error:
            print(f"ERROR: {r.target}: {r.error}")
        for task in r.changed_tasks:
            print(f"DRIFT: {r.target}: {task}")
    bad = [r for r in results if r.error or r.drifted]
    print(f"configuration drift: {len(bad)} container(s)" if bad else "configuration drift: none")
    return exit_code(results)


def _steps(preview_json: str) -> list[dict[str, Any]]:
    try:
        return list(json.loads(preview_json or "{}").get("steps", []))
    except ValueError:
        return []
