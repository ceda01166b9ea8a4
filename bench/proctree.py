"""Peak memory and CPU of a command and everything it starts (the engine, language host, providers).

The Pulumi CLI starts the language host and the providers as children: the figures a user feels
are their resident memory together, sampled from ``/proc`` while the command runs, and their CPU
time, split by role so that a slow step shows where its time went.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
ENGINE = "engine (CLI)"
PROGRAM = "program (Python)"
TOFU = "tofu (CLI)"
ROLES = (
    # OpenTofu's side of the scale benchmark: bpg's own provider plugin, then the CLI (its binary
    # lives in scripts/wire.sh's cache, whose directory name also holds "tofu", so the plugin first).
    ("terraform-provider-proxmox", "provider bpg (OpenTofu)"),
    ("bin/tofu", TOFU),
    ("providers.proxmoxve", "provider proxmoxve"),  # the stand-ins (scripts/engine.sh runs them with -m)
    ("providers.command", "provider command"),
    ("pulumi-resource-proxmoxve", "provider proxmoxve"),
    ("pulumi-resource-command", "provider command"),
    ("pulumi-language-python-exec", PROGRAM),
    ("pulumi-language-python", "language host"),
    ("pulumi", ENGINE),
)
"""Substrings of a process's command line and the role they mark; the first match wins."""


@dataclass
class Measured:
    result: subprocess.CompletedProcess[str]
    seconds: float
    cpu: float
    """CPU seconds of the command and every descendant it waited for."""
    peak: int
    """Peak resident bytes of the process tree, sampled."""
    cpu_by_role: dict[str, float] = field(default_factory=dict)
    """CPU seconds per role, as last sampled (a process's final fraction of a second may be missed)."""


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended meanwhile
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "(comm)": state, ppid, ...
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _role(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return next((role for marker, role in ROLES if marker in cmdline), "other")


def _sample(root: int, cpu: dict[int, tuple[str, float]]) -> int:
    """Resident bytes of ``root`` and its descendants now; records each one's role and CPU in ``cpu``."""
    children: dict[int, list[int]] = defaultdict(list)
    for proc in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(proc.name))
        if stat is not None:
            children[stat[0]].append(int(proc.name))
    todo, total = [root], 0
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        stat = _stat(pid)
        if stat is not None:
            # Read afresh each time: a child sampled between fork and exec still shows its parent's
            # command line (the language host's, for the program it starts).
            role = _role(pid)
            if role == "other" and pid in cpu:  # it ended meanwhile: keep what it was
                role = cpu[pid][0]
            cpu[pid] = (role, stat[1])
        todo += children.get(pid, [])
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(cmd: list[str], *, cwd: Path, env: dict[str, str], interval: float = 0.25) -> Measured:
    """Run ``cmd`` and measure it (wall, CPU, peak memory, CPU by role)."""
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]
    per_pid: dict[int, tuple[str, float]] = {}

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _sample(proc.pid, per_pid))
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    by_role: dict[str, float] = defaultdict(float)
    for role, seconds_cpu in per_pid.values():
        by_role[role] += seconds_cpu
    return Measured(
        subprocess.CompletedProcess(cmd, proc.returncode, out, err),
        seconds,
        _children_cpu() - cpu_before,
        peak[0],
        dict(by_role),
    )
