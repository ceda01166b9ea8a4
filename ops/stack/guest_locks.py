"""A container locked by another Proxmox task (a backup, above all) before an apply: wait a while, or stop.

The nightly ``vzdump`` holds a container's config lock (``lock: backup``) for minutes; a snapshot,
a mount or a migration does too. PVE then refuses a config change with ``CT is locked (backup)``,
and upstream's provider does not wait for it: its config PUT retries only on "got timeout"
(bpg ``proxmox/nodes/containers/containers.go``, ``UpdateContainer``), and a create or delete
retries a 5xx three times within a few seconds (``proxmox/retry/retry.go``, ``NewTaskOperation``);
it polls for the lock to go only after its own update (``WaitForContainerConfigUnlock``). A rolling
replace that met the lock half-way would have taken one member of a group down and then failed on
the next.

So before an apply the runner reads every container the state holds (``status/current`` shows
the lock) and waits, up to ``SAMAKIA_LOCK_WAIT_S`` seconds (default 300), for the locks to go. If
one is still held, the run stops before the engine changes anything, naming the container, the
lock and the task that holds it (the node's running task for that VMID: its type, user and UPID).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fabric.errors import InputError
from fabric.tokens import CONTAINER
from providers.pve_api import PveApi

LOCK_WAIT_ENV = "SAMAKIA_LOCK_WAIT_S"
DEFAULT_LOCK_WAIT_S = 300.0


@dataclass(frozen=True)
class GuestLock:
    name: str
    vmid: int
    node: str
    lock: str
    holder: str
    """The running task that holds it (``vzdump by root@pam, UPID:...``), or what is known."""

    def describe(self) -> str:
        return f"{self.name} (CT {self.vmid} on {self.node}) is locked ({self.lock}) by {self.holder}"


def state_containers(state: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(name, vmid, node) of each container the state holds."""
    out = []
    for res in (state.get("deployment") or {}).get("resources") or []:
        if res.get("type") != CONTAINER:
            continue
        outputs, inputs = res.get("outputs") or {}, res.get("inputs") or {}
        vmid = int(outputs.get("vmId") or inputs.get("vmId") or res.get("id") or 0)
        node = str(outputs.get("nodeName") or inputs.get("nodeName") or "")
        if vmid and node:
            out.append((str(res["urn"]).rsplit("::", 1)[-1], vmid, node))
    return out


def _holder(api: PveApi, node: str, vmid: int) -> str:
    try:
        running = api.get(f"/nodes/{node}/tasks", source="active", vmid=vmid)
    except Exception:
        return "a task the node's task list did not show"
    for task in running or []:
        if str(task.get("id")) == str(vmid):
            return f"task {task.get('type')} of {task.get('user')} ({task.get('upid')})"
    return "no running task (a lock left behind: `pct unlock` on the node clears it)"


def _lock_of(api: PveApi, node: str, vmid: int) -> str | None:
    try:
        return api.get(f"/nodes/{node}/lxc/{vmid}/status/current").get("lock") or None
    except Exception:  # a container that cannot be read is the refresh's business, not this check's
        return None


def current_locks(api: PveApi, containers: list[tuple[str, int, str]]) -> list[GuestLock]:
    locks = []
    for name, vmid, node in containers:
        lock = _lock_of(api, node, vmid)
        if lock:
            locks.append(GuestLock(name, vmid, node, str(lock), _holder(api, node, vmid)))
    return locks


def lock_wait_s(env: Mapping[str, str]) -> float:
    raw = env.get(LOCK_WAIT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_LOCK_WAIT_S
    except ValueError as err:
        raise InputError(f"{LOCK_WAIT_ENV} must be a number of seconds, not {raw!r}") from err


def wait_for_locks(
    state: dict[str, Any],
    api: Callable[[], PveApi],
    wait_s: float,
    log: Callable[[str], None] = print,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once no container of the state is locked; stop the run naming the locks after ``wait_s``."""
    containers = state_containers(state)
    if not containers:
        return
    deadline = clock() + wait_s
    announced: set[tuple[int, str]] = set()
    while True:
        locks = current_locks(api(), containers)
        if not locks:
            return
        for lock in locks:
            if (lock.vmid, lock.lock) not in announced:
                announced.add((lock.vmid, lock.lock))
                log(f"waiting (up to {wait_s:.0f} s, {LOCK_WAIT_ENV}): {lock.describe()}")
        if clock() >= deadline:
            lines = "; ".join(lock.describe() for lock in locks)
            raise InputError(
                f"{lines}. The apply waited {wait_s:.0f} s and stopped before changing anything. Wait for "
                "that task to end (the node's task list shows it), then run the apply again"
            )
        sleep(min(2.0, max(0.1, deadline - clock())))
