"""Processes a test started and must not leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


def reap_session(sid: int) -> None:
    """Kill what a killed run's session still holds: an SSH master that double-forked, or the engine's
    language host, which runs in a process group of its own and outlives a ``killpg`` of the engine."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getsid(int(proc.name)) == sid:
                os.kill(int(proc.name), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


@dataclass(frozen=True)
class Proc:
    """One process as ``/proc`` shows it; ``start`` (clock ticks after boot) tells a reused pid apart."""

    pid: int
    ppid: int
    sid: int
    start: int
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}, session {self.sid}): {self.cmdline}"


def read_proc(pid: int) -> Proc | None:
    """The process ``pid``, or None when it is gone or a zombie (dead, only not yet reaped)."""
    base = Path("/proc") / str(pid)
    try:
        stat = (base / "stat").read_text()
        cmdline = (base / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) state ppid pgrp session ... starttime(22nd) ...": comm may hold spaces and parens.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    text = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]), text)


def processes() -> list[Proc]:
    """Every live process."""
    found = (read_proc(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [p for p in found if p is not None]


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with; empty when it is gone."""
    try:
        raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def alive(proc: Proc) -> bool:
    """Is this very process (not a later one with its pid) still running?"""
    now = read_proc(proc.pid)
    return now is not None and now.start == proc.start


class Tracked:
    """A run's processes, followed as they fork and are re-parented: everything in the session
    ``sid`` and, transitively, every child of a tracked process while that one lives. A process stays
    tracked by its identity (pid and start time) once its parent is gone."""

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.procs: dict[int, Proc] = {}

    def refresh(self) -> list[Proc]:
        """Take in what the run started since the last look; every tracked process still alive."""
        now = {p.pid: p for p in processes()}
        live = {pid: now[pid] for pid, p in self.procs.items() if pid in now and now[pid].start == p.start}
        live.update({pid: p for pid, p in now.items() if p.sid == self.sid})
        children: dict[int, list[int]] = {}
        for p in now.values():
            children.setdefault(p.ppid, []).append(p.pid)
        todo = list(live)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in live:
                    live[child] = now[child]
                    todo.append(child)
        self.procs.update(live)
        return [live[pid] for pid in sorted(live)]

    def kill_all(self) -> None:
        """SIGKILL every tracked process, until none is left (a dying parent may have just forked)."""
        for _ in range(10):
            left = self.refresh()
            if not left:
                return
            for p in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p.pid, signal.SIGKILL)
            time.sleep(0.1)
