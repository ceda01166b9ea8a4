"""Lift PVE's protection around an in-place grow of a protected container's root disk.

    python3 -m fabric.runtime.grow_window lift      # before the container's update
    python3 -m fabric.runtime.grow_window restore   # after it

Upstream grows a root disk in place: it calls PVE's ``resize``, then sends ``rootfs`` in its config
update (bpg/terraform-provider-proxmox v0.112.0 proxmoxtf/resource/container/container.go,
containerUpdate), and PVE refuses that update while the container has ``protection`` set ("can't
update CT ... drive 'rootfs' - protection mode enabled"). Upstream sends ``protection`` only when it
changes, so lifting it first lets the update through, and ``restore`` sets it again afterwards.
``LxcContainer`` registers one command of each kind, triggered by the disk size, for every protected
container; ``lift`` does nothing unless the disk is about to grow, so a first create, an image
bump and an unchanged disk never touch protection. A run killed between the two leaves the
container unprotected, which the next refresh reads as drift and the next apply sets again.

Environment: that of ``fabric.runtime.release`` (endpoint, node, VMID, credential by reference),
plus ``SAMAKIA_GROW_DISK_GB``, the root disk size the stack file asks for.
"""

from __future__ import annotations

import os
import re
import sys

import requests

from fabric.runtime.release import PveSession, ReleaseError, is_protected, required, target

_SIZE = re.compile(r"(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)")
_GIB = {"K": 1 / (1024 * 1024), "M": 1 / 1024, "G": 1.0, "T": 1024.0, "": 1 / (1024**3)}


def rootfs_gib(rootfs: str) -> float | None:
    """The size in GiB that PVE's ``rootfs`` string records (``local-lvm:vm-1-disk-0,size=4G``)."""
    match = _SIZE.search(rootfs)
    return float(match.group(1)) * _GIB[match.group(2)] if match else None


def lift(env: dict[str, str]) -> str:
    node, vmid = target(env)
    wanted = float(required(env, "SAMAKIA_GROW_DISK_GB"))
    pve = PveSession(env)
    config = pve.config(node, vmid)
    if config is None:
        return f"CT {vmid} does not exist yet: nothing to lift"
    size = rootfs_gib(str(config.get("rootfs", "")))
    if size is not None and size >= wanted:
        return f"CT {vmid}'s root disk is {size:g} GiB already: protection stays"
    if not is_protected(config):
        return f"CT {vmid} is not protected"
    pve.call("PUT", f"/nodes/{node}/lxc/{vmid}/config", data={"protection": 0})
    return f"lifted protection on CT {vmid} to grow its root disk to {wanted:g} GiB"


def restore(env: dict[str, str]) -> str:
    node, vmid = target(env)
    pve = PveSession(env)
    config = pve.config(node, vmid)
    if config is None:
        raise ReleaseError(f"CT {vmid} is gone after its update: protection cannot be restored")
    if is_protected(config):
        return f"CT {vmid} is protected"
    pve.call("PUT", f"/nodes/{node}/lxc/{vmid}/config", data={"protection": 1})
    return f"restored protection on CT {vmid}"


def main(argv: list[str]) -> int:
    actions = {"lift": lift, "restore": restore}
    if len(argv) != 1 or argv[0] not in actions:
        print("usage: python3 -m fabric.runtime.grow_window lift|restore", file=sys.stderr)
        return 2
    try:
        print(actions[argv[0]](dict(os.environ)))
    except (ReleaseError, requests.RequestException) as err:
        print(f"grow_window {argv[0]}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
