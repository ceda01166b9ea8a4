"""The blast-radius gate: rules a plan must pass before the PR check lets it through.

Each rule names itself and the resources it caught:

- ``max-unavailable``: a plan replaces more members of a replica group than its
  ``maxUnavailable`` without the rolling order (each later member's container waiting, in the
  resource graph, for the health check of the member ``maxUnavailable`` places before it);
- ``data-volume-delete``: a data volume is deleted or replaced (its data would go);
- ``protected-delete``: a resource under protection (Pulumi's ``protect`` or Proxmox's
  ``protection``) is deleted;
- ``protected-replace``: a protected container is re-created for a change other than its image
  (upstream replaces a container whose SSH keys or pool change: a key rotation rebuilds it); an
  image change is the fabric's designed rebuild path, which the rules above already bound;
- ``whole-stack``: every container of the stack is replaced or deleted at once.

A PR carrying the label ``OVERRIDE_LABEL`` passes anyway; the findings are still printed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric import intent_files
from fabric.stack_file import read_stack_file
from fabric.tokens import COMMAND, CONTAINER

VOLUME_RUNNER = "python3 -m fabric.runtime.volume"
OVERRIDE_LABEL = "blast-radius-approved"
REPLACING = ("replace", "create-replacement", "delete-replaced")
IMAGE_INPUTS = frozenset({"operatingSystem"})  # the container's template: an image move


@dataclass(frozen=True)
class Finding:
    """One broken rule: which, why, and the resources it names."""

    rule: str
    message: str
    resources: tuple[str, ...]

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}: {', '.join(self.resources)}"

    def brief(self, names: int = 20) -> str:
        """As ``str``, naming at most ``names`` resources and counting the rest (a 1000-container
        finding stays one readable line)."""
        shown = ", ".join(self.resources[:names])
        more = len(self.resources) - names
        return f"[{self.rule}] {self.message}: {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class StackShape:
    """What the gate needs from the stack file: containers, and replica groups in rollout order."""

    containers: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    max_unavailable: dict[str, int]

    def group_of(self, name: str) -> str | None:
        return next((g for g, members in self.groups.items() if name in members), None)

    def waits_for(self, name: str) -> str | None:
        """The member whose health check ``name`` waits for (as ``fabric.stateful.rollout_waits``)."""
        group = self.group_of(name)
        if group is None:
            return None
        members, k = self.groups[group], self.max_unavailable.get(group, 1)
        i = members.index(name)
        return members[i - k] if i >= k else None


def shape_of(stack_file: Path) -> StackShape:
    """Read the stack file as written (no validation: the validate step does that)."""
    raw, _ = read_stack_file(stack_file)
    raw = intent_files.expand(raw, stack_file.parent)
    defaults = raw.get("containerDefaults") or {}
    containers = {n: (s or {}) for n, s in (raw.get("containers") or {}).items()}
    groups: dict[str, list[str]] = defaultdict(list)
    for name, spec in containers.items():
        group = spec.get("group", defaults.get("group"))
        if isinstance(group, str):
            groups[group].append(name)
    declared = raw.get("groups") or {}
    max_unavailable = {
        g: int((declared.get(g) or {}).get("maxUnavailable", 1)) if isinstance(declared.get(g) or {}, dict) else 1
        for g in groups
    }
    return StackShape(tuple(containers), {g: tuple(m) for g, m in groups.items()}, max_unavailable)


def _waits(previous: str) -> set[str]:
    """Names of what a member's container may wait for: the previous member's health check, its
    configuration (where no health check runs) or its container (where neither exists)."""
    return {previous, f"{previous}-health", f"{previous}-config"}


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _type(urn: str) -> str:
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def is_protected(state: dict[str, Any] | None) -> bool:
    """Under Pulumi's ``protect`` or Proxmox's ``protection`` (a step's old state)."""
    state = state or {}
    return bool(state.get("protect") or (state.get("inputs") or {}).get("protection") is True)


def changed_inputs(step: dict[str, Any], op: str) -> list[str]:
    """The inputs that differ between old and new state: ``pulumi preview --json`` gives no
    replace or diff reasons of its own, so these are the reason a reviewer reads."""
    if op not in ("update", "replace", "create-replacement"):
        return []
    old = (step.get("oldState") or {}).get("inputs") or {}
    new = (step.get("newState") or {}).get("inputs") or {}
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _container_ops(steps: list[dict[str, Any]]) -> dict[str, str]:
    """container name -> 'replace' or 'delete' for the containers the plan takes down."""
    out: dict[str, str] = {}
    for step in steps:
        if _type(step["urn"]) != CONTAINER:
            continue
        op = step.get("op")
        if op in REPLACING:
            out[_name(step["urn"])] = "replace"
        elif op == "delete":
            out.setdefault(_name(step["urn"]), "delete")
    return out


def _dependencies(steps: list[dict[str, Any]]) -> dict[str, set[str]]:
    """container name -> the names its new state depends on (health checks, containers, ...)."""
    deps: dict[str, set[str]] = defaultdict(set)
    for step in steps:
        if _type(step["urn"]) == CONTAINER:
            for urn in (step.get("newState") or {}).get("dependencies") or []:
                deps[_name(step["urn"])].add(_name(urn))
    return deps


def rollout_order(steps: list[dict[str, Any]], shape: StackShape) -> dict[str, str]:
    """container -> its place in the rollout: 'dns 2/2 after dns-1' (the plan's own graph decides)."""
    ops, deps = _container_ops(steps), _dependencies(steps)
    out = {}
    for name in ops:
        group = shape.group_of(name)
        if group is None:
            out[name] = "-"
            continue
        members = shape.groups[group]
        place = f"{group} {members.index(name) + 1}/{len(members)}"
        previous = shape.waits_for(name)
        if previous is not None and _waits(previous) & deps.get(name, set()):
            place += f" after {previous}"
        elif previous is not None:
            place += f" NOT after {previous}"
        out[name] = place
    return out


def findings(preview: dict[str, Any], shape: StackShape) -> list[Finding]:
    """Every rule the plan breaks."""
    steps = list(preview.get("steps") or [])
    ops, deps = _container_ops(steps), _dependencies(steps)
    found: list[Finding] = []
    for group, members in sorted(shape.groups.items()):
        down = [m for m in members if m in ops]
        k = shape.max_unavailable.get(group, 1)
        if len(down) <= k:
            continue
        unordered = [
            m
            for m in down
            if (w := shape.waits_for(m)) is None or not (_waits(w) & deps.get(m, set())) or ops[m] == "delete"
        ]
        # The first k members may go together; any other member down without its wait edge breaks the rule.
        if len(unordered) > k:
            found.append(
                Finding(
                    "max-unavailable",
                    f"replica group '{group}' would lose {len(unordered)} members at once (maxUnavailable {k})",
                    tuple(unordered),
                )
            )
    volumes, protected, rebuilt = [], [], []
    for step in steps:
        op, old = step.get("op"), step.get("oldState") or {}
        inputs = old.get("inputs") or {}
        guarded = is_protected(old)
        if guarded and op == "replace" and _type(step["urn"]) == CONTAINER:
            why = set(step.get("replaceReasons") or changed_inputs(step, op)) - IMAGE_INPUTS
            if why:
                rebuilt.append(f"{_name(step['urn'])} ({', '.join(sorted(why))})")
        is_volume = _type(step["urn"]) == COMMAND and str(inputs.get("create", "")).startswith(VOLUME_RUNNER)
        if is_volume and op in ("delete", "delete-replaced", "replace"):
            volumes.append(_name(step["urn"]))
        if op == "delete" and guarded:
            protected.append(_name(step["urn"]))
    if volumes:
        found.append(
            Finding("data-volume-delete", "the plan deletes data volumes and their data", tuple(sorted(set(volumes))))
        )
    if protected:
        found.append(Finding("protected-delete", "the plan deletes protected resources", tuple(sorted(set(protected)))))
    if rebuilt:
        found.append(
            Finding(
                "protected-replace",
                "the plan re-creates protected containers for a change other than their image",
                tuple(sorted(set(rebuilt))),
            )
        )
    if len(shape.containers) > 1 and set(shape.containers) <= set(ops):
        found.append(Finding("whole-stack", "the plan takes down every container of the stack", tuple(sorted(ops))))
    return found
