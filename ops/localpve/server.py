"""The embedded local fabric's Proxmox: ``fakepve`` on loopback, made faithful where we rely on it.

fakepve answers the PVE 9 API but its ``download-url`` only records a file. Ours fetches the
URL and verifies the checksum as a real node does, and keeps each node's templates apart
(``ops.localpve.node_templates``); the local container roots are unpacked from those files. Its
state is saved on exit and loaded on start, so ``make up`` then ``make preview`` see the same fabric.

With an :class:`~ops.localpve.lxc.LxcNode` attached (the local fabric always attaches one), its
containers are real LXC containers: every container task is followed by the matching LXC
operation (create unpacks the template, start renders the config and runs ``lxc-start``,
shutdown/stop/destroy stop and remove it), and every container read first looks at LXC, so
a container stopped or destroyed with ``lxc-*`` commands behind the API's back shows so.

Credentials come from the environment only (never argv): ``SAMAKIA_PVE_PASSWORD`` for
root@pam and ``SAMAKIA_PVE_TOKEN`` (``user@realm!id=secret``) for the API token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fakepve import FakePve
from fakepve.certs import make_cert
from fakepve.lxc import FakeCt
from fakepve.model import PveError, TaskError

from ops.localpve.chaos import PveChaos
from ops.localpve.fidelity import PveFidelity
from ops.localpve.lxc import BindMount, LxcError, LxcNode
from ops.localpve.node_loss import NodeLoss
from ops.localpve.node_templates import NodeTemplates
from ops.localpve.tripwire import Tripwires
from ops.localpve.volumes import VolumeSemantics

NODES = ("pve1", "pve2", "pve3")
"""pve3 holds nothing unless a stack places something there: the spare a lost node's containers move to."""


class LocalPve(PveChaos, NodeLoss, Tripwires, NodeTemplates, PveFidelity, VolumeSemantics, FakePve):  # type: ignore[misc]
    """fakepve whose template downloads are real and kept per node (``ops.localpve.node_templates``);
    volumes as on PVE; HA, roles and tokens as ``ops.localpve.fidelity`` describes; tripwires for
    the fault tier (``ops.localpve.tripwire``); Proxmox's own misbehaviour on a seeded schedule, off
    unless started (``ops.localpve.chaos``)."""

    def __init__(self, storage_dir: Path, lxc: LxcNode | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_fidelity()
        self._init_node_templates()
        self.storage_dir = storage_dir
        self.lxc = lxc
        self.bridges: dict[str, str] = {}
        """Node bridge (``vmbr0``) -> the host bridge standing for it."""
        self._create_params: dict[int, dict[str, Any]] = {}
        self._busy: set[int] = set()
        for node in NODES:
            self.add_node(node)
        self._init_volumes()

    # ------------------------------------------------------------------ real containers

    async def _lxc_create(self, user: str, v: dict[str, Any]) -> Any:
        # The create task provisions the root from these (they are not part of the PVE config).
        self._create_params[int(v["vmid"])] = dict(v)
        return await super()._lxc_create(user, v)

    async def task(self, node: str, ttype: str, tid: Any, user: str, body: Any, **kwargs: Any) -> Any:
        """Every container task is followed by LXC: the API's view of the container becomes real."""
        if self.lxc is None or not isinstance(kwargs.get("vm"), FakeCt):
            return await super().task(node, ttype, tid, user, body, **kwargs)
        vmid = int(tid)

        async def follow() -> Any:
            self._busy.add(vmid)
            try:
                try:
                    note = await body()
                except TaskError:
                    await self._follow_lxc(vmid, True)
                    raise
                await self._follow_lxc(vmid, False)
                return note
            finally:
                self._busy.discard(vmid)
                self._create_params.pop(vmid, None)

        return await super().task(node, ttype, tid, user, follow, **kwargs)

    async def _follow_lxc(self, vmid: int, failed: bool) -> None:
        """Make LXC match the API's view of ``vmid``; LXC commands run in worker threads."""
        lxc = self.lxc
        assert lxc is not None
        ct = self.ct(vmid)
        try:
            if ct is None or ct.lock == "create":
                if lxc.ct_dir(vmid).exists():
                    await asyncio.to_thread(lxc.destroy, vmid)
                return
            if not lxc.exists(vmid):
                params = self._create_params.get(vmid)
                if params is None:
                    raise LxcError(f"CT {vmid} has no root filesystem on this node")
                await asyncio.to_thread(self._provision, ct, params)
            running = (await asyncio.to_thread(lxc.states)).get(vmid) == "RUNNING"
            if ct.status == "running" and not running:
                try:
                    # Storage volumes (data volumes) mount from the directories the node keeps them in.
                    volumes = [BindMount(source, target) for target, source in self.mounts(vmid).items()]
                    await asyncio.to_thread(lxc.start, vmid, dict(ct.config), dict(self.bridges), volumes)
                except LxcError:
                    ct.status, ct.pid = "stopped", None
                    raise
            elif ct.status != "running" and running:
                await asyncio.to_thread(lxc.stop, vmid)
        except LxcError as err:
            if failed:
                return  # the task's own error is the one to report
            if ct is not None and self.ct(vmid) is ct and not lxc.exists(vmid):
                self._drop(ct)  # a create whose root could not be made leaves nothing behind
            raise TaskError(str(err)) from err

    def _provision(self, ct: Any, params: dict[str, Any]) -> None:
        assert self.lxc is not None
        volid = str(params.get("ostemplate", ""))
        template = self.node_template(ct.node, volid)
        if template is None:
            raise LxcError(f"volume '{volid}' does not exist on node '{ct.node}'")
        self.lxc.create(
            ct.vmid,
            template,
            unprivileged=bool(int(ct.config.get("unprivileged", 0) or 0)),
            ssh_keys=urllib.parse.unquote(str(params.get("ssh-public-keys", "") or "")),
            config=ct.config,
            bridges=self.bridges,
        )

    async def _ct_powerdown(self, ct: Any, timeout: Any, force: bool) -> None:
        """A clean shutdown is ``lxc-stop`` with a timeout, then a kill when forced (PVE's vm_stop)."""
        if self.lxc is not None and self.lxc.states().get(ct.vmid) == "RUNNING":
            try:
                await asyncio.to_thread(self.lxc.stop, ct.vmid, clean_timeout=float(timeout))
            except LxcError as err:
                if not force:
                    raise TaskError("container did not stop") from err
                await asyncio.to_thread(self.lxc.stop, ct.vmid)
        await super()._ct_powerdown(ct, 0, True)

    async def _update_config(self, ct: Any, user: str, values: Any, deletes: Any, reverts: Any) -> None:
        """Hot-plugged memory, swap and cores reach the running container's cgroup, as on PVE."""
        await super()._update_config(ct, user, values, deletes, reverts)
        if self.lxc is not None and ct.status == "running" and self.lxc.states().get(ct.vmid) == "RUNNING":
            try:
                await asyncio.to_thread(self.lxc.set_limits, ct.vmid, ct.config)
            except LxcError as err:
                raise PveError(500, str(err)) from err

    def observe(self) -> None:
        """Status is the truth: read every container's state from LXC (not while a task works on it)."""
        if self.lxc is None:
            return
        states = self.lxc.states()
        for ct in list(self.cts):
            if ct.vmid in self._busy or ct.lock == "create":
                continue
            state = states.get(ct.vmid)
            if state is None:
                self._drop(ct)  # its LXC container is gone: so is the container (destroyed outside)
            elif state == "RUNNING" and ct.status != "running":
                ct.status, ct.pid, ct.started_at = "running", next(self._ct_pids), time.time()
            elif state == "STOPPED" and ct.status == "running":
                ct.status, ct.pid = "stopped", None

    def _lxc_handler(self, fn: Any) -> Any:
        async def observed(user: str, values: Any) -> Any:
            self.observe()
            return await fn(user, values)

        return super()._lxc_handler(observed)

    def ct_resources(self, user: str, kind: Any = None) -> Any:
        self.observe()
        return super().ct_resources(user, kind)

    def teardown(self) -> None:
        """Remove every real container and bridge of this instance (the API state forgets them too)."""
        if self.lxc is not None:
            self.lxc.teardown()
        self.cts.clear()

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        cts = [
            {"vmid": g.vmid, "node": g.node, "status": g.status, "config": g.config, "pool": getattr(g, "pool", None)}
            for g in self.cts
        ]
        storages = {n: {"volumes": s.get("volumes", {})} for n, s in self.storages.items()}
        return {
            "cts": cts,
            "storages": storages,
            "pools": {k: sorted(v) for k, v in self.pools.items()},
            "ha": self.ha_resources,
            "nodeTemplates": self.node_templates_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for pool, members in state.get("pools", {}).items():
            self.pools[pool] = set(members)
        for ct in state.get("cts", []):
            name = ct["config"].get("hostname")
            self.add_ct(ct["vmid"], name, node=ct["node"], status=ct["status"], config=ct["config"])
        for sid, entry in state.get("ha", {}).items():
            self.ha_resources[sid] = dict(entry)
            for ct in self.cts:
                if f"ct:{ct.vmid}" == sid:
                    ct.ha_state = entry.get("state", "started")
        for name, store in state.get("storages", {}).items():
            if name in self.storages:
                self.storages[name].setdefault("volumes", {}).update(store.get("volumes", {}))
        self.restore_node_templates(state.get("nodeTemplates", {}))


def configure_credentials(pve: LocalPve, env: dict[str, str]) -> None:
    token = env.get("SAMAKIA_PVE_TOKEN")
    if token:
        token_id, secret = token.split("=", 1)
        pve.apitokens[token_id] = secret


class RunningPve:
    """A LocalPve served from a background thread with its own event loop (tests, the fabric runner)."""

    def __init__(
        self,
        state_dir: Path,
        password: str,
        host: str = "127.0.0.2",
        port: int = 8006,
        *,
        containers: bool = False,
        lxc_tag: str = "",
    ) -> None:
        self.state_dir = state_dir
        lxc = LxcNode(state_dir, tag=lxc_tag) if containers else None
        self.pve = LocalPve(state_dir / "storage", lxc=lxc, user="root@pam", password=password, host=host, port=port)
        self.pve.time_scale = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.cafile = state_dir / "pve-ca.pem"

    @property
    def url(self) -> str:
        return f"https://{self.pve.host}:{self.pve.port}"

    def start(self) -> RunningPve:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = self.state_dir / "pve-state.json"
        if state.exists():
            self.pve.restore(json.loads(state.read_text()))
        certdir = self.state_dir / "tls"
        certdir.mkdir(exist_ok=True)
        certfile, keyfile, _ = make_cert(str(certdir), hosts=(self.pve.host,))
        os.chmod(keyfile, 0o600)
        self.cafile.write_text(Path(certfile).read_text())
        self.thread.start()
        self.call(lambda: self.pve.start(certfile, keyfile))
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fake's loop (awaiting it if it returns a coroutine); thread-safe."""

        async def run() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=60)

    def save(self) -> None:
        state = self.call(self.pve.snapshot) if self.thread.is_alive() else self.pve.snapshot()
        (self.state_dir / "pve-state.json").write_text(json.dumps(state, indent=1, sort_keys=True))

    def stop(self, save: bool = True) -> None:
        if save:
            self.save()
        self.call(self.pve.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", type=Path, default=Path(".state/pve"))
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=8006)
    args = parser.parse_args()
    password = os.environ.get("SAMAKIA_PVE_PASSWORD", "")
    if not password:
        raise SystemExit("SAMAKIA_PVE_PASSWORD must be set (the fake's root@pam password)")
    running = RunningPve(args.state_dir, password, args.host, args.port)
    configure_credentials(running.pve, dict(os.environ))
    running.start()
    print(f"local Proxmox listening on {running.url} (CA: {running.cafile})", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    running.stop()


if __name__ == "__main__":
    main()
