"""An explicit Proxmox provider built from the stack's settings, holding no credential.

The credential never becomes a provider input, because every provider input is written to the
stack's state (encrypted or not, anyone holding the state passphrase could read it back, and PR
jobs hold that passphrase). Instead the provider process reads it from its own environment at
run time, as the upstream provider does: bpg/terraform-provider-proxmox v0.112.0,
``fwprovider/provider.go`` (``Configure``) and ``proxmoxtf/provider/provider.go``
(``providerConfigure``) take ``PROXMOX_VE_API_TOKEN``, ``PROXMOX_VE_USERNAME`` and
``PROXMOX_VE_PASSWORD`` from the environment when the provider config leaves them unset. The
engine starts provider plugins with its own environment, so whoever runs ``pulumi`` supplies them.

The stack file therefore references a credential by that variable's name (``{env:
PROXMOX_VE_API_TOKEN}``); a ``{config: KEY}`` reference or another variable name is refused,
because the provider could only receive it as an input, that is, through state.
"""

from __future__ import annotations

import os

import pulumi
import pulumi_proxmoxve as proxmoxve

from .errors import FabricConfigError, Problem
from .intent import ProxmoxSettings, SecretRef

TOKEN_ENV = "PROXMOX_VE_API_TOKEN"  # noqa: S105 (a variable name, not a value)
PASSWORD_ENV = "PROXMOX_VE_PASSWORD"  # noqa: S105


def require_provider_env(ref: SecretRef, path: str, upstream: str) -> None:
    """Check that ``ref`` names the variable the provider reads, and that it is set (never read here)."""
    if ref.env != upstream:
        where = f"{path}.env" if ref.env is not None else f"{path}.config"
        raise FabricConfigError(
            [
                Problem(
                    where,
                    f"provider credentials reach the provider from the environment only, so they never enter "
                    f"state: use {{env: {upstream}}}",
                    ref.env or ref.config or "",
                )
            ]
        )
    if not os.environ.get(upstream):
        raise FabricConfigError([Problem(f"{path}.env", "environment variable is not set", upstream)])


def proxmox_provider(
    name: str, settings: ProxmoxSettings, opts: pulumi.ResourceOptions | None = None
) -> proxmoxve.Provider:
    """Build the provider every fabric resource uses; its credential comes from the environment."""
    if settings.api_token is not None:
        require_provider_env(settings.api_token, "proxmox.apiToken", TOKEN_ENV)
    if settings.password is not None:
        require_provider_env(settings.password, "proxmox.password", PASSWORD_ENV)
    return proxmoxve.Provider(
        name,
        endpoint=settings.endpoint,
        insecure=settings.insecure,
        username=settings.username if settings.password is not None else None,
        opts=opts,
    )
