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

import yaml

from fabric.runtime.ansible_run import (
    SITE_PLAYBOOK,
    ChrootTarget,
    HostRecap,
    Recap,
    SshTarget,
    Target,
    run_playbook,
)

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


def load_vars(path: Path) -> dict[str, Any]:
    """Read extra variables from a JSON or YAML file (a mapping)."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: extra vars must be a mapping, got {type(data).__name__}")
    return data


def _target_from_spec(spec: Mapping[str, Any]) -> Target:
    if "root" in spec:
        return ChrootTarget(root=Path(spec["root"]), name=spec.get("name"))
    if "host" in spec:
        key = spec.get("private_key")
        return SshTarget(
            host=str(spec["host"]),
            user=str(spec.get("user", "root")),
            port=int(spec.get("port", 22)),
            private_key=Path(key) if key else None,
            name=spec.get("name"),
            ssh_common_args=spec.get("ssh_common_args"),
        )
    raise ValueError(f"target needs 'root' or 'host': {dict(spec)!r}")


def load_targets_file(path: Path) -> list[tuple[Target, dict[str, Any]]]:
    """Read a targets file: a list of target specs, each with optional vars."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of targets")
    out: list[tuple[Target, dict[str, Any]]] = []
    for spec in data:
        if not isinstance(spec, Mapping):
            raise ValueError(f"{path}: each target must be a mapping")
        extra: dict[str, Any] = {}
        if spec.get("vars_file"):
            extra.update(load_vars(Path(spec["vars_file"])))
        extra.update(spec.get("vars") or {})
        out.append((_target_from_spec(spec), extra))
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
