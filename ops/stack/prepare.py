"""What the stack runner does before every apply, so that a killed or disturbed last run needs no manual step.

1. **Lock** (``ops.stack.locks``): a lock left by a killed run on this host is cleared with
   ``pulumi cancel``; any other lock stops the run, naming who holds it and what to do.
2. **Pending operations** (``ops.stack.recovery``): each pending create is adopted (provably ours)
   or cleared with ``pulumi refresh``; other pending operations are read back by that refresh.
3. **Data volumes** (``ops.stack.volume_check``): a volume the state knows but PVE no longer holds
   stops the run, unless the stack file accepts it empty; then the apply allocates it again.

It returns the extra ``--replace`` arguments the preview and the apply take.
"""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Callable

from fabric.errors import InputError
from ops.stack.locks import engine_alive, find_locks, lock_report, project_name, stale_or_stop
from ops.stack.pve_access import stack_api
from ops.stack.recovery import recover, stack_file_of
from ops.stack.volume_check import accepted_empty, check_volumes
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


def prepare_apply(ws: Workspace, log: Callable[[str], None] = print) -> list[str]:
    """Lock, pending operations, data volumes, in that order; the ``--replace`` arguments for the apply."""
    clear_stale_lock(ws, log)
    api: Callable[[], PveApi] = functools.cache(lambda: stack_api(stack_file_of(ws), ws.env))
    recover(ws, api, log)
    state = json.loads(ws.pulumi("stack", "export", capture=True).stdout or "{}")
    urns = check_volumes(state, api, lambda: accepted_empty(stack_file_of(ws), ws.project_dir, ws.stack))
    for urn in urns:
        log(f"recovery: {urn.rsplit('::', 1)[-1]} is gone and accepted empty (acceptEmpty): allocating it again")
    return [arg for urn in urns for arg in ("--replace", urn)]
