"""``Fleet``: the whole fabric composed from a validated stack, in the spec's order.

Images come first, containers depend on their image's file, and each config policy
depends on its container: the resource graph enforces images -> infrastructure ->
configuration.
"""

from __future__ import annotations

import ipaddress
from functools import partial
from typing import Any

import pulumi

from .config_policy import ConfigPolicy, ConfigPolicyArgs, PolicyTarget
from .container import ContainerMount, LxcContainer, LxcContainerArgs, ReleaseTarget
from .data_volume import DataVolume, DataVolumeArgs, PveAccess
from .health_check import HealthCheck, HealthCheckArgs
from .image import Image, ImageArgs
from .intent import ContainerSpec, image_ref
from .paths import PLAYBOOKS_DIR
from .playbook_digest import files_digest
from .stateful import rollout_waits
from .tokens import FLEET
from .validation import ResolvedImage, ValidatedStack


class Fleet(pulumi.ComponentResource):
    """Every image, container and config policy a stack declares."""

    containers_summary: pulumi.Output[dict[str, Any]]
    """Per container: its vmid, node, address and image (``family@version``)."""
    images_summary: pulumi.Output[dict[str, Any]]
    """Per image and node (``family@version/node``): the template's file id."""

    def __init__(self, name: str, fabric: ValidatedStack, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(FLEET, name, None, opts)
        self.fabric = fabric
        """The validated stack this fleet was built from."""
        child = pulumi.ResourceOptions(parent=self)
        self.images: dict[tuple[str, str], Image] = {}
        """Every ``Image``, by (``family@version``, node)."""
        self.containers: dict[str, LxcContainer] = {}
        """Every ``LxcContainer``, by container name."""
        self.policies: dict[str, ConfigPolicy] = {}
        """Every ``ConfigPolicy``, by the name of the container it configures."""
        self.volumes: dict[tuple[str, str], DataVolume] = {}
        """Every ``DataVolume``, by (container name, mount point name)."""
        self.health: dict[str, HealthCheck] = {}
        """Every ``HealthCheck``, by the name of the container it probes."""
        self._digests: dict[str, str] = {}
        # Replica groups roll: a member is (re)created only after the previous one is healthy.
        waits = rollout_waits(fabric.intent)
        for cname, spec in fabric.intent.containers.items():
            image = self._image(fabric.image_of(spec), spec.node, child)
            mounts = [self._volume(cname, spec, i, child) for i in range(len(spec.mount_points))]
            gate = self._gate(waits.get(cname))
            container = LxcContainer(cname, self._container_args(spec, image, mounts, gate), child)
            self.containers[cname] = container
            policy = None
            if spec.policy is not None:
                policy = ConfigPolicy(f"{cname}-config", self._policy_args(spec, image, container), child)
                self.policies[cname] = policy
            if policy is not None:
                # What a configured container serves is probed over the network (in every stack:
                # the local fabric's containers are real too).
                self.health[cname] = HealthCheck(f"{cname}-health", self._health_args(spec, container, policy), child)
        self.containers_summary = pulumi.Output.from_input(
            {
                name: pulumi.Output.all(c.vmid, c.address).apply(partial(self._describe, name))
                for name, c in self.containers.items()
            }
        )
        file_ids: dict[str, pulumi.Output[str]] = {
            f"{image_ref(i.args.family, i.args.build.version)}/{i.args.node}": i.file_id for i in self.images.values()
        }
        self.images_summary = pulumi.Output.from_input(file_ids)
        self.register_outputs({"containers": self.containers_summary, "images": self.images_summary})

    def _image(self, resolved: ResolvedImage, node: str, opts: pulumi.ResourceOptions) -> Image:
        key = (resolved.identity, node)
        if key not in self.images:
            args = ImageArgs(
                family=resolved.family,
                build=resolved.build,
                node=node,
                mirror_url=self.fabric.intent.image_mirror,
                datastore=self.fabric.intent.nodes[node].template_storage,
            )
            self.images[key] = Image(f"{resolved.family}-{resolved.build.version}-{node}", args, opts)
        return self.images[key]

    def _gate(self, previous: str | None) -> list[pulumi.Resource]:
        """What a member waits for: the previous member's health check (every configured container has
        one, after its policy), else its container."""
        if previous is None:
            return []
        if previous in self.health:
            return [self.health[previous].command]
        return [self.containers[previous].container]

    def _volume(self, cname: str, spec: ContainerSpec, index: int, opts: pulumi.ResourceOptions) -> ContainerMount:
        intent = self.fabric.intent
        mount = spec.mount_points[index]
        resolved = mount.model_copy(update={"datastore": mount.datastore or intent.nodes[spec.node].disk_storage})
        assert intent.volume_owner is not None  # validation requires it with mount points
        access = self._access()
        args = DataVolumeArgs(container=cname, mount=resolved, node=spec.node, owner=intent.volume_owner, access=access)
        volume = DataVolume(f"{cname}-{mount.name}", args, opts)
        self.volumes[(cname, mount.name)] = volume
        return ContainerMount(volume=volume.volume_id, path=mount.path, size_gb=mount.size_gb, backup=mount.backup)

    def _access(self) -> PveAccess:
        """How a volume's runner logs in: the names of the environment variables the provider reads too
        (``proxmox_provider`` admits no other reference), so no credential enters the command's inputs."""
        px = self.fabric.intent.proxmox
        return PveAccess(
            endpoint=px.endpoint,
            username=px.username,
            password_env=px.password.env if px.password else None,
            token_env=px.api_token.env if px.api_token else None,
            insecure=px.insecure,
        )

    def _health_args(self, spec: ContainerSpec, container: LxcContainer, policy: ConfigPolicy) -> HealthCheckArgs:
        profiles = list(self.fabric.intent.policies[spec.policy].profiles) if spec.policy else []
        triggers: list[pulumi.Input[str]] = [container.container_id, container.instance, policy.digest]
        after: list[pulumi.Resource] = [container.container, policy.command]
        return HealthCheckArgs(
            host=spec.nic.address,
            hostname=spec.hostname,
            profiles=profiles,
            triggers=triggers,
            depends_on=after,
        )

    def _container_args(
        self, spec: ContainerSpec, image: Image, mounts: list[ContainerMount], gate: list[pulumi.Resource]
    ) -> LxcContainerArgs:
        intent = self.fabric.intent
        net = intent.networks[spec.nic.network]
        prefix = ipaddress.IPv4Network(net.cidr).prefixlen
        return LxcContainerArgs(
            vmid=spec.vmid,
            hostname=spec.hostname,
            node=spec.node,
            template_file_id=image.file_id,
            image_identity=image.args.identity,
            cpu=spec.cpu,
            memory_mb=spec.memory_mb,
            swap_mb=spec.swap_mb,
            disk_gb=spec.disk_gb,
            datastore=spec.datastore or intent.nodes[spec.node].disk_storage,
            address=f"{spec.nic.address}/{prefix}",
            gateway=net.gateway,
            bridge=net.bridge,
            vlan=net.vlan,
            dns_servers=list(net.dns_servers),
            domain=net.domain,
            ssh_keys=list(spec.ssh_keys),
            tags=list(spec.tags),
            features=spec.features,
            unprivileged=spec.unprivileged,
            start_on_boot=spec.start_on_boot,
            protection=spec.protection,
            pool=spec.pool,
            ha=spec.ha,
            description=spec.description,
            release=self._release_target(),
            mount_points=mounts,
            wait_for=gate,
        )

    def _release_target(self) -> ReleaseTarget:
        """The release step reads the same credential references as the provider (by name only)."""
        pve = self.fabric.intent.proxmox
        return ReleaseTarget(
            endpoint=pve.endpoint,
            token_env=pve.api_token.env if pve.api_token else None,
            username=pve.username,
            password_env=pve.password.env if pve.password else None,
            insecure=pve.insecure,
        )

    def _target(self, spec: ContainerSpec) -> PolicyTarget:
        conn = self.fabric.intent.connection
        key_env = conn.private_key.env if conn.private_key else None
        return PolicyTarget(
            type="ssh",
            host=spec.nic.address,
            user=conn.user,
            key_env=key_env,
            name=spec.hostname,
            known_hosts=conn.known_hosts,
            wait_s=conn.ssh_wait_s,
        )

    def _policy_args(self, spec: ContainerSpec, image: Image, container: LxcContainer) -> ConfigPolicyArgs:
        assert spec.policy is not None
        policy = self.fabric.intent.policies[spec.policy]
        variables: dict[str, Any] = {
            **policy.vars,
            "fabric_hostname": spec.hostname,
            # Where the services listen, and whom they answer: the container's own address, its network.
            "fabric_address": spec.nic.address,
            "fabric_network": self.fabric.intent.networks[spec.nic.network].cidr,
            "fabric_admin_ssh_keys": list(spec.ssh_keys),
            "fabric_runtime_profiles": list(policy.profiles),
        }
        return ConfigPolicyArgs(
            container=container,
            # The identity as plain text (``Image.identity`` carries the same value): a known
            # value keeps the policy's stdin a plain string, which is cheaper at scale.
            image_identity=image.args.identity,
            target=self._target(spec),
            playbook=policy.playbook,
            vars_files=list(policy.vars_files),
            variables=variables,
            files_digest=self._files_digest(spec.policy),
        )

    def _files_digest(self, policy_name: str) -> str:
        # Read and hash each policy's files once per program run, not once per container.
        if policy_name not in self._digests:
            policy = self.fabric.intent.policies[policy_name]
            self._digests[policy_name] = files_digest(PLAYBOOKS_DIR, policy.playbook, policy.vars_files)
        return self._digests[policy_name]

    def _describe(self, name: str, values: list[Any]) -> dict[str, Any]:
        vmid, address = values
        spec = self.fabric.intent.containers[name]
        image = self.fabric.image_of(spec)
        ref = image_ref(image.family, image.build.version)
        return {"vmid": vmid, "address": address, "node": spec.node, "image": ref}

    def summary(self) -> dict[str, pulumi.Output[Any]]:
        """Stack outputs: per container its vmid, node, address and image; per image its file id."""
        return {"containers": self.containers_summary, "images": self.images_summary}
