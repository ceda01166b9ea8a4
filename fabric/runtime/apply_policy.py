"""ConfigPolicy's command: apply a playbook to one container, printing only the recap.

``pulumi_command`` runs ``python3 -m fabric.runtime.apply_policy`` with a JSON request on stdin (so no
variable, which may be secret, ever reaches argv or the Pulumi log):

    {"playbook": "site.yml", "varsFiles": [...], "vars": {...}, "imageIdentity": "...",
     "target": {"type": "ssh", "host": "10.20.0.11", "user": "root", "key_env": "..."}}

For the local fabric the target is ``chroot``: the container's root directory, unpacked from
the template Proxmox downloaded (and re-unpacked when the image changes), then prepared the way
Proxmox prepares a new container (hostname, root's authorized keys, fresh SSH host keys).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from fabric.paths import PLAYBOOKS_DIR
from fabric.runtime.ansible_run import AnsibleRunError, ChrootTarget, Recap, SshTarget, Target, run_playbook


def prepare_root(root: Path, artifact: Path, identity: str, hostname: str, keys: list[str]) -> bool:
    """Make ``root`` a fresh container root of ``identity``; True when it was (re)created."""
    marker = root.with_name(root.name + ".image")
    if root.is_dir() and marker.is_file() and marker.read_text() == identity:
        return False
    if not artifact.is_file():
        raise SystemExit(f"template {artifact} is not on the node's storage")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(["tar", "--zstd", "-xpf", str(artifact), "-C", str(root), "--numeric-owner"], check=True)
    # What Proxmox does when it creates and starts a container from a template. The local
    # fabric's network is this host's, so the container resolves names the way the host does.
    (root / "etc" / "hostname").write_text(hostname + "\n")
    _lxc_autodev(root / "dev")
    resolv = root / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text("".join(k + "\n" for k in keys))
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)
    # The root lives on this host, not in a running container: no package script may start a
    # daemon here (the playbooks refuse a chroot without this guard).
    guard = root / "usr" / "sbin" / "policy-rc.d"
    guard.write_text("#!/bin/sh\n# local fabric: never start services on the host\nexit 101\n")
    os.chmod(guard, 0o755)  # noqa: S103 (an executable, as Debian ships it)
    marker.write_text(identity)
    return True


# The device nodes LXC's autodev gives every container (the template ships an empty /dev).
AUTODEV = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


def _lxc_autodev(dev: Path) -> None:
    dev.mkdir(exist_ok=True)
    for name, (major, minor) in AUTODEV.items():
        node = dev / name
        if not node.exists():
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(node, 0o666)  # noqa: S103 (mknod honours the umask; apt's sandbox user needs /dev/null)
    for sub in ("pts", "shm"):
        (dev / sub).mkdir(exist_ok=True)


def load_vars(request: dict[str, Any]) -> dict[str, Any]:
    """Vars files first, then the policy's own variables, as ``-e`` precedence would have it."""
    merged: dict[str, Any] = {}
    for rel in request.get("varsFiles", []):
        merged.update(yaml.safe_load((PLAYBOOKS_DIR / rel).read_text()) or {})
    merged.update(request.get("vars", {}))
    return merged


def ssh_targets(spec: dict[str, Any], admin_user: str) -> list[Target]:
    """The admin user first (hardened hosts), root second (the bootstrap run)."""
    key_env = spec.get("key_env")
    key = Path(os.environ[key_env]) if key_env and os.environ.get(key_env) else None
    users = [admin_user, spec.get("user", "root")]
    return [SshTarget(host=spec["host"], user=u, private_key=key) for u in dict.fromkeys(users)]


def run(request: dict[str, Any], *, check: bool = False, base: Path | None = None) -> Recap:
    """Run the request's playbook on its target; ``check`` is the drift detector's dry run.

    A chroot target's path is relative to the Pulumi project (``base``, default: here).
    """
    variables = load_vars(request)
    spec = request["target"]
    playbook = PLAYBOOKS_DIR / request.get("playbook", "site.yml")
    if spec["type"] == "chroot":
        root = ((base or Path.cwd()) / spec["host"]).resolve()
        if not root.is_dir():
            raise AnsibleRunError(f"container root {root} does not exist")
        name = str(variables.get("fabric_hostname", root.name))
        return run_playbook(ChrootTarget(root=root, name=name), playbook, variables, check=check)
    recap: Recap | None = None
    for target in ssh_targets(spec, str(variables.get("fabric_admin_user", "samakia"))):
        recap = run_playbook(target, playbook, variables, check=check)
        if recap.unreachable == 0:
            break
    assert recap is not None
    return recap


def apply(request: dict[str, Any]) -> Recap:
    spec = request["target"]
    if spec["type"] == "chroot":
        variables = load_vars(request)
        root = Path(spec["host"]).resolve()
        fresh = prepare_root(
            root,
            Path(spec["image_artifact"]).resolve(),
            request["imageIdentity"],
            str(variables.get("fabric_hostname", root.name)),
            list(variables.get("fabric_admin_ssh_keys", [])),
        )
        print(f"root {root.name}: {'unpacked from ' + Path(spec['image_artifact']).name if fresh else 'kept'}")
    return run(request)


def main() -> int:
    request = json.loads(sys.stdin.read())
    try:
        recap = apply(request)
    except AnsibleRunError as err:
        print(f"ansible-playbook could not run: {err}", file=sys.stderr)
        return 2
    print(recap.summary())
    for host in recap.hosts.values():
        for line in host.messages:
            print(f"FAILED {line}", file=sys.stderr)
    return 0 if recap.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
