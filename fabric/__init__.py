"""Samakia Fabric: typed Pulumi components for a GitOps-run Proxmox LXC fabric.

Compose them directly (``Image``, ``LxcContainer``, ``ConfigPolicy``) or build a whole
fleet from a validated stack (``validate`` then ``Fleet``).

Room: the core (intent, validation, catalog, components, one per file). It imports only
third-party libraries and itself, never anything above it: ``fabric.runtime``,
``fabric.testing``, ``providers``, ``ops``, ``policy``, ``bench`` or ``tests``
(tests/unit/test_layout.py checks this for every room).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalog import Catalog, ImageBuild, load_catalog, shipped_catalog
    from .config_policy import ConfigPolicy, ConfigPolicyArgs, PolicyTarget
    from .container import LxcContainer, LxcContainerArgs
    from .errors import FabricConfigError, Problem
    from .fleet import Fleet
    from .guard import ApplyDecision, ApplyRefused, decide
    from .image import Image, ImageArgs
    from .intent import FabricIntent, ProxmoxSettings, SecretRef
    from .provider import proxmox_provider
    from .validation import ValidatedStack, validate

# The public names, imported when first used (PEP 562): the components pull in the Pulumi SDKs
# (seconds on a busy machine), and every apply-time command (``fabric.runtime``: one per
# container, and the warm controller) imports this package first without needing them.
_HOMES = {
    "catalog": ("Catalog", "ImageBuild", "load_catalog", "shipped_catalog"),
    "config_policy": ("ConfigPolicy", "ConfigPolicyArgs", "PolicyTarget"),
    "container": ("LxcContainer", "LxcContainerArgs"),
    "errors": ("FabricConfigError", "Problem"),
    "fleet": ("Fleet",),
    "guard": ("ApplyDecision", "ApplyRefused", "decide"),
    "image": ("Image", "ImageArgs"),
    "intent": ("FabricIntent", "ProxmoxSettings", "SecretRef"),
    "provider": ("proxmox_provider",),
    "validation": ("ValidatedStack", "validate"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'fabric' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "1.1.0"
"""The package version (semantic versioning; CHANGELOG.md). A change to a component's args or
outputs is a major version; the collection ``samakia.fabric`` carries the same version."""

__all__ = [
    "ApplyDecision",
    "ApplyRefused",
    "Catalog",
    "ConfigPolicy",
    "ConfigPolicyArgs",
    "FabricConfigError",
    "FabricIntent",
    "Fleet",
    "Image",
    "ImageArgs",
    "ImageBuild",
    "LxcContainer",
    "LxcContainerArgs",
    "PolicyTarget",
    "Problem",
    "ProxmoxSettings",
    "SecretRef",
    "ValidatedStack",
    "__version__",
    "decide",
    "load_catalog",
    "proxmox_provider",
    "shipped_catalog",
    "validate",
]
