"""``DataVolume``: a Proxmox storage volume that outlives the containers mounting it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
from pulumi_command import local

from .args import check, raise_problems
from .errors import Problem
from .intent import MountPointSpec
from .tokens import DATA_VOLUME

RUNNER = "python3 -m fabric.runtime.volume"


@dataclass(frozen=True)
class PveAccess:
    """How the apply-time runner reaches the Proxmox API: the endpoint and the *names* of the
    environment variables holding the credential (the credential itself never enters state)."""

    endpoint: str
    username: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class DataVolumeArgs:
    """One data volume of one container."""

    container: str
    """Name of the container it belongs to (part of the volume's name on storage)."""
    mount: MountPointSpec
    """Name, path, size, datastore (resolved) and backup flag."""
    node: str
    """The node whose storage holds it; a node-local storage pins the container to this node."""
    owner: int
    """The stack's reserved ``volumeOwner`` VMID: PVE frees the volume only with its owner."""
    access: PveAccess

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        for field in ("name", "path", "size_gb", "datastore"):
            found += check(field, getattr(self.mount, field), MountPointSpec, field)
        if self.mount.datastore is None:
            found.append(Problem("datastore", "must be resolved to a storage before the volume is created"))
        return found

    def validate(self) -> DataVolumeArgs:
        raise_problems(self.problems())
        return self


class DataVolume(pulumi.ComponentResource):
    """Allocated through the storage API under the reserved owner VMID, freed only when removed from code.

    Its triggers are where it lives and what it is called (node, storage, owner, container,
    name): changing one of those is a new volume, and the plan summary flags the old one's
    deletion. Size and backup flag are not triggers (a re-run finds the volume; growing it is a
    runbook step). See docs/stateful.md for why it survives a container's replace on real PVE.
    """

    volume_id: pulumi.Output[str]
    """``storage:volname``, the ``volume`` of the container's mount point."""

    def __init__(self, name: str, args: DataVolumeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()
        super().__init__(DATA_VOLUME, name, None, opts)
        request = {
            "endpoint": args.access.endpoint,
            "username": args.access.username,
            "passwordEnv": args.access.password_env,
            "tokenEnv": args.access.token_env,
            "insecure": args.access.insecure,
            "node": args.node,
            "storage": args.mount.datastore,
            "owner": args.owner,
            "container": args.container,
            "name": args.mount.name,
            "sizeGb": args.mount.size_gb,
        }
        self.command = local.Command(
            name,
            create=f"{RUNNER} create",
            delete=f"{RUNNER} delete",
            stdin=json.dumps({k: v for k, v in request.items() if v is not None}, sort_keys=True),
            triggers=[args.node, args.mount.datastore, args.owner, args.container, args.mount.name],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.volume_id = self.command.stdout
        self.register_outputs({"volumeId": self.volume_id})
