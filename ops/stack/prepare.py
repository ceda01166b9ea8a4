"""What the stack runner does before every apply, so that a killed or disturbed last run needs no manual step.

1. **Lock** (``ops.stack.locks``): a lock left by a killed run on this host is cleared with
   ``pulumi cancel``; any other lock stops the run, naming who holds it and what to do.
2. **Lost nodes** (``ops.stack.lost_nodes``), before anything refreshes: resources recorded on a
   node that does not answer are forgotten when the stack file moved them, or stop the run.
3. **Pending operations** (``ops.stack.recovery``): each pending create is adopted (provably ours)
   or cleared with ``pulumi refresh``; other pending operations are read back by that refresh.
4. **Data volumes** (``ops.stack.volume_check``): a volume the state knows but PVE no longer holds
   stops the run, unless the stack file accepts it empty; then it is allocated again, empty, under
   the same id, before the preview.
5. **Locked containers** (``ops.stack.guest_locks``): a container another Proxmox task holds
   locked (a backup) is waited for, up to ``SAMAKIA_LOCK_WAIT_S``; then the run stops, naming the
   lock and its holder, before the engine changes anything.

A pull request's preview (``preview_workspace``) runs the same checks without changing anything,
on a scratch copy of the state when containers are lost with their node, so the reviewed plan is
the apply's own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fabric.errors import InputError
from fabric.tokens import CONTAINER
from ops.stack.guest_locks import lock_wait_s, wait_for_locks
from ops.stack.locks import engine_alive, find_locks, lock_report, project_name, stale_or_stop
from ops.stack.lost_nodes import LostResource, Placement, find_lost, forget_lost, forgotten_copy
from ops.stack.pve_access import stack_api
from ops.stack.recovery import recover, stack_file_of
from ops.stack.volume_check import StateVolume, accepted_empty, accepted_in, check_volumes, stack_intent
from ops.stack.workspace import Workspace
from providers.pve_api import PveApi


def clear_stale_lock(ws: Workspace, log: Callable[[str], None] = print) -> bool:
    """Clear the stack's lock when every lock is provably stale; raise (naming them) when one may be live."""
    locks = find_locks(ws.env, project_name(ws.project_dir), ws.stack)
    if not stale_or_stop(ws.stack, locks):
        return False
    for lock in locks:
        log(f"recovery: clearing a stale lock ({lock.describe()}: that process is gone)")
    ws.pulumi("cancel", "--yes")
    return True


def unlock(ws: Workspace) -> int:
    """``make unlock``: report the stack's locks, then clear them the documented way (``pulumi cancel``).

    The operator runs it after checking that the run holding the lock is gone (its CI job ended,
    its runner lost). A lock this host can see is held by a live engine is never cleared here.
    """
    print(lock_report(ws.env, project_name(ws.project_dir), ws.stack))
    locks = find_locks(ws.env, project_name(ws.project_dir), ws.stack)
    live = [lock for lock in locks if lock.hostname == socket.gethostname() and engine_alive(lock.pid)]
    if live:
        raise InputError(f"a live engine on this host holds the lock ({live[0].describe()}): wait for it to end")
    ws.pulumi("cancel", "--yes")
    print(f"stack '{ws.stack}': unlocked; the state is unchanged (run the apply again: make up STACK={ws.stack})")
    return 0


def _state(ws: Workspace) -> dict[str, Any]:
    return dict(json.loads(ws.pulumi("stack", "export", capture=True).stdout or "{}"))


def pve_api(ws: Workspace) -> Callable[[], PveApi]:
    """The stack's PVE API, made on first use and kept."""
    return functools.cache(lambda: stack_api(stack_file_of(ws), ws.env))


def _placement(ws: Workspace) -> Placement:
    intent = stack_intent(stack_file_of(ws), ws.project_dir, ws.stack)
    containers = {name: spec.node for name, spec in intent.containers.items()}
    return Placement(containers, frozenset(intent.nodes), frozenset(accepted_in(intent)))


def _lost(ws: Workspace, state: dict[str, Any], api: Callable[[], PveApi]) -> list[LostResource]:
    return find_lost(state, api, lambda: _placement(ws))


def _missing_accepted(
    ws: Workspace, state: dict[str, Any], api: Callable[[], PveApi], log: Callable[[str], None]
) -> list[StateVolume]:
    return check_volumes(state, api, lambda: accepted_empty(stack_file_of(ws), ws.project_dir, ws.stack), log)


def reallocate(ws: Workspace, volumes: list[StateVolume], log: Callable[[str], None]) -> None:
    """Allocate each accepted-empty volume again under the same id, as ``DataVolume``'s create does.

    Not ``--replace`` of its command: that creates the new volume and then runs the old command's
    delete, which frees a volume by its name, the new one's too, and leaves the container mounting
    a volume PVE no longer holds. Run in place, the create finds or allocates the one volume its
    request names; the state's volume id stays true, and the plan has nothing to replace.
    """
    for vol in volumes:
        log(f"recovery: {vol.label()} is gone and accepted empty (acceptEmpty): allocating it again, empty")
        made = subprocess.run(
            [sys.executable, "-m", "fabric.runtime.volume", "create"],
            input=json.dumps(vol.request),
            env=ws.env,
            cwd=ws.project_dir,
            text=True,
            capture_output=True,
            check=False,
        )
        if made.returncode != 0 or made.stdout.strip() != vol.volid:
            raise InputError(f"{vol.label()}: allocating it again failed: {(made.stderr or made.stdout).strip()}")


def prepare_apply(ws: Workspace, log: Callable[[str], None] = print) -> None:
    """Lock, lost nodes, pending operations, data volumes, locked containers, in that order."""
    clear_stale_lock(ws, log)
    api = pve_api(ws)
    state = _state(ws)
    lost = _lost(ws, state, api)
    if lost:
        forget_lost(ws, state, lost, api(), log)
    recover(ws, api, log)
    state = _state(ws)
    reallocate(ws, _missing_accepted(ws, state, api, log), log)
    wait_for_locks(state, api, lock_wait_s(ws.env), log)


@dataclass
class PreviewPlace:
    """Where a read-only preview runs, and what it must say about lost containers."""

    ws: Workspace
    lost: list[LostResource] = field(default_factory=list)

    def lost_entries(self) -> list[dict[str, Any]]:
        """For the preview document (``plan_summary.LOST_KEY``): what moves, from which lost node."""
        return [
            {"urn": c.urn, "name": c.name, "vmid": c.vmid, "node": c.node, "movedTo": c.moved_to}
            for c in self.lost
            if c.type == CONTAINER
        ]


@contextlib.contextmanager
def preview_workspace(ws: Workspace, log: Callable[[str], None] = print) -> Iterator[PreviewPlace]:
    """The workspace a pull request's preview runs in: the stack itself, or, when containers are lost
    with their node, a scratch copy with them forgotten as the apply will. Nothing is changed."""
    api = pve_api(ws)
    state = _state(ws)
    lost = _lost(ws, state, api)
    _missing_accepted(ws, state, api, log)  # a gone volume not accepted empty stops the PR check too
    if not lost:
        yield PreviewPlace(ws)
        return
    for container in lost:
        log(f"lost node: {container.line()}")
    log("lost node: previewing on a copy of the state with them forgotten, as the apply will (the state is unchanged)")
    with forgotten_copy(ws, state, lost) as copy:
        yield PreviewPlace(copy, lost)
