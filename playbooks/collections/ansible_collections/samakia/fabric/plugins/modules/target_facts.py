#!/usr/bin/python
# Copyright: Samakia Fabric
# Apache-2.0
"""samakia.fabric.target_facts: the facts the fabric's roles need, in one cheap remote call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: target_facts
short_description: The facts the Samakia Fabric roles need, in one cheap call
description:
  - Returns what the roles decide on (chroot or not, container type, whether a service manager
    is running, whether a policy-rc.d guard exists, the Debian release, the installed packages)
    without the cost of the C(setup) module, which runs many collectors the roles never read.
  - Also returns the accounts that carry a password hash or an empty password (for locking) and
    the group sizes of the SSH Diffie-Hellman moduli, so no role needs a remote call of its own
    just to read them.
  - Fails when the target is a chroot without a C(policy-rc.d) guard (package maintainer
    scripts would start daemons on the build host).
  - Reads only local files; changes nothing, so it runs in check mode too.
options:
  chroot_connection:
    description: The run's connection plugin is a chroot one (the controller knows, the target may not).
    type: bool
    default: false
  sysctl_scope:
    description: Where sysctl hardening may be written; refused unless one of the choices.
    type: str
    choices: [auto, full, namespaced, none]
    default: auto
author:
  - Samakia Fabric
"""

EXAMPLES = r"""
- name: Read the target's facts
  samakia.fabric.target_facts:
"""

RETURN = r"""
ansible_facts:
  description: C(samakia_target) with the keys below.
  returned: always
  type: dict
  contains:
    samakia_target:
      description: chroot (bool, detected or a chroot connection), container (str,
        empty when none), booted (bool), policy_rc_d (bool), distribution_release (str),
        packages (list of installed package names), password_accounts (list of name and uid of
        the accounts whose shadow field is a hash or empty), ssh_moduli_sizes (list of int).
      type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

# The same test the setup module's chroot collector uses (ansible.module_utils.facts.system.chroot).
from ansible.module_utils.facts.system.chroot import is_chroot

DPKG_STATUS = "/var/lib/dpkg/status"
SSH_MODULI = "/etc/ssh/moduli"
ACCOUNT_DB = "/etc/passwd"
SHADOW_DB = "/etc/shadow"


def installed_packages(status_path: str = DPKG_STATUS) -> list[str]:
    """Names of the packages dpkg records as ``install ok installed``."""
    names: list[str] = []
    try:
        with open(status_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return names
    for stanza in text.split("\n\n"):
        package = status = ""
        for line in stanza.splitlines():
            if line.startswith("Package: "):
                package = line[9:].strip()
            elif line.startswith("Status: "):
                status = line[8:].strip()
        if package and status == "install ok installed":
            names.append(package)
    return sorted(set(names))


def container_type() -> str:
    """The container manager systemd detected (``/run/systemd/container``), else PID 1's ``container=``."""
    try:
        with open("/run/systemd/container", encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        pass
    try:
        with open("/proc/1/environ", "rb") as fh:
            for entry in fh.read().split(b"\0"):
                if entry.startswith(b"container="):
                    return entry[10:].decode(errors="replace")
    except OSError:
        pass
    return ""


def os_release_codename() -> str:
    """VERSION_CODENAME from /etc/os-release (empty when absent)."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    key, _, value = line.strip().partition("=")
                    if key == "VERSION_CODENAME":
                        return value.strip("\"'")
        except OSError:
            continue
    return ""


def colon_records(path: str) -> list[list[str]]:
    """The colon-separated fields of each line of an account database (passwd, shadow)."""
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n").split(":") for line in fh]


def password_accounts(account_db: str = ACCOUNT_DB, shadow_db: str = SHADOW_DB) -> list[dict[str, object]]:
    """Accounts whose shadow password field is a crypt hash or empty, with their uid.

    A locked (``!``/``*``) account is left out. Reads the files the container's NSS uses (a
    Debian container has no other account source); the shadow file needs root, as every policy
    run has.
    """
    uids = {f[0]: int(f[2]) for f in colon_records(account_db) if len(f) >= 3 and f[2].isdigit()}
    return [
        {"name": f[0], "uid": uids[f[0]]}
        for f in colon_records(shadow_db)
        if len(f) >= 2 and f[0] in uids and (f[1] == "" or f[1].startswith("$"))
    ]


def moduli_sizes(path: str = SSH_MODULI) -> list[int]:
    """The distinct group sizes (the fifth field) of the DH group-exchange moduli file."""
    sizes: set[int] = set()
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 7 and not fields[0].startswith("#") and fields[4].isdigit():
                    sizes.add(int(fields[4]))
    except OSError:
        pass
    return sorted(sizes)


def chroot_refusal(chroot: bool, policy_rc_d: bool) -> str:
    """Why the run must stop (a chroot that could start daemons on the build host), or ""."""
    if chroot and not policy_rc_d:
        return (
            "target_facts: the target is a chroot without /usr/sbin/policy-rc.d (package maintainer "
            "scripts would start daemons on the build host: install one that exits 101)"
        )
    return ""


def main() -> None:
    """Collect and return the facts."""
    # sysctl_scope is only validated here (a bad value fails before any role runs); the roles
    # derive the effective scope from the facts (roles/fabric_facts/vars/main.yml).
    module = AnsibleModule(
        argument_spec={
            "chroot_connection": {"type": "bool", "default": False},
            "sysctl_scope": {"type": "str", "default": "auto", "choices": ["auto", "full", "namespaced", "none"]},
        },
        supports_check_mode=True,
    )
    chroot = bool(module.params["chroot_connection"] or is_chroot(module))
    policy_rc_d = os.path.exists("/usr/sbin/policy-rc.d")
    refusal = chroot_refusal(chroot, policy_rc_d)
    if refusal:
        module.fail_json(msg=refusal)
    try:
        accounts = password_accounts()
    except OSError as exc:
        module.fail_json(msg=f"target_facts: cannot read the account databases: {exc}")
    facts = {
        "chroot": chroot,
        "container": container_type(),
        # sd_booted(3): a running systemd has this directory.
        "booted": os.path.isdir("/run/systemd/system"),
        "policy_rc_d": policy_rc_d,
        "distribution_release": os_release_codename(),
        "packages": installed_packages(),
        "password_accounts": accounts,
        "ssh_moduli_sizes": moduli_sizes(),
    }
    module.exit_json(changed=False, ansible_facts={"samakia_target": facts})


if __name__ == "__main__":
    main()
