"""An explicit Proxmox provider built from the stack's settings.

The proxmoxve SDK reads no environment defaults of its own; every credential reaches it
from a reference in the stack file, as a Pulumi secret, so state stores it encrypted.
"""

from __future__ import annotations

import os

import pulumi
import pulumi_proxmoxve as proxmoxve

from .errors import FabricConfigError, Problem
from .intent import ProxmoxSettings, SecretRef
from .stack_config import NAMESPACE


def resolve_secret(ref: SecretRef, path: str) -> pulumi.Output[str]:
    """The referenced credential as a secret Output; a missing one is a config error."""
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise FabricConfigError([Problem(f"{path}.env", "environment variable is not set", ref.env)])
        return pulumi.Output.secret(value)
    assert ref.config is not None
    return pulumi.Config(NAMESPACE).require_secret(ref.config)


def proxmox_provider(
    name: str, settings: ProxmoxSettings, opts: pulumi.ResourceOptions | None = None
) -> proxmoxve.Provider:
    """Build the provider every fabric resource uses."""
    token = resolve_secret(settings.api_token, "proxmox.apiToken") if settings.api_token else None
    password = resolve_secret(settings.password, "proxmox.password") if settings.password else None
    return proxmoxve.Provider(
        name,
        endpoint=settings.endpoint,
        insecure=settings.insecure,
        api_token=token,
        username=settings.username if password is not None else None,
        password=password,
        opts=opts,
    )
