"""A team's own Pulumi program on the ``samakia-fabric`` package, outside the Samakia Fabric repository.

It composes the package's three components (an ``Image``, an ``LxcContainer`` built from it, the
``ConfigPolicy`` that configures it) with one resource of its own: a command that logs in to the
configured container over SSH as the hardened admin user, checking the host key the policy pinned.

Config (``pulumi config set KEY VALUE``; every key is this project's own):

- ``endpoint``: the Proxmox API URL; ``username`` (password login, the password in
  ``PROXMOX_VE_PASSWORD``) or none (API token in ``PROXMOX_VE_API_TOKEN``).
- ``node``, ``mirror`` (where the image artifacts are served), ``image`` (``family@version``),
  ``catalog`` (a catalog file of your own; default: the one released with the package).
- ``vmid``, ``address`` (CIDR), ``gateway``, ``sshKeys`` (a list), ``keyEnv`` (the variable naming
  the private key file), ``policyVars`` (extra variables for the policy, e.g. an apt mirror).
"""

import pulumi
from pulumi_command import local

import fabric
from fabric.intent import ProxmoxSettings, SecretRef

config = pulumi.Config()
endpoint = config.require("endpoint")
username = config.get("username")
settings = (
    ProxmoxSettings(endpoint=endpoint, username=username, password=SecretRef(env="PROXMOX_VE_PASSWORD"))
    if username
    else ProxmoxSettings(endpoint=endpoint, api_token=SecretRef(env="PROXMOX_VE_API_TOKEN"))
)
provider = fabric.proxmox_provider("pve", settings)
opts = pulumi.ResourceOptions(providers=[provider])

family, version = config.require("image").split("@")
catalog_file = config.get("catalog")
catalog = fabric.load_catalog(catalog_file, missing_ok=False) if catalog_file else fabric.shipped_catalog()
build = catalog.find(family, version)
if build is None:
    raise fabric.FabricConfigError([fabric.Problem("image", "is not in the catalog", config.require("image"))])

node = config.get("node") or "pve1"
name = "cache-1"
address = config.require("address")
host = address.split("/")[0]
ssh_keys = config.require_object("sshKeys")
key_env = config.get("keyEnv") or "FABRIC_SSH_KEY_FILE"

image = fabric.Image(
    f"{family}-{node}",
    fabric.ImageArgs(family=family, build=build, node=node, mirror_url=config.require("mirror")),
    opts,
)
cache = fabric.LxcContainer(
    name,
    fabric.LxcContainerArgs(
        vmid=config.require_int("vmid"),
        hostname=name,
        node=node,
        template_file_id=image.file_id,
        image_identity=image.identity,
        cpu=1,
        memory_mb=512,
        disk_gb=4,
        datastore="local-lvm",
        address=address,
        gateway=config.require("gateway"),
        ssh_keys=ssh_keys,
        tags=["cache"],
    ),
    opts,
)
policy = fabric.ConfigPolicy(
    f"{name}-config",
    fabric.ConfigPolicyArgs(
        container=cache,
        target=fabric.PolicyTarget(type="ssh", host=host, key_env=key_env, name=name),
        variables={
            "fabric_hostname": name,
            "fabric_admin_ssh_keys": ssh_keys,
            "fabric_runtime_profiles": [],
            **(config.get_object("policyVars") or {}),
        },
    ),
)

# The team's own resource: after the policy ran, log in as the admin user it created, checking the
# host key the policy's runner pinned at first contact (.state/known_hosts/<name>).
hello = local.Command(
    f"{name}-hello",
    create=(
        f'ssh -i "${key_env}" -o UserKnownHostsFile=.state/known_hosts/{name} -o GlobalKnownHostsFile=/dev/null'
        f" -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes samakia@{host} cat /etc/hostname"
    ),
    triggers=[policy.digest, cache.instance],
    opts=pulumi.ResourceOptions(depends_on=[policy]),
)

pulumi.export("vmid", cache.vmid)
pulumi.export("image", image.identity)
pulumi.export("recap", policy.recap)
pulumi.export("hostname", hello.stdout)
