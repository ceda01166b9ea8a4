"""Configuration drift per target: the policy playbook in check mode, counted from the recap.

A target whose recap counts a change has drifted from Git: the changed tasks are named (with
the loop items that changed), which is what an operator needs to open the incident. Exit codes:
0 when every target is clean, 1 when any target drifted, 2 when a target could not be checked.

This is the library; the one front end is ``python -m ops.stack drift-config`` (ops/stack/drift.py),
which checks either a stack's configured containers or explicit targets (``--root``, ``--host``,
``--targets-file``). A targets file is JSON (or YAML) holding a list of objects, each either
``{"root": PATH}`` or ``{"host": ADDR, "user": U, "port": N, "private_key": PATH}``, with an
optional ``"name"`` and optional ``"vars"`` (a mapping) or ``"vars_file"``; targets with
different variables are checked in separate runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric.errors import InputError
from fabric.runtime.ansible_run import (
    SITE_PLAYBOOK,
    ChrootTarget,
    HostRecap,
    Recap,
    SshTarget,
    Target,
    run_playbook,
)
from fabric.yaml_input import read_yaml

EXIT_CLEAN = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2


@dataclass(frozen=True)
class DriftResult:
    """The drift verdict for one target."""

    target: str
    changed_tasks: tuple[str, ...]
    error: str = ""

    @property
    def drifted(self) -> bool:
        """True when the check run would change something on this target."""
        return bool(self.changed_tasks)


def _read_data(path: Path, what: str) -> Any:
    """JSON (``.json``) or YAML (strict: duplicate keys refused); ``InputError`` naming the file."""
    if path.suffix != ".json":
        return read_yaml(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: {what} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: {what} is not valid JSON: {err.msg}") from None


def load_vars(path: Path) -> dict[str, Any]:
    """Read extra variables from a JSON or YAML file (a mapping)."""
    data = _read_data(path, "vars file")
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise InputError(f"{path}: extra vars must be a mapping of names to values, got {type(data).__name__}")
    return data


_TARGET_KEYS = {"root", "host", "user", "port", "private_key", "name", "ssh_common_args", "vars", "vars_file"}


def _field(spec: Mapping[str, Any], key: str, kind: type, at: str) -> Any:
    value = spec.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InputError(f"{at}.{key}: must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _target_from_spec(spec: Mapping[str, Any], at: str = "target") -> Target:
    unknown = sorted(str(k) for k in spec if k not in _TARGET_KEYS)
    if unknown:
        raise InputError(f"{at}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_TARGET_KEYS))}")
    name = _field(spec, "name", str, at)
    if "root" in spec:
        return ChrootTarget(root=Path(_field(spec, "root", str, at) or ""), name=name)
    if "host" in spec:
        key = _field(spec, "private_key", str, at)
        port = _field(spec, "port", int, at)
        if port is not None and not 0 < port < 65536:
            raise InputError(f"{at}.port: must be 1-65535")
        return SshTarget(
            host=_field(spec, "host", str, at) or "",
            user=_field(spec, "user", str, at) or "root",
            port=port or 22,
            private_key=Path(key) if key else None,
            name=name,
            ssh_common_args=_field(spec, "ssh_common_args", str, at),
        )
    raise InputError(f"{at}: needs 'root' (a root filesystem) or 'host' (an SSH address)")


def load_targets_file(path: Path) -> list[tuple[Target, dict[str, Any]]]:
    """Read a targets file: a list of target specs, each with optional vars.

    Raises ``InputError`` naming the file and the field (``targets.N.port``) of the first problem;
    no value from the file is repeated (vars may hold anything).
    """
    data = _read_data(path, "targets file")
    if not isinstance(data, list):
        raise InputError(f"{path}: a targets file is a list of targets, not a {type(data).__name__}")
    out: list[tuple[Target, dict[str, Any]]] = []
    for i, spec in enumerate(data):
        at = f"{path}: targets.{i}"
        if not isinstance(spec, Mapping):
            raise InputError(f"{at}: must be a mapping with 'root' or 'host'")
        extra: dict[str, Any] = {}
        vars_file = _field(spec, "vars_file", str, at)
        if vars_file:
            try:
                extra.update(load_vars(Path(vars_file)))
            except InputError as err:
                raise InputError(f"{at}.vars_file: {err}") from None
        extra.update(_field(spec, "vars", dict, at) or {})
        out.append((_target_from_spec(spec, at), extra))
    return out


def verdict(name: str, host: HostRecap | None) -> DriftResult:
    """The drift verdict for one host's recap of a check-mode run."""
    if host is None:
        return DriftResult(name, (), error="no recap for this target")
    error = ""
    if host.failed or host.unreachable:
        detail = "; ".join(host.messages or host.failed_tasks) or "see ansible output"
        error = f"failed={host.failed} unreachable={host.unreachable}: {detail}"
    names = tuple(ct.describe() for ct in host.changed_tasks)
    if host.changed and not names:  # counted by the recap but not attributed: still drift
        names = (f"{host.changed} unattributed change(s)",)
    return DriftResult(name, names, error=error)


def results_from_recap(targets: Sequence[Target], recap: Recap) -> list[DriftResult]:
    """Turn one check-mode recap into a verdict per target."""
    return [verdict(t.inventory_name, recap.hosts.get(t.inventory_name)) for t in targets]


def check_drift(
    groups: Sequence[tuple[Sequence[Target], Mapping[str, Any]]],
    playbook: Path = SITE_PLAYBOOK,
    *,
    diff: bool = False,
) -> tuple[list[DriftResult], list[Recap]]:
    """Run check mode for each (targets, extra vars) group; return per-target verdicts."""
    results: list[DriftResult] = []
    recaps: list[Recap] = []
    for targets, extra in groups:
        recap = run_playbook(list(targets), playbook, dict(extra), check=True, diff=diff)
        recaps.append(recap)
        results.extend(results_from_recap(targets, recap))
    return results, recaps


def exit_code(results: Sequence[DriftResult]) -> int:
    """0 clean, 1 drift, 2 when any target could not be checked."""
    if not results or any(r.error for r in results):
        return EXIT_ERROR
    return EXIT_DRIFT if any(r.drifted for r in results) else EXIT_CLEAN


def group_by_vars(
    direct: Sequence[Target], common: Mapping[str, Any], from_file: Sequence[tuple[Target, dict[str, Any]]] = ()
) -> list[tuple[list[Target], dict[str, Any]]]:
    """One check-mode run per set of extra variables: ``direct`` targets share ``common``;
    each target from a targets file runs with ``common`` overlaid by its own variables."""
    groups: list[tuple[list[Target], dict[str, Any]]] = [(list(direct), dict(common))] if direct else []
    by_vars: dict[str, tuple[list[Target], dict[str, Any]]] = {}
    for target, extra in from_file:
        merged = {**common, **extra}
        key = json.dumps(merged, sort_keys=True, default=str)
        by_vars.setdefault(key, ([], merged))[0].append(target)
    return groups + list(by_vars.values())
