"""Proxmox misbehaving as a real cluster does, injected into the local Proxmox on a seeded schedule.

Composed into ``LocalPve`` (ops/localpve/server.py) as a mixin; off unless ``start_chaos`` is
called with a :class:`~ops.localpve.chaos_schedule.ChaosSchedule` (the tests do; ``make up`` does
when ``SAMAKIA_PVE_CHAOS`` holds one). Nothing here depends on the lane: every lane's local
Proxmox takes the same schedule.

The shapes are PVE's own, as upstream's client reads them (bpg
``proxmox/api/client.go``, ``validateResponseCode``): an HTTP status whose reason is the message's
first line, and a JSON body ``{"data": null, "message": "...\\n"}``, which upstream turns into
``received an HTTP 500 response - Reason: <message>``. A task that fails after it was accepted
answers the POST with its UPID as usual; its status then says ``stopped`` with ``exitstatus`` the
error, and its log ends ``TASK ERROR: <error>``, which upstream fetches and reports after polling
the status once a second (``proxmox/nodes/tasks/tasks.go``, ``WaitForTask`` and
``taskFailedResult``). A slow task stays ``running`` for its extra seconds while the API answers
everything else. A backup is a ``vzdump`` task of ``root@pam`` that sets the container's
``lock: backup`` for its duration; PVE's checks then refuse config changes and container tasks
with ``CT is locked (backup)`` (fakepve's, from PVE::AbstractConfig ``check_lock``), and
``status/current`` shows the lock, which upstream polls after a config update
(``proxmox/nodes/containers/containers.go``, ``WaitForContainerConfigUnlock``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from fakepve.model import TaskError
from fakepve.server import error

from ops.localpve.chaos_schedule import ChaosLedger, ChaosSchedule, Injected


class PveChaos:
    """Mixin for ``LocalPve``: requests and tasks disturbed by the schedule in force, if any."""

    tasklog: list[dict[str, Any]]

    @property
    def chaos_ledger(self) -> ChaosLedger | None:
        return getattr(self, "_chaos_ledger", None)

    async def start_chaos(self, schedule: ChaosSchedule) -> None:
        """Put ``schedule`` in force (on the local PVE's loop); a backup it names starts now."""
        self._chaos_ledger: ChaosLedger | None = ChaosLedger(schedule)
        if schedule.backup is not None:
            upid = await self.start_backup(schedule.backup.vmid, schedule.backup.seconds)
            self._chaos_ledger.injected.append(Injected("backup", f"vzdump:{schedule.backup.vmid}", upid))

    def stop_chaos(self) -> list[Injected]:
        """No more faults from now on (a running backup runs to its end); what was injected."""
        ledger = self.chaos_ledger
        self._chaos_ledger = None
        return list(ledger.injected) if ledger else []

    def injected(self) -> list[Injected]:
        ledger = self.chaos_ledger
        return list(ledger.injected) if ledger else []

    # ------------------------------------------------------------------ API calls

    async def _answer(self, request: Any, handler: Any, generic: Any, path_node: Any) -> Any:
        ledger = self.chaos_ledger
        if ledger is not None:
            how = ledger.unreachable(request.method, request.path, path_node)
            if how == "595":
                # pveproxy forwards a call for another node and cannot reach it.
                return error(595, "No route to host")
            if how == "reset":
                # pveproxy restarting: the connection closes without an answer (a Go client sees
                # EOF or "connection reset", a *url.Error, which upstream's client retries on GETs
                # only: proxmox/api/client.go, DoRequest, retry.RetryIf).
                request.transport.close()
                return web.Response(status=502)
            message = ledger.transient(request.method, request.path)
            if message is not None:
                return error(500, message)
        return await super()._answer(request, handler, generic, path_node)  # type: ignore[misc]

    # ------------------------------------------------------------------ tasks

    async def task(self, node: str, ttype: str, tid: Any, user: str, body: Any, **kwargs: Any) -> Any:
        ledger = self.chaos_ledger
        parent: Callable[..., Awaitable[Any]] = super().task  # type: ignore[misc]
        if ledger is None:
            return await parent(node, ttype, tid, user, body, **kwargs)
        slow, failed = ledger.task(ttype, str(tid))
        if not slow and failed is None:
            return await parent(node, ttype, tid, user, body, **kwargs)

        async def disturbed() -> Any:
            if slow:
                await asyncio.sleep(slow)
            if failed is not None:
                self._fail_before_work(ttype, tid)
                raise TaskError(failed)
            return await body()

        started = parent(node, ttype, tid, user, disturbed, **kwargs)
        return await self._in_background(started, ttype, str(tid)) if slow else await started

    def _fail_before_work(self, ttype: str, tid: Any) -> None:
        """A create whose worker died: PVE removes the container it had locked for the create."""
        if ttype != "vzcreate":
            return
        ct = self.ct(int(tid))  # type: ignore[attr-defined]
        if ct is not None and ct.lock == "create":
            self._drop(ct)  # type: ignore[attr-defined]

    async def _in_background(self, started: Awaitable[Any], ttype: str, tid: str) -> str:
        """Run a task on after answering with its UPID (the local PVE runs tasks inline otherwise)."""
        before = len(self.tasklog)
        future = asyncio.ensure_future(started)
        running: set[asyncio.Future[Any]] = self.__dict__.setdefault("_chaos_running", set())
        running.add(future)
        future.add_done_callback(running.discard)
        while not future.done():
            record = next((r for r in self.tasklog[before:] if r["type"] == ttype and r["id"] == tid), None)
            if record is not None:
                return str(record["upid"])
            await asyncio.sleep(0)
        return str(future.result())

    # ------------------------------------------------------------------ backups

    async def start_backup(self, vmid: int, seconds: float) -> str:
        """A ``vzdump`` of ``vmid`` (snapshot mode: the container keeps running) holding ``lock: backup``."""
        ct = self.ct(vmid)  # type: ignore[attr-defined]
        if ct is None:
            raise ValueError(f"no CT {vmid} to back up")
        locked = asyncio.Event()

        async def body() -> str:
            ct.lock = "backup"
            locked.set()
            try:
                await asyncio.sleep(seconds)
            finally:
                if ct.lock == "backup":
                    ct.lock = None
            return f"INFO: Finished Backup of VM {vmid}"

        log = [
            f"INFO: starting new backup job: vzdump {vmid} --mode snapshot --storage local",
            f"INFO: Starting Backup of VM {vmid} (lxc)",
        ]
        parent: Callable[..., Awaitable[Any]] = super().task  # type: ignore[misc]
        started = parent(ct.node, "vzdump", vmid, "root@pam", body, vm=ct, lock=False, log=log)
        upid = await self._in_background(started, "vzdump", str(vmid))
        await locked.wait()
        return upid
