from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from fabric import ValidatedStack, validate
from fabric.stack_file import read_stack_file

ROOT = Path(__file__).resolve().parents[2]
STACKS = Path(__file__).parent / "stacks"
SECRET_VALUE = "PVEAPIToken=ci@pve!fabric=0f3c5b7e-test-only-token"
# The provider's credential, where CI puts it (the provider reads it; the program only checks that
# it is set). Set for the whole session, so module-scoped fixtures that run the program see it too.
os.environ.setdefault("PROXMOX_VE_API_TOKEN", SECRET_VALUE)


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Overlay ``patch`` on ``base``; a ``null`` in the patch deletes the key."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def good_raw() -> tuple[dict[str, Any], set[str]]:
    return read_stack_file(STACKS / "good.yaml")


def fabric_from(raw: dict[str, Any], secret_keys: set[str] | None = None) -> ValidatedStack:
    return validate(raw, project_dir=ROOT, secret_keys=good_raw()[1] if secret_keys is None else secret_keys)


def engine_config(raw: dict[str, Any], secret_keys: set[str]) -> dict[str, str]:
    """Config as the engine hands it to the program: JSON text per key, secrets decrypted."""
    config = {}
    for key, value in raw.items():
        full = f"fabric:{key}"
        config[full] = (
            SECRET_VALUE if full in secret_keys else json.dumps(value) if not isinstance(value, str) else value
        )
    return config


@pytest.fixture
def good() -> tuple[dict[str, Any], set[str]]:
    return good_raw()


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stack files name the catalog relative to the project, as Pulumi runs the program there.
    monkeypatch.chdir(ROOT)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (parents made); return ``root``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def value_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path into a nested dict/list value, parents before children."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += value_paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += value_paths(v, (*prefix, i))
    return out
