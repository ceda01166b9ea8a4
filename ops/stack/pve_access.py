"""The stack runner's own view of Proxmox: the API client built from the stack file and the environment.

The recovery steps read PVE before an apply (what a killed run created, which data volumes still
exist). They log in exactly as the provider does: the endpoint from ``fabric:proxmox`` and the
credential from the environment variable the stack file names (never from argv or state), and
they trust the CA bundle ``SSL_CERT_FILE`` points at.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from fabric.errors import InputError
from fabric.stack_file import read_stack_file
from providers.pve_api import PveApi, PveApiError

READ_ATTEMPTS = 3


class RunnerApi(PveApi):
    """The runner's client: a read (or the login) that meets a transient failure is asked again.

    The runner only reads before the engine runs (its writes are the recovery's, rare and checked),
    so asking again is safe; without it, one transient 5xx or a pveproxy restart would stop a run
    that upstream's provider would have carried through. Three attempts, 1 s then 2 s apart, as
    upstream spaces its own retries (bpg ``proxmox/retry/retry.go``, ``NewTaskOperation``); a 5xx
    and a broken connection count as transient, as upstream's ``IsTransientAPIError`` and
    ``proxmox/api/client.go`` (``DoRequest``: GETs retried on a transport error) treat them.
    """

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET" and path != "/access/ticket":  # reads and the login, nothing that changes PVE
            return super()._call(method, path, **kwargs)
        for attempt in range(READ_ATTEMPTS):
            try:
                return super()._call(method, path, **kwargs)
            except (PveApiError, requests.ConnectionError) as err:
                status = getattr(err, "status", None) if isinstance(err, PveApiError) else 599
                if status is None or status < 500 or attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(2**attempt)
        raise AssertionError("unreachable")  # the loop returns or raises


def stack_api(stack_file: Path, env: Mapping[str, str]) -> PveApi:
    """A PVE API client for the stack in ``stack_file`` with the credential named there, read from ``env``."""
    raw, _ = read_stack_file(stack_file)
    px = raw.get("proxmox") or {}
    endpoint = str(px.get("endpoint", ""))
    if not endpoint:
        raise InputError(f"{stack_file.name}: fabric:proxmox.endpoint is not set")
    verify: str | bool = False if px.get("insecure") is True else env.get("SSL_CERT_FILE") or True

    def ref(key: str) -> str | None:
        name = (px.get(key) or {}).get("env") if isinstance(px.get(key), dict) else None
        return env.get(name) if name else None

    token, password = ref("apiToken") or env.get("PROXMOX_VE_API_TOKEN"), ref("password")
    if not token and not password:
        raise InputError(f"{stack_file.name}: no Proxmox credential in the environment for fabric:proxmox")
    return RunnerApi(endpoint, verify, username=px.get("username"), password=password, api_token=token)
