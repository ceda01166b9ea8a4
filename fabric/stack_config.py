"""Read the whole ``fabric:`` namespace of the running stack's config.

Pulumi's ``Config`` object answers one key at a time; reading the namespace whole lets the
validation reject keys nobody asked for (a typo such as ``fabric:containrs``).
"""

from __future__ import annotations

import json
from typing import Any

from pulumi.runtime import config as runtime_config

NAMESPACE = "fabric"


def decode(value: Any) -> Any:
    """A config value as the program sees it: Pulumi hands structured values over as JSON text and
    plain ones as text (a config file Pulumi rewrote holds ``"false"``, ``"9000"`` the same way)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read_namespace(namespace: str = NAMESPACE) -> tuple[dict[str, Any], set[str]]:
    """Return (keys without the namespace -> decoded values, secret keys with the namespace)."""
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{namespace}:"
    raw = {k.removeprefix(prefix): decode(v) for k, v in merged.items() if k.startswith(prefix)}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    return raw, {k for k in secret_keys if k.startswith(prefix)}
