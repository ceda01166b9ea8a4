#!/usr/bin/python
# Copyright: Samakia Fabric
# Apache-2.0
"""samakia.fabric.files: converge a batch of files and directories in one remote call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Converge a batch of files and directories in one call
description:
  - Applies each entry in order, the way M(ansible.builtin.file) (directories, attributes of
    existing files) and M(ansible.builtin.copy) with C(content) (whole files, written
    atomically, optionally validated first) would, but in one module run instead of one per
    file. Render templates on the controller with the C(ansible.builtin.template) lookup.
  - Honours check mode (nothing changes, the changes are reported) and diff mode.
options:
  files:
    description: The entries, applied in list order (a directory before the files in it).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description: C(file), C(directory), or C(absent) (a file or an empty directory, removed).
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: The whole content of a file. Omitted, the file must exist and only its
          owner, group and mode are managed.
        type: str
      owner:
        description: Owner name or uid.
        type: str
      group:
        description: Group name or gid.
        type: str
      mode:
        description: Octal mode as a string, for example C("0644").
        type: str
      validate:
        description: Command run on the new content before it replaces the file; C(%s) is the
          path of the candidate file.
        type: str
      if_exists:
        description: Skip the entry when the path does not exist (instead of failing or creating it).
        type: bool
        default: false
author:
  - Samakia Fabric
"""

EXAMPLES = r"""
- name: Write the role's files
  samakia.fabric.files:
    files:
      - {path: /etc/example.d, state: directory, owner: root, group: root, mode: "0755"}
      - path: /etc/example.d/10-example.conf
        content: "{{ lookup('ansible.builtin.template', 'example.conf.j2') }}"
        owner: root
        group: root
        mode: "0644"
"""

RETURN = r"""
changed_paths:
  description: The paths that changed (or would change in check mode), in order.
  returned: always
  type: list
  elements: str
"""

import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def _attributes(module, entry, changed, diff):
    changed = module.set_owner_if_different(entry["path"], entry.get("owner"), changed, diff)
    changed = module.set_group_if_different(entry["path"], entry.get("group"), changed, diff)
    return module.set_mode_if_different(entry["path"], entry.get("mode"), changed, diff)


def _directory(module, entry, diff):
    path = entry["path"]
    if os.path.lexists(path) and not os.path.isdir(path):
        module.fail_json(msg=f"{path} exists and is not a directory")
    changed = False
    if not os.path.isdir(path):
        diff["before"], diff["after"] = {"state": "absent"}, {"state": "directory"}
        if module.check_mode:
            return True
        os.makedirs(path)
        changed = True
    return _attributes(module, entry, changed, diff)


def _absent(module, entry, diff):
    path = entry["path"]
    if not os.path.lexists(path):
        return False
    diff["before"], diff["after"] = {"state": "present"}, {"state": "absent"}
    if not module.check_mode:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    return True


def _validate(module, entry, candidate):
    command = entry.get("validate")
    if not command:
        return
    if "%s" not in command:
        module.fail_json(msg=f"{entry['path']}: validate must contain %s")
    argv = [a.replace("%s", candidate) for a in shlex.split(command)]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg=f"{entry['path']}: validation failed ({command})", stdout=out, stderr=err)


def _file(module, entry, diff):
    path = entry["path"]
    exists = os.path.lexists(path)
    if exists and not os.path.isfile(path):
        module.fail_json(msg=f"{path} exists and is not a regular file")
    content = entry.get("content")
    if content is None:
        if not exists:
            module.fail_json(msg=f"{path} does not exist (give content to create it, or if_exists)")
        return _attributes(module, entry, False, diff)
    new = to_bytes(content, errors="surrogate_or_strict")
    old = b""
    if exists:
        with open(path, "rb") as fh:
            old = fh.read()
    if exists and old == new:
        return _attributes(module, entry, False, diff)
    if module._diff:
        diff["before_header"] = diff["after_header"] = path
        diff["before"], diff["after"] = to_text(old), to_text(new)
    if module.check_mode:
        return True
    directory = os.path.dirname(path)
    fd, candidate = tempfile.mkstemp(prefix=".samakia-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(new)
            fh.flush()
            os.fsync(fh.fileno())
        _validate(module, entry, candidate)
        entry_for_candidate = dict(entry, path=candidate)
        _attributes(module, entry_for_candidate, True, None)
        os.replace(candidate, path)
    finally:
        if os.path.exists(candidate):
            os.unlink(candidate)
    return True


def main() -> None:
    """Apply every entry; report the changed paths."""
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": ["file", "directory", "absent"], "default": "file"},
                    "content": {"type": "str", "no_log": False},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "str"},
                    "validate": {"type": "str"},
                    "if_exists": {"type": "bool", "default": False},
                },
            }
        },
        supports_check_mode=True,
    )
    changed_paths = []
    diffs = []
    for entry in module.params["files"]:
        if not os.path.isabs(entry["path"]):
            module.fail_json(msg=f"{entry['path']}: path must be absolute")
        if entry["if_exists"] and not os.path.lexists(entry["path"]):
            continue
        diff: dict = {}
        handler = {"directory": _directory, "absent": _absent}.get(entry["state"], _file)
        if handler(module, entry, diff):
            changed_paths.append(entry["path"])
            if diff and module._diff:
                diff.setdefault("before_header", entry["path"])
                diff.setdefault("after_header", entry["path"])
                diffs.append(diff)
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
