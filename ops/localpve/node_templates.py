"""The local Proxmox's template storage: one directory per node, downloads fetched and verified.

fakepve keeps one volume list per storage id for the whole cluster. On a real cluster,
``storage.cfg`` is shared but a directory storage without ``shared 1`` (``local``, at
``/var/lib/vz``) is a separate directory on every node (pve-storage, ``src/PVE/Storage/DirPlugin.pm``
and ``PVE::Storage::storage_check_enabled``): a template downloaded to pve1 is not on pve2, and
deleting pve2's copy leaves pve1's. The fabric declares one ``Image`` per node; with a single
list, pve2's adopt-and-redownload (``overwrite_unmanaged``) deleted the file pve1 was creating a
container from. This mixin keeps vztmpl content per node for non-shared storages, on disk and in
the API's listing, deletes and container creates.

fakepve's ``download-url`` only records a file; this one fetches the URL (loopback mirrors only)
and verifies the checksum as a node does, so the local fabric proves that the sha256 in the
catalog is the one the build produced.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from fakepve.model import TaskError

VZTMPL = "vztmpl/"


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (loopback mirror only)
        return bytes(response.read())


class NodeTemplates:
    """Mixin for ``LocalPve``: vztmpl volumes of a non-shared storage belong to one node each."""

    storage_dir: Path
    storages: dict[str, Any]
    node_templates: dict[str, dict[str, set[str]]]
    """node -> storage id -> vztmpl volume names present on that node's copy of the storage."""

    def _init_node_templates(self) -> None:
        self.node_templates = {}

    def template_path(self, node: str, name: str) -> Path:
        """The template file as node ``node`` keeps it (``/var/lib/vz/template/cache`` on a node)."""
        return self.storage_dir / "nodes" / node / "template" / "cache" / name

    def _node_local(self, sid: str) -> bool:
        store = self.storages.get(sid) or {}
        return not store.get("shared")

    def _on_node(self, node: str, sid: str) -> set[str]:
        return self.node_templates.setdefault(node, {}).setdefault(sid, set())

    def node_template(self, node: str, volid: str) -> Path | None:
        """The file of template ``volid`` on ``node``'s copy of its storage, or None when not there."""
        sid, _, volname = volid.partition(":")
        path = self.template_path(node, volname[len(VZTMPL) :])
        return path if volname in self._on_node(node, sid) and path.is_file() else None

    async def _content_list(self, v: Any, user: Any) -> Any:
        items = await super()._content_list(v, user)  # type: ignore[misc]
        sid, node = v["storage"], v["node"]
        if not self._node_local(sid):
            return items
        here = self._on_node(node, sid)
        volnames = [i["volid"].split(":", 1)[1] for i in items]
        return [i for i, name in zip(items, volnames, strict=True) if not name.startswith(VZTMPL) or name in here]

    async def _content_delete(self, v: Any, user: Any) -> Any:
        sid, volname, _volid, _store, vtype, _owner, _fmt = self._volume_target(v)  # type: ignore[attr-defined]
        node = v["node"]
        if vtype != "vztmpl" or not self._node_local(sid):
            return await super()._content_delete(v, user)  # type: ignore[misc]
        # PVE's permission for a template delete, checked before anything goes.
        self.require(user, "/storage/" + sid, "Datastore.Allocate")  # type: ignore[attr-defined]
        elsewhere = any(volname in self._on_node(n, sid) for n in self.node_templates if n != node)
        self._on_node(node, sid).discard(volname)
        self.template_path(node, volname[len(VZTMPL) :]).unlink(missing_ok=True)
        if not elsewhere:
            return await super()._content_delete(v, user)  # type: ignore[misc]
        # Other nodes keep their copies: only this node's file goes.

        async def body() -> str:
            return f"Removed volume '{sid}:{volname}'"

        return await self.task(node, "imgdel", sid, user, body, lock=False)  # type: ignore[attr-defined]

    async def _download_url(self, request: Any) -> Any:
        from fakepve.server import USER, ok, params

        form = dict(await params(request))
        url, filename = form.get("url", ""), form.get("filename", "")
        checksum, algorithm = form.get("checksum"), form.get("checksum-algorithm")
        if form.get("content") != "vztmpl" or not url.startswith(("http://127.", "http://localhost")):
            return await super()._download_url(request)  # type: ignore[misc]
        sid, node = request.match_info["storage"], request.match_info["node"]
        self._active_store(sid, node)  # type: ignore[attr-defined]
        user = request[USER]
        self.require(user, "/storage/" + sid, "Datastore.AllocateTemplate")  # type: ignore[attr-defined]
        target = self.template_path(node, filename)

        async def body() -> None:
            data = await asyncio.to_thread(_fetch, url)
            if checksum and algorithm:
                got = hashlib.new(algorithm, data).hexdigest()
                if got != checksum.lower():
                    raise TaskError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{filename}.", delete=False) as tmp:
                tmp.write(data)
            Path(tmp.name).replace(target)
            self.store_file(sid, filename, len(data), "vztmpl")  # type: ignore[attr-defined]
            self._on_node(node, sid).add(VZTMPL + filename)

        upid = await self.task(node, "download", sid, user, body, log=[f"downloading {url} to {filename}"])  # type: ignore[attr-defined]
        return ok(upid)

    def node_templates_state(self) -> dict[str, dict[str, list[str]]]:
        return {n: {s: sorted(v) for s, v in stores.items()} for n, stores in self.node_templates.items()}

    def restore_node_templates(self, state: dict[str, dict[str, list[str]]]) -> None:
        for node, stores in state.items():
            for sid, volnames in stores.items():
                self._on_node(node, sid).update(volnames)
