"""Stateful services and replica groups: the rules that make a rebuild lose nothing and take nothing down.

Pure functions of the intent, used by validation (before anything is registered), by ``Fleet``
(the rollout order it wires into the resource graph) and by the plan summary (the order it shows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from .errors import Problem
from .intent import ContainerSpec, FabricIntent, GroupSpec

# Runtime profiles whose service keeps state on disk: in a protected stack a container running
# one must keep that state on a data volume, or its next image bump would wipe it.
STATEFUL_PROFILES = frozenset({"postgresql", "object_storage"})


def group_members(containers: Mapping[str, ContainerSpec]) -> dict[str, list[str]]:
    """Replica group -> its members, in the order the stack file lists them (the rollout order)."""
    members: dict[str, list[str]] = defaultdict(list)
    for name, spec in containers.items():
        if spec.group is not None:
            members[spec.group].append(name)
    return dict(members)


def group_spec(intent: FabricIntent, group: str) -> GroupSpec:
    """A group's settings; a group no ``fabric:groups`` entry declares gets the defaults."""
    return intent.groups.get(group) or GroupSpec()


def rollout_waits(intent: FabricIntent) -> dict[str, str]:
    """member -> the member whose health check it waits for before it may be replaced.

    With ``maxUnavailable`` k, member i waits for member i-k: at most k members of a group are
    ever between "old one deleted" and "new one healthy" at the same time.
    """
    waits = {}
    for group, names in group_members(intent.containers).items():
        k = group_spec(intent, group).max_unavailable
        for i, name in enumerate(names):
            if i >= k:
                waits[name] = names[i - k]
    return waits


def stateful_profiles(intent: FabricIntent, spec: ContainerSpec) -> list[str]:
    policy = intent.policies.get(spec.policy) if spec.policy else None
    return sorted(STATEFUL_PROFILES & set(policy.profiles)) if policy else []


def check_stateful(intent: FabricIntent) -> list[Problem]:
    """Mount points, stateful profiles, replica groups: every problem, each with its field path."""
    problems: list[Problem] = []
    owner = intent.volume_owner
    vmids = {c.vmid: n for n, c in intent.containers.items()}
    any_volume = False
    for name, c in intent.containers.items():
        at = f"containers.{name}"
        any_volume = any_volume or bool(c.mount_points)
        problems += _check_mount_points(at, c)
        profiles = stateful_profiles(intent, c)
        if intent.protected and profiles and not c.mount_points:
            problems.append(
                Problem(
                    f"{at}.mountPoints",
                    f"runs stateful profile(s) {', '.join(profiles)} in a protected stack but has no data volume; "
                    "its data would be lost on the next image bump",
                    [],
                )
            )
    if any_volume and owner is None:
        problems.append(
            Problem("volumeOwner", "is required when a container has mountPoints: the VMID that owns data volumes")
        )
    if owner is not None and owner in vmids:
        problems.append(
            Problem("volumeOwner", f"is the VMID of container {vmids[owner]}; it must be reserved for volumes", owner)
        )
    problems += _check_groups(intent)
    return problems


def _check_mount_points(at: str, c: ContainerSpec) -> list[Problem]:
    problems = []
    seen_names: dict[str, int] = {}
    seen_paths: dict[str, int] = {}
    for i, mp in enumerate(c.mount_points):
        if mp.name in seen_names:
            problems.append(Problem(f"{at}.mountPoints.{i}.name", f"repeats volume {seen_names[mp.name]}", mp.name))
        seen_names.setdefault(mp.name, i)
        if mp.path in seen_paths:
            problems.append(Problem(f"{at}.mountPoints.{i}.path", f"repeats volume {seen_paths[mp.path]}", mp.path))
        else:
            for other, j in seen_paths.items():
                if mp.path.startswith(other + "/") or other.startswith(mp.path + "/"):
                    problems.append(
                        Problem(f"{at}.mountPoints.{i}.path", f"nests with mount point {j} ({other})", mp.path)
                    )
        seen_paths.setdefault(mp.path, i)
    return problems


def _check_groups(intent: FabricIntent) -> list[Problem]:
    problems = []
    members = group_members(intent.containers)
    for group in intent.groups:
        if group not in members:
            problems.append(Problem(f"groups.{group}", "has no member (no container names this group)", group))
    for group, names in members.items():
        spec = group_spec(intent, group)
        if intent.protected and len(names) > 1 and spec.max_unavailable >= len(names):
            problems.append(
                Problem(
                    f"groups.{group}.maxUnavailable",
                    f"lets every member ({len(names)}) be down at once in a protected stack",
                    spec.max_unavailable,
                )
            )
        if spec.same_node_reason is not None:
            continue
        by_node: dict[str, list[str]] = defaultdict(list)
        for name in names:
            by_node[intent.containers[name].node].append(name)
        for node, shared in by_node.items():
            if len(shared) > 1:
                for name in shared:
                    problems.append(
                        Problem(
                            f"containers.{name}.node",
                            f"shares node {node} with {', '.join(n for n in shared if n != name)} of replica group "
                            f"'{group}'; move it, or give groups.{group}.sameNodeReason",
                            node,
                        )
                    )
    return problems
