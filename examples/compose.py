"""Compose Samakia Fabric's components in your own Pulumi program."""

import pulumi

import fabric
from fabric.intent import ProxmoxSettings, SecretRef

provider = fabric.proxmox_provider(
    "pve",
    ProxmoxSettings(endpoint="https://pve1.example:8006/", api_token=SecretRef(env="PROXMOX_VE_API_TOKEN")),
)
opts = pulumi.ResourceOptions(providers=[provider])

build = fabric.shipped_catalog().families["debian12-base"][-1]  # the newest image released with the package
image = fabric.Image(
    "base-pve1",
    fabric.ImageArgs(family="debian12-base", build=build, node="pve1", mirror_url="https://images.example/lxc"),
    opts,
)
cache = fabric.LxcContainer(
    "cache-1",
    fabric.LxcContainerArgs(
        vmid=5001,
        hostname="cache-1",
        node="pve1",
        template_file_id=image.file_id,
        image_identity=image.identity,  # a new image version replaces the container
        cpu=2,
        memory_mb=2048,
        disk_gb=16,
        datastore="local-lvm",
        address="10.50.0.11/24",
        gateway="10.50.0.1",
        ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAK1l9Ha5hXCXm4J85GZKatqwZtUwXnt1hPD68PbO600 ops"],
        tags=["cache"],
    ),
    opts,
)
policy = fabric.ConfigPolicy(
    "cache-1-config",
    fabric.ConfigPolicyArgs(
        container=cache,  # re-runs when the container is replaced or re-created, or its image changes
        target=fabric.PolicyTarget(type="ssh", host="10.50.0.11", key_env="SAMAKIA_SSH_KEY_FILE"),
        variables={"fabric_hostname": "cache-1", "fabric_runtime_profiles": []},
    ),
)
pulumi.export("cache", cache.container_id)
pulumi.export("image", image.identity)
