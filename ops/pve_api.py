"""A minimal Proxmox API client for tests and operator tools (reading back, injecting drift)."""

from __future__ import annotations

import time
from typing import Any

import requests


class PveApi:
    """Ticket login; every call passes ``verify`` itself, as REQUESTS_CA_BUNDLE would override a session's."""

    def __init__(self, url: str, cafile: str, username: str, password: str) -> None:
        self.url = url.rstrip("/") + "/api2/json"
        self.cafile = cafile
        self.session = requests.Session()
        ticket = self._call("POST", "/access/ticket", data={"username": username, "password": password})
        self.session.cookies.set("PVEAuthCookie", ticket["ticket"])
        self.session.headers["CSRFPreventionToken"] = ticket["CSRFPreventionToken"]

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, verify=self.cafile, timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json().get("data")

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, **data: Any) -> Any:
        return self._call("POST", path, data=data)

    def put(self, path: str, **data: Any) -> Any:
        return self._call("PUT", path, data=data)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("DELETE", path, params=params)

    def wait(self, node: str, upid: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = self.get(f"/nodes/{node}/tasks/{upid}/status")
            if status.get("status") == "stopped" or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def containers(self) -> dict[int, dict[str, Any]]:
        """vmid -> (node, config) for every LXC container in the cluster."""
        out = {}
        for item in self.get("/cluster/resources", type="vm"):
            if item.get("type") == "lxc":
                node, vmid = item["node"], int(item["vmid"])
                out[vmid] = {"node": node, "config": self.get(f"/nodes/{node}/lxc/{vmid}/config")}
        return out
