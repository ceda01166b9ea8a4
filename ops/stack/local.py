"""The local stack: the local Proxmox's services plus a workspace on Pulumi's working copy of the stack file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ops.localpve.services import local_services
from ops.stack.workspace import Workspace, working_config


@contextlib.contextmanager
def local_fabric(
    project_dir: Path,
    stack: str = "local",
    state_dir: Path | None = None,
    pve_host: str = "127.0.0.2",
    mirror_port: int = 8099,
) -> Iterator[tuple[Workspace, Any]]:
    """Start the mirror and the local Proxmox; yield the workspace and the running fake."""
    state = state_dir or project_dir / ".state"
    with local_services(project_dir, state, pve_host=pve_host, mirror_port=mirror_port) as (env, pve):
        ws = Workspace(project_dir, stack, env, working_config(project_dir, stack, state))
        ws.ensure_stack()
        yield ws, pve
