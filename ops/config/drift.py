"""Configuration drift detector: the policy playbook in check mode, counted from the recap.

Usage::

    python -m ops.config.drift --root /path/to/rootfs [--root ...] [--vars-file vars.json]
    python -m ops.config.drift --host 10.0.0.11 --user samakia --private-key KEY --vars-file F
    python -m ops.config.drift --targets-file targets.json

Every target is checked in one ``ansible-playbook --check`` run. A target whose recap counts a
change has drifted from Git: the changed tasks are listed by name (with the loop items that
changed), which is what an operator needs to open the incident.

Exit status: 0 when every target is clean, 1 when any target drifted, 2 on error (Ansible could
not run, a task failed, a host was unreachable, bad arguments). Nothing secret is printed: the
extra variables only travel in a private file and diffs are off unless ``--diff`` is given.

A targets file is JSON (or YAML) holding a list of objects, each either
``{"root": PATH}`` or ``{"host": ADDR, "user": U, "port": N, "private_key": PATH}``, with an
optional ``"name"`` and optional ``"vars"`` (a mapping) or ``"vars_file"``; targets with
different variables are checked in separate runs. Without target arguments the targets file
named by ``$SAMAKIA_DRIFT_TARGETS`` is used (so ``make drift-config`` needs no arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fabric.runtime.ansible_run import (
    SITE_PLAYBOOK,
    AnsibleRunError,
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops.config.drift",
        description="Configuration drift check: the policy playbook in check mode; "
        "exit 1 on drift (changed tasks listed), 0 when clean, 2 on error.",
    )
    p.add_argument(
        "--root",
        action="append",
        default=[],
        type=Path,
        help="a root filesystem to check through the chroot connection (repeatable)",
    )
    p.add_argument("--host", action="append", default=[], help="an SSH host to check (repeatable)")
    p.add_argument("--user", default="root", help="SSH user for --host (the admin user once hardened)")
    p.add_argument("--port", type=int, default=22, help="SSH port for --host")
    p.add_argument("--private-key", type=Path, help="SSH private key for --host")
    p.add_argument("--vars-file", type=Path, help="extra vars (JSON or YAML) for --root/--host targets")
    p.add_argument(
        "--targets-file",
        type=Path,
        default=Path(os.environ["SAMAKIA_DRIFT_TARGETS"]) if os.environ.get("SAMAKIA_DRIFT_TARGETS") else None,
        help="JSON/YAML list of targets with per-target vars (see module doc); default $SAMAKIA_DRIFT_TARGETS",
    )
    p.add_argument("--playbook", type=Path, default=SITE_PLAYBOOK, help="playbook (default: site.yml)")
    p.add_argument("--diff", action="store_true", help="print the differences (may show file content)")
    p.add_argument("--json", action="store_true", help="print a JSON report instead of text")
    return p


def _groups_from_args(args: argparse.Namespace) -> list[tuple[list[Target], dict[str, Any]]]:
    groups: list[tuple[list[Target], dict[str, Any]]] = []
    common_vars = load_vars(args.vars_file) if args.vars_file else {}
    direct: list[Target] = [ChrootTarget(root=r) for r in args.root]
    direct += [SshTarget(host=h, user=args.user, port=args.port, private_key=args.private_key) for h in args.host]
    if direct:
        groups.append((direct, common_vars))
    if args.targets_file:
        by_vars: dict[str, tuple[list[Target], dict[str, Any]]] = {}
        for target, extra in load_targets_file(args.targets_file):
            merged = {**common_vars, **extra}
            key = json.dumps(merged, sort_keys=True, default=str)
            by_vars.setdefault(key, ([], merged))[0].append(target)
        groups.extend(by_vars.values())
    return groups


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        groups = _groups_from_args(args)
        if not groups:
            print("drift-config: no targets (give --root, --host or --targets-file)", file=sys.stderr)
            return EXIT_ERROR
        results, recaps = check_drift(groups, args.playbook, diff=args.diff)
    except (AnsibleRunError, OSError, ValueError, yaml.YAMLError) as exc:
        print(f"drift-config: error: {exc}", file=sys.stderr)
        return EXIT_ERROR

    code = exit_code(results)
    if args.json:
        print(
            json.dumps(
                {
                    "status": {EXIT_CLEAN: "clean", EXIT_DRIFT: "drift", EXIT_ERROR: "error"}[code],
                    "targets": [
                        {
                            "target": r.target,
                            "drifted": r.drifted,
                            "changed_tasks": list(r.changed_tasks),
                            "error": r.error,
                        }
                        for r in results
                    ],
                    "duration_s": round(sum(rc.duration_s for rc in recaps), 3),
                },
                indent=2,
            )
        )
        return code
    for r in results:
        if r.error:
            print(f"ERROR  {r.target}: {r.error}")
        elif r.drifted:
            print(f"DRIFT  {r.target}: {len(r.changed_tasks)} task(s) would change")
            for name in r.changed_tasks:
                print(f"         - {name}")
        else:
            print(f"CLEAN  {r.target}")
    if args.diff:
        for rc in recaps:
            for ct in rc.changed_tasks:
                if ct.diff:
                    print(f"--- {ct.host}: {ct.task}\n{ct.diff}")
    print(
        {
            EXIT_CLEAN: "drift-config: no configuration drift",
            EXIT_DRIFT: "drift-config: configuration drift detected (an incident: re-apply from Git)",
            EXIT_ERROR: "drift-config: check could not complete",
        }[code]
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
