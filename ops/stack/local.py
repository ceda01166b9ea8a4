"""The local stack: the local Proxmox's services plus a workspace on Pulumi's working copy of the stack file."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ops.localpve.services import local_services, ssh_key
from ops.stack.workspace import Workspace, working_config


@contextlib.contextmanager
def local_fabric(
    project_dir: Path,
    stack: str = "local",
    *,
    state_dir: Path | None = None,
    pve_host: str = "127.0.0.2",
    mirror_port: int = 8099,
    containers: bool = True,
    teardown: bool = False,
    lxc_tag: str = "",
    backend_env: dict[str, str] | None = None,
    rewrite: Callable[[str], str] | None = None,
) -> Iterator[tuple[Workspace, Any]]:
    """Start the local Proxmox and its services; yield the workspace and the running fake.

    The containers are real LXC containers unless ``containers`` is off (see ``local_services``);
    ``teardown`` removes them and their bridges on the way out, also on failure; ``lxc_tag``
    marks their names (the test tiers put their lane in it). ``backend_env`` replaces the state
    backend (``PULUMI_BACKEND_URL`` and its credentials, e.g. an S3 bucket's) for every engine run;
    ``rewrite`` moves the stack file's
    addresses (a lane-aware local stack, ``ops.stack.local_stacks``) where Pulumi and the local
    Proxmox read them.
    """
    state = state_dir or project_dir / ".state"
    with local_services(
        project_dir,
        state,
        pve_host,
        mirror_port,
        stack=stack,
        containers=containers,
        teardown=teardown,
        lxc_tag=lxc_tag,
        rewrite=rewrite,
    ) as (env, pve):
        env.update(backend_env or {})
        # The generated key's public half joins the containers' keys in the working copy only.
        _, public = ssh_key(state)
        config = working_config(project_dir, stack, state, extra_ssh_keys=[public], rewrite=rewrite)
        ws = Workspace(project_dir, stack, env, config)
        ws.ensure_stack()
        yield ws, pve
