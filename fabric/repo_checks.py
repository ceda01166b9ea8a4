"""Checks of what a stack names in the repository, run at validation (the PR check), not at apply.

Every path the stack names must resolve inside its allowed root (the project for the image
catalog, ``playbooks/`` for playbooks and vars files), symlinks included. A policy's playbook
must exist with every role it uses, and each runtime profile must exist in the runtime role's
catalog with its template files: a typo fails the pull request, not the apply after the
container was created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .errors import InputError, Problem
from .intent import DNS_NAME, UNIX_USER
from .paths import PLAYBOOKS_DIR
from .playbook_digest import playbook_roles
from .yaml_input import read_yaml

RUNTIME_DEFAULTS = Path("roles/runtime/defaults/main.yml")
RUNTIME_TEMPLATES = Path("roles/runtime/templates")

# Variables the fabric itself passes to the playbooks (fabric/fleet.py, fabric/config_policy.py),
# with the stack field that sets each. A policy setting one would be silently overwritten.
FABRIC_SET = {
    "fabric_hostname": "containers.<name>.hostname",
    "fabric_address": "containers.<name>.nic.address",
    "fabric_network": "networks.<name>.cidr",
    "fabric_admin_ssh_keys": "containers.<name>.sshKeys",
    "fabric_runtime_profiles": "policies.<name>.profiles",
    "fabric_policy_version": "(the digest of the policy's files and variables)",
}
# The documented fabric_* knobs a policy may set (docs/playbooks.md, "Interface"), with the
# values the roles accept: a bad one fails the pull request, not the play after the container exists.
FABRIC_TUNABLES: dict[str, tuple[str, str]] = {
    "fabric_admin_user": (UNIX_USER, "a Unix user name"),
    "fabric_ssh_group": (UNIX_USER, "a Unix group name"),
    "fabric_ssh_root_login": (r"^(no|prohibit-password)$", "'no' or 'prohibit-password'"),
    "fabric_sysctl_scope": (r"^(auto|full|namespaced|none)$", "one of auto, full, namespaced, none"),
    "fabric_domain": (DNS_NAME, "a DNS name"),
}
# Policy variables are data: Ansible would evaluate a Jinja expression in one on the controller.
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")
# Names that hold credentials. Policy variables travel in the command's stdin, which Pulumi
# keeps in the state; a credential there would sit in plaintext in every state export.
SECRET_VAR = re.compile(r"(?i)(passw|secret|token|private.?key|api.?key|credential|passphrase)")


def is_file(path: Path) -> bool:
    """``path.is_file()``, but False for a name the OS refuses (too long, ...) instead of raising."""
    try:
        return path.is_file()
    except OSError:
        return False


def inside(root: Path, rel: str) -> Path | None:
    """``root / rel`` resolved (symlinks followed) when it stays inside ``root``; else None."""
    if not rel or Path(rel).is_absolute():
        return None
    base = root.resolve()
    target = (base / rel).resolve()
    return target if target == base or base in target.parents else None


@dataclass
class RuntimeCatalog:
    """The runtime role's profiles and the template files each one needs."""

    templates: dict[str, list[str]] = field(default_factory=dict)
    error: str = ""


@cache
def _runtime_catalog(playbooks_dir: Path) -> RuntimeCatalog:
    path = playbooks_dir / RUNTIME_DEFAULTS
    try:
        body = read_yaml(path, "runtime role defaults")
    except InputError as err:
        return RuntimeCatalog(error=str(err))
    catalog = body.get("runtime_catalog") if isinstance(body, dict) else None
    if not isinstance(catalog, dict):
        return RuntimeCatalog(error=f"{path}: runtime_catalog: missing or not a mapping")
    out: dict[str, list[str]] = {}
    for name, profile in catalog.items():
        entries = profile.get("templates") if isinstance(profile, dict) else None
        out[str(name)] = [t["src"] for t in entries or [] if isinstance(t, dict) and isinstance(t.get("src"), str)]
    return RuntimeCatalog(out)


def runtime_profiles(playbooks_dir: Path = PLAYBOOKS_DIR) -> RuntimeCatalog:
    """The runtime role's catalog of profiles (read once per process)."""
    return _runtime_catalog(playbooks_dir.resolve())


def check_catalog_path(project_dir: Path, rel: str) -> tuple[Path | None, list[Problem]]:
    """The image catalog file, confined to the project."""
    path = inside(project_dir, rel)
    if path is None:
        return None, [Problem("imageCatalog", "must name a file inside the project (relative, no '..')", rel)]
    if not is_file(path):
        return None, [Problem("imageCatalog", "no such file: the image catalog is missing", rel)]
    return path, []


@cache
def _roles_of(playbooks_dir: Path, playbook: str) -> tuple[str, ...] | str:
    """The roles a playbook uses, or the reason it cannot be read (cached per process)."""
    try:
        return tuple(playbook_roles(playbooks_dir, playbook))
    except (InputError, OSError, ValueError) as err:
        return str(err)


def _vars_file_profiles(path: Path) -> list[str]:
    try:
        body = read_yaml(path, "vars file")
    except InputError:
        return []
    profiles = body.get("fabric_runtime_profiles") if isinstance(body, dict) else None
    return [p for p in profiles if isinstance(p, str)] if isinstance(profiles, list) else []


def check_policy(
    name: str,
    *,
    playbook: str,
    vars_files: Iterable[str],
    profiles: Iterable[str],
    variables: Mapping[str, Any],
) -> list[Problem]:
    """Everything a policy names, checked against the repository."""
    at = f"policies.{name}"
    playbooks = PLAYBOOKS_DIR
    problems: list[Problem] = []
    wanted = list(profiles)
    book = inside(playbooks, playbook)
    if book is None:
        problems.append(Problem(f"{at}.playbook", "must name a file inside playbooks/ (relative, no '..')", playbook))
    elif not is_file(book):
        problems.append(Problem(f"{at}.playbook", "no such file under playbooks/", playbook))
    else:
        roles = _roles_of(playbooks.resolve(), playbook)
        if isinstance(roles, str):
            problems.append(Problem(f"{at}.playbook", f"cannot be read as a playbook: {roles}", playbook))
            roles = ()
        for role in roles:
            if inside(playbooks / "roles", role) is None or not (playbooks / "roles" / role).is_dir():
                problems.append(
                    Problem(f"{at}.playbook", f"uses role '{role}', which is not under playbooks/roles/", playbook)
                )
    for i, rel in enumerate(vars_files):
        path = inside(playbooks, rel)
        if path is None:
            problems.append(
                Problem(f"{at}.varsFiles.{i}", "must name a file inside playbooks/ (relative, no '..')", rel)
            )
        elif not is_file(path):
            problems.append(Problem(f"{at}.varsFiles.{i}", "no such file under playbooks/", rel))
        else:
            try:
                body = read_yaml(path, "vars file")
            except InputError as err:
                problems.append(Problem(f"{at}.varsFiles.{i}", str(err), rel))
                continue
            if body is not None and not isinstance(body, dict):
                problems.append(Problem(f"{at}.varsFiles.{i}", "must hold a mapping of variables", rel))
            wanted += _vars_file_profiles(path)
    problems += _check_profiles(at, wanted)
    problems += check_variables(at, dict(variables))
    return problems


def _check_profiles(at: str, wanted: list[str]) -> list[Problem]:
    if not wanted:
        return []
    catalog = runtime_profiles()
    if catalog.error:
        return [Problem(f"{at}.profiles", f"cannot be checked: {catalog.error}", wanted)]
    problems = []
    templates_dir = PLAYBOOKS_DIR / RUNTIME_TEMPLATES
    for profile in dict.fromkeys(wanted):
        if profile not in catalog.templates:
            known = ", ".join(sorted(catalog.templates))
            problems.append(Problem(f"{at}.profiles", f"unknown runtime profile; known: {known}", profile))
            continue
        for src in catalog.templates[profile]:
            if inside(templates_dir, src) is None or not is_file(templates_dir / src):
                problems.append(
                    Problem(
                        f"{at}.profiles",
                        f"profile '{profile}' names template '{src}', missing from the runtime role",
                        profile,
                    )
                )
    return problems


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def check_variables(at: str, variables: Mapping[str, Any]) -> list[Problem]:
    """Policy variables: no credentials, no variable the fabric sets itself, no unknown fabric_ knob,
    documented knobs with a value their role accepts, and no Jinja expression in any value."""
    problems = []
    for var, value in variables.items():
        path = f"{at}.vars.{var}"
        if any(_TEMPLATE.search(text) for text in _strings(value)):
            problems.append(
                Problem(path, "holds a Jinja expression ('{{', '{%', '{#'); policy variables are data", None)
            )
        if var in FABRIC_TUNABLES:
            pattern, what = FABRIC_TUNABLES[var]
            if not isinstance(value, str) or not re.match(pattern, value):
                problems.append(Problem(path, f"must be {what}", None))
        elif var in FABRIC_SET:
            problems.append(Problem(path, f"is set by the fabric from {FABRIC_SET[var]}; set that instead", None))
        elif var.startswith("fabric_") and var not in FABRIC_TUNABLES:
            known = ", ".join(sorted(FABRIC_TUNABLES))
            problems.append(Problem(path, f"is not a fabric_ variable the playbooks read; known: {known}", None))
        elif SECRET_VAR.search(var):
            problems.append(
                Problem(
                    path,
                    "looks like a credential: policy variables are stored in Pulumi state in plaintext. "
                    "Keep credentials out of the stack: let the role generate them on the host, or read "
                    "them there from your secret store",
                    None,
                )
            )
    return problems
