"""Read a ``Pulumi.<stack>.yaml`` file directly, as the engine would hand it to the program.

Used to validate a stack without the engine (PR checks, tests, benchmarks): structured
values pass through as they are, and ``secure:`` values count as secret keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .stack_config import NAMESPACE


def read_stack_file(path: str | Path, namespace: str = NAMESPACE) -> tuple[dict[str, Any], set[str]]:
    """Return (keys without the namespace -> values, secret keys with the namespace)."""
    body = yaml.safe_load(Path(path).read_text()) or {}
    config = body.get("config") or {}
    prefix = f"{namespace}:"
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for key, given in config.items():
        if not key.startswith(prefix):
            continue
        value = given
        if isinstance(given, dict) and set(given) == {"secure"}:
            secret.add(key)
            value = "[secret]"
        elif isinstance(given, dict) and set(given) == {"value"}:
            value = given["value"]
        raw[key.removeprefix(prefix)] = value
    return raw, secret
