"""Editing a scratch project's stack file the way an operator would, for the tests of every tier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def edit_stack(project: Path, stack: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """Apply ``change`` to the ``config`` mapping of ``project/Pulumi.<stack>.yaml`` and write it back."""
    path = project / f"Pulumi.{stack}.yaml"
    body = yaml.safe_load(path.read_text())
    change(body["config"])
    path.write_text(yaml.safe_dump(body, sort_keys=False))
