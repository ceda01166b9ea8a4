"""The state backend's stack lock: found, explained, and cleared only the documented way.

A ``pulumi up`` that is killed (runner lost, job cancelled, OOM: a SIGKILL) never runs the code
that removes its lock, so the next run stops with "the stack is currently locked". This module
finds that lock, says who holds it and what to do, and clears it with ``pulumi cancel`` (the
engine's own way: for a DIY backend ``CancelCurrentUpdate`` deletes the stack's lock files and
nothing else; pulumi/pkg v3.274.1 backend/diy/backend.go) only when it is provably stale: taken
on this host by a process that no longer runs. A lock held by a live process, or taken on
another host, is never cleared automatically: the run stops and names it (docs/runbooks/locks.md).

Backends plug in through :func:`register`: a finder reads a backend's locks for one stack. The
file backend (``file://``) is here; an object-store backend (``s3://``) registers its own finder
reading the same lock documents from its bucket.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from fabric.errors import InputError

LOCK_DIR = (".pulumi", "locks", "organization")
"""Where a DIY backend keeps a stack's locks: ``<backend>/.pulumi/locks/organization/<project>/<stack>/``
(pulumi/pkg v3.274.1 backend/diy/lock.go, ``stackLockDir``; project-scoped stacks are
``organization/<project>/<stack>``)."""


@dataclass(frozen=True)
class StackLock:
    """One lock document, as the backend wrote it (backend/diy/lock.go, ``lockContent``)."""

    where: str
    """The lock's location in the backend (a path or an object key), for the operator."""
    pid: int
    username: str
    hostname: str
    timestamp: str

    def stale(self, this_host: str | None = None, alive: Callable[[int], bool] | None = None) -> bool:
        """Provably stale: taken on this host by a process that no longer runs (or is no engine)."""
        host = this_host if this_host is not None else socket.gethostname()
        return self.hostname == host and not (alive or engine_alive)(self.pid)

    def describe(self) -> str:
        return f"{self.where}: taken by {self.username}@{self.hostname} (pid {self.pid}) at {self.timestamp}"


def engine_alive(pid: int) -> bool:
    """Does ``pid`` run a Pulumi engine? A reused pid running something else does not hold the lock."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm.startswith("pulumi")


class LockFinder(Protocol):
    """Reads one backend's locks for one stack (``project``/``stack``)."""

    def __call__(self, backend_url: str, project: str, stack: str) -> list[StackLock]: ...


def file_locks(backend_url: str, project: str, stack: str) -> list[StackLock]:
    """The locks of a ``file://`` backend: one JSON document per lock, named by the run's lock id."""
    root = Path(urlparse(backend_url).path)
    folder = root.joinpath(*LOCK_DIR, project, stack)
    found = []
    for doc in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        body = json.loads(doc.read_text())
        found.append(
            StackLock(
                where=str(doc),
                pid=int(body.get("pid", 0)),
                username=str(body.get("username", "?")),
                hostname=str(body.get("hostname", "?")),
                timestamp=str(body.get("timestamp", "?")),
            )
        )
    return found


FINDERS: dict[str, LockFinder] = {"file": file_locks}


def register(scheme: str, finder: LockFinder) -> None:
    """Teach the runner another backend's locks (e.g. ``register("s3", s3_locks)``)."""
    FINDERS[scheme] = finder


def find_locks(env: Mapping[str, str], project: str, stack: str) -> list[StackLock]:
    """The stack's locks in the backend ``PULUMI_BACKEND_URL`` names (none for a backend without a finder)."""
    url = env.get("PULUMI_BACKEND_URL", "")
    finder = FINDERS.get(urlparse(url).scheme)
    return finder(url, project, stack) if finder else []


def explain(stack: str, locks: list[StackLock]) -> str:
    """What the operator reads when a lock stops the run: who holds it and what to do."""
    lines = [f"stack '{stack}' is locked by {len(locks)} lock(s) in its state backend:"]
    lines += [f"  {lock.describe()}" for lock in locks]
    lines.append(
        "If that run is still going (its pid alive on its host, or its CI job running), wait for it. "
        "If it is gone (killed runner, cancelled job), clear the lock, which keeps the state as it is: "
        f"make unlock STACK={stack}  (pulumi cancel --stack {stack} --yes), then run the apply again; "
        "see docs/runbooks/locks.md"
    )
    return "\n".join(lines)


def stale_or_stop(stack: str, locks: list[StackLock], this_host: str | None = None) -> bool:
    """True when there are locks and every one is provably stale; raise naming them when any is not."""
    if not locks:
        return False
    if all(lock.stale(this_host) for lock in locks):
        return True
    raise InputError(explain(stack, locks))


def lock_report(env: Mapping[str, str], project: str, stack: str) -> str:
    """One paragraph for ``make unlock``: the locks found, or that there is none."""
    locks = find_locks(env, project, stack)
    if not locks:
        return f"stack '{stack}': no lock in its state backend"
    state = "stale: their process is gone" if all(lock.stale() for lock in locks) else "at least one may be live"
    return "\n".join([f"stack '{stack}': {len(locks)} lock(s), {state}", *(f"  {lock.describe()}" for lock in locks)])


def project_name(project_dir: Path) -> str:
    """The ``name`` in Pulumi.yaml (the lock path's project part)."""
    for line in (project_dir / "Pulumi.yaml").read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise InputError(f"{project_dir / 'Pulumi.yaml'}: no 'name'")
