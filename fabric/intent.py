"""The stack's intent: typed models for every key of the ``fabric:`` config namespace.

Models are strict: unknown keys and wrongly typed values are errors, so a typo in a stack
file fails the preview instead of silently dropping a setting. Keys are camelCase in YAML,
as Pulumi config is; the Python attributes are snake_case.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,62}$")
_KEY_TYPES = ("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ", "sk-ssh-ed25519@openssh.com ")
_IMAGE_REF = re.compile(r"^(?P<family>[a-z0-9][a-z0-9-]*)@(?P<version>\d+\.\d+\.\d+)$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _dns_label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError("must be a DNS label: lowercase letters, digits and '-', 1-63 characters")
    return value


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError("must be a Proxmox tag: lowercase letters, digits, '_', '.', '+', '-'")
    return value


def _public_key(value: str) -> str:
    if "PRIVATE KEY" in value:
        raise ValueError("is a private key; only public keys belong in the stack file")
    if not value.startswith(_KEY_TYPES) or len(value.split()) < 2:
        raise ValueError("must be an OpenSSH public key line (ssh-ed25519 AAAA... comment)")
    return value


def _ipv4(value: str) -> str:
    ipaddress.IPv4Address(value)
    return value


def _cidr(value: str) -> str:
    ipaddress.IPv4Network(value, strict=True)
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Tag = Annotated[str, AfterValidator(_tag)]
PublicKey = Annotated[str, AfterValidator(_public_key)]
IPv4 = Annotated[str, AfterValidator(_ipv4)]
Cidr = Annotated[str, AfterValidator(_cidr)]


class Model(BaseModel):
    """Strict base: camelCase keys, unknown keys rejected, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, strict=True, frozen=True)


class SecretRef(Model):
    """Where a credential comes from; never the credential itself.

    ``env`` names an environment variable of the process running Pulumi (CI injects it);
    ``config`` names a key of this namespace stored as a Pulumi secure value.
    """

    env: str | None = Field(default=None, pattern=_ENV_NAME.pattern)
    config: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.config is None):
            raise ValueError("give exactly one of 'env' (an environment variable) or 'config' (a secure config key)")
        return self


class ProxmoxSettings(Model):
    """How Pulumi reaches the Proxmox API.

    The provider trusts the system CA pool of the process running Pulumi: a private CA is
    trusted by pointing ``SSL_CERT_FILE`` at a bundle holding it, not by a setting here.
    """

    endpoint: str = Field(pattern=r"^https://[^/\s]+(:\d+)?/?$", description="API URL, e.g. https://pve1:8006/.")
    insecure: bool = Field(default=False, description="Skip TLS verification. Only for throwaway labs.")
    username: str | None = Field(default=None, description="user@realm for password logins; unset for tokens.")
    api_token: SecretRef | None = Field(default=None, description="API token 'user@realm!id=uuid', as a reference.")
    password: SecretRef | None = Field(default=None, description="Password for 'username', as a reference.")

    @model_validator(mode="after")
    def _one_login(self) -> ProxmoxSettings:
        if (self.api_token is None) == (self.password is None):
            raise ValueError("give exactly one of 'apiToken' or 'password'")
        if self.password is not None and self.username is None:
            raise ValueError("'password' needs 'username'")
        return self


class NodeSpec(Model):
    """A Proxmox node the fabric may place containers on."""

    template_storage: str = Field(default="local", description="Storage holding vztmpl templates.")
    disk_storage: str = Field(default="local-lvm", description="Default storage for root disks.")


class NetworkSpec(Model):
    """An L2 segment with a static IPv4 plan."""

    cidr: Cidr = Field(description="Subnet, e.g. 10.20.0.0/24. Every address must be inside it.")
    gateway: IPv4 = Field(description="Default gateway; never assigned to a container.")
    bridge: str = Field(default="vmbr0", description="Linux bridge on the nodes.")
    vlan: int | None = Field(default=None, ge=1, le=4094, description="802.1Q tag, if any.")
    dns_servers: list[IPv4] = Field(default_factory=list, description="Resolvers written into containers.")
    domain: str | None = Field(default=None, description="Search domain.")


class NicSpec(Model):
    """A container's one network interface, on a named network."""

    network: str = Field(description="Key of fabric:networks.")
    address: IPv4 = Field(description="Fixed IPv4 address; the prefix comes from the network.")


class FeaturesSpec(Model):
    """LXC features; all off unless a workload needs them."""

    nesting: bool = False
    keyctl: bool = False
    fuse: bool = False


class HaSpec(Model):
    """Proxmox HA management of a container."""

    state: Literal["started", "stopped", "ignored", "disabled"] = "started"
    group: str | None = Field(default=None, description="HA group restricting the nodes it may run on.")
    max_restart: int = Field(default=1, ge=0, le=10)
    max_relocate: int = Field(default=1, ge=0, le=10)


_STORAGE_ID = r"^[a-z][a-z0-9\-_.]*[a-z0-9]$"
# Paths a data volume must never cover: the kernel's and LXC's own mounts, and the root itself.
_RESERVED_PATHS = ("/proc", "/sys", "/dev", "/run")


def _mount_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be an absolute path inside the container, e.g. /var/lib/postgresql")
    parts = value.split("/")[1:]
    if value == "/" or any(p in ("", ".", "..") for p in parts):
        raise ValueError("must be a normalised path below / (no '.', '..', '//' or trailing '/')")
    if not re.fullmatch(r"[A-Za-z0-9_./+-]+", value):
        raise ValueError("may hold only letters, digits and '_', '.', '/', '+', '-'")
    if any(value == r or value.startswith(r + "/") for r in _RESERVED_PATHS):
        raise ValueError(f"is reserved by the kernel or LXC ({', '.join(_RESERVED_PATHS)})")
    return value


MountPath = Annotated[str, AfterValidator(_mount_path)]


class MountPointSpec(Model):
    """A data volume mounted into the container; its lifetime is not the container's.

    The volume is a Proxmox storage volume of its own (see docs/stateful.md): replacing,
    rolling back or deleting the container never deletes it; removing it from the stack does.
    """

    name: DnsLabel = Field(description="Volume name, unique within the container (e.g. 'pgdata').")
    path: MountPath = Field(description="Where it is mounted inside the container.")
    size_gb: int = Field(ge=1, le=65_536, description="Size in GiB (a quota on ZFS; advisory on directory storage).")
    datastore: str | None = Field(
        default=None, pattern=_STORAGE_ID, description="Storage of the volume; defaults to the node's disk storage."
    )
    backup: bool = Field(default=True, description="Include the volume in vzdump backups of the container.")


class GroupSpec(Model):
    """A replica group: how many members may be down at once during a rollout, and where they run."""

    max_unavailable: int = Field(default=1, ge=1, le=64, description="Members replaced at the same time.")
    same_node_reason: str | None = Field(
        default=None,
        min_length=10,
        description="Why members may share a node; without it every member must sit on a distinct node.",
    )


class ContainerSpec(Model):
    """One LXC container, as an operator declares it."""

    vmid: int = Field(ge=100, le=999_999_999, description="Fixed Proxmox VMID; replacement keeps it.")
    hostname: DnsLabel = Field(description="Hostname inside the container; unique in the fabric.")
    node: str = Field(description="Key of fabric:nodes the container runs on.")
    image: str = Field(description="Key of fabric:images: which catalogued template version it runs.")
    cpu: int = Field(ge=1, le=128, description="CPU cores.")
    memory_mb: int = Field(ge=128, le=1_048_576, description="Dedicated memory in MiB.")
    swap_mb: int = Field(default=0, ge=0, le=262_144, description="Swap in MiB.")
    disk_gb: int = Field(ge=2, le=16_384, description="Root disk size in GiB.")
    datastore: str | None = Field(default=None, description="Root disk storage; defaults to the node's.")
    nic: NicSpec = Field(description="The static network interface.")
    ssh_keys: list[PublicKey] = Field(min_length=1, description="Public keys for bootstrap access.")
    tags: list[Tag] = Field(default_factory=list, description="Proxmox tags, sorted on apply.")
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    unprivileged: bool = Field(default=True, description="Run without host root; only turn off with a reason.")
    start_on_boot: bool = True
    protection: bool = Field(default=False, description="Proxmox refuses to delete the container while set.")
    pool: str | None = Field(default=None, description="Proxmox resource pool.")
    ha: HaSpec | None = None
    group: str | None = Field(default=None, description="Replica group (e.g. 'database'): rolled member by member.")
    mount_points: list[MountPointSpec] = Field(
        default_factory=list, max_length=256, description="Data volumes that outlive the container."
    )
    policy: str | None = Field(default=None, description="Key of fabric:policies applied after create.")
    description: str = ""


class PolicySpec(Model):
    """A configuration policy: a playbook and the variables it runs with."""

    playbook: str = Field(default="site.yml", description="Playbook under playbooks/.")
    profiles: list[str] = Field(default_factory=list, description="Runtime profiles (packages, dirs) to add.")
    vars_files: list[str] = Field(default_factory=list, description="Variable files under playbooks/.")
    vars: dict[str, str | int | bool | list[str]] = Field(default_factory=dict, description="Extra variables.")


class ConfigConnection(Model):
    """How ConfigPolicy reaches containers: SSH in production, chroot for the local fabric."""

    type: Literal["ssh", "chroot"] = "ssh"
    user: str = Field(default="root", description="SSH user for the bootstrap run.")
    private_key: SecretRef | None = Field(default=None, description="Path of the SSH key, as a reference.")
    roots_dir: str = Field(default=".state/roots", description="chroot only: where container roots live.")
    image_cache: str | None = Field(
        default=None, description="chroot only: the node's template cache, where roots are unpacked from."
    )


class FabricIntent(Model):
    """Everything under the ``fabric:`` namespace of a stack file."""

    protected: bool = Field(default=False, description="Apply only from main-branch CI (break-glass aside).")
    proxmox: ProxmoxSettings
    image_catalog: str = Field(default="images/catalog.yaml", description="Catalog file the images come from.")
    image_mirror: str = Field(pattern=r"^https?://\S+$", description="Base URL serving <family>/<file>.")
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    networks: dict[str, NetworkSpec] = Field(min_length=1)
    images: dict[str, str] = Field(min_length=1, description="Alias -> 'family@version' from the catalog.")
    policies: dict[str, PolicySpec] = Field(default_factory=dict)
    connection: ConfigConnection = Field(default_factory=ConfigConnection)
    groups: dict[str, GroupSpec] = Field(default_factory=dict, description="Replica groups; undeclared get defaults.")
    volume_owner: int | None = Field(
        default=None,
        ge=100,
        le=999_999_999,
        description="The VMID that owns every data volume: reserved, never a guest (see docs/stateful.md).",
    )
    containers: dict[str, ContainerSpec] = Field(min_length=1)


def parse_image_ref(ref: str) -> tuple[str, str] | None:
    """Split 'family@version'; None when malformed."""
    m = _IMAGE_REF.match(ref)
    return (m["family"], m["version"]) if m else None
