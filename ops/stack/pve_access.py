"""The stack runner's own view of Proxmox: the API client built from the stack file and the environment.

The recovery steps read PVE before an apply (what a killed run created, which data volumes still
exist). They log in exactly as the provider does: the endpoint from ``fabric:proxmox`` and the
credential from the environment variable the stack file names (never from argv or state), and
they trust the CA bundle ``SSL_CERT_FILE`` points at.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fabric.errors import InputError
from fabric.stack_file import read_stack_file
from providers.pve_api import PveApi


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
    return PveApi(endpoint, verify, username=px.get("username"), password=password, api_token=token)
