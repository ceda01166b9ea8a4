"""Samakia Fabric: typed Pulumi components for a GitOps-run Proxmox LXC fabric.

Compose them directly (``Image``, ``LxcContainer``, ``ConfigPolicy``) or build a whole
fleet from a validated stack (``validate`` then ``Fleet``).

Room: the core (intent, validation, catalog, components, one per file). It imports only
third-party libraries and itself, never anything above it: ``fabric.runtime``,
``fabric.testing``, ``providers``, ``ops``, ``policy``, ``bench`` or ``tests``
(tests/unit/test_layout.py checks this for every room).
"""

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

__version__ = "1.0.0"
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
