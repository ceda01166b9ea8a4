"""Release a container from PVE's delete guards just before Pulumi deletes it.

    python3 -m fabric.runtime.release      # settings from the environment (below), nothing on argv

The upstream provider deletes a container by shutting it down and calling DELETE without
``purge`` (bpg/terraform-provider-proxmox proxmoxtf/resource/container/container.go,
containerDelete), and PVE refuses that while the container has ``protection`` set or is an HA
resource. ``LxcContainer`` therefore registers a release ``local.Command`` whose *delete* runs this
module; the engine deletes it before the container whenever the container goes (its triggers hold
the container's id, so a delete-before-replace of the container replaces it first; see
docs/engine.md). It clears ``protection`` and removes the HA resource, nothing else; the new
container is created protected again and the ``Haresource`` is re-created after it.

Environment (set by the component; secrets only by reference):
  SAMAKIA_RELEASE_ENDPOINT  the PVE API URL
  SAMAKIA_RELEASE_NODE, SAMAKIA_RELEASE_VMID
  SAMAKIA_RELEASE_TOKEN_ENV the name of the variable holding ``user@realm!id=secret``, or
  SAMAKIA_RELEASE_USER + SAMAKIA_RELEASE_PASSWORD_ENV (ticket login)
  SAMAKIA_RELEASE_INSECURE  "1" to skip TLS verification (labs only); else SSL_CERT_FILE or the system pool
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any
from urllib.parse import quote

import requests


class ReleaseError(RuntimeError):
    pass


def required(env: dict[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ReleaseError(f"{name} is not set")
    return value


def target(env: dict[str, str]) -> tuple[str, int]:
    """The node and VMID of the container the command acts on."""
    return required(env, "SAMAKIA_RELEASE_NODE"), int(required(env, "SAMAKIA_RELEASE_VMID"))


def is_protected(config: dict[str, Any]) -> bool:
    """Whether PVE's config of a container has ``protection`` set."""
    return str(config.get("protection", "0")) in ("1", "true")


class PveSession:
    """A PVE API session from the release environment (a token by reference, or a ticket login)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.base = required(env, "SAMAKIA_RELEASE_ENDPOINT").rstrip("/") + "/api2/json"
        self.verify: str | bool = (
            False if env.get("SAMAKIA_RELEASE_INSECURE") == "1" else env.get("SSL_CERT_FILE") or True
        )
        self.session = requests.Session()
        token_env = env.get("SAMAKIA_RELEASE_TOKEN_ENV")
        if token_env:
            self.session.headers["Authorization"] = f"PVEAPIToken={required(env, token_env)}"
        else:
            user = env.get("SAMAKIA_RELEASE_USER", "")
            password = required(env, env.get("SAMAKIA_RELEASE_PASSWORD_ENV") or "SAMAKIA_RELEASE_PASSWORD_ENV")
            ticket = self.call("POST", "/access/ticket", data={"username": user, "password": password})
            self.session.cookies.set("PVEAuthCookie", ticket["ticket"])
            self.session.headers["CSRFPreventionToken"] = ticket["CSRFPreventionToken"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base + path, verify=self.verify, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise ReleaseError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json().get("data")

    def config(self, node: str, vmid: int) -> dict[str, Any] | None:
        """The container's config, or None when PVE says it does not exist."""
        try:
            return dict(self.call("GET", f"/nodes/{node}/lxc/{vmid}/config") or {})
        except ReleaseError as err:
            if "does not exist" in str(err) or " 404 " in str(err):
                return None
            raise


def release(env: dict[str, str]) -> list[str]:
    """Clear protection and remove the HA resource of one container; return what was done."""
    node, vmid = target(env)
    pve = PveSession(env)
    done = []
    config = pve.config(node, vmid)
    if config is None:
        return ["container already gone"]
    sid = f"ct:{vmid}"
    resources = pve.call("GET", "/cluster/ha/resources") or []
    if any(r.get("sid") == sid for r in resources):
        pve.call("DELETE", f"/cluster/ha/resources/{quote(sid, safe='')}")
        # PVE drops the HA entry at once; the CRM may still hold the guest for a moment.
        deadline = time.monotonic() + 30
        while any(r.get("sid") == sid for r in pve.call("GET", "/cluster/ha/resources") or []):
            if time.monotonic() > deadline:
                raise ReleaseError(f"{sid} is still an HA resource after 30 s")
            time.sleep(0.2)
        done.append(f"removed HA resource {sid}")
    if is_protected(config):
        pve.call("PUT", f"/nodes/{node}/lxc/{vmid}/config", data={"protection": 0})
        done.append(f"cleared protection on CT {vmid}")
    return done


def main() -> int:
    try:
        for line in release(dict(os.environ)) or ["nothing to release"]:
            print(line)
    except (ReleaseError, requests.RequestException) as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
