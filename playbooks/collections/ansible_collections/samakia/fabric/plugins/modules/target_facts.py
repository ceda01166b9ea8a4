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
  - Reads only local files; changes nothing, so it runs in check mode too.
options: {}
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
      description: chroot (bool), container (str, empty when none), booted (bool),
        policy_rc_d (bool), distribution_release (str), packages (list of installed package names).
      type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

# The same test the setup module's chroot collector uses (ansible.module_utils.facts.system.chroot).
from ansible.module_utils.facts.system.chroot import is_chroot

DPKG_STATUS = "/var/lib/dpkg/status"


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


def main() -> None:
    """Collect and return the facts."""
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    facts = {
        "chroot": bool(is_chroot(module)),
        "container": container_type(),
        # sd_booted(3): a running systemd has this directory.
        "booted": os.path.isdir("/run/systemd/system"),
        "policy_rc_d": os.path.exists("/usr/sbin/policy-rc.d"),
        "distribution_release": os_release_codename(),
        "packages": installed_packages(),
    }
    module.exit_json(changed=False, ansible_facts={"samakia_target": facts})


if __name__ == "__main__":
    main()
