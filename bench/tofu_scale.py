"""The scale benchmark's peer: OpenTofu with bpg's own provider, applying the bench's containers.

The configuration is derived from the same bench project the raw program reads (its intent files
and the catalog ``ensure_local_images`` wrote), with the attributes ``bench.bench_program.
baseline_program`` gives each ``ContainerLegacy`` and ``download.File``: one template download
per (image, node) and one container per intent entry. OpenTofu is driven the way the wire tier
drives it (``tests/wire/tofu.py``), offline: a CLI config (``TF_CLI_CONFIG_FILE``) points
``bpg/proxmox`` at the built provider (``tofu_env`` says how), so nothing is fetched; the provider reads the
credential from ``PROXMOX_VE_PASSWORD`` and trusts the local Proxmox through ``SSL_CERT_FILE``.

On S3 the state goes to the same SeaweedFS bucket as Pulumi's, under its own key, with
OpenTofu's S3-native lock (``use_lockfile``; OpenTofu v1.12.6 ``internal/backend/remote-state/
s3/backend.go`` declares the attribute and ``client.go`` takes the lock with a conditional put of
``<key>.tflock``), and the AWS-only checks skipped (the same file: ``skip_credentials_validation``,
``skip_requesting_account_id``, ``skip_region_validation``, ``skip_metadata_api_check``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

PROVIDER_ADDRESS = "registry.opentofu.org/bpg/proxmox"
PROVIDER_VERSION = "0.112.0"
"""bpg's version as scripts/wire/provider/go.mod pins it (the mirror's directory names it)."""
CONTAINER = "proxmox_virtual_environment_container"
DOWNLOAD = "proxmox_download_file"
STATE_KEY = "terraform.tfstate"
STEPS = (
    ("up", ("apply", "-auto-approve", "-input=false")),
    # -detailed-exitcode: 0 = no changes, 2 = changes (checked by the caller), as --expect-no-changes.
    ("noop", ("plan", "-detailed-exitcode", "-input=false")),
    ("destroy", ("destroy", "-auto-approve", "-input=false")),
)
"""The steps against the fabric's ``up``, no-change preview and ``destroy``; each tool's defaults
otherwise (OpenTofu refreshes before ``plan`` and ``destroy``, ``-parallelism`` 10)."""


def _containers(project: Path, stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container the stack's intent files hold (the bench keeps none inline)."""
    out: dict[str, dict[str, Any]] = {}
    for rel in stack["config"]["fabric:intentFiles"]:
        out.update(yaml.safe_load((project / rel).read_text())["containers"])
    return out


def _downloads(stack: dict[str, Any], catalog: dict[str, Any], containers: dict[str, Any]) -> dict[str, Any]:
    """One ``proxmox_download_file`` per (image alias, node), as the raw program's ``download.File``."""
    config = stack["config"]
    builds = {b["version"]: b for b in catalog["families"]["debian12-base"]}
    out: dict[str, Any] = {}
    for c in containers.values():
        build = builds[config["fabric:images"][c["image"]].split("@")[1]]
        key = f"{c['image']}-{c['node']}"
        out.setdefault(
            key,
            {
                "node_name": c["node"],
                "datastore_id": "local",
                "content_type": "vztmpl",
                "url": f"{config['fabric:imageMirror']}/debian12-base/{build['file_name']}",
                "file_name": build["file_name"],
                "checksum": build["sha256"],
                "checksum_algorithm": "sha256",
                "overwrite": False,
                "overwrite_unmanaged": True,
            },
        )
    return out


def _container(c: dict[str, Any], net: dict[str, Any]) -> dict[str, Any]:
    """The raw program's ``ContainerLegacy`` arguments, in bpg's HCL names."""
    prefix = net["cidr"].split("/")[1]
    return {
        "node_name": c["node"],
        "vm_id": c["vmid"],
        "tags": sorted(c["tags"]),
        "unprivileged": True,
        "start_on_boot": True,
        "started": True,
        "protection": False,
        "cpu": {"cores": c["cpu"]},
        "memory": {"dedicated": c["memoryMb"], "swap": c["swapMb"]},
        "disk": {"datastore_id": "local-lvm", "size": c["diskGb"]},
        "features": {"nesting": False, "keyctl": False, "fuse": False},
        "operating_system": {
            "template_file_id": f"${{{DOWNLOAD}.{c['image']}-{c['node']}.id}}",
            "type": "debian",
        },
        "network_interface": [{"name": "eth0", "bridge": "vmbr0"}],
        "initialization": {
            "hostname": c["hostname"],
            "ip_config": [{"ipv4": {"address": f"{c['nic']['address']}/{prefix}", "gateway": net["gateway"]}}],
            "user_account": {"keys": c["sshKeys"]},
        },
    }


def s3_backend(bucket: str, endpoint: str, region: str, prefix: str) -> dict[str, Any]:
    """OpenTofu's ``s3`` backend on a SeaweedFS bucket: path-style, AWS-only checks off, S3-native lock."""
    return {
        "bucket": bucket,
        "key": f"{prefix}/{STATE_KEY}",
        "region": region,
        "endpoints": {"s3": endpoint},
        "use_path_style": True,
        "use_lockfile": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_region_validation": True,
        "skip_metadata_api_check": True,
    }


def tofu_config(project: Path, stack_file: Path, backend: dict[str, Any] | None) -> dict[str, Any]:
    """``main.tf.json`` for the bench project's containers (``backend``: the ``s3`` block, None for the local file)."""
    stack = yaml.safe_load(stack_file.read_text())
    config = stack["config"]
    catalog = yaml.safe_load((project / config["fabric:imageCatalog"]).read_text())
    containers = _containers(project, stack)
    (net,) = config["fabric:networks"].values()
    terraform: dict[str, Any] = {
        "required_providers": {"proxmox": {"source": "bpg/proxmox", "version": PROVIDER_VERSION}}
    }
    if backend is not None:
        terraform["backend"] = {"s3": backend}
    return {
        "terraform": terraform,
        "provider": {"proxmox": {"endpoint": config["fabric:proxmox"]["endpoint"]}},
        "resource": {
            DOWNLOAD: _downloads(stack, catalog, containers),
            CONTAINER: {name: _container(c, net) for name, c in containers.items()},
        },
    }


def tofu_env(bin_dir: Path, workdir: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment of every ``tofu`` run: a CLI config whose only provider source is a local
    filesystem mirror holding the built provider, and no prompts.

    Not ``dev_overrides`` as the wire tier (``tests/wire/tofu.py``): the S3 backend needs ``tofu
    init``, and ``init`` under an override still asks the registry for the overridden provider
    (it fails offline: "Failed to resolve provider packages"). A filesystem mirror in the
    unpacked layout (``HOSTNAME/NAMESPACE/TYPE/VERSION/OS_ARCH/``) is what a pinned, offline
    production set-up uses, and ``init`` installs from it without the network.
    """
    mirror = workdir / "providers"
    target = mirror / PROVIDER_ADDRESS / PROVIDER_VERSION / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    plugin = target / f"terraform-provider-proxmox_v{PROVIDER_VERSION}"
    plugin.unlink(missing_ok=True)
    plugin.symlink_to(bin_dir / "terraform-provider-proxmox")
    cli_config = workdir / "tofu.tfrc"
    cli_config.write_text(
        "provider_installation {\n"
        f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n"
        f"    include = [{json.dumps(PROVIDER_ADDRESS)}]\n  }}\n"
        "}\n"
    )
    return {
        **base,
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "PROXMOX_VE_USERNAME": "root@pam",
    }
