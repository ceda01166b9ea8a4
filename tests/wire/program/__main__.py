"""The wire tier's scenario through Pulumi and the bridged proxmoxve plugin (tests/wire/scenario.py).

The same resources and options as ``fabric/image.py`` and ``fabric/container.py`` (delete before
replace, membership and HA following a replaced container), from the same intent OpenTofu gets.
The site and the step's intent come as JSON in ``SAMAKIA_WIRE_SITE`` and ``SAMAKIA_WIRE_INTENT``.
"""

from __future__ import annotations

import json
import os

import pulumi
import pulumi_proxmoxve as proxmoxve
from pulumi_proxmoxve import download

site = json.loads(os.environ["SAMAKIA_WIRE_SITE"])
intent = json.loads(os.environ["SAMAKIA_WIRE_INTENT"])
scenario = json.loads(os.environ["SAMAKIA_WIRE_CONSTANTS"])
node, vmid = scenario["NODE"], scenario["VMID"]

provider = proxmoxve.Provider("pve", endpoint=site["endpoint"], username="root@pam")
opts = pulumi.ResourceOptions(provider=provider)
files = {
    key: download.File(
        key,
        node_name=node,
        datastore_id=scenario["TEMPLATE_STORE"],
        content_type="vztmpl",
        url=t["url"],
        file_name=t["file_name"],
        checksum=t["sha256"],
        checksum_algorithm="sha256",
        overwrite=False,
        overwrite_unmanaged=True,
        opts=opts,
    )
    for key, t in sorted(site["templates"].items())
}
ct = proxmoxve.ContainerLegacy(
    "ct",
    node_name=node,
    vm_id=vmid,
    description="wire tier",
    tags=intent["tags"],
    unprivileged=True,
    start_on_boot=True,
    started=True,
    protection=intent["protection"],
    cpu=proxmoxve.ContainerLegacyCpuArgs(cores=1),
    memory=proxmoxve.ContainerLegacyMemoryArgs(dedicated=intent["memory"], swap=0),
    disk=proxmoxve.ContainerLegacyDiskArgs(datastore_id=scenario["DISK_STORE"], size=intent["disk"]),
    features=proxmoxve.ContainerLegacyFeaturesArgs(nesting=True, keyctl=True, fuse=False),
    mount_points=[
        proxmoxve.ContainerLegacyMountPointArgs(
            volume=site["volume"], path=scenario["MOUNT_PATH"], size="1G", backup=True
        )
    ],
    operating_system=proxmoxve.ContainerLegacyOperatingSystemArgs(
        template_file_id=files[intent["template"]].id, type="debian"
    ),
    network_interfaces=[proxmoxve.ContainerLegacyNetworkInterfaceArgs(name="eth0", bridge="vmbr0")],
    initialization=proxmoxve.ContainerLegacyInitializationArgs(
        hostname=intent["hostname"],
        dns=proxmoxve.ContainerLegacyInitializationDnsArgs(servers=[site["gateway"]], domain="wire.test"),
        ip_configs=[
            proxmoxve.ContainerLegacyInitializationIpConfigArgs(
                ipv4=proxmoxve.ContainerLegacyInitializationIpConfigIpv4Args(
                    address=site["address"], gateway=site["gateway"]
                )
            )
        ],
        user_account=proxmoxve.ContainerLegacyInitializationUserAccountArgs(keys=[site["ssh_key"]]),
    ),
    opts=pulumi.ResourceOptions(provider=provider, delete_before_replace=True),
)
follow = pulumi.ResourceOptions(provider=provider, depends_on=[ct], replace_with=[ct], delete_before_replace=True)
if intent["pool"]:
    proxmoxve.pool.Membership("ct-pool", pool_id=scenario["POOL"], vm_id=ct.vm_id, opts=follow)
if intent["ha"]:
    proxmoxve.Haresource(
        "ct-ha",
        resource_id=ct.vm_id.apply(lambda v: f"ct:{int(v)}"),
        state="started",
        max_restart=2,
        max_relocate=1,
        opts=follow,
    )
