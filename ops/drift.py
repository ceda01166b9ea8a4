"""Drift is an incident: infrastructure (refresh, expect no changes) and configuration (check mode)."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ops.workspace import Workspace


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


POLICY_COMMAND = "command:local:Command"


def policy_requests(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The request each applied config policy ran with, read back from the stack's state."""
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout)
    requests = {}
    for res in state.get("deployment", {}).get("resources") or []:
        if res.get("type") == POLICY_COMMAND and "samakia:fabric:ConfigPolicy" in res.get("parent", ""):
            stdin = (res.get("inputs") or {}).get("stdin")
            if isinstance(stdin, str):
                requests[res["urn"].rsplit("::", 1)[-1]] = json.loads(stdin)
    return requests


def config_drift_check(ws: Workspace, only: list[str] | None = None) -> int:
    """Ansible check mode on every configured container (or ``only`` those policies).

    Names each task that would change; non-zero on any drift. Containers are checked in parallel.
    """
    from ops.ansible_run import AnsibleRunError, Recap
    from ops.apply_policy import run

    requests = {n: r for n, r in policy_requests(ws).items() if only is None or n in only}
    if only and set(only) - set(requests):
        print(f"ERROR: no applied config policy named {', '.join(sorted(set(only) - set(requests)))}")
        return 2
    if not requests:
        print("configuration drift: no applied config policy in this stack")
        return 0

    def check(request: dict[str, Any]) -> Recap | str:
        try:
            return run(request, check=True, base=ws.project_dir)
        except AnsibleRunError as err:
            return str(err)

    with ThreadPoolExecutor(max_workers=min(4, len(requests))) as pool:
        recaps = dict(zip(requests, pool.map(check, requests.values()), strict=True))
    drifted = 0
    for name, recap in sorted(recaps.items()):
        if isinstance(recap, str):
            print(f"ERROR: {name}: {recap}")
            drifted += 1
            continue
        if not recap.succeeded:
            detail = "\n".join(m for h in recap.hosts.values() for m in h.messages) or recap.stderr_tail
            print(f"ERROR: {name}: check run failed\n{recap.summary()}\n{detail}")
            drifted += 1
            continue
        for task in recap.changed_tasks:
            print(f"DRIFT: {name}: {task.describe()}")
        drifted += bool(recap.changed)
    print("configuration drift: none" if not drifted else f"configuration drift: {drifted} container(s)")
    return 1 if drifted else 0


def _steps(preview_json: str) -> list[dict[str, Any]]:
    try:
        return list(json.loads(preview_json or "{}").get("steps", []))
    except ValueError:
        return []
