"""Digest exactly the files a playbook run depends on.

A config policy re-runs when this digest changes, so it covers the playbook, the roles it
names (all their files), the role dependencies in their ``meta/main.yml``, the vars files, and
the variables Ansible reads without being told: ``group_vars/`` and ``host_vars/`` beside each
playbook it runs (and beside an inventory, when one is given; the policy runner writes its
inventory into a private temporary directory, where nothing lies beside it). A change to a role
or vars file the policy does not use leaves it untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser where PyYAML has it: the digest parses every task file of every role the
# playbook uses, once per ConfigPolicy command at apply time (and once per policy in the program).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_LOADER)  # noqa: S506 - a safe loader


def _role_names(entries: Iterable[Any]) -> list[str]:
    names = []
    for entry in entries or []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            name = entry.get("role") or entry.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


def _tasks_roles(tasks: Iterable[Any]) -> list[str]:
    names = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            body = task.get(key)
            if isinstance(body, dict) and isinstance(body.get("name"), str):
                names.append(body["name"])
        for key in ("block", "rescue", "always"):
            names += _tasks_roles(task.get(key) or [])
    return names


def _playbook_files(playbooks_dir: Path, playbook: str, seen: set[Path]) -> tuple[list[Path], list[str]]:
    path = (playbooks_dir / playbook).resolve()
    if path in seen:
        return [], []
    seen.add(path)
    files, roles = [path, *implicit_vars_files(path.parent)], []
    for play in _load(path) or []:
        if not isinstance(play, dict):
            continue
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if isinstance(imported, str):
            more_files, more_roles = _playbook_files(playbooks_dir, imported, seen)
            files += more_files
            roles += more_roles
        roles += _role_names(play.get("roles", []))
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            roles += _tasks_roles(play.get(section, []))
        files += [playbooks_dir / f for f in play.get("vars_files", []) or [] if isinstance(f, str)]
    return files, roles


IMPLICIT_VARS_DIRS = ("group_vars", "host_vars")
"""Directories Ansible reads beside a playbook and beside an inventory without being told."""


def implicit_vars_files(directory: Path) -> list[Path]:
    """Every file under ``group_vars/`` and ``host_vars/`` in ``directory`` (Ansible loads them
    for the hosts and groups they name, so any of them may change a run)."""
    return [p for d in IMPLICIT_VARS_DIRS for p in sorted((directory / d).rglob("*")) if p.is_file()]


def _role_closure(roles_dir: Path, roles: list[str]) -> list[str]:
    """Roles plus those they pull in (meta dependencies, include_role/import_role), transitively."""
    todo, done = list(roles), []
    while todo:
        role = todo.pop()
        if role in done:
            continue
        done.append(role)
        meta = roles_dir / role / "meta" / "main.yml"
        if meta.is_file():
            body = _load(meta) or {}
            todo += _role_names(body.get("dependencies", []) if isinstance(body, dict) else [])
        for section in ("tasks", "handlers"):
            for tasks_file in sorted((roles_dir / role / section).glob("*.y*ml")):
                body = _load(tasks_file)
                todo += _tasks_roles(body if isinstance(body, list) else [])
    return sorted(done)


def playbook_roles(playbooks_dir: Path, playbook: str) -> list[str]:
    """Every role a run of ``playbook`` uses (its plays, includes and meta dependencies), sorted."""
    try:
        _, roles = _playbook_files(playbooks_dir, playbook, set())
        return _role_closure(playbooks_dir / "roles", roles)
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {getattr(err, 'problem', None) or err}") from None


def policy_files(
    playbooks_dir: Path, playbook: str, vars_files: Iterable[str] = (), inventory_dir: Path | None = None
) -> list[Path]:
    """Every file the run of ``playbook`` with ``vars_files`` reads, sorted and unique."""
    files, roles = _playbook_files(playbooks_dir, playbook, set())
    if inventory_dir is not None:
        files += implicit_vars_files(inventory_dir)
    for role in _role_closure(playbooks_dir / "roles", roles):
        files += [p for p in (playbooks_dir / "roles" / role).rglob("*") if p.is_file()]
    files += [playbooks_dir / f for f in vars_files]
    # The project's own modules (samakia.fabric, beside the playbooks): any role may call them.
    collections = playbooks_dir / "collections"
    if collections.is_dir():
        files += [p for p in collections.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    config = playbooks_dir / "ansible.cfg"
    if config.is_file():
        files.append(config)
    return sorted({f.resolve() for f in files})


def files_digest(
    playbooks_dir: Path, playbook: str, vars_files: Iterable[str] = (), inventory_dir: Path | None = None
) -> str:
    """sha256 over the relative names and contents of the policy's files."""
    h = hashlib.sha256()
    root = playbooks_dir.resolve()
    for f in policy_files(playbooks_dir, playbook, vars_files, inventory_dir):
        # A file outside the playbooks (an inventory's group_vars) is named by its full path.
        name = str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def policy_digest(playbooks_dir: Path, playbook: str, vars_files: Iterable[str] = (), extra: str = "") -> str:
    """The policy's files digest combined with ``extra`` (its variables)."""
    return combine(files_digest(playbooks_dir, playbook, vars_files), extra)


def combine(files: str, extra: str) -> str:
    return hashlib.sha256(f"{files}\0{extra}".encode()).hexdigest()


def outranking_var_names(playbooks_dir: Path, playbook: str) -> set[str]:
    """Names a run of ``playbook`` defines above inventory host variables: the plays' ``vars``,
    the roles' ``vars/``, and the playbook's own ``host_vars/``.

    A policy variable passed as an extra variable (``-e``) beats them all; passed as an
    inventory host variable (the warm controller's batches) it would lose to them, so a policy
    that sets one of these names runs on its own, keeping ``-e`` precedence.
    """
    names: set[str] = set()
    path = (playbooks_dir / playbook).resolve()
    for play in _load(path) or []:
        if isinstance(play, dict) and isinstance(play.get("vars"), dict):
            names.update(str(k) for k in play["vars"])
    _, roles = _playbook_files(playbooks_dir, playbook, set())
    sources = [playbooks_dir / "roles" / r / "vars" for r in _role_closure(playbooks_dir / "roles", roles)]
    sources.append(path.parent / "host_vars")
    for directory in sources:
        for f in sorted(directory.rglob("*.y*ml")) if directory.is_dir() else []:
            body = _load(f)
            if isinstance(body, dict):
                names.update(str(k) for k in body)
    return names
