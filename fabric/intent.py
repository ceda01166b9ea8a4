"""The stack's intent: typed models for every key of the ``fabric:`` config namespace.

Models are strict: unknown keys and wrongly typed values are errors, so a typo in a stack
file fails the preview instead of silently dropping a setting. Keys are camelCase in YAML,
as Pulumi config is; the Python attributes are snake_case.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from fabric.paths import KNOWN_HOSTS_DIR

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.+-]{0,62}$")
_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_IMAGE_REF = re.compile(r"^(?P<family>[a-z0-9][a-z0-9-]*)@(?P<version>\d+\.\d+\.\d+)$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_KEY_COMMENT = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")

# Formats Proxmox VE itself enforces on the values these fields feed. The values end up inside
# PVE option strings such as ``net0: name=eth0,bridge=<bridge>,...`` or volume ids
# ``<storage>:<size>``, so a comma, '=' or ':' would smuggle an option in; these patterns are
# the PVE formats (pve-common PVE::JSONSchema: pve-storage-id, pve-bridge-id, pve-poolid,
# pve-configid, pve-node), tightened to what a Linux bridge name allows (15 characters).
STORAGE_ID = r"^[A-Za-z][A-Za-z0-9_.-]*[A-Za-z0-9]$"
BRIDGE_ID = r"^[A-Za-z0-9_.-]{1,15}$"
POOL_ID = r"^[A-Za-z0-9_-]{1,64}$"
CONFIG_ID = r"^[A-Za-z][A-Za-z0-9_-]{1,63}$"
DNS_NAME = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
USER_ID = r"^[^\s:/@,=]{1,64}@[A-Za-z][A-Za-z0-9._-]{0,31}$"
UNIX_USER = r"^[a-z_][a-z0-9_-]{0,31}$"
# Names that become Pulumi resource names (``<container>``, ``<container>-config``,
# ``<family>-<version>-<node>``) and Ansible inventory names: DNS-label shaped.
NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ALIAS = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# A playbook is a file directly under playbooks/; a vars file may sit in a subdirectory. No
# absolute paths, no '.' or '..' segments (each segment starts with a letter, digit or '_' and
# has no two dots in a row); the validation also resolves each inside playbooks/, symlinks too.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*"
PLAYBOOK = rf"^{_SEGMENT}\.ya?ml$"
VARS_FILE = rf"^{_SEGMENT}(/{_SEGMENT})*\.(ya?ml|json)$"
# A path of the project: relative, segments may be hidden ('.state') but never '.' or '..'.
REPO_PATH = rf"^\.?{_SEGMENT}(/\.?{_SEGMENT})*/?$"
VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
PROFILE = r"^[a-z][a-z0-9_]*$"

# The advice shown when a credential is written in place; not a password.
REFERENCE_ADVICE = (
    "is a plaintext credential; never put its value in the stack file: write {env: NAME} "
    "(an environment variable CI injects) or {config: KEY} (a value stored with "
    "'pulumi config set --secret KEY')"
)


def _dns_label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError("must be a DNS label: lowercase letters, digits and '-', 1-63 characters")
    return value


def _tag(value: str) -> str:
    if not _TAG.match(value):
        raise ValueError("must be a Proxmox tag: lowercase letters, digits, '_', '.', '+', '-'")
    return value


def _public_key(value: str) -> str:
    """One OpenSSH public key line: type, base64 blob of that type, optional one-line comment.

    Anything else is refused: a private key, a second line (which would add a key with its own
    ``authorized_keys`` options), or leading options such as ``command="..."``.
    """
    if "PRIVATE KEY" in value:
        raise ValueError("is a private key; only public keys belong in the stack file")
    if any(ch in value for ch in "\r\n\x00") or not value.isprintable():
        raise ValueError("must be one line of printable text: one OpenSSH public key per list item")
    parts = value.split(" ", 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise ValueError(
            "must be an OpenSSH public key line 'TYPE BASE64 [comment]' with no options before it; "
            f"TYPE is one of {', '.join(_KEY_TYPES)}"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("has a key body that is not base64") from None
    # The blob starts with its own type name (RFC 4253 section 6.6): it must match the prefix.
    declared = parts[0].encode()
    if blob[:4] != len(declared).to_bytes(4, "big") or blob[4 : 4 + len(declared)] != declared:
        raise ValueError(f"has a key body that is not an {parts[0]} key")
    if len(parts) == 3 and parts[2] and not _KEY_COMMENT.match(parts[2]):
        raise ValueError("has a comment with characters other than printable ASCII")
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
Name = Annotated[str, Field(pattern=NAME)]
Alias = Annotated[str, Field(pattern=ALIAS)]
StorageId = Annotated[str, Field(pattern=STORAGE_ID, max_length=64)]
VarName = Annotated[str, Field(pattern=VAR_NAME, max_length=128)]
Profile = Annotated[str, Field(pattern=PROFILE, max_length=64)]
VarsFile = Annotated[str, Field(pattern=VARS_FILE, max_length=255)]


class Model(BaseModel):
    """Strict base: camelCase keys, unknown keys rejected, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, strict=True, frozen=True)


class SecretRef(Model):
    """Where a credential comes from; never the credential itself.

    ``env`` names an environment variable of the process running Pulumi (CI injects it);
    ``config`` names a key of this namespace stored as a Pulumi secure value.
    """

    env: str | None = Field(default=None, pattern=_ENV_NAME.pattern, max_length=128)
    """An environment variable of the process running Pulumi that holds the credential."""
    config: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
    """A key of the ``fabric`` namespace stored as a Pulumi secure value."""

    @model_validator(mode="before")
    @classmethod
    def _not_plaintext(cls, data: Any) -> Any:
        if isinstance(data, str | bytes | int | float):
            raise ValueError(REFERENCE_ADVICE)
        return data

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
    username: str | None = Field(
        default=None, pattern=USER_ID, description="user@realm for password logins; unset for tokens."
    )
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

    template_storage: StorageId = Field(default="local", description="Storage holding vztmpl templates.")
    disk_storage: StorageId = Field(default="local-lvm", description="Default storage for root disks.")


class NetworkSpec(Model):
    """An L2 segment with a static IPv4 plan."""

    cidr: Cidr = Field(description="Subnet, e.g. 10.20.0.0/24. Every address must be inside it.")
    gateway: IPv4 = Field(description="Default gateway; never assigned to a container.")
    bridge: str = Field(default="vmbr0", pattern=BRIDGE_ID, description="Linux bridge on the nodes.")
    vlan: int | None = Field(default=None, ge=1, le=4094, description="802.1Q tag, if any.")
    dns_servers: list[IPv4] = Field(default_factory=list, description="Resolvers written into containers.")
    domain: str | None = Field(default=None, pattern=DNS_NAME, max_length=253, description="Search domain.")


class NicSpec(Model):
    """A container's one network interface, on a named network."""

    network: Alias = Field(description="Key of fabric:networks.")
    address: IPv4 = Field(description="Fixed IPv4 address; the prefix comes from the network.")


class FeaturesSpec(Model):
    """LXC features; all off unless a workload needs them."""

    nesting: bool = False
    keyctl: bool = False
    fuse: bool = False


class HaSpec(Model):
    """Proxmox HA management of a container."""

    state: Literal["started", "stopped", "ignored", "disabled"] = "started"
    group: str | None = Field(
        default=None, pattern=CONFIG_ID, description="HA group restricting the nodes it may run on."
    )
    max_restart: int = Field(default=1, ge=0, le=10)
    max_relocate: int = Field(default=1, ge=0, le=10)


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
        default=None, pattern=STORAGE_ID, description="Storage of the volume; defaults to the node's disk storage."
    )
    backup: bool = Field(default=True, description="Include the volume in vzdump backups of the container.")
    accept_empty: bool = Field(
        default=False,
        description=(
            "Recovery only: the volume is gone (its node or storage was lost) and an empty one may take its "
            "place on the next apply. Without it that apply stops naming the volume. Remove it once applied "
            "(docs/runbooks/deleted-outside-pulumi.md)."
        ),
    )


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
    node: Name = Field(description="Key of fabric:nodes the container runs on.")
    image: Alias = Field(description="Key of fabric:images: which catalogued template version it runs.")
    cpu: int = Field(ge=1, le=128, description="CPU cores.")
    memory_mb: int = Field(ge=128, le=1_048_576, description="Dedicated memory in MiB.")
    swap_mb: int = Field(default=0, ge=0, le=262_144, description="Swap in MiB.")
    disk_gb: int = Field(ge=2, le=16_384, description="Root disk size in GiB.")
    datastore: StorageId | None = Field(default=None, description="Root disk storage; defaults to the node's.")
    nic: NicSpec = Field(description="The static network interface.")
    ssh_keys: list[PublicKey] = Field(min_length=1, max_length=64, description="Public keys for bootstrap access.")
    tags: list[Tag] = Field(default_factory=list, max_length=64, description="Proxmox tags, sorted on apply.")
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    unprivileged: bool = Field(default=True, description="Run without host root; only turn off with a reason.")
    start_on_boot: bool = True
    protection: bool = Field(default=False, description="Proxmox refuses to delete the container while set.")
    pool: str | None = Field(default=None, pattern=POOL_ID, description="Proxmox resource pool.")
    ha: HaSpec | None = None
    group: Alias | None = Field(default=None, description="Replica group (e.g. 'database'): rolled member by member.")
    mount_points: list[MountPointSpec] = Field(
        default_factory=list, max_length=256, description="Data volumes that outlive the container."
    )
    policy: Alias | None = Field(default=None, description="Key of fabric:policies applied after create.")
    description: str = Field(default="", max_length=8192, description="Free text shown in the Proxmox UI.")


class PolicySpec(Model):
    """A configuration policy: a playbook and the variables it runs with."""

    playbook: str = Field(default="site.yml", pattern=PLAYBOOK, description="Playbook file directly under playbooks/.")
    profiles: list[Profile] = Field(
        default_factory=list,
        description="Runtime profiles (packages, dirs) to add: keys of the runtime role's catalog.",
    )
    vars_files: list[VarsFile] = Field(default_factory=list, description="Variable files under playbooks/ (relative).")
    vars: dict[VarName, str | int | bool | list[str]] = Field(
        default_factory=dict,
        description="Extra variables. Never credentials (they would reach state in plaintext); "
        "the fabric's own fabric_* variables are set by the fabric, not here.",
    )


class ConfigConnection(Model):
    """How ConfigPolicy reaches containers: SSH, in every stack (the local fabric's containers are real)."""

    type: Literal["ssh"] = "ssh"
    user: str = Field(default="root", pattern=UNIX_USER, description="SSH user for the bootstrap run.")
    private_key: SecretRef | None = Field(default=None, description="Path of the SSH key, as a reference.")
    known_hosts: str = Field(
        default=KNOWN_HOSTS_DIR,
        pattern=REPO_PATH,
        description="Directory (relative to the project) of the pinned host keys, one file per container;"
        " keep it across runs (CI: a cache or artifact) so that a changed key is caught.",
    )
    ssh_wait_s: int = Field(default=90, ge=1, le=3600, description="How long to wait for a container's sshd.")


class VmidRange(Model):
    """A closed range of Proxmox VMIDs, ``first`` to ``last`` included."""

    first: int = Field(ge=100, le=999_999_999)
    last: int = Field(ge=100, le=999_999_999)

    @model_validator(mode="after")
    def _ordered(self) -> VmidRange:
        if self.first > self.last:
            raise ValueError("'first' must not be greater than 'last'")
        return self

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class AddressRange(Model):
    """A closed range of IPv4 addresses, ``first`` to ``last`` included, inside one network."""

    first: IPv4
    last: IPv4

    @model_validator(mode="after")
    def _ordered(self) -> AddressRange:
        if ipaddress.IPv4Address(self.first) > ipaddress.IPv4Address(self.last):
            raise ValueError("'first' must not be greater than 'last'")
        return self

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


class SiteSpec(Model):
    """Which site this stack is, when one repository runs a stack per site (docs/sites.md).

    Every stack file of the project that declares a site is read by the validation of every
    other: two sites on one ``cluster`` must not share a VMID, and two sites whose networks
    overlap must not share an address (a shared network is split into per-site address ranges).
    """

    name: Name = Field(description="The site's name, unique across the project's stack files.")
    cluster: Name = Field(description="The Proxmox cluster it applies to; sites on one cluster share its VMIDs.")
    vmid_range: VmidRange = Field(description="The VMIDs this site may use: every container and the volume owner.")
    address_ranges: dict[Alias, AddressRange] = Field(
        default_factory=dict,
        description="Per key of fabric:networks, the addresses this site assigns; needed on a network "
        "another site shares (else the whole subnet is this site's).",
    )


class FabricIntent(Model):
    """Everything under the ``fabric:`` namespace of a stack file."""

    protected: bool = Field(default=False, description="Apply only from main-branch CI (break-glass aside).")
    site: SiteSpec | None = Field(default=None, description="The site this stack is, in a stack-per-site layout.")
    proxmox: ProxmoxSettings
    """How Pulumi reaches the Proxmox API (endpoint, credential reference)."""
    image_catalog: str = Field(
        default="images/catalog.yaml",
        pattern=REPO_PATH,
        description="Catalog file the images come from, relative to the project and inside it.",
    )
    image_mirror: str = Field(pattern=r"^https?://[\x21-\x7e]+$", description="Base URL serving <family>/<file>.")
    nodes: dict[Name, NodeSpec] = Field(min_length=1)
    """The Proxmox nodes containers may be placed on, with their storages."""
    networks: dict[Alias, NetworkSpec] = Field(min_length=1)
    """The L2 segments containers attach to, each with its static IPv4 plan."""
    images: dict[Alias, str] = Field(min_length=1, description="Alias -> 'family@version' from the catalog.")
    policies: dict[Alias, PolicySpec] = Field(default_factory=dict)
    """Named configuration policies: the playbook, its vars files, runtime profiles and variables."""
    connection: ConfigConnection = Field(default_factory=ConfigConnection)
    """How the configuration reaches containers (SSH, user, key reference, pinned host keys)."""
    groups: dict[Alias, GroupSpec] = Field(default_factory=dict, description="Replica groups; undeclared get defaults.")
    volume_owner: int | None = Field(
        default=None,
        ge=100,
        le=999_999_999,
        description="The VMID that owns every data volume: reserved, never a guest (see docs/stateful.md).",
    )
    containers: dict[Name, ContainerSpec] = Field(min_length=1)
    """Every container of the stack, by name (a DNS label, also its Pulumi resource name)."""


def image_ref(family: str, version: str) -> str:
    """``family@version``: how the stack file, the catalog's identities and the outputs name an image."""
    return f"{family}@{version}"


def parse_image_ref(ref: str) -> tuple[str, str] | None:
    """Split 'family@version'; None when malformed."""
    m = _IMAGE_REF.match(ref)
    return (m["family"], m["version"]) if m else None
