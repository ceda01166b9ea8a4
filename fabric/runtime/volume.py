"""Data volumes at apply time: ``python3 -m fabric.runtime.volume create|delete`` (called by ``DataVolume``).

A data volume is a Proxmox storage volume allocated through the storage API
(``POST /nodes/{node}/storage/{storage}/content``) under the stack's reserved ``volumeOwner``
VMID, never under the VMID of the container that mounts it. Proxmox frees a volume on a
container's destroy only when that container owns it (``PVE::LXC::destroy_lxc_container``), so
replacing, rolling back or deleting the container leaves the volume and its data in place; the
next container mounts the same volume id. Only ``delete`` (the volume removed from code) frees it.

The request comes on stdin as JSON; ``create`` prints only the volume id, which becomes the
``volume`` of the container's mount point. Credentials come from environment variables the
request names, never from argv or state.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any
from urllib.parse import quote

import requests

# Storage types where the storage API can allocate a directory volume ("subvol") that a
# container mounts as it is. Block storages (LVM, LVM-thin, RBD) hand back a raw device without
# a filesystem: PVE formats those only when it allocates them for a container itself.
SUBVOL_STORAGES = ("zfspool", "dir", "nfs", "cifs", "btrfs", "cephfs")
# Storages where a subvol's size is a quota; elsewhere PVE accepts only size 0 (no limit).
QUOTA_STORAGES = ("zfspool",)


class VolumeError(RuntimeError):
    """The volume could not be created or deleted; the message says why and what to do."""


class Api:
    """The few calls a volume needs, with a ticket or an API token from the environment."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.base = request["endpoint"].rstrip("/") + "/api2/json"
        self.verify: str | bool = (
            False
            if request.get("insecure")
            else os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") or True
        )
        self.session = requests.Session()
        token_env, password_env = request.get("tokenEnv"), request.get("passwordEnv")
        if token_env and os.environ.get(token_env):
            self.session.headers["Authorization"] = f"PVEAPIToken={os.environ[token_env]}"
        elif password_env and os.environ.get(password_env) and request.get("username"):
            login = {"username": request["username"], "password": os.environ[password_env]}
            ticket = self.call("POST", "/access/ticket", data=login)
            self.session.cookies.set("PVEAuthCookie", ticket["ticket"])
            self.session.headers["CSRFPreventionToken"] = ticket["CSRFPreventionToken"]
        else:
            raise VolumeError(f"no Proxmox credential in the environment ({token_env or password_env or 'none named'})")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self.session.request(method, self.base + path, verify=self.verify, timeout=60, **kwargs)
        if reply.status_code >= 400:
            raise VolumeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json().get("data")

    def finish(self, node: str, upid: Any, timeout_s: float = 300) -> None:
        if not (isinstance(upid, str) and upid.startswith("UPID")):
            return  # answered synchronously
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            task = self.call("GET", f"/nodes/{node}/tasks/{quote(upid, safe='')}/status")
            if task.get("status") == "stopped":
                if task.get("exitstatus") != "OK":
                    raise VolumeError(f"task {upid} failed: {task.get('exitstatus')}")
                return
            time.sleep(0.2)
        raise VolumeError(f"task {upid} still running after {timeout_s:.0f}s")


def volume_name(request: dict[str, Any]) -> str:
    """``subvol-<owner>-<container>-<name>``: PVE reads the owner from the name, operators the rest."""
    return f"subvol-{int(request['owner'])}-{request['container']}-{request['name']}"


def _find(api: Api, node: str, storage: str, owner: int, name: str) -> str | None:
    for item in api.call("GET", f"/nodes/{node}/storage/{storage}/content", params={"vmid": owner}) or []:
        volid = str(item.get("volid", ""))
        if volid.split(":", 1)[-1].rsplit("/", maxsplit=1)[-1].split(".", maxsplit=1)[0] == name:
            return volid
    return None


def create(request: dict[str, Any]) -> str:
    """Allocate the volume unless it exists (a re-run finds it); return its volume id."""
    api, node, storage = Api(request), request["node"], request["storage"]
    owner, name = int(request["owner"]), volume_name(request)
    found = _find(api, node, storage, owner, name)
    if found:
        return found
    kind = (api.call("GET", f"/nodes/{node}/storage/{storage}/status") or {}).get("type")
    if kind not in SUBVOL_STORAGES:
        raise VolumeError(
            f"storage '{storage}' is of type '{kind}': data volumes need a directory-backed storage "
            f"({', '.join(SUBVOL_STORAGES)}); set mountPoints[].datastore to one"
        )
    size = f"{int(request['sizeGb'])}G" if kind in QUOTA_STORAGES else "0"
    body = {"vmid": owner, "filename": name, "size": size, "format": "subvol"}
    return str(api.call("POST", f"/nodes/{node}/storage/{storage}/content", data=body))


def delete(request: dict[str, Any]) -> None:
    """Free the volume (it was removed from code); a volume already gone is fine."""
    api, node, storage = Api(request), request["node"], request["storage"]
    found = _find(api, node, storage, int(request["owner"]), volume_name(request))
    if found:
        api.finish(node, api.call("DELETE", f"/nodes/{node}/storage/{storage}/content/{quote(found, safe='')}"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["create"], ["delete"]):
        sys.stderr.write("usage: python3 -m fabric.runtime.volume create|delete < request.json\n")
        return 2
    try:
        request = json.loads(sys.stdin.read())
        if args == ["create"]:
            sys.stdout.write(create(request) + "\n")
        else:
            delete(request)
    except (VolumeError, KeyError, ValueError, requests.RequestException) as err:
        sys.stderr.write(f"data volume: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
