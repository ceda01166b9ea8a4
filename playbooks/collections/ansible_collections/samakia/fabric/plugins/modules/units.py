#!/usr/bin/python
# Copyright: Samakia Fabric
# Apache-2.0
"""samakia.fabric.units: enable systemd units at boot, all in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: units
short_description: Enable a list of systemd units at boot with one systemctl call
description:
  - Asks C(systemctl is-enabled) about every unit at once and runs one C(systemctl enable) for
    those that are not, instead of one M(ansible.builtin.systemd_service) run per unit.
  - Works on a booted system and in a chroot (systemctl then edits the unit links offline).
    Starts and stops nothing and does not reload the service manager (the links are read at
    boot); restarts and reloads are the roles' handlers' job.
  - Honours check mode.
options:
  enabled:
    description: Units that must be enabled at boot.
    type: list
    elements: str
    required: true
author:
  - Samakia Fabric
"""

EXAMPLES = r"""
- name: Enable the services at boot
  samakia.fabric.units:
    enabled: [unbound.service, apt-daily.timer]
"""

RETURN = r"""
changed_paths:
  description: The units that were (or, in check mode, would be) enabled.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

# What `systemctl is-enabled` prints for a unit that starts at boot, or that needs no enabling
# (static and generated units, aliases). See systemctl(1), "is-enabled".
NOTHING_TO_DO = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated"}


def main() -> None:
    """Enable what is not enabled yet."""
    module = AnsibleModule(
        argument_spec={"enabled": {"type": "list", "elements": "str", "required": True}},
        supports_check_mode=True,
    )
    units = list(dict.fromkeys(module.params["enabled"]))
    if not units:
        module.exit_json(changed=False, changed_paths=[])
    systemctl = module.get_bin_path("systemctl", required=True)
    # One line per unit, in argument order; the exit code only says whether all are enabled.
    _rc, out, err = module.run_command([systemctl, "is-enabled", "--", *units])
    states = out.splitlines()
    if len(states) != len(units):
        module.fail_json(msg="systemctl is-enabled: unexpected answer", stdout=out, stderr=err, units=units)
    todo = [u for u, s in zip(units, states, strict=True) if s.strip() not in NOTHING_TO_DO]
    if todo and not module.check_mode:
        # --no-reload: enabling at boot only writes the unit links, which the manager reads at
        # boot; its reload (a second on a busy container) is what a changed unit file needs, and
        # the roles' handlers ask for it then.
        rc, out, err = module.run_command([systemctl, "enable", "--no-reload", "--", *todo])
        if rc != 0:
            module.fail_json(msg="systemctl enable failed", stdout=out, stderr=err, units=todo)
    module.exit_json(changed=bool(todo), changed_paths=todo, states=dict(zip(units, states, strict=True)))


if __name__ == "__main__":
    main()
