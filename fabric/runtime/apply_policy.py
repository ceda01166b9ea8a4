"""ConfigPolicy's command: apply a playbook to one container, printing only the recap.

``pulumi_command`` runs ``python3 -m fabric.runtime.apply_policy`` with a JSON request on stdin (so no
variable, which may be secret, ever reaches argv or the Pulumi log):

    {"playbook": "site.yml", "varsFiles": [...], "vars": {...}, "imageIdentity": "...",
     "target": {"type": "ssh", "host": "10.20.0.11", "user": "root", "key_env": "...",
                "name": "db-1", "instance": "...", "known_hosts": ".state/known_hosts"}}

Over SSH (every stack, the local fabric's real LXC containers included) the runner waits for
sshd (bounded), pins the container's host key (:mod:`fabric.runtime.ssh_hosts`: recorded at first contact
per container instance, verified afterwards, a changed key fails loudly naming the container),
then logs in as the hardened admin user or, before the first run closed root login, as root
by key: exactly the production phases.

The chroot connection is not a stack connection: only the playbook tier uses it (through
:mod:`fabric.runtime.ansible_run`), on a debootstrap root that is not running.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fabric.paths import KNOWN_HOSTS_DIR, PLAYBOOKS_DIR
from fabric.playbook_digest import files_digest, outranking_var_names
from fabric.runtime.ansible_run import AnsibleRunError, Recap, SshTarget, run_playbook
from fabric.runtime.controller_client import (
    STACK_ENV,
    ControllerKey,
    ControllerSession,
    ControllerUnavailable,
    enabled,
)
from fabric.runtime.ssh_hosts import HostKeyError, login_user, pin_host_key, ssh_options, wait_for_sshd


def load_vars(request: dict[str, Any]) -> dict[str, Any]:
    """Vars files first, then the policy's own variables, as ``-e`` precedence would have it."""
    merged: dict[str, Any] = {}
    for rel in request.get("varsFiles", []):
        merged.update(yaml.safe_load((PLAYBOOKS_DIR / rel).read_text()) or {})
    merged.update(request.get("vars", {}))
    return merged


SSH_WAIT_S = 90.0
"""How long the runner waits for a container's sshd (a fresh container answers in about 2 s)."""


def ssh_target(spec: dict[str, Any], admin_user: str, *, base: Path, env: Mapping[str, str]) -> SshTarget:
    """Wait for sshd, pin its host key, choose the login (admin after hardening, root before)."""
    key_env = spec.get("key_env")
    key = Path(env[key_env]) if key_env and env.get(key_env) else None
    host, port = spec["host"], int(spec.get("port", 22))
    name = str(spec.get("name") or host)
    known_dir = base / str(spec.get("known_hosts") or KNOWN_HOSTS_DIR)
    try:
        wait_for_sshd(host, port, float(spec.get("wait_s", SSH_WAIT_S)), name=name)
        pinned = pin_host_key(known_dir, name, str(spec.get("instance", "")), host, port)
        users = list(dict.fromkeys([admin_user, spec.get("user", "root")]))
        user = login_user(host, users, key, pinned.known_hosts, port)
    except HostKeyError as err:
        raise AnsibleRunError(str(err)) from err
    if user is None:
        raise AnsibleRunError(f"{name} ({host}): neither {' nor '.join(users)} can log in with the configured key")
    return SshTarget(
        host=host,
        user=user,
        port=port,
        private_key=key,
        name=name,
        ssh_common_args=" ".join(ssh_options(pinned.known_hosts)),
    )


def run(
    request: dict[str, Any], *, check: bool = False, base: Path | None = None, env: Mapping[str, str] | None = None
) -> Recap:
    """Run the request's playbook on its target; ``check`` is the drift detector's dry run.

    The known-hosts directory is relative to the Pulumi project (``base``, default: here);
    ``env`` holds the variable naming the SSH key file. The run goes through the apply's warm
    controller (:func:`apply`) unless it is switched off; this function is the one-process path.
    """
    variables, playbook, target = resolve(request, base=base, env=env)
    return run_playbook(target, playbook, variables, check=check)


def resolve(
    request: dict[str, Any], *, base: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Path, SshTarget]:
    """The request's variables, playbook and target, its host key pinned and its login chosen."""
    variables = load_vars(request)
    spec = request["target"]
    if spec.get("type", "ssh") != "ssh":
        raise AnsibleRunError(f"unsupported connection type {spec.get('type')!r}: config policies run over SSH")
    playbook = PLAYBOOKS_DIR / request.get("playbook", "site.yml")
    base = base or Path.cwd()
    admin = str(variables.get("fabric_admin_user", "samakia"))
    target = ssh_target(spec, admin, base=base, env=os.environ if env is None else env)
    return variables, playbook, target


def apply(
    request: dict[str, Any], *, base: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Recap, str]:
    """Run the request, through the apply's warm controller when one can serve it; return the
    recap and a line saying which path ran (printed on stderr: stdout stays the recap).

    The controller is reached before the target is resolved (see
    :class:`~fabric.runtime.controller_client.ControllerSession`); the host key is pinned and the
    login chosen by this command, for its own container, whichever path runs the playbook.
    """
    env = os.environ if env is None else env
    base = base or Path.cwd()
    session, why = open_session(request, base=base, env=env)
    with session or contextlib.nullcontext():
        variables, playbook, target = resolve(request, base=base, env=env)
        if session is not None:
            try:
                shared = session.run(target, playbook, variables)
            except ControllerUnavailable as err:
                why = f"unavailable ({err})"
            else:
                return shared.recap, f"controller: batch {shared.batch} of {shared.size} target(s)"
    return run_playbook(target, playbook, variables), f"controller: {why}, ran on its own"


def open_session(
    request: dict[str, Any], *, base: Path, env: Mapping[str, str]
) -> tuple[ControllerSession | None, str]:
    """A connection to the controller of this stack and policy version, or why there is none."""
    if not enabled(env):
        return None, "off"
    rel = str(request.get("playbook", "site.yml"))
    outranked = sorted(set(load_vars(request)) & outranking_var_names(PLAYBOOKS_DIR, rel))
    if outranked:
        return None, f"not used ({', '.join(outranked)}: set by the playbook above host variables)"
    digest = files_digest(PLAYBOOKS_DIR, rel, list(request.get("varsFiles", [])))
    key = ControllerKey(stack=env.get(STACK_ENV, "-"), files_digest=digest, project=base)
    try:
        return ControllerSession(key, env), ""
    except ControllerUnavailable as err:
        return None, f"unavailable ({err})"


PROFILE_ENV = "SAMAKIA_POLICY_PROFILE"
"""A file each run appends its per-task seconds to (one JSON line), to see where the time goes."""


def record_profile(request: dict[str, Any], recap: Recap) -> None:
    """With ``$SAMAKIA_POLICY_PROFILE`` set, append this run's task timings to that file.

    Names and seconds only: no variable, output or key reaches the file.
    """
    path = os.environ.get(PROFILE_ENV)
    if not path:
        return
    line = {
        "target": str(request["target"].get("name") or request["target"].get("host")),
        "seconds": round(recap.duration_s, 2),
        "tasks": [[name, round(seconds, 2)] for name, seconds in recap.task_seconds],
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        recap, how = apply(request)
    except AnsibleRunError as err:
        print(f"ansible-playbook could not run: {err}", file=sys.stderr)
        return 2
    print(how, file=sys.stderr)
    record_profile(request, recap)
    print(recap.summary())
    for host in recap.hosts.values():
        for line in host.messages:
            print(f"FAILED {line}", file=sys.stderr)
    return 0 if recap.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
