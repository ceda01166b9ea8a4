"""Plain real LXC containers on a bridge of their own, without the PVE API: for tests and benchmarks
that need SSH targets (the warm controller's tier, the fleet configuration benchmark).

Each box is created as the local Proxmox creates a container (:class:`ops.localpve.lxc.LxcNode`:
an overlay root from the template, fresh SSH host keys, root's ``authorized_keys``), started with
a static address on the bridge, and reached over SSH with its host key pinned by
:func:`fabric.runtime.ssh_hosts.pin_host_key`, exactly as a ConfigPolicy command pins it. The
bridge holds the gateway address and forwards nothing. :meth:`Boxes.replace` destroys a box and
creates it anew at the same address (new host keys, new instance), as a replacement by Pulumi
does. Everything is removed on the way out, also when the block fails.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric.runtime.ssh_hosts import wait_for_sshd
from ops.localpve.lxc import LxcNode
from ops.localpve.services import local_build


@dataclass(frozen=True)
class Box:
    """One running container: its name, VMID, address and instance (changes on replace)."""

    name: str
    vmid: int
    address: str
    instance: str

    def policy_request(
        self, playbook: str, variables: dict[str, Any], key_env: str, known_hosts: str, instance: str | None = None
    ) -> dict[str, Any]:
        """The request a ConfigPolicy command reads on stdin (``fabric.runtime.apply_policy``) for
        this box, logging in as root by key until the policy created its admin user."""
        return {
            "playbook": playbook,
            "varsFiles": [],
            "vars": variables,
            "imageIdentity": "boxes",
            "target": {
                "type": "ssh",
                "host": self.address,
                "user": "root",
                "key_env": key_env,
                "name": self.name,
                "instance": instance or self.instance,
                "known_hosts": known_hosts,
                "wait_s": 60,
            },
        }


@dataclass
class Boxes:
    """The containers of one test or benchmark, on their own bridge ``net``.0/24."""

    node: LxcNode
    template: Path
    net: str
    """The network's first three octets, e.g. ``10.86.3`` (lane-moved by the caller)."""
    public_key: str
    bridges: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 512
    created: int = 0

    @property
    def gateway(self) -> str:
        return f"{self.net}.1"

    def config(self, name: str, address: str) -> dict[str, object]:
        return {
            "hostname": name,
            "memory": self.memory_mb,
            "swap": 256,
            "cores": 1,
            "nameserver": self.gateway,
            "net0": f"name=eth0,bridge=vmbr0,ip={address}/24,gw={self.gateway}",
        }

    def create(self, name: str, vmid: int, index: int) -> Box:
        """Create and start ``name`` at ``net.(10 + index)``; returns before its sshd answers."""
        address = f"{self.net}.{10 + index}"
        config = self.config(name, address)
        self.node.create(
            vmid, self.template, unprivileged=True, ssh_keys=self.public_key, config=config, bridges=self.bridges
        )
        self.node.start(vmid, config, self.bridges)
        self.created += 1
        return Box(name, vmid, address, instance=f"{name}-{self.created}")

    def start_all(self, names: Sequence[str], first_vmid: int) -> list[Box]:
        """Create every box, then wait for each one's sshd (bounded)."""
        boxes = [self.create(name, first_vmid + i, i) for i, name in enumerate(names)]
        for box in boxes:
            wait_for_sshd(box.address, timeout=120, name=box.name)
        return boxes

    def replace(self, box: Box) -> Box:
        """Destroy ``box`` and create it anew at the same address: new host keys, new instance."""
        self.node.destroy(box.vmid)
        index = int(box.address.rsplit(".", 1)[1]) - 10
        fresh = self.create(box.name, box.vmid, index)
        wait_for_sshd(fresh.address, timeout=120, name=fresh.name)
        return fresh

    def destroy(self, boxes: Sequence[Box]) -> None:
        for box in boxes:
            self.node.destroy(box.vmid)

    def host_keys(self, box: Box) -> set[str]:
        """The public host keys generated when ``box`` was created (``type base64`` pairs)."""
        lines = self.node.host_keys_file(box.vmid).read_text().splitlines()
        return {" ".join(ln.split()[:2]) for ln in lines if ln.strip()}

    def attach(self, box: Box, *cmd: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside ``box`` (``lxc-attach``), behind SSH's back."""
        return subprocess.run(
            self.node.command("lxc-attach", box.vmid, "--", *cmd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@contextlib.contextmanager
def boxes_on_bridge(
    scratch: Path, net: str, tag: str, public_key: str, *, version: str = "1.0.0", memory_mb: int = 512
) -> Iterator[Boxes]:
    """A node (LXC path tagged ``tag``), its bridge on ``net``.0/24 and a local ``debian12-base``
    ``version`` build (cached by its code's digest); all removed on the way out."""
    template = local_build("debian12-base", version, scratch / f"catalog-{version}.yaml")
    node = LxcNode(scratch / "state", tag=tag)
    node.claim(ephemeral=True)
    try:
        bridge = node.ensure_bridge("vmbr0", f"{net}.1", f"{net}.0/24")
        yield Boxes(node, template, net, public_key, {"vmbr0": bridge}, memory_mb)
    finally:
        node.teardown()
        node.release()
