"""Where the local Proxmox follows the PVE API beyond what fakepve does on its own.

Composed into ``LocalPve`` (ops/localpve/server.py) as a mixin; fakepve registers every
``_routes_*`` method's routes against its bundled PVE schema, so parameters are validated as PVE
does. What this adds (each difference that remains is listed in docs/engine.md):

- **A trailing slash is the same path.** PVE's router splits a request path on ``/`` and skips
  empty fragments (pve-common ``src/PVE/RESTHandler.pm``, ``find_handler``), so
  ``POST /cluster/ha/resources/`` is the HA create. Upstream sends exactly that (bpg
  ``proxmox/cluster/ha/resources/resources.go``, ``Create``: ``ExpandPath("")`` ends in ``/``);
  fakepve's stateful routes matched only the bare path, so the request fell through to its
  schema-only catch-all, which answered OK and kept nothing, and upstream's read-back then failed
  with "HA resource not found after update". Every stateful route is registered with its
  trailing-slash twin.
- **HA resources, stateful.** ``/cluster/ha/resources`` (list, create) and ``/{sid}`` (read,
  update, delete) keep real entries and set the guest's HA state, so fakepve's own refusals apply:
  a guest under HA cannot be deleted without ``purge`` ("used in HA resources"). An unknown sid
  is PVE's ``no such resource`` (500). Privileges as PVE checks them: ``Sys.Audit`` on ``/`` to
  read, ``Sys.Console`` on ``/`` to change.
- **query-url-metadata**, which the upstream provider calls before ``download-url``: a HEAD of the
  URL (loopback mirrors only), answering filename, size and mimetype as PVE does. (fakepve
  enforces every endpoint's permission check from PVE's own schema.)
- **Roles and API tokens.** ``grant_role`` gives a user (and so its tokens) a role on a path,
  with PVE's built-in role privileges; ``issue_token`` issues ``user@realm!id`` with a UUID
  secret, as PVE does. The fabric's own least-privilege roles for preview (read-only) and apply
  live here.
- **Mount points in config updates** are kept as PVE prints them back (volume first, options
  sorted, sizes in PVE's units), whatever form the client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request
import uuid
from typing import Any

from fakepve.lxc import format_size, parse_mount, parse_size, print_mount
from fakepve.model import PveError

#: Privileges of the roles the fabric's tokens use (names as PVE's built-ins where one fits).
ROLES: dict[str, frozenset[str]] = {
    # PVEAuditor: read everything, change nothing. What a PR preview gets.
    "PVEAuditor": frozenset({"Datastore.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit", "VM.Audit", "Mapping.Audit"}),
    # The apply token: what creating, reconfiguring, protecting, pooling, HA-managing and deleting
    # LXC guests and downloading templates needs, and nothing of users, ACLs or nodes.
    "FabricApply": frozenset(
        {
            "Datastore.Audit",
            "Datastore.AllocateSpace",
            "Datastore.AllocateTemplate",
            "Pool.Audit",
            "Pool.Allocate",
            "SDN.Use",
            "Sys.AccessNetwork",  # download-url and query-url-metadata (instead of Sys.Modify on /)
            "Sys.Audit",
            "Sys.Console",
            "VM.Audit",
            "VM.Allocate",
            "VM.Config.CPU",
            "VM.Config.Disk",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.Options",
            "VM.PowerMgmt",
        }
    ),
    # Granted beside FabricApply on the template storage only (``/storage/<templateStorage>``):
    # a rollback brings back a template version retained on storage, and upstream's download_file
    # with ``overwrite_unmanaged`` deletes that file before downloading it again (bpg
    # fwprovider/nodes/resource_download_file.go, Create -> DeleteDatastoreFile). PVE lets a volume
    # other than a backup be deleted only with Datastore.Allocate on its storage (proxmox/pve-storage
    # PVE/API2/Storage/Content.pm, method ``delete``); on ``/`` it would also allow editing every
    # storage's configuration, so it stays on the one storage.
    "FabricTemplates": frozenset({"Datastore.Allocate"}),
}


MOUNT_VALUE = re.compile(r"^(rootfs|mp\d+)$")


def pve_mount(value: str) -> str:
    """A mount point's value as PVE prints it back (see ``PveFidelity._update_config``)."""
    mount = parse_mount(value)
    size = parse_size(mount.get("size", ""))  # None without a size
    if size is not None:
        mount["size"] = format_size(size)
    return str(print_mount(mount)) if "volume" in mount else value


class _WithTrailingSlash:
    """A router that registers every route under its path and under the path with a trailing ``/``."""

    def __init__(self, router: Any) -> None:
        self.router = router

    def add_route(self, method: str, path: str, handler: Any) -> None:
        self.router.add_route(method, path, handler)
        self.router.add_route(method, path + "/", handler)


class PveFidelity:
    """Mixin for ``LocalPve`` (a ``FakePve``); see the module docstring."""

    ha_resources: dict[str, dict[str, Any]]

    def _init_fidelity(self) -> None:
        self.ha_resources = {}

    def _register_stateful(self, router: Any, prefixes: Any) -> None:
        super()._register_stateful(_WithTrailingSlash(router), prefixes)  # type: ignore[misc]

    # ------------------------------------------------------------------ roles and tokens

    def grant_role(self, userid: str, path: str, role: str) -> None:
        """``PUT /access/acl`` with ``roles=role``: the user and its tokens hold the role's privileges."""
        self.grant(userid, path, *sorted(ROLES[role]))  # type: ignore[attr-defined]

    def issue_token(self, tokenid: str) -> str:
        """Issue an API token ``user@realm!id`` (privilege separation off: it has its user's rights)
        and return its secret, a UUID as PVE generates it (``POST /access/users/{userid}/token/{tokenid}``).
        Upstream refuses any other shape when it configures the provider: bpg's
        ``proxmox/api/credentials.go`` (``ErrInvalidAPIToken``) wants ``USER@REALM!TOKENID=UUID``."""
        secret = str(uuid.uuid4())
        self.apitokens[tokenid] = secret  # type: ignore[attr-defined]
        return secret

    # ------------------------------------------------------------------ mount points in config updates

    async def _update_config(self, ct: Any, user: str, values: Any, deletes: Any, reverts: Any) -> None:
        """A ``rootfs``/``mpN`` value is kept as PVE writes it back: the volume first, the options
        sorted, the size in PVE's units. Upstream sends its resized rootfs with the size in bytes
        and every option (``acl=0,size=6442450944,...,volume=...``: bpg proxmox/nodes/containers/
        containers_types.go, ``CustomRootFS.EncodeValues``), and PVE prints property strings back
        with ``disk-size`` values formatted (pve-common ``JSONSchema::print_property_string``)."""
        values = {k: (pve_mount(v) if MOUNT_VALUE.match(k) else v) for k, v in values.items()}
        await super()._update_config(ct, user, values, deletes, reverts)  # type: ignore[misc]

    # ------------------------------------------------------------------ HA resources

    def _routes_ha_resources(self) -> list[tuple[str, str, Any]]:
        many, one = "/cluster/ha/resources", "/cluster/ha/resources/{sid}"
        return [
            ("GET", many, self._ha_index),
            ("POST", many, self._ha_create),
            ("GET", one, self._ha_read),
            ("PUT", one, self._ha_update),
            ("DELETE", one, self._ha_delete),
        ]

    def _ha_guest(self, sid: str) -> Any:
        kind, _, vmid = sid.partition(":")
        if kind not in ("ct", "vm") or not vmid.isdigit():
            raise PveError(400, "Parameter verification failed.", {"sid": f"unable to parse service id '{sid}'"})
        guests = self.cts if kind == "ct" else self.vms  # type: ignore[attr-defined]
        for guest in guests:
            if guest.vmid == int(vmid):
                return guest
        raise PveError(500, f"{'CT' if kind == 'ct' else 'VM'} {vmid} does not exist")

    def _ha_entry(self, sid: str) -> dict[str, Any]:
        entry = self.ha_resources.get(sid)
        if entry is None:
            raise PveError(500, f"no such resource '{sid}'")
        return entry

    async def _ha_index(self, v: dict[str, Any], user: str) -> list[dict[str, Any]]:
        self.require(user, "/", "Sys.Audit")  # type: ignore[attr-defined]
        return [dict(e) for _, e in sorted(self.ha_resources.items())]

    async def _ha_read(self, v: dict[str, Any], user: str) -> dict[str, Any]:
        self.require(user, "/", "Sys.Audit")  # type: ignore[attr-defined]
        return dict(self._ha_entry(v["sid"]))

    async def _ha_create(self, v: dict[str, Any], user: str) -> None:
        self.require(user, "/", "Sys.Console")  # type: ignore[attr-defined]
        sid = v["sid"]
        guest = self._ha_guest(sid)
        if sid in self.ha_resources:
            raise PveError(500, f"resource ID '{sid}' already defined")
        entry = {"sid": sid, "type": sid.split(":", 1)[0], "state": v.get("state") or "started"}
        entry |= {k: v[k] for k in ("group", "comment", "max_restart", "max_relocate") if v.get(k) is not None}
        self.ha_resources[sid] = entry
        guest.ha_state = entry["state"]

    async def _ha_update(self, v: dict[str, Any], user: str) -> None:
        self.require(user, "/", "Sys.Console")  # type: ignore[attr-defined]
        entry = self._ha_entry(v["sid"])
        for key in ("state", "group", "comment", "max_restart", "max_relocate"):
            if v.get(key) is not None:
                entry[key] = v[key]
        for key in str(v.get("delete") or "").split(","):
            if key.strip():
                entry.pop(key.strip(), None)
        self._ha_guest(v["sid"]).ha_state = entry["state"]

    async def _ha_delete(self, v: dict[str, Any], user: str) -> None:
        self.require(user, "/", "Sys.Console")  # type: ignore[attr-defined]
        sid = v["sid"]
        self._ha_entry(sid)
        del self.ha_resources[sid]
        with contextlib.suppress(PveError):  # the guest went first (purge); the entry still goes
            self._ha_guest(sid).ha_state = None

    def forget_ha(self, vmid: int) -> None:
        """A guest destroyed with ``purge`` leaves the HA configuration with it."""
        for sid in (f"ct:{vmid}", f"vm:{vmid}"):
            self.ha_resources.pop(sid, None)

    # ------------------------------------------------------------------ query-url-metadata

    def _routes_query_url_metadata(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/nodes/{node}/query-url-metadata", self._query_url_metadata)]

    async def _query_url_metadata(self, v: dict[str, Any], user: str) -> dict[str, Any]:
        # Privileges as PVE checks them (Sys.Audit+Sys.Modify on /, or Sys.AccessNetwork on the
        # node) are enforced from the bundled schema before this runs.
        url = str(v["url"])
        if not url.startswith(("http://127.", "http://localhost")):
            raise PveError(500, f"can't open '{url}' - only loopback mirrors are reachable from the local Proxmox")
        try:
            headers = await asyncio.to_thread(_head, url)
        except OSError as err:
            raise PveError(500, f"can't open '{url}' - {err}") from err
        out: dict[str, Any] = {"filename": url.rstrip("/").rsplit("/", 1)[-1]}
        if headers.get("Content-Length"):
            out["size"] = int(headers["Content-Length"])
        if headers.get("Content-Type"):
            out["mimetype"] = headers["Content-Type"]
        return out


def _head(url: str) -> dict[str, str]:
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 (loopback only, checked above)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return dict(response.headers.items())
