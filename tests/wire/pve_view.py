"""What a provider leaves in the local Proxmox, in a form two providers' runs can be compared in.

``view`` reads the container's config and status (from the API and from LXC), its HA entry, its
pool membership and the volumes on the storages; ``writes`` turns fakepve's request log
(``FakePve.requests``: method, path, body with secrets redacted) into the sequence of changing
calls (every method but GET, the login left out) with their parameter names. Values that differ
by nature between two runs are normalised away: UPIDs, the generated MAC address, the config
digest.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from typing import Any

from ops.localpve.server import RunningPve
from tests.wire.scenario import MOUNT_PATH, POOL, VMID

_UPID = re.compile(r"UPID:[^/]+")
_HWADDR = re.compile(r"hwaddr=[0-9A-Fa-f:]+")


def view(running: RunningPve) -> dict[str, Any]:
    """The container, HA, pool and volumes as the local Proxmox holds them now."""

    def read() -> dict[str, Any]:
        pve = running.pve
        pve.observe()
        ct = pve.ct(VMID)
        config = None
        if ct is not None:
            config = {k: str(v) for k, v in ct.config.items() if k != "digest"}
        lxc_state = pve.lxc.states().get(VMID) if pve.lxc is not None else None
        volumes = {
            sid: sorted(store.get("volumes", {})) for sid, store in sorted(pve.storages.items()) if store.get("volumes")
        }
        return {
            "config": config,
            "status": None if ct is None else ct.status,
            "lxc": lxc_state,
            "ha": {k: dict(v) for k, v in sorted(pve.ha_resources.items())},
            "pool": sorted(pve.pools.get(POOL, set())),
            "volumes": volumes,
            "templates": pve.node_templates_state(),
        }

    out = dict(running.call(read))
    out["inside"] = _inside(running) if out["lxc"] == "RUNNING" else None
    return out


#: Files read inside the running container, in one ``lxc-attach`` (each costs a process start).
_INSIDE = {
    "image": "/etc/samakia-image",
    "authorized_keys": "/root/.ssh/authorized_keys",
    "mounts": "/proc/mounts",
    "uid_map": "/proc/self/uid_map",
}
_SEPARATOR = "--- samakia-wire ---"


def _inside(running: RunningPve) -> dict[str, str]:
    """What the running container shows: its image stamp, root's keys, the data mount, its memory limit."""
    lxc = running.pve.lxc
    assert lxc is not None

    def run(*cmd: str) -> str:
        argv = lxc.command(cmd[0], VMID, *cmd[1:])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
        return done.stdout.strip()

    script = "; ".join(f"cat {path}; echo '{_SEPARATOR}'" for path in _INSIDE.values())
    parts = [p.strip() for p in run("lxc-attach", "--", "sh", "-c", script).split(_SEPARATOR)]
    out = dict(zip(_INSIDE, parts, strict=False))
    # The node's mounts (root and the data volume), not what systemd mounts as it boots.
    targets = (line.split()[1] for line in out.get("mounts", "").splitlines() if len(line.split()) > 1)
    out["mounts"] = " ".join(sorted(t for t in targets if t in ("/", MOUNT_PATH)))
    out["uid_map"] = " ".join(out.get("uid_map", "").split())
    out["memory_limit"] = run("lxc-cgroup", "memory.limit_in_bytes")
    return out


def normalised(config: dict[str, str] | None) -> dict[str, str] | None:
    """A container config with the values that differ by nature between two creates masked."""
    if config is None:
        return None
    return {k: _HWADDR.sub("hwaddr=<mac>", v) for k, v in config.items()}


def mac(config: dict[str, str] | None) -> str | None:
    """The generated MAC address of net0: it changes exactly when PVE creates the container anew."""
    found = _HWADDR.search((config or {}).get("net0", ""))
    return found[0] if found else None


def mark(running: RunningPve) -> int:
    """The position in the request log from which ``writes`` reads."""
    return int(running.call(lambda: len(running.pve.requests)))


def writes(running: RunningPve, since: int) -> list[str]:
    """The changing calls since ``since``: ``METHOD path [param, ...]``, UPIDs normalised."""
    requests = running.call(lambda: list(running.pve.requests[since:]))
    out = []
    for method, raw, body in requests:
        if method == "GET" or raw.endswith("/access/ticket"):
            continue
        # PVE's router ignores a trailing slash (ops/localpve/fidelity.py); so does the comparison.
        path = _UPID.sub("<upid>", urllib.parse.unquote(raw)).removeprefix("/api2/json").rstrip("/")
        out.append(f"{method} {path} {_param_names(body)}".rstrip())
    return out


def by_object(calls: list[str]) -> dict[str, list[str]]:
    """The calls grouped by what they change: the container, its HA entry, the pool, the storages.

    Within a group the order is the providers' own; between groups it is the engine's walk of
    independent resources, which OpenTofu and Pulumi order differently (both are right), so it
    is not compared. Storage calls (one download or delete per template file) are sorted.
    """
    groups: dict[str, list[str]] = {}
    for call in calls:
        path = call.split(" ", 2)[1]
        parts = path.strip("/").split("/")
        if parts[0] == "cluster" and parts[1:3] == ["ha", "resources"]:
            key = "ha"
        elif parts[0] == "pools":
            key = "pool"
        elif len(parts) > 2 and parts[2] == "storage":
            key = "storage"
        elif len(parts) > 2 and parts[2] == "lxc":
            key = "container"
        else:
            key = "other"
        groups.setdefault(key, []).append(call)
    if "storage" in groups:
        groups["storage"].sort()
    return groups


def _param_names(body: Any) -> str:
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        names = sorted(json.loads(text))
    except (ValueError, TypeError):
        names = sorted({k for k, _ in urllib.parse.parse_qsl(text, keep_blank_values=True)})
    return "[" + ",".join(names) + "]"
