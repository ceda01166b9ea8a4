"""The wire tier's scenario: one intent per step, rendered for OpenTofu and for the Pulumi program.

Both sides declare the same four resources the fabric uses (``fabric/image.py``,
``fabric/container.py``): two template downloads with their sha256, one container with the
fabric's features, a data-volume mount point, an unprivileged root and SSH keys, its pool
membership and its HA resource. Each step is one apply and exercises several operations, so the
tier needs few applies. The same ``Intent`` feeds ``tofu_config`` (upstream's provider through
OpenTofu) and ``tests/wire/program/__main__.py`` (bpg bridged, through Pulumi), so a difference
in what they leave in the local Proxmox is a difference of the providers, never of the input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VMID = 120
NODE = "pve1"
TEMPLATE_STORE = "local"
DISK_STORE = "local-lvm"
POOL = "wire"
VOLUME_OWNER = 9000
MOUNT_PATH = "/srv/data"


@dataclass(frozen=True)
class Template:
    """A template file on the mirror: what ``download_file`` fetches and verifies."""

    file_name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Site:
    """What both sides point at: the local Proxmox, the mirror's templates, the network, the data volume."""

    endpoint: str
    templates: dict[str, Template]
    address: str
    gateway: str
    ssh_key: str
    volume: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Intent:
    """The container as one step declares it."""

    template: str
    memory: int
    tags: tuple[str, ...]
    disk: int
    protection: bool
    ha: bool = True
    pool: bool = True
    hostname: str = "wire-1"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "tags": sorted(self.tags)}


#: The intents, by the step that first applies them (tests/wire/drive.py says what each proves).
#: ``grow`` is refused while protected: PVE refuses ``rootfs`` in a config update of a protected
#: container, and upstream sends it with every disk change.
STEPS: dict[str, Intent] = {
    "create": Intent(template="t1", memory=512, tags=("fabric", "wire"), disk=4, protection=True),
    "update": Intent(template="t1", memory=768, tags=("fabric", "grown"), disk=4, protection=True),
    "grow-refused": Intent(template="t1", memory=768, tags=("fabric", "grown"), disk=5, protection=True),
    "replace": Intent(template="t2", memory=768, tags=("fabric", "grown"), disk=5, protection=True),
    "unprotect": Intent(template="t2", memory=768, tags=("fabric", "grown"), disk=5, protection=False),
    "grow": Intent(template="t2", memory=768, tags=("fabric", "grown"), disk=6, protection=False),
}


def tofu_config(site: Site, intent: Intent) -> dict[str, Any]:
    """``main.tf.json`` for OpenTofu with bpg's resource names (the ones pulumi-proxmoxve 8.6.0 bridges)."""
    files = {
        key: {
            "node_name": NODE,
            "datastore_id": TEMPLATE_STORE,
            "content_type": "vztmpl",
            "url": t.url,
            "file_name": t.file_name,
            "checksum": t.sha256,
            "checksum_algorithm": "sha256",
            "overwrite": False,
            "overwrite_unmanaged": True,
        }
        for key, t in sorted(site.templates.items())
    }
    container = {
        "node_name": NODE,
        "vm_id": VMID,
        "description": "wire tier",
        "tags": sorted(intent.tags),
        "unprivileged": True,
        "start_on_boot": True,
        "started": True,
        "protection": intent.protection,
        "cpu": {"cores": 1},
        "memory": {"dedicated": intent.memory, "swap": 0},
        "disk": {"datastore_id": DISK_STORE, "size": intent.disk},
        "features": {"nesting": True, "keyctl": True, "fuse": False},
        "mount_point": [{"volume": site.volume, "path": MOUNT_PATH, "size": "1G", "backup": True}],
        "operating_system": {
            "template_file_id": f"${{proxmox_download_file.{intent.template}.id}}",
            "type": "debian",
        },
        "network_interface": [{"name": "eth0", "bridge": "vmbr0"}],
        "initialization": {
            "hostname": intent.hostname,
            "dns": {"servers": [site.gateway], "domain": "wire.test"},
            "ip_config": [{"ipv4": {"address": site.address, "gateway": site.gateway}}],
            "user_account": {"keys": [site.ssh_key]},
        },
    }
    ct = "proxmox_virtual_environment_container.ct"
    # As the fabric's LxcContainer: the membership and the HA resource follow a container replaced
    # for a new template (there, through the VMID output and replace_with; here, through
    # replace_triggered_by on the one attribute whose change replaces it, as the fabric's
    # replacement_trigger is the image).
    follow = [{"replace_triggered_by": [f"{ct}.operating_system[0].template_file_id"]}]
    resources: dict[str, Any] = {
        "proxmox_download_file": files,
        "proxmox_virtual_environment_container": {"ct": container},
    }
    if intent.pool:
        resources["proxmox_pool_membership"] = {
            "ct": {
                "pool_id": POOL,
                "vm_id": f"${{{ct}.vm_id}}",
                "lifecycle": follow,
            }
        }
    if intent.ha:
        resources["proxmox_haresource"] = {
            "ct": {
                "resource_id": f"ct:${{{ct}.vm_id}}",
                "state": "started",
                "max_restart": 2,
                "max_relocate": 1,
                "lifecycle": follow,
            }
        }
    return {
        "terraform": {"required_providers": {"proxmox": {"source": "bpg/proxmox"}}},
        "provider": {"proxmox": {"endpoint": site.endpoint}},
        "resource": resources,
    }
