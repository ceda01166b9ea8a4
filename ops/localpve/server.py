"""The embedded local fabric's Proxmox: ``fakepve`` on loopback, made faithful where we rely on it.

fakepve answers the PVE 9 API but its ``download-url`` only records a file. Ours fetches the
URL and verifies the checksum as a real node does, so the local fabric proves that the sha256
in the catalog is the one the build produced, and keeps the template under a storage directory
where the local container roots are unpacked from. Its state is saved on exit and loaded on
start, so ``make up`` then ``make preview`` see the same fabric.

Credentials come from the environment only (never argv): ``SAMAKIA_PVE_PASSWORD`` for
root@pam and ``SAMAKIA_PVE_TOKEN`` (``user@realm!id=secret``) for the API token.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fakepve import FakePve
from fakepve.certs import make_cert
from fakepve.model import TaskError

from ops.localpve.fidelity import PveFidelity
from ops.localpve.volumes import VolumeSemantics

NODES = ("pve1", "pve2")


class LocalPve(PveFidelity, VolumeSemantics, FakePve):  # type: ignore[misc]
    """fakepve whose template downloads are real: fetched, checksum-verified, kept on disk; volumes
    as on PVE; HA, roles and tokens as ``ops.localpve.fidelity`` describes."""

    def __init__(self, storage_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_fidelity()
        self.storage_dir = storage_dir
        for node in NODES:
            self.add_node(node)
        self._init_volumes()

    def template_path(self, name: str) -> Path:
        return self.storage_dir / "template" / "cache" / name

    async def _download_url(self, request: Any) -> Any:
        from fakepve.server import USER, ok, params

        form = dict(await params(request))
        url, filename = form.get("url", ""), form.get("filename", "")
        checksum, algorithm = form.get("checksum"), form.get("checksum-algorithm")
        if form.get("content") != "vztmpl" or not url.startswith(("http://127.", "http://localhost")):
            return await super()._download_url(request)
        name = request.match_info["storage"]
        self._active_store(name, request.match_info["node"])
        user = request[USER]
        self.require(user, "/storage/" + name, "Datastore.AllocateTemplate")
        target = self.template_path(filename)

        async def body() -> None:
            data = await asyncio.to_thread(_fetch, url)
            if checksum and algorithm:
                got = hashlib.new(algorithm, data).hexdigest()
                if got != checksum.lower():
                    raise TaskError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
            self.store_file(name, filename, len(data), "vztmpl")

        upid = await self.task(
            request.match_info["node"], "download", name, user, body, log=[f"downloading {url} to {filename}"]
        )
        return ok(upid)

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


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (loopback mirror only)
        data: bytes = response.read()
        return data


def configure_credentials(pve: LocalPve, env: dict[str, str]) -> None:
    token = env.get("SAMAKIA_PVE_TOKEN")
    if token:
        token_id, secret = token.split("=", 1)
        pve.apitokens[token_id] = secret


class RunningPve:
    """A LocalPve served from a background thread with its own event loop (tests, the fabric runner)."""

    def __init__(self, state_dir: Path, password: str, host: str = "127.0.0.2", port: int = 8006) -> None:
        self.state_dir = state_dir
        self.pve = LocalPve(state_dir / "storage", user="root@pam", password=password, host=host, port=port)
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
        state = self.call(self.pve.snapshot)
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
