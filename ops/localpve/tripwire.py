"""Tripwires: hold one API call of the local Proxmox so a test can act at an exact phase of an apply.

The fault tier kills the engine (SIGKILL) in the middle of a ``pulumi up``: while a container is
created, between the two halves of a replace, while a data volume is mounted. A sleep would hit
a random phase on a loaded machine; a tripwire makes the phase exact. A test arms one on a method
and path suffix; the first matching request sets ``tripped`` and then waits (on the local PVE's
event loop, so every other request keeps being answered) until the test calls ``release``:

- ``after=True``: PVE has done the call (a create task runs on, as on a node whose client went
  away) and only the answer is held: the engine is killed not knowing the container exists;
- ``after=False``: the call is held before PVE sees it, and dropped on release: the engine is
  killed before the call was made (between the two halves of a replace, say).

Arm and release from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from fakepve.server import error


@dataclass
class Tripwire:
    """One armed call: ``method`` and the end of its path (``/nodes/pve1/lxc``)."""

    method: str
    suffix: str
    after: bool = True
    tripped: threading.Event = field(default_factory=threading.Event)
    """Set when the call arrived: the engine is now waiting on it."""
    released: threading.Event = field(default_factory=threading.Event)
    path: str = ""
    """The path that tripped it."""

    def matches(self, method: str, path: str) -> bool:
        return not self.path and method == self.method and path.endswith(self.suffix)

    def wait(self, timeout: float) -> None:
        if not self.tripped.wait(timeout):
            raise TimeoutError(f"no {self.method} ...{self.suffix} within {timeout:.0f}s")

    def release(self) -> None:
        self.released.set()


class Tripwires:
    """Mixin for ``LocalPve``: requests matching an armed tripwire wait for its release."""

    tripwires: list[Tripwire]

    def arm(self, method: str, suffix: str, *, after: bool = True) -> Tripwire:
        wire = Tripwire(method, suffix, after)
        self.tripwires = [*getattr(self, "tripwires", []), wire]
        return wire

    async def _answer(self, request: Any, handler: Any, generic: Any, path_node: Any) -> Any:
        wire = next((w for w in getattr(self, "tripwires", []) if w.matches(request.method, request.path)), None)
        if wire is None:
            return await super()._answer(request, handler, generic, path_node)  # type: ignore[misc]
        wire.path = request.path
        answer = await super()._answer(request, handler, generic, path_node) if wire.after else None  # type: ignore[misc]
        wire.tripped.set()
        while not wire.released.is_set():
            await asyncio.sleep(0.05)
        self.tripwires = [w for w in self.tripwires if w is not wire]
        return answer if answer is not None else error(599, "the client went away before this call was made")
