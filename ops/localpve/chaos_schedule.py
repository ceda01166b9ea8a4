"""A seeded schedule of the ways a real Proxmox cluster misbehaves, and the decisions it makes.

What ``ops.localpve.chaos`` injects into the local Proxmox, described as data so a test (or an
operator trying ``make up`` under chaos, through ``SAMAKIA_PVE_CHAOS``) names it in one line:

- ``transient_rate``: the share of API calls answered with a transient 500 in PVE's own words
  (``got timeout``, ``unable to read file``, ``cfs-lock ... got lock request timeout``);
- ``unreachable``: a window during which calls routed to one node get 595 ``No route to host``
  (pveproxy cannot reach the node) or have their connection reset (pveproxy restarting);
- ``backup``: a ``vzdump`` backup holding one container's config lock (``lock: backup``) for a
  number of seconds, as the nightly backup does;
- ``slow_rate``/``slow_seconds``: tasks that keep running for that long after the API accepted them;
- ``failed_rate``/``failed_types``: tasks that end ``TASK ERROR: ...`` after the API accepted them.

The transient, slow and failed decisions are a pure function of the seed and the call's identity
(method, path and how many times that same call was made before; a task's type, id and
occurrence), never of the order in which concurrent calls arrive, so the same seed disturbs the
same calls on a loaded machine as on a quiet one. The unreachable window is a stretch of time, so
it counts calls in arrival order: it opens at the same point of a run, but which of the calls the
engine makes concurrently fall into it can differ from run to run. ``limit`` caps how many faults
of each kind one schedule injects: a transient fault is one that ends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unreachable:
    """Calls routed to ``node`` (every call when None): after ``after`` of them, the next ``calls`` fail."""

    node: str | None = None
    after: int = 0
    calls: int = 5
    how: str = "595"
    """``595`` (pveproxy answers No route to host) or ``reset`` (the connection closes unanswered)."""

    def __post_init__(self) -> None:
        if self.how not in ("595", "reset"):
            raise ValueError(f"unreachable.how must be '595' or 'reset', not {self.how!r}")


@dataclass(frozen=True)
class BackupLock:
    """A ``vzdump`` of ``vmid`` holding its config lock for ``seconds`` (real seconds)."""

    vmid: int
    seconds: float


@dataclass(frozen=True)
class ChaosSchedule:
    """What to inject; everything off unless set. See the module docstring."""

    seed: int = 0
    transient_rate: float = 0.0
    transient_methods: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE")
    unreachable: Unreachable | None = None
    backup: BackupLock | None = None
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    slow_types: tuple[str, ...] = ("vzcreate", "vzstart", "vzshutdown", "vzstop", "vzdestroy")
    failed_rate: float = 0.0
    failed_types: tuple[str, ...] = ("vzcreate", "vzstart")
    limit: int | None = None
    """At most this many faults of each kind (transient, slow, failed); None: no cap."""

    def __post_init__(self) -> None:
        for name in ("transient_rate", "slow_rate", "failed_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")

    @classmethod
    def from_json(cls, text: str) -> ChaosSchedule:
        """The schedule ``SAMAKIA_PVE_CHAOS`` holds: a JSON object of these fields."""
        raw: dict[str, Any] = json.loads(text)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            names, valid = ", ".join(unknown), ", ".join(sorted(known))
            raise ValueError(f"unknown chaos schedule field(s): {names}; known: {valid}")
        if raw.get("unreachable") is not None:
            raw["unreachable"] = Unreachable(**raw["unreachable"])
        if raw.get("backup") is not None:
            raw["backup"] = BackupLock(**raw["backup"])
        for key in ("transient_methods", "slow_types", "failed_types"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def draw(seed: int, kind: str, identity: str, occurrence: int) -> float:
    """A number in [0, 1) fixed by the seed and the call's identity alone (not by arrival order)."""
    digest = hashlib.sha256(f"{seed}\0{kind}\0{identity}\0{occurrence}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# PVE's own texts for the transient 500s (the three; pmxcfs and the config locks):
# ``can't lock file '...' - got timeout`` is PVE::Tools::lock_file's (the guest config lock; fakepve's
# catalogue, built from the PVE sources, has it as ``config_lock_timeout``), ``cfs-lock '...' error: got
# lock request timeout`` is pmxcfs's cluster lock, and ``unable to read file`` a pmxcfs read that failed.
# Upstream treats any 5xx as transient on the calls it retries (bpg proxmox/retry/retry.go,
# IsTransientAPIError) and also retries a PUT of a container's config on "got timeout"
# (proxmox/nodes/containers/containers.go, UpdateContainer).
def transient_message(path: str, pick: float) -> str:
    parts = path.split("/")
    vmid = parts[parts.index("lxc") + 1] if "lxc" in parts and parts.index("lxc") + 1 < len(parts) else ""
    node = parts[parts.index("nodes") + 1] if "nodes" in parts and parts.index("nodes") + 1 < len(parts) else "pve1"
    if vmid.isdigit():
        choices = [
            f"can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout",
            f"unable to read file '/etc/pve/nodes/{node}/lxc/{vmid}.conf'",
            "cfs-lock 'file-user_cfg' error: got lock request timeout",
        ]
    elif "/cluster/ha" in path:
        choices = [
            "cfs-lock 'domain-ha' error: got lock request timeout",
            "unable to read file '/etc/pve/ha/resources.cfg'",
        ]
    elif "/storage" in path:
        choices = [
            "cfs-lock 'file-storage_cfg' error: got lock request timeout",
            "unable to read file '/etc/pve/storage.cfg'",
        ]
    else:
        choices = [
            "cfs-lock 'file-user_cfg' error: got lock request timeout",
            "unable to read file '/etc/pve/user.cfg'",
        ]
    return choices[int(pick * len(choices)) % len(choices)]


def failed_task_message(ttype: str, vmid: str) -> str:
    """The exit status PVE's task ends with (the log's last line is ``TASK ERROR: <this>``).

    vzcreate: the create's worker dies while allocating the root volume on a storage whose lock a
    backup or a migration holds, and PVE removes the half-made container (``unable to create CT``,
    PVE::API2::LXC create_vm); vzstart: lxc-start failed (``startup for container '<vmid>' failed``,
    PVE::LXC::vm_start). Other types: the guest config lock could not be taken in time.
    """
    if ttype == "vzcreate":
        return f"unable to create CT {vmid} - cfs-lock 'storage-local-lvm' error: got lock request timeout"
    if ttype == "vzstart":
        return f"startup for container '{vmid}' failed"
    return f"can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"


@dataclass
class Injected:
    """One fault the schedule injected (the tier asserts its faults happened)."""

    kind: str
    what: str
    message: str = ""


@dataclass
class ChaosLedger:
    """The schedule in force, its per-call occurrence counters and what it injected."""

    schedule: ChaosSchedule
    seen: dict[str, int] = field(default_factory=dict)
    node_calls: dict[str, int] = field(default_factory=dict)
    injected: list[Injected] = field(default_factory=list)

    def occurrence(self, identity: str) -> int:
        n = self.seen.get(identity, 0)
        self.seen[identity] = n + 1
        return n

    def count(self, kind: str) -> int:
        return sum(1 for i in self.injected if i.kind == kind)

    def room_for(self, kind: str) -> bool:
        return self.schedule.limit is None or self.count(kind) < self.schedule.limit

    def transient(self, method: str, path: str) -> str | None:
        """The transient 500's message for this call, or None."""
        s = self.schedule
        if not s.transient_rate or method not in s.transient_methods or path.endswith("/access/ticket"):
            return None
        identity = f"{method} {path}"
        n = self.occurrence("transient " + identity)
        if draw(s.seed, "transient", identity, n) >= s.transient_rate or not self.room_for("transient"):
            return None
        message = transient_message(path, draw(s.seed, "message", identity, n))
        self.injected.append(Injected("transient", identity, message))
        return message

    def unreachable(self, method: str, path: str, node: str | None) -> str | None:
        """``595`` or ``reset`` when this call falls in the node's unreachable window, else None."""
        window = self.schedule.unreachable
        if window is None or (window.node is not None and node != window.node):
            return None
        key = window.node or "*"
        n = self.node_calls.get(key, 0)
        self.node_calls[key] = n + 1
        if not window.after <= n < window.after + window.calls:
            return None
        self.injected.append(Injected("unreachable", f"{method} {path}", window.how))
        return window.how

    def task(self, ttype: str, tid: str) -> tuple[float, str | None]:
        """(seconds the task is slowed by, the exit status it fails with or None)."""
        s = self.schedule
        identity = f"{ttype}:{tid}"
        n = self.occurrence("task " + identity)
        slow = 0.0
        slowed = s.slow_rate and ttype in s.slow_types and draw(s.seed, "slow", identity, n) < s.slow_rate
        if slowed and self.room_for("slow"):
            slow = s.slow_seconds
            self.injected.append(Injected("slow", identity, f"{slow:g} s"))
        failed = None
        fails = s.failed_rate and ttype in s.failed_types and draw(s.seed, "failed", identity, n) < s.failed_rate
        if fails and self.room_for("failed"):
            failed = failed_task_message(ttype, tid)
            self.injected.append(Injected("failed", identity, failed))
        return slow, failed
