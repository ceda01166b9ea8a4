"""A minimal Proxmox API client: the stand-in provider, the tests and operator tools share it."""

from __future__ import annotations

import time
from typing import Any

import requests


class PveApiError(RuntimeError):
    """An API call or a task failed; the message carries Proxmox's own words."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PveApi:
    """Ticket or API-token login.

    ``verify`` is a CA file (or False for an insecure lab); every call passes it itself,
    because REQUESTS_CA_BUNDLE would otherwise override a session's setting.
    """

    def __init__(
        self,
        url: str,
        verify: str | bool,
        *,
        username: str | None = None,
        password: str | None = None,
        api_token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/api2/json"
        self.verify = verify
        self.session = requests.Session()
        if api_token:
            self.session.headers["Authorization"] = f"PVEAPIToken={api_token}"
        elif username and password:
            ticket = self._call("POST", "/access/ticket", data={"username": username, "password": password})
            self.session.cookies.set("PVEAuthCookie", ticket["ticket"])
            self.session.headers["CSRFPreventionToken"] = ticket["CSRFPreventionToken"]
        else:
            raise PveApiError("give an API token, or a username and password")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.url + path, verify=self.verify, timeout=60, **kwargs)
        if response.status_code >= 400:
            raise PveApiError(f"{method} {path}: {response.status_code} {response.text[:400]}", response.status_code)
        return response.json().get("data")

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, **data: Any) -> Any:
        return self._call("POST", path, data=data)

    def put(self, path: str, **data: Any) -> Any:
        return self._call("PUT", path, data=data)

    def delete(self, path: str, **params: Any) -> Any:
        return self._call("DELETE", path, params=params)

    def wait(self, node: str, upid: str, timeout: float = 600) -> dict[str, Any]:
        """Poll a task until it stops; raise with Proxmox's exit status unless it is OK."""
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = self.get(f"/nodes/{node}/tasks/{upid}/status")
            if status.get("status") == "stopped":
                if status.get("exitstatus") != "OK":
                    raise PveApiError(f"TASK ERROR: {status.get('exitstatus')} ({upid})")
                return status
            if time.monotonic() > deadline:
                raise PveApiError(f"task {upid} still running after {timeout:.0f}s")
            time.sleep(0.1)

    def containers(self) -> dict[int, dict[str, Any]]:
        """vmid -> (node, config) for every LXC container in the cluster."""
        out = {}
        for item in self.get("/cluster/resources", type="vm"):
            if item.get("type") == "lxc":
                node, vmid = item["node"], int(item["vmid"])
                out[vmid] = {"node": node, "config": self.get(f"/nodes/{node}/lxc/{vmid}/config")}
        return out
