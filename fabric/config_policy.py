"""``ConfigPolicy``: Ansible applied to a container after it exists, re-run when it changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local

from .playbook_digest import combine, files_digest

# The runner is a module of this repository, found through PATH's python3 and the
# program's working directory, so the command text is the same on every machine.
RUNNER = "python3 -m ops.apply_policy"


@dataclass(frozen=True)
class PolicyTarget:
    """How the runner reaches the container."""

    type: str
    """``ssh`` (production) or ``chroot`` (the local fabric's container roots)."""
    host: str
    """SSH: the container's address. chroot: the container root directory."""
    user: str = "root"
    key_env: str | None = None
    """SSH: the environment variable naming the private key file (never the key itself)."""
    image_artifact: str | None = None
    """chroot: the template tarball a fresh root is unpacked from."""


@dataclass(frozen=True)
class ConfigPolicyArgs:
    """A playbook, its variables, and the container it configures."""

    container: pulumi.Resource
    """The provider resource of the container; replacing it re-runs the policy."""
    container_id: pulumi.Input[str]
    image_identity: str
    """Image version and digest: a new image means a new root to configure."""
    target: PolicyTarget
    playbook: str = "site.yml"
    vars_files: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    """Extra variables (hostname, admin keys, runtime profiles); passed on stdin, not argv."""
    playbooks_dir: Path = Path("playbooks")
    container_instance: pulumi.Input[str] = ""
    """Changes when Proxmox creates the container anew (``LxcContainer.instance``): a container
    deleted behind Pulumi's back and re-created by ``up`` is configured again."""
    files_digest: str | None = None
    """Digest of the playbook's files when the caller already has it (a fleet shares one per policy)."""


class ConfigPolicy(pulumi.ComponentResource):
    """Runs ``ansible-playbook`` through ``pulumi_command.local.Command``.

    Triggers: the container id and instance, the image identity, and a digest of the
    playbook, the roles it uses and its variables. Variables travel on stdin and are not echoed; the
    runner prints only the play recap.
    """

    digest: pulumi.Output[str]

    def __init__(self, name: str, args: ConfigPolicyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("samakia:fabric:ConfigPolicy", name, None, opts)
        variables = dict(sorted(args.variables.items()))
        files = args.files_digest or files_digest(args.playbooks_dir, args.playbook, args.vars_files)
        digest = combine(files, json.dumps(variables, sort_keys=True))
        request = {
            "playbook": args.playbook,
            "varsFiles": args.vars_files,
            "vars": {**variables, "fabric_policy_version": digest[:12]},
            "target": {k: v for k, v in vars(args.target).items() if v is not None},
            "imageIdentity": args.image_identity,
        }
        self.command = local.Command(
            name,
            create=RUNNER,
            stdin=json.dumps(request, sort_keys=True),
            triggers=[args.container_id, args.image_identity, digest, args.container_instance],
            logging=local.Logging.STDOUT,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.container], replace_with=[args.container]),
        )
        self.digest = pulumi.Output.from_input(digest)
        self.register_outputs({"digest": self.digest, "recap": self.command.stdout})
