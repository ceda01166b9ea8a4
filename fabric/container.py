"""``LxcContainer``: one Proxmox LXC container, replaced whenever its image changes."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_proxmoxve as proxmoxve
from pulumi_command import local

from .args import check, raise_problems
from .errors import Problem
from .intent import ContainerSpec, FeaturesSpec, HaSpec
from .tokens import LXC_CONTAINER


@dataclass(frozen=True)
class ContainerMount:
    """A data volume mounted into the container (``DataVolume.volume_id`` normally)."""

    volume: pulumi.Input[str]
    """``storage:volname`` of an existing volume the container does not own."""
    path: str
    size_gb: int
    backup: bool = True


@dataclass(frozen=True)
class ReleaseTarget:
    """How the release step (``fabric.runtime.release``) reaches the PVE API at apply time.

    Credentials by reference only: the *name* of the environment variable that holds them, so
    nothing secret lands in the command's inputs or the state.
    """

    endpoint: str
    token_env: str | None = None
    """Environment variable holding ``user@realm!id=secret``."""
    username: str | None = None
    password_env: str | None = None
    """With ``username``: environment variable holding the password (ticket login)."""
    insecure: bool = False

    def environment(self, node: pulumi.Input[str], vmid: int) -> dict[str, pulumi.Input[str]]:
        env: dict[str, pulumi.Input[str]] = {
            "SAMAKIA_RELEASE_ENDPOINT": self.endpoint,
            "SAMAKIA_RELEASE_NODE": node,
            "SAMAKIA_RELEASE_VMID": str(vmid),
        }
        if self.token_env:
            env["SAMAKIA_RELEASE_TOKEN_ENV"] = self.token_env
        if self.username and self.password_env:
            env |= {"SAMAKIA_RELEASE_USER": self.username, "SAMAKIA_RELEASE_PASSWORD_ENV": self.password_env}
        if self.insecure:
            env["SAMAKIA_RELEASE_INSECURE"] = "1"
        return env


RELEASE = "python3 -m fabric.runtime.release"
GROW_WINDOW = "python3 -m fabric.runtime.grow_window"


@dataclass(frozen=True)
class LxcContainerArgs:
    """A container as the provider needs it; ``Fleet`` builds these from the stack file.

    Fields another resource can supply (the template, the image identity, the node, addresses,
    keys) are ``pulumi.Input``, in the style of Pulumi's component libraries; the fixed VMID
    and the sizes are plain values. ``validate()`` applies the stack intent's own field rules
    to every value already known.
    """

    vmid: int
    """Fixed VMID; kept across replacement, so the old container is deleted first."""
    hostname: pulumi.Input[str]
    """The container's hostname (a DNS label)."""
    node: pulumi.Input[str]
    """Proxmox node it runs on; changing it replaces the container."""
    template_file_id: pulumi.Input[str]
    """Template volume id (``local:vztmpl/<file>``), normally ``Image.file_id``."""
    image_identity: pulumi.Input[str]
    """``family@version#sha256:...``, normally ``Image.identity``: any change of it replaces the container."""
    cpu: int
    """CPU cores."""
    memory_mb: int
    """Memory in MiB; a change is applied in place (hot-plugged)."""
    disk_gb: int
    """Root disk size in GiB."""
    datastore: pulumi.Input[str]
    """Storage of the root disk."""
    address: pulumi.Input[str]
    """Static IPv4 with prefix, e.g. ``10.20.0.11/24``."""
    gateway: pulumi.Input[str]
    """Default gateway; inside the address's subnet and not the address itself."""
    ssh_keys: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public keys root accepts for the bootstrap configuration run."""
    bridge: pulumi.Input[str] = "vmbr0"
    """The node's Linux bridge the NIC attaches to."""
    vlan: int | None = None
    """802.1Q tag of the NIC, if any."""
    swap_mb: int = 0
    """Swap in MiB."""
    dns_servers: Sequence[pulumi.Input[str]] = field(default_factory=list)
    """Resolvers written into the container."""
    domain: pulumi.Input[str] | None = None
    """Search domain written into the container."""
    tags: Sequence[str] = field(default_factory=list)
    """Proxmox tags (lowercase words)."""
    features: FeaturesSpec = field(default_factory=FeaturesSpec)
    """LXC features (nesting, keyctl, fuse); off unless a workload needs them."""
    unprivileged: bool = True
    """Unprivileged unless there is a written reason; privileged containers hold host root."""
    start_on_boot: bool = True
    """Start the container when its node boots."""
    protection: bool = False
    """PVE's own protection flag: refuses deletes made outside Pulumi (the UI, ``pct``)."""
    pool: pulumi.Input[str] | None = None
    """A Proxmox resource pool to put the container in."""
    ha: HaSpec | None = None
    """PVE HA settings (state, group, restart and relocate limits); None: not under HA."""
    description: str = ""
    """Free text shown in Proxmox's UI."""
    mount_points: Sequence[ContainerMount] = field(default_factory=list)
    """Data volumes (mp0, mp1, ...): mounted by volume id, so replacing the container keeps them."""
    wait_for: Sequence[pulumi.Resource] = field(default_factory=list)
    """Resources that must be done before this container is created or replaced: in a replica
    group, the previous member's health check. A plain ``depends_on`` edge: the engine does not
    replace a dependent for it (pulumi ``step_generator.go``, ``calculateDependentReplacements``),
    and the program registers this container only once those resources are done, so the old
    container is deleted only then (``delete_before_replace``)."""
    release: ReleaseTarget | None = None
    """Where the release step finds the PVE API; without it a protected or HA container cannot be
    replaced or destroyed (PVE refuses, as the upstream provider does not lift either)."""

    def problems(self) -> list[Problem]:
        """Everything wrong with these args that can be known before a preview."""
        found: list[Problem] = []
        for name in ("vmid", "hostname", "cpu", "memory_mb", "swap_mb", "disk_gb", "ssh_keys", "tags"):
            found += check(_camel(name), getattr(self, name), ContainerSpec, name)
        found += self._network_problems()
        return found

    def _network_problems(self) -> list[Problem]:
        if not (isinstance(self.address, str) and isinstance(self.gateway, str)):
            return []  # known only at run time
        try:
            if "/" not in self.address:
                raise ValueError("no prefix")
            iface = ipaddress.IPv4Interface(self.address)
        except ValueError:
            return [Problem("address", "must be an IPv4 address with its prefix, e.g. 10.20.0.11/24", self.address)]
        try:
            gateway = ipaddress.IPv4Address(self.gateway)
        except ValueError:
            return [Problem("gateway", "must be an IPv4 address", self.gateway)]
        if gateway not in iface.network:
            return [Problem("gateway", f"is outside {iface.network}", self.gateway)]
        if iface.ip == gateway:
            return [Problem("address", "is the gateway", self.address)]
        return []

    def validate(self) -> LxcContainerArgs:
        """Raise ``FabricConfigError`` naming every problem; return the args when there is none."""
        raise_problems(self.problems())
        return self


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class LxcContainer(pulumi.ComponentResource):
    """A container whose replacement on image change is explicit in its resource options.

    ``replacement_trigger`` keys on the image identity (version and sha256) rather than on
    the provider's own diff, and ``delete_before_replace`` frees the fixed VMID and address
    before the new container is created.

    Protection, HA and pool survive a replacement (docs/engine.md, "Replacing a protected HA
    container"): a release command, a pool membership and the HA resource each take the
    container's VMID from its outputs, so the engine deletes the first two before the container
    (the release's delete clears ``protection`` and removes the HA entry, which PVE otherwise
    refuses to delete past) and re-creates all three after it.
    """

    vmid: pulumi.Output[int]
    """The container's fixed VMID."""
    container_id: pulumi.Output[str]
    """The provider's id of the container (its VMID as text)."""
    address: pulumi.Output[str]
    """Its static IPv4 with prefix."""
    image_identity: pulumi.Output[str]
    """The image the container was created from; ``ConfigPolicy`` re-runs when it changes."""
    instance: pulumi.Output[str]
    """Changes whenever Proxmox creates the container anew (its generated MAC address)."""

    def __init__(self, name: str, args: LxcContainerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()  # before anything is registered
        super().__init__(LXC_CONTAINER, name, None, opts)
        self.args = args
        """The args the container was built from."""
        # Upstream gives dns.servers MinItems 1 (proxmoxtf/resource/container/container.go), so a
        # network with a search domain and no resolvers sends no servers at all, never an empty
        # list; PVE takes a searchdomain without a nameserver (the container keeps the node's).
        dns = (
            proxmoxve.ContainerLegacyInitializationDnsArgs(servers=list(args.dns_servers) or None, domain=args.domain)
            if args.dns_servers or args.domain
            else None
        )
        # A protected container's root disk grows in place only with protection lifted around the
        # update (fabric/runtime/grow_window.py says why); both commands re-run when the size changes.
        release = args.release if args.protection else None
        self.grow_lift = self._grow_window(name, "lift", release, args) if release else None
        """Lifts protection before a root disk grow (None unless protected with ``release``)."""
        self.container = proxmoxve.ContainerLegacy(
            name,
            node_name=args.node,
            vm_id=args.vmid,
            description=args.description or None,
            tags=sorted(args.tags),
            unprivileged=args.unprivileged,
            start_on_boot=args.start_on_boot,
            started=True,
            protection=args.protection,
            cpu=proxmoxve.ContainerLegacyCpuArgs(cores=args.cpu),
            memory=proxmoxve.ContainerLegacyMemoryArgs(dedicated=args.memory_mb, swap=args.swap_mb),
            disk=proxmoxve.ContainerLegacyDiskArgs(datastore_id=args.datastore, size=args.disk_gb),
            features=proxmoxve.ContainerLegacyFeaturesArgs(
                nesting=args.features.nesting, keyctl=args.features.keyctl, fuse=args.features.fuse
            ),
            mount_points=[
                proxmoxve.ContainerLegacyMountPointArgs(
                    volume=m.volume, path=m.path, size=f"{m.size_gb}G", backup=m.backup
                )
                for m in args.mount_points
            ]
            or None,
            operating_system=proxmoxve.ContainerLegacyOperatingSystemArgs(
                template_file_id=args.template_file_id, type="debian"
            ),
            network_interfaces=[
                proxmoxve.ContainerLegacyNetworkInterfaceArgs(name="eth0", bridge=args.bridge, vlan_id=args.vlan)
            ],
            initialization=proxmoxve.ContainerLegacyInitializationArgs(
                hostname=args.hostname,
                dns=dns,
                ip_configs=[
                    proxmoxve.ContainerLegacyInitializationIpConfigArgs(
                        ipv4=proxmoxve.ContainerLegacyInitializationIpConfigIpv4Args(
                            address=args.address, gateway=args.gateway
                        )
                    )
                ],
                user_account=proxmoxve.ContainerLegacyInitializationUserAccountArgs(keys=args.ssh_keys),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                replacement_trigger=args.image_identity,
                delete_before_replace=True,
                depends_on=[*args.wait_for, *([self.grow_lift] if self.grow_lift else [])] or None,
            ),
        )
        """The ``proxmoxve.ContainerLegacy`` resource itself."""
        # Each of these takes the VMID from the container's outputs: a property dependency, so a
        # delete-before-replace of the container replaces them first when their diff on an
        # unknown VMID is a replacement (pulumi/pulumi pkg/resource/deploy/step_generator.go,
        # calculateDependentReplacements).
        vm_id = self.container.vm_id
        self.release = (
            local.Command(
                f"{name}-release",
                create="true",
                delete=RELEASE,
                environment=args.release.environment(args.node, args.vmid),
                triggers=[self.container.id],
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
            )
            if args.release and (args.protection or args.ha)
            else None
        )
        """The release step that lifts protection and HA before a replace or destroy (None without ``release``)."""
        self.grow_restore = self._grow_window(name, "restore", release, args, after=self.container) if release else None
        """Restores protection after a root disk grow (None unless protected with ``release``)."""
        after = [r for r in (self.container, self.release) if r is not None]
        self.pool_membership = (
            proxmoxve.pool.Membership(
                f"{name}-pool",
                pool_id=args.pool,
                vm_id=vm_id,  # RequiresReplace upstream (fwprovider/pools/pool_membership.go)
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )
            if args.pool
            else None
        )
        """The container's pool membership (None without ``pool``)."""
        self.ha = (
            proxmoxve.Haresource(
                f"{name}-ha",
                resource_id=vm_id.apply(lambda v: f"ct:{int(v) if v is not None else args.vmid}"),
                state=args.ha.state,
                group=args.ha.group,
                max_restart=args.ha.max_restart,
                max_relocate=args.ha.max_relocate,
                # resource_id is not RequiresReplace upstream, so the HA resource is not deleted
                # ahead of the container: the release removes its PVE entry, and replace_with
                # re-creates it (delete first: same sid) once the new container exists.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=after, replace_with=[self.container], delete_before_replace=True
                ),
            )
            if args.ha
            else None
        )
        """The container's HA resource (None without ``ha``)."""
        self.vmid = pulumi.Output.from_input(args.vmid)
        self.container_id = self.container.id
        self.address = pulumi.Output.from_input(args.address)
        self.image_identity = pulumi.Output.from_input(args.image_identity)
        # The VMID survives a re-create (drift repaired by `up`); the MAC Proxmox generates does not.
        self.instance = self.container.network_interfaces.apply(_first_mac)
        self.register_outputs(
            {
                "vmid": self.vmid,
                "containerId": self.container_id,
                "address": self.address,
                "imageIdentity": self.image_identity,
                "instance": self.instance,
            }
        )

    def _grow_window(
        self,
        name: str,
        action: str,
        release: ReleaseTarget,
        args: LxcContainerArgs,
        after: pulumi.Resource | None = None,
    ) -> local.Command:
        """One half of the grow window (``lift`` before the container, ``restore`` after it)."""
        return local.Command(
            f"{name}-grow-{action}",
            create=f"{GROW_WINDOW} {action}",
            environment={
                **release.environment(args.node, args.vmid),
                "SAMAKIA_GROW_DISK_GB": str(args.disk_gb),
            },
            triggers=[args.disk_gb],  # re-run exactly when the size changes
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[after] if after else None),
        )


def _first_mac(nics: Sequence[Any] | None) -> str:
    mac = getattr(nics[0], "mac_address", None) if nics else None
    return str(mac or "")
