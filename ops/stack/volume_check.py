"""Before an apply: every data volume the state knows must still exist, or the apply stops naming it.

A container deleted outside Pulumi (the PVE UI, ``pct destroy``) keeps its data volume: PVE frees
only what a container owns, and data volumes belong to the reserved ``volumeOwner`` VMID
(docs/stateful.md). The next apply re-creates the container from Git and mounts the same volume
id. When the volume itself is gone (its node reinstalled, its storage lost), nothing in the
engine notices: a ``DataVolume`` is a command whose refresh reads nothing back, so the apply would
mount a missing volume, or, on a storage that allocates on demand, start the service on an empty
one. This check reads PVE's storage for each volume in the state first, and stops the run naming
every missing one, unless the stack file accepts an empty volume in its place
(``mountPoints[].acceptEmpty: true``, the only way; docs/runbooks/deleted-outside-pulumi.md). An
accepted volume is allocated again by replacing its ``DataVolume`` command in the same apply.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fabric.errors import InputError
from fabric.intent import FabricIntent
from fabric.stack_config import decode
from fabric.stack_file import read_stack_file
from fabric.tokens import COMMAND, DATA_VOLUME
from fabric.validation import validate
from providers.pve_api import PveApi, PveApiError


@dataclass(frozen=True)
class StateVolume:
    """A data volume as the state records it: its command's URN, its request and its volume id."""

    urn: str
    container: str
    name: str
    node: str
    storage: str
    volid: str
    request: dict[str, Any] = field(default_factory=dict, compare=False)
    """The ``DataVolume`` command's request (its stdin: names of credentials, never their values)."""

    def label(self) -> str:
        return f"{self.volid} ({self.container} mount point '{self.name}', node {self.node})"


def state_volumes(state: Mapping[str, Any]) -> list[StateVolume]:
    found = []
    for res in (state.get("deployment") or {}).get("resources") or []:
        if res.get("type") != COMMAND or DATA_VOLUME not in str(res.get("parent", "")):
            continue
        request = json.loads((res.get("inputs") or {}).get("stdin") or "{}")
        volid = str((res.get("outputs") or {}).get("stdout") or "").strip()
        if volid:
            found.append(
                StateVolume(
                    urn=res["urn"],
                    container=str(request.get("container")),
                    name=str(request.get("name")),
                    node=str(request.get("node")),
                    storage=str(request.get("storage")),
                    volid=volid,
                    request=request,
                )
            )
    return found


def missing_volumes(volumes: list[StateVolume], pve: PveApi) -> list[StateVolume]:
    """The volumes PVE's storage no longer lists (or whose node does not answer)."""
    missing = []
    for vol in volumes:
        try:
            content = pve.get(f"/nodes/{vol.node}/storage/{quote(vol.storage, safe='')}/content")
        except PveApiError:
            missing.append(vol)  # the node or its storage is gone with it
            continue
        if not any(item.get("volid") == vol.volid for item in content or []):
            missing.append(vol)
    return missing


def stack_intent(stack_file: Path, project_dir: Path, stack: str) -> FabricIntent:
    """The validated intent of the stack file the runner is about to apply."""
    raw, secret_keys = read_stack_file(stack_file)
    # The working copy is a file Pulumi rewrites (``config set``): its values are text, as the program gets them.
    raw = {key: decode(value) for key, value in raw.items()}
    return validate(raw, project_dir=project_dir, secret_keys=secret_keys, stack=stack).intent


def accepted_empty(stack_file: Path, project_dir: Path, stack: str) -> set[tuple[str, str]]:
    """(container, mount point) pairs the stack file lets be re-created empty (``acceptEmpty: true``)."""
    return accepted_in(stack_intent(stack_file, project_dir, stack))


def accepted_in(intent: FabricIntent) -> set[tuple[str, str]]:
    """(container, mount point) pairs of ``intent`` with ``acceptEmpty: true``."""
    return {(c, m.name) for c, spec in intent.containers.items() for m in spec.mount_points if m.accept_empty}


def check_volumes(
    state: dict[str, Any],
    api: Callable[[], PveApi],
    accepted: Callable[[], set[tuple[str, str]]],
    log: Callable[[str], None] = lambda _: None,
) -> list[StateVolume]:
    """The volumes to allocate again (gone, and accepted empty); raise naming the rest."""
    volumes = state_volumes(state)
    if not volumes:
        return []
    missing = missing_volumes(volumes, api())
    log(f"recovery: {len(volumes) - len(missing)} of {len(volumes)} data volume(s) present in Proxmox")
    if not missing:
        return []
    ok = accepted()
    refused = [v for v in missing if (v.container, v.name) not in ok]
    if refused:
        raise InputError(
            "data volume(s) gone from Proxmox: "
            + "; ".join(v.label() for v in refused)
            + ". Nothing was applied: an apply now would give the container an empty volume. Restore the volume "
            "from backup, or accept an empty one with `acceptEmpty: true` on that mount point in the stack file "
            "(docs/runbooks/deleted-outside-pulumi.md)"
        )
    return [v for v in missing]
