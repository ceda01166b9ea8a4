"""``ConfigPolicy``: Ansible applied to a container after it exists, re-run when it changes."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local

from .args import known, raise_problems
from .container import LxcContainer
from .errors import Problem
from .paths import PLAYBOOKS_DIR
from .playbook_digest import combine, files_digest
from .tokens import CONFIG_POLICY

# The runner is a module of this repository, found through PATH's python3 and the
# program's working directory, so the command text is the same on every machine.
RUNNER = "python3 -m fabric.runtime.apply_policy"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True)
class PolicyTarget:
    """How the runner reaches the container."""

    type: str
    """``ssh``: the only connection a stack uses (the local fabric's containers are real too)."""
    host: str
    """The container's address."""
    user: str = "root"
    """The bootstrap user (root by key); later runs log in as the admin user the policy creates."""
    key_env: str | None = None
    """The environment variable naming the private key file (never the key itself)."""
    name: str | None = None
    """The container's name: its pinned host keys are filed under it, errors name it."""
    known_hosts: str | None = None
    """Directory of pinned host keys, relative to the project (default ``.state/known_hosts``)."""
    wait_s: int | None = None
    """Seconds to wait for the container's sshd."""

    def problems(self) -> list[Problem]:
        """Everything wrong with the target that can be known before a preview."""
        found = []
        if self.type != "ssh":
            found.append(Problem("target.type", "must be 'ssh'", self.type))
        if not self.host:
            found.append(Problem("target.host", "must name the container's address", self.host))
        if self.key_env is not None and not _ENV_NAME.match(self.key_env):
            found.append(Problem("target.keyEnv", "must name an environment variable, not hold a key", "[hidden]"))
        return found


@dataclass(frozen=True)
class ConfigPolicyArgs:
    """A playbook, its variables, and the container it configures."""

    container: pulumi.Resource
    """The container: an ``LxcContainer`` (its id, instance and image are then taken from it), or
    any resource whose replacement should re-run the policy (then give ``container_id`` and
    ``image_identity``)."""
    target: PolicyTarget
    """How the runner reaches the container (address, user, key)."""
    playbook: str = "site.yml"
    """The playbook to run, relative to the policy's directory (``site.yml``: the whole policy)."""
    vars_files: Sequence[str] = field(default_factory=list)
    """Vars files under the policy's directory, loaded before ``variables`` (e.g. ``vars/dns.yml``)."""
    variables: dict[str, Any] = field(default_factory=dict)
    """Extra variables (hostname, admin keys, runtime profiles); passed on stdin, not argv."""
    playbooks_dir: Path = PLAYBOOKS_DIR
    """Where the playbook is read for its digest. The runner always runs ``fabric.paths.PLAYBOOKS_DIR``:
    leave the default, except to digest a scratch tree in a test."""
    container_id: pulumi.Input[str] | None = None
    """Defaults to ``LxcContainer.container_id``."""
    image_identity: pulumi.Input[str] | None = None
    """Image version and digest (defaults to ``LxcContainer.image_identity``): a new image means a
    new root to configure."""
    container_instance: pulumi.Input[str] | None = None
    """Changes when Proxmox creates the container anew (defaults to ``LxcContainer.instance``): a
    container deleted behind Pulumi's back and re-created by ``up`` is configured again."""
    files_digest: str | None = None
    """Digest of the playbook's files when the caller already has it (a fleet shares one per policy)."""

    def problems(self) -> list[Problem]:
        """Everything wrong with these args that can be known before a preview."""
        found = self.target.problems()
        if not isinstance(self.container, LxcContainer):
            for name in ("container_id", "image_identity"):
                if getattr(self, name) is None:
                    found.append(Problem(name, "is required when 'container' is not an LxcContainer", None))
        if self.files_digest is None:
            for path, rel in [("playbook", self.playbook), *(("varsFiles", f) for f in self.vars_files)]:
                if not (self.playbooks_dir / rel).is_file():
                    found.append(Problem(path, f"no such file under {self.playbooks_dir}", rel))
        try:
            json.dumps(self.variables)
        except (TypeError, ValueError):
            found.append(Problem("variables", "must be plain data (text, numbers, booleans, lists, mappings)", None))
        return found

    def validate(self) -> ConfigPolicyArgs:
        """Raise ``FabricConfigError`` naming every problem; return the args when there is none."""
        raise_problems(self.problems())
        return self


class ConfigPolicy(pulumi.ComponentResource):
    """Runs ``ansible-playbook`` through ``pulumi_command.local.Command``.

    Triggers: the container id and instance, the image identity, and a digest of the
    playbook, the roles it uses and its variables. Variables travel on stdin and are not echoed; the
    runner prints only the play recap.
    """

    digest: pulumi.Output[str]
    """Digest of the playbook's files and variables: a change re-runs the policy."""
    recap: pulumi.Output[str]
    """What the runner printed: the play recap."""

    def __init__(self, name: str, args: ConfigPolicyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        args.validate()  # before anything is registered
        super().__init__(CONFIG_POLICY, name, None, opts)
        component = args.container if isinstance(args.container, LxcContainer) else None
        resource = component.container if component else args.container
        container_id = args.container_id if args.container_id is not None else _from(component, "container_id")
        identity = args.image_identity if args.image_identity is not None else _from(component, "image_identity")
        instance = args.container_instance
        if instance is None:
            instance = component.instance if component else ""
        variables = dict(sorted(args.variables.items()))
        files = args.files_digest or files_digest(args.playbooks_dir, args.playbook, list(args.vars_files))
        digest = combine(files, json.dumps(variables, sort_keys=True))
        request = {
            "playbook": args.playbook,
            "varsFiles": list(args.vars_files),
            "vars": {**variables, "fabric_policy_version": digest[:12]},
            "target": {k: v for k, v in vars(args.target).items() if v is not None},
        }
        # A known identity and instance keep stdin plain text (cheap, readable in a preview);
        # outputs make it one. The instance pins the host key: a re-created container may
        # present a new one, the same container may not.
        stdin: pulumi.Input[str] = (
            _request_text(request, identity, instance)
            if known(identity) and known(instance)
            else pulumi.Output.all(identity, instance).apply(lambda v: _request_text(request, v[0], v[1]))
        )
        self.command = local.Command(
            name,
            create=RUNNER,
            stdin=stdin,
            triggers=[container_id, identity, digest, instance],
            logging=local.Logging.STDOUT,
            # The recap stays short, and no previous output is handed to the next run in its
            # environment (pulumi/pulumi-command#285: "argument list too long").
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[resource], replace_with=[resource]),
        )
        """The ``pulumi_command.local.Command`` that runs the policy (its stdout is the recap)."""
        self.digest = pulumi.Output.from_input(digest)
        self.recap = self.command.stdout
        self.register_outputs({"digest": self.digest, "recap": self.recap})


def _request_text(request: dict[str, Any], identity: Any, instance: Any) -> str:
    target = {**request["target"], "instance": instance}
    return json.dumps({**request, "target": target, "imageIdentity": identity}, sort_keys=True)


def _from(component: LxcContainer | None, attribute: str) -> pulumi.Output[str]:
    assert component is not None  # validate() requires the value otherwise
    value: pulumi.Output[str] = getattr(component, attribute)
    return value
