"""Read a ``Pulumi.<stack>.yaml`` file directly, as the engine would hand it to the program.

Used to validate a stack without the engine (PR checks, tests, benchmarks): structured
values pass through as they are, and ``secure:`` values count as secret keys. The file is
read strictly (``fabric.yaml_input``): a duplicated key is an error, not a silent overwrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError
from .stack_config import NAMESPACE
from .yaml_input import read_yaml

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - what stands in for a secure value


def read_stack_file(path: str | Path, namespace: str = NAMESPACE) -> tuple[dict[str, Any], set[str]]:
    """Return (keys without the namespace -> values, secret keys with the namespace).

    Raises ``InputError`` (one line naming the file and key) for a missing file, a file that is
    not YAML, or one whose top level or ``config`` is not a mapping.
    """
    body = read_yaml(path, "stack file")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InputError(f"{path}: a stack file is a mapping with a 'config' key, not a {type(body).__name__}")
    config = body.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InputError(f"{path}: config: must be a mapping of 'namespace:key' to values, not {type(config).__name__}")
    prefix = f"{namespace}:"
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for key, given in config.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        value = given
        if isinstance(given, dict) and set(given) == {"secure"}:
            secret.add(key)
            value = SECRET_PLACEHOLDER
        elif isinstance(given, dict) and set(given) == {"value"}:
            value = given["value"]
        raw[key.removeprefix(prefix)] = value
    return raw, secret
