"""The local Proxmox's volume semantics: what a container's destroy frees, and what it keeps.

fakepve's destroy drops a container's config and nothing else. A real node frees the volumes
the container owns and nothing more: ``PVE::LXC::destroy_lxc_container`` (pve-container,
``src/PVE/LXC.pm``) walks the config's rootfs, mpN and unusedN entries, skips bind and device
mounts, and frees a volume only when its owner (the VMID in its name, ``vm-<vmid>-...``,
``subvol-<vmid>-...`` or ``<vmid>/...`` on directory storage) is the container being destroyed.
A data volume owned by the fabric's reserved ``volumeOwner`` VMID therefore survives every
destroy of the container it is mounted in; that is what this mixin reproduces.

It also gives the local fabric a directory storage for container volumes (``local-data``, as an
operator adds one on a real node) with a directory per volume on disk, and records an event log
of container creates and destroys that the rolling-replacement proof reads.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

DATA_STORAGE = "local-data"
UNPRIVILEGED_ROOT = 100000
_OWNER = re.compile(r"^(?:\d+/)?(?:vm|base|subvol|basevol)-(\d+)-")
_MOUNT_KEY = re.compile(r"^(rootfs|mp\d+|unused\d+)$")


def volume_owner(volid: str) -> int | None:
    """The owner VMID of ``storage:volname`` as PVE parses it, or None (a bind mount, a template)."""
    if volid.startswith("/") or ":" not in volid:
        return None
    found = _OWNER.match(volid.split(":", 1)[1])
    return int(found[1]) if found else None


class VolumeSemantics:
    """Mixin for ``LocalPve``: owned volumes go with their container, foreign ones stay."""

    storage_dir: Path
    storages: dict[str, Any]
    events: list[dict[str, Any]]

    def _init_volumes(self) -> None:
        self.events = []
        self.storages.setdefault(
            DATA_STORAGE,
            {"type": "dir", "active": 1, "content": "images,rootdir", "files": set(), "path": "/srv/local-data"},
        )

    def volume_dir(self, volid: str) -> Path:
        """Where a volume's files live on this host (the directory a container mounts)."""
        sid, volname = volid.split(":", 1)
        return self.storage_dir / "volumes" / sid / volname.replace("/", "_")

    def event(self, kind: str, vmid: int) -> None:
        self.events.append({"t": time.monotonic(), "event": kind, "vmid": int(vmid)})

    async def _content_create(self, v: Any, user: Any) -> Any:
        volid = await super()._content_create(v, user)  # type: ignore[misc]
        path = self.volume_dir(volid)
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # The one-time step docs/stateful.md asks of an operator on a real node: the volume's
            # root belongs to the unprivileged containers' mapped root (idmap 0 100000 65536).
            os.chown(path, UNPRIVILEGED_ROOT, UNPRIVILEGED_ROOT)
        return volid

    async def _content_delete(self, v: Any, user: Any) -> Any:
        result = await super()._content_delete(v, user)  # type: ignore[misc]
        volume = v["volume"] if ":" in v["volume"] else f"{v['storage']}:{v['volume']}"
        if volume.split(":", 1)[1] not in self.storages.get(volume.split(":", 1)[0], {}).get("volumes", {}):
            shutil.rmtree(self.volume_dir(volume), ignore_errors=True)
        return result

    def _free_owned_volumes(self, ct: Any) -> None:
        """PVE's destroy: free the volumes this container owns; keep bind mounts and foreign volumes."""
        for key, value in dict(getattr(ct, "config", {}) or {}).items():
            if not _MOUNT_KEY.match(key):
                continue
            volid = str(value).split(",", 1)[0]
            if volume_owner(volid) != ct.vmid:
                continue
            sid, volname = volid.split(":", 1)
            self.storages.get(sid, {}).get("volumes", {}).pop(volname, None)
            shutil.rmtree(self.volume_dir(volid), ignore_errors=True)

    def _drop(self, ct: Any) -> None:
        # fakepve calls _drop for a destroyed container and for a create that failed.
        if getattr(ct, "config", {}).get("lock") != "create":
            self._free_owned_volumes(ct)
            self.event("destroyed", ct.vmid)
        super()._drop(ct)  # type: ignore[misc]

    async def _start_steps(self, ct: Any, user: Any, skiplock: bool = False) -> Any:
        result = await super()._start_steps(ct, user, skiplock)  # type: ignore[misc]
        self.event("started", ct.vmid)
        return result

    def mounts(self, vmid: int) -> dict[str, Path]:
        """Path inside container -> host directory, for the container's volume mount points."""
        ct = next((c for c in getattr(self, "cts", []) if c.vmid == vmid), None)
        out = {}
        for key, value in (getattr(ct, "config", {}) or {}).items():
            if key.startswith("mp"):
                volid, *options = str(value).split(",")
                path = dict(o.split("=", 1) for o in options if "=" in o).get("mp")
                if path and ":" in volid:
                    out[path] = self.volume_dir(volid)
                    out[path].mkdir(parents=True, exist_ok=True)  # a volume PVE allocated with the container
        return out
